/* beam.c -- beam search as Hugging Face transformers runs it: width beams, length penalty, early stopping, n-best results. */
#include "beam_search.h"

#include <stddef.h>

static const dk_param_spec beam_params[] = {
    {"width", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "4", 1, 1024,
     "Beams kept each step (transformers' num_beams); all of them advance in one batched model "
     "call.  1 is greedy decoding."},
    BS_COMMON_PARAMS,
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static int beam_create(const dk_host *h, const dk_create_info *ci, void **inst, dk_error *err) {
  bs_params p;
  int rc = bs_read_params(h, ci->config, &p, err);
  return rc ? rc : bs_create(h, ci, &p, inst, err);
}

static const dk_decoder_iface beam_iface = {
    .hdr = {.struct_size = sizeof(dk_decoder_iface),
            .kind = DK_KIND_DECODER,
            .name = "beam",
            .version = "1.0.0",
            .summary = "beam search with transformers' rules; each beam has its own constraint "
                       "and sampler state",
            .params = beam_params,
            .param_stride = sizeof(dk_param_spec),
            .caps = DK_CAP_INSTANCE_MT},
    .create = beam_create,
    .destroy = bs_destroy,
    .begin = bs_begin,
    .step = bs_step,
    .end = bs_end,
};

static const dk_iface_header *const components[] = {&beam_iface.hdr};

static const dk_plugin_desc desc = {
    DK_PLUGIN_DESC_HEAD, "beam", "1.0.0", components, 1, NULL, NULL,
};

DK_PLUGIN_ENTRY(beam) { return &desc; }
