/* min_p.c -- min-p sampling: keep tokens at least p times as likely as the most likely one. */
#include "sampler_common.h"

typedef struct min_p_inst {
  const dk_host *host;
  double p;
  size_t min_keep;
} min_p_inst;

static const dk_param_spec min_p_params[] = {
    {"p", DK_PARAM_DOUBLE, DK_PARAM_MIN | DK_PARAM_MAX, "0.05", 0, 1,
     "Keep a candidate when its probability is at least p times that of the most likely candidate "
     "(tested on logits: logit >= max_logit + ln p). p = 0 disables the sampler; p = 1 keeps only the "
     "top token and exact ties. Default 0.05, as in llama.cpp."},
    {"min_keep", DK_PARAM_INT, DK_PARAM_MIN, "1", 0, 0,
     "Never keep fewer than this many candidates (the most likely ones). Default 1."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static int min_p_create(const dk_host *host, const dk_create_info *ci, void **inst, dk_error *err) {
  min_p_inst *s = malloc(sizeof *s);
  if (s == NULL) return host->set_error(err, DK_ERR_NOMEM, "min_p: out of memory");
  s->host = host;
  s->p = host->cfg_double(ci->config, "p");
  s->min_keep = (size_t)host->cfg_int(ci->config, "min_keep");
  *inst = s;
  return DK_OK;
}

static void min_p_destroy(void *inst) { free(inst); }

static int min_p_apply(void *inst, const dk_sample_ctx *ctx, dk_candidates *cand, dk_error *err) {
  const min_p_inst *s = inst;
  (void)ctx;
  (void)err;
  if (s->p <= 0 || cand->n == 0) return DK_OK;
  const float min_logit = dks_max_logit(cand) + logf((float)s->p);
  size_t count = 0;
  for (size_t i = 0; i < cand->n; i++) count += cand->data[i].logit >= min_logit;
  if (count < s->min_keep) {
    /* too few pass: the min_keep best survive instead */
    size_t k = s->min_keep < cand->n ? s->min_keep : cand->n;
    s->host->cand_top(cand, k);
  } else {
    /* in-place filter; keeps the order, so a sorted list stays sorted */
    size_t j = 0;
    for (size_t i = 0; i < cand->n; i++)
      if (cand->data[i].logit >= min_logit) cand->data[j++] = cand->data[i];
    cand->n = j;
  }
  cand->flags &= ~DK_CAND_SOFTMAXED;
  return DK_OK;
}

static int min_p_clone(const void *inst, void **out, dk_error *err) {
  (void)err;
  *out = dks_memdup(inst, sizeof(min_p_inst));
  return *out ? DK_OK : DK_ERR_NOMEM;
}

static const dk_sampler_iface min_p_iface = {
    DKS_HEADER("min_p", "keep tokens at least p times as likely as the top token", min_p_params),
    min_p_create, min_p_destroy, min_p_apply, NULL, NULL, min_p_clone};

DKS_PLUGIN(min_p, min_p_iface)
