/* diffusion.c -- masked-diffusion decoding (LLaDA, Dream, Fast-dLLM): unmask a canvas block by block. */
#include <decokit/plugin.h>

#include <stdlib.h>

#include "dllm.h"

static const dk_param_spec diffusion_params[] = {DLLM_PARAMS, {NULL, 0, 0, NULL, 0, 0, NULL}};

static int diffusion_create(const dk_host *h, const dk_create_info *ci, void **inst, dk_error *err) {
  dllm *d = calloc(1, sizeof *d);
  if (!d) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  int rc = dllm_init(d, h, ci, 1, err);
  if (rc) {
    free(d);
    return rc;
  }
  *inst = d;
  return DK_OK;
}

static void diffusion_destroy(void *inst) {
  dllm_end(inst);
  free(inst);
}

static int diffusion_begin(void *inst, dk_session *s, dk_error *err) {
  dllm *d = inst;
  int rc = dllm_begin(d, s, 0, err);
  if (!rc) dllm_next_block(d);
  return rc;
}

static void diffusion_end(void *inst, dk_session *s) {
  (void)s;
  dllm_end(inst);
}

/* One denoising step: one model call, the schedule's (or the threshold's)
 * positions unmasked; a full block goes to the host. */
static int diffusion_step(void *inst, dk_session *s, dk_error *err) {
  dllm *d = inst;
  (void)s;
  size_t k = dllm_plan(d);
  int rc = dllm_forward(d, d->b0, d->b1, err);
  if (rc) return rc;
  dllm_unmask(d, k);
  return dllm_advance(d, err);
}

static const dk_decoder_iface diffusion_iface = {
    .hdr = {.struct_size = sizeof(dk_decoder_iface),
            .kind = DK_KIND_DECODER,
            .name = "diffusion",
            .version = "1.0.0",
            .summary = "masked-diffusion decoding: semi-autoregressive blocks, low-confidence "
                       "remasking, Dream orders, Fast-dLLM threshold and caches",
            .params = diffusion_params,
            .param_stride = sizeof(dk_param_spec),
            .caps = DK_CAP_INSTANCE_MT | DK_CAP_DECODER_NO_PREFILL},
    .create = diffusion_create,
    .destroy = diffusion_destroy,
    .begin = diffusion_begin,
    .step = diffusion_step,
    .end = diffusion_end,
};

static const dk_iface_header *const components[] = {&diffusion_iface.hdr};

static const dk_plugin_desc desc = {
    DK_PLUGIN_DESC_HEAD, "diffusion", "1.0.0", components, 1, NULL, NULL,
};

DK_PLUGIN_ENTRY(diffusion) { return &desc; }
