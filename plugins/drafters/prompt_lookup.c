/* prompt_lookup.c -- drafter: what followed an earlier occurrence of the text's last n-gram (prompt lookup decoding). */
/*
 * For n = max_n down to min_n, the last n tokens of prompt + output are
 * searched for earlier, earliest occurrence first (METHODS.md 18.3); the
 * first match proposes up to `tokens` tokens that followed it.  The draft
 * is deterministic, so for rejection sampling each node carries a point
 * mass as its q.
 */
#include "drafter_common.h"

#include <stdlib.h>

static const dk_param_spec pl_params[] = {
    {"min_n", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "1", 1, 16, "Shortest n-gram to match."},
    {"max_n", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "3", 1, 16,
     "Longest n-gram to match; longer matches are tried first."},
    {"tokens", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "10", 1, 256,
     "Most tokens proposed after a match."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

typedef struct lookup {
  size_t min_n, max_n, tokens;
} lookup;

static int pl_create(const dk_host *h, const dk_create_info *ci, void **inst, dk_error *err) {
  lookup *l = malloc(sizeof *l);
  if (!l) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  l->min_n = (size_t)h->cfg_int(ci->config, "min_n");
  l->max_n = (size_t)h->cfg_int(ci->config, "max_n");
  l->tokens = (size_t)h->cfg_int(ci->config, "tokens");
  if (l->min_n > l->max_n) {
    free(l);
    return h->set_error(err, DK_ERR_INVALID, "min_n (%d) is larger than max_n (%d)",
                        (int)h->cfg_int(ci->config, "min_n"), (int)h->cfg_int(ci->config, "max_n"));
  }
  *inst = l;
  return DK_OK;
}

static int pl_propose_dist(void *inst, dk_session *s, const dk_token *ctx, size_t n_ctx,
                           dk_draft *out, dk_draft_dist *q, dk_error *err) {
  const lookup *l = inst;
  (void)s;
  (void)err;
  out->n = 0;
  for (size_t n = l->max_n; n >= l->min_n && out->n == 0; n--) {
    if (n_ctx < n + 1) continue;
    const dk_token *tail = ctx + n_ctx - n;
    /* Earliest first; a match must leave at least one token after it. */
    for (size_t i = 0; i + n < n_ctx; i++) {
      if (memcmp(ctx + i, tail, n * sizeof *ctx) != 0) continue;
      for (size_t j = i + n; j < n_ctx && out->n < l->tokens; j++)
        if (!dkd_push(out, ctx[j], (int32_t)out->n - 1)) break;
      break;
    }
  }
  dkd_point_masses(q, out);
  return DK_OK;
}

static int pl_propose(void *inst, dk_session *s, const dk_token *ctx, size_t n_ctx, dk_draft *out,
                      dk_error *err) {
  return pl_propose_dist(inst, s, ctx, n_ctx, out, NULL, err);
}

static const struct dk_drafter_iface pl_iface = {
    .hdr = {.struct_size = sizeof(struct dk_drafter_iface),
            .kind = DK_KIND_DRAFTER,
            .name = "prompt_lookup",
            .version = "1.0.0",
            .summary = "draft what followed an earlier occurrence of the last n-gram",
            .params = pl_params,
            .param_stride = sizeof(dk_param_spec),
            .caps = DK_CAP_INSTANCE_MT},
    .create = pl_create,
    .destroy = free,
    .propose = pl_propose,
    .propose_dist = pl_propose_dist,
};

static const dk_iface_header *const components[] = {&pl_iface.hdr};

static const dk_plugin_desc desc = {
    DK_PLUGIN_DESC_HEAD, "prompt_lookup", "1.0.0", components, 1, NULL, NULL,
};

DK_PLUGIN_ENTRY(prompt_lookup) { return &desc; }
