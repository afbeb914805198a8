/* speculative.c -- speculative decoding: the pipeline's drafter proposes a chain or tree, the target verifies it in one call. */
#include "speculative_core.h"

static const dk_param_spec spec_params[] = {
    DKS_VERIFY_PARAM,
    DKS_JUMP_PARAM,
    {"max_draft", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "16", 1, DKS_MAX_DRAFT,
     "Most draft nodes verified per target call (the drafter's capacity)."},
    {"feedback_k", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "8", 1, 64,
     "Target top-k reported to drafters that learn from verification (token_recycling)."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static int spec_create(const dk_host *h, const dk_create_info *ci, void **inst, dk_error *err) {
  return dks_create(h, ci, (size_t)h->cfg_int(ci->config, "max_draft"),
                    (size_t)h->cfg_int(ci->config, "feedback_k"), inst, err);
}

static int spec_begin(void *inst, dk_session *s, dk_error *err) {
  const dk_host *h = dks_host(inst);
  const dk_drafter_ref *dr = h->session_drafter(s);
  if (!dr)
    return h->set_error(err, DK_ERR_INVALID,
                        "needs a `drafter:` block (for example draft_model or prompt_lookup)");
  return dks_begin(inst, s, dr, err);
}

static const dk_decoder_iface spec_iface = {
    .hdr = {.struct_size = sizeof(dk_decoder_iface),
            .kind = DK_KIND_DECODER,
            .name = "speculative",
            .version = "1.0.0",
            .summary = "speculative decoding: verify a drafter's chain or tree in one target call",
            .params = spec_params,
            .param_stride = sizeof(dk_param_spec),
            .caps = DK_CAP_INSTANCE_MT | DK_CAP_DECODER_USES_DRAFTER},
    .create = spec_create,
    .destroy = dks_destroy,
    .begin = spec_begin,
    .step = dks_step,
    .end = dks_end,
};

static const dk_iface_header *const components[] = {&spec_iface.hdr};

static const dk_plugin_desc desc = {
    DK_PLUGIN_DESC_HEAD, "speculative", "1.0.0", components, 1, NULL, NULL,
};

DK_PLUGIN_ENTRY(speculative) { return &desc; }
