/* top_h.c -- top-H decoding (Baghaei Potraghloo et al.): truncation bounded by the entropy of the kept set. */
#include "sampler_common.h"

typedef struct top_h_inst {
  const dk_host *host;
  double alpha;
  int64_t top_n;
} top_h_inst;

static const dk_param_spec top_h_params[] = {
    {"alpha", DK_PARAM_DOUBLE, DK_PARAM_MIN | DK_PARAM_MAX, "0.4", 0, 1,
     "Entropy budget as a fraction of the distribution's entropy. Candidates are added from the most "
     "likely down while the entropy sum -sum p ln p over the kept ones stays within alpha times the "
     "same sum over the top_n most likely; the token that would exceed it and all after it are "
     "dropped. The top token is always kept. Smaller alpha keeps fewer tokens. Default 0.4, the "
     "authors' default."},
    {"top_n", DK_PARAM_INT, DK_PARAM_MIN, "100", 1, 0,
     "How many of the most likely candidates the rule looks at (and the most it can keep). "
     "Default 100, the authors' default."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static int top_h_create(const dk_host *host, const dk_create_info *ci, void **inst, dk_error *err) {
  top_h_inst *s = malloc(sizeof *s);
  if (s == NULL) return host->set_error(err, DK_ERR_NOMEM, "top_h: out of memory");
  s->host = host;
  s->alpha = host->cfg_double(ci->config, "alpha");
  s->top_n = host->cfg_int(ci->config, "top_n");
  *inst = s;
  return DK_OK;
}

static void top_h_destroy(void *inst) { free(inst); }

static double plogp(float p) { return p > 0 ? -(double)p * log((double)p) : 0.0; }

static int top_h_apply(void *inst, const dk_sample_ctx *ctx, dk_candidates *cand, dk_error *err) {
  const top_h_inst *s = inst;
  (void)ctx;
  (void)err;
  if (cand->n <= 1) return DK_OK;
  /* probabilities over every candidate, as the method defines them */
  s->host->cand_softmax(cand);
  size_t k = s->top_n > 0 && (uint64_t)s->top_n < cand->n ? (size_t)s->top_n : cand->n;
  s->host->cand_top(cand, k);
  double budget = 0;
  for (size_t i = 0; i < cand->n; i++) budget += plogp(cand->data[i].p);
  budget *= s->alpha;
  /* the paper's greedy: stop before the token that would push the entropy
   * sum of the kept set past the budget */
  double h = plogp(cand->data[0].p);
  size_t keep = 1;
  while (keep < cand->n && cand->data[keep].p > 0) {
    h += plogp(cand->data[keep].p);
    if (h > budget) break;
    keep++;
  }
  cand->n = keep;
  cand->flags &= ~DK_CAND_SOFTMAXED;
  return DK_OK;
}

static int top_h_clone(const void *inst, void **out, dk_error *err) {
  (void)err;
  *out = dks_memdup(inst, sizeof(top_h_inst));
  return *out ? DK_OK : DK_ERR_NOMEM;
}

static const dk_sampler_iface top_h_iface = {
    DKS_HEADER("top_h", "top-H: keep the most likely tokens within an entropy budget", top_h_params),
    top_h_create, top_h_destroy, top_h_apply, NULL, NULL, top_h_clone};

DKS_PLUGIN(top_h, top_h_iface)
