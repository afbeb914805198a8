/* typical.c -- locally typical sampling (Meister et al.): keep tokens whose surprise is closest to the entropy. */
#include "sampler_common.h"

typedef struct typical_inst {
  const dk_host *host;
  double p;
  size_t min_keep;
} typical_inst;

static const dk_param_spec typical_params[] = {
    {"p", DK_PARAM_DOUBLE, DK_PARAM_MIN | DK_PARAM_MAX, "1.0", 0, 1,
     "Probability mass to keep. Candidates are ranked by how far their surprise -ln p lies from the "
     "entropy of the distribution, closest first, and kept until their probabilities add up to more "
     "than p. p = 1 disables the sampler. Default 1.0 (off), as in llama.cpp; the paper suggests "
     "about 0.2 for story writing and 0.95 for summarisation."},
    {"min_keep", DK_PARAM_INT, DK_PARAM_MIN, "1", 0, 0,
     "Never keep fewer than this many candidates. Default 1."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static int typical_create(const dk_host *host, const dk_create_info *ci, void **inst, dk_error *err) {
  typical_inst *s = malloc(sizeof *s);
  if (s == NULL) return host->set_error(err, DK_ERR_NOMEM, "typical: out of memory");
  s->host = host;
  s->p = host->cfg_double(ci->config, "p");
  s->min_keep = (size_t)host->cfg_int(ci->config, "min_keep");
  *inst = s;
  return DK_OK;
}

static void typical_destroy(void *inst) { free(inst); }

/* Ascending by the typicality score parked in .p; ties by lower id so the
 * order never depends on the input order. */
static int by_score(const void *pa, const void *pb) {
  const dk_token_data *a = pa, *b = pb;
  if (a->p != b->p) return a->p < b->p ? -1 : 1;
  return (a->id > b->id) - (a->id < b->id);
}

static int typical_apply(void *inst, const dk_sample_ctx *ctx, dk_candidates *cand, dk_error *err) {
  const typical_inst *s = inst;
  (void)ctx;
  (void)err;
  if (s->p >= 1.0 || cand->n == 0) return DK_OK;
  const double max = dks_max_logit(cand);
  double sum = 0;
  for (size_t i = 0; i < cand->n; i++) sum += exp(cand->data[i].logit - max);
  const double log_sum = log(sum);
  double entropy = 0;
  for (size_t i = 0; i < cand->n; i++) {
    double lp = cand->data[i].logit - max - log_sum;
    if (isfinite(lp)) entropy -= exp(lp) * lp;
  }
  /* sorting needs the score next to each entry; p is free until we refill it */
  for (size_t i = 0; i < cand->n; i++) {
    double lp = cand->data[i].logit - max - log_sum;
    cand->data[i].p = isfinite(lp) ? (float)fabs(-lp - entropy) : INFINITY;
  }
  qsort(cand->data, cand->n, sizeof *cand->data, by_score);
  double cum = 0;
  size_t last = cand->n;
  for (size_t i = 0; i < cand->n; i++) {
    double p = exp(cand->data[i].logit - max - log_sum);
    cand->data[i].p = (float)p;
    cum += p;
    if (last == cand->n && cum > s->p && (s->min_keep == 0 || i + 1 >= s->min_keep)) last = i + 1;
  }
  cand->n = last;
  cand->flags &= ~(DK_CAND_SORTED | DK_CAND_SOFTMAXED);
  return DK_OK;
}

static int typical_clone(const void *inst, void **out, dk_error *err) {
  (void)err;
  *out = dks_memdup(inst, sizeof(typical_inst));
  return *out ? DK_OK : DK_ERR_NOMEM;
}

static const dk_sampler_iface typical_iface = {
    DKS_HEADER("typical", "locally typical sampling: keep tokens whose surprise is near the entropy",
               typical_params),
    typical_create, typical_destroy, typical_apply, NULL, NULL, typical_clone};

DKS_PLUGIN(typical, typical_iface)
