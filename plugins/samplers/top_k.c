/* top_k.c -- the top-k sampler: keep the k most likely candidates (partial selection, no full sort). */
#include "sampler_common.h"

typedef struct top_k_inst {
  const dk_host *host;
  int64_t k;
} top_k_inst;

static const dk_param_spec top_k_params[] = {
    {"k", DK_PARAM_INT, 0, "40", 0, 0,
     "Keep only the k candidates with the highest logits (ties: lower token id first); the result is "
     "sorted. k <= 0 disables the sampler, and k at or above the number of candidates changes nothing. "
     "Default 40, as in llama.cpp."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static int top_k_create(const dk_host *host, const dk_create_info *ci, void **inst, dk_error *err) {
  top_k_inst *s = malloc(sizeof *s);
  if (s == NULL) return host->set_error(err, DK_ERR_NOMEM, "top_k: out of memory");
  s->host = host;
  s->k = host->cfg_int(ci->config, "k");
  *inst = s;
  return DK_OK;
}

static void top_k_destroy(void *inst) { free(inst); }

static int top_k_apply(void *inst, const dk_sample_ctx *ctx, dk_candidates *cand, dk_error *err) {
  const top_k_inst *s = inst;
  (void)ctx;
  (void)err;
  if (s->k <= 0 || (uint64_t)s->k >= cand->n) return DK_OK;
  s->host->cand_top(cand, (size_t)s->k);
  cand->flags &= ~DK_CAND_SOFTMAXED;
  return DK_OK;
}

static int top_k_clone(const void *inst, void **out, dk_error *err) {
  (void)err;
  *out = dks_memdup(inst, sizeof(top_k_inst));
  return *out ? DK_OK : DK_ERR_NOMEM;
}

static const dk_sampler_iface top_k_iface = {
    DKS_HEADER("top_k", "keep the k most likely candidates", top_k_params),
    top_k_create, top_k_destroy, top_k_apply, NULL, NULL, top_k_clone};

DKS_PLUGIN(top_k, top_k_iface)
