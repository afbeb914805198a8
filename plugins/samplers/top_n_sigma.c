/* top_n_sigma.c -- top-nσ (Tang et al.): keep logits within n standard deviations of the maximum. */
#include "sampler_common.h"

typedef struct top_n_sigma_inst {
  double n;
} top_n_sigma_inst;

static const dk_param_spec top_n_sigma_params[] = {
    {"n", DK_PARAM_DOUBLE, 0, "1.0", 0, 0,
     "Keep candidates whose logit is at least max_logit - n * sigma, where sigma is the standard "
     "deviation of the finite logits. Because it works on logits, the kept set does not depend on an "
     "earlier temperature. n = 0 keeps only the maximum (and exact ties); n < 0 disables the sampler "
     "(llama.cpp also treats 0 as off). Default 1.0, the paper's value."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static int top_n_sigma_create(const dk_host *host, const dk_create_info *ci, void **inst, dk_error *err) {
  top_n_sigma_inst *s = malloc(sizeof *s);
  if (s == NULL) return host->set_error(err, DK_ERR_NOMEM, "top_n_sigma: out of memory");
  s->n = host->cfg_double(ci->config, "n");
  *inst = s;
  return DK_OK;
}

static void top_n_sigma_destroy(void *inst) { free(inst); }

static int top_n_sigma_apply(void *inst, const dk_sample_ctx *ctx, dk_candidates *cand, dk_error *err) {
  const top_n_sigma_inst *s = inst;
  (void)ctx;
  (void)err;
  if (s->n < 0 || cand->n <= 1) return DK_OK;
  double max = -INFINITY, sum = 0;
  size_t finite = 0;
  for (size_t i = 0; i < cand->n; i++) {
    float l = cand->data[i].logit;
    if (!isfinite(l)) continue;
    if (l > max) max = l;
    sum += l;
    finite++;
  }
  if (finite == 0) return DK_OK;
  const double mean = sum / (double)finite;
  double acc = 0;
  for (size_t i = 0; i < cand->n; i++) {
    float l = cand->data[i].logit;
    if (isfinite(l)) acc += (l - mean) * (l - mean);
  }
  const double cut = max - s->n * sqrt(acc / (double)finite);
  size_t j = 0;
  for (size_t i = 0; i < cand->n; i++)
    if (cand->data[i].logit >= cut) cand->data[j++] = cand->data[i];
  cand->n = j;
  cand->flags &= ~DK_CAND_SOFTMAXED;
  return DK_OK;
}

static int top_n_sigma_clone(const void *inst, void **out, dk_error *err) {
  (void)err;
  *out = dks_memdup(inst, sizeof(top_n_sigma_inst));
  return *out ? DK_OK : DK_ERR_NOMEM;
}

static const dk_sampler_iface top_n_sigma_iface = {
    DKS_HEADER("top_n_sigma", "keep logits within n standard deviations of the maximum",
               top_n_sigma_params),
    top_n_sigma_create, top_n_sigma_destroy, top_n_sigma_apply, NULL, NULL, top_n_sigma_clone};

DKS_PLUGIN(top_n_sigma, top_n_sigma_iface)
