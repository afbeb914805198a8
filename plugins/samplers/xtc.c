/* xtc.c -- XTC, "exclude top choices": sometimes remove every likely token but the least likely of them. */
#include "sampler_common.h"

typedef struct xtc_inst {
  const dk_host *host;
  double probability, threshold;
  size_t min_keep;
  dks_rng rng, rng0;
} xtc_inst;

static const dk_param_spec xtc_params[] = {
    {"probability", DK_PARAM_DOUBLE, DK_PARAM_MIN | DK_PARAM_MAX, "0.0", 0, 1,
     "Chance that XTC acts on a given token (one draw from the instance's seeded stream per token). "
     "0 disables the sampler; its author suggests about 0.5. Default 0.0, as in llama.cpp."},
    {"threshold", DK_PARAM_DOUBLE, DK_PARAM_MIN | DK_PARAM_MAX, "0.1", 0, 1,
     "When XTC acts and at least two candidates have probability >= threshold, all of them except "
     "the least likely one are removed; tokens below the threshold are untouched. A threshold above "
     "0.5 can never catch two tokens and disables the sampler. Default 0.1, as in llama.cpp."},
    {"min_keep", DK_PARAM_INT, DK_PARAM_MIN, "1", 0, 0,
     "Skip the removal when it would leave fewer than this many candidates. Default 1."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static int xtc_create(const dk_host *host, const dk_create_info *ci, void **inst, dk_error *err) {
  xtc_inst *s = malloc(sizeof *s);
  if (s == NULL) return host->set_error(err, DK_ERR_NOMEM, "xtc: out of memory");
  s->host = host;
  s->probability = host->cfg_double(ci->config, "probability");
  s->threshold = host->cfg_double(ci->config, "threshold");
  s->min_keep = (size_t)host->cfg_int(ci->config, "min_keep");
  dks_rng_init(&s->rng, host, ci);
  s->rng0 = s->rng;
  *inst = s;
  return DK_OK;
}

static void xtc_destroy(void *inst) { free(inst); }

static int xtc_apply(void *inst, const dk_sample_ctx *ctx, dk_candidates *cand, dk_error *err) {
  xtc_inst *s = inst;
  (void)ctx;
  (void)err;
  if (s->probability <= 0 || s->threshold > 0.5 || cand->n < 2) return DK_OK;
  if (dks_rng_uniform(&s->rng) >= s->probability) return DK_OK;
  s->host->cand_softmax(cand);
  const float thr = (float)s->threshold;
  /* the survivor among the top choices: lowest probability, and on a tie the
   * one a sorted list puts last (the higher id) */
  size_t above = 0, last = 0;
  for (size_t i = 0; i < cand->n; i++) {
    const dk_token_data *d = &cand->data[i];
    if (d->p < thr) continue;
    if (above == 0 || d->logit < cand->data[last].logit ||
        (d->logit == cand->data[last].logit && d->id > cand->data[last].id))
      last = i;
    above++;
  }
  if (above < 2 || cand->n - (above - 1) < s->min_keep) return DK_OK;
  /* removing entries keeps the order, so a sorted list stays sorted */
  size_t j = 0;
  for (size_t i = 0; i < cand->n; i++)
    if (cand->data[i].p < thr || i == last) cand->data[j++] = cand->data[i];
  cand->n = j;
  cand->flags &= ~DK_CAND_SOFTMAXED;
  return DK_OK;
}

static void xtc_reset(void *inst) {
  xtc_inst *s = inst;
  s->rng = s->rng0;
}

static int xtc_clone(const void *inst, void **out, dk_error *err) {
  (void)err;
  *out = dks_memdup(inst, sizeof(xtc_inst));
  return *out ? DK_OK : DK_ERR_NOMEM;
}

static const dk_sampler_iface xtc_iface = {
    DKS_HEADER("xtc", "exclude top choices: at random, drop all likely tokens but the least likely",
               xtc_params),
    xtc_create, xtc_destroy, xtc_apply, NULL, xtc_reset, xtc_clone};

DKS_PLUGIN(xtc, xtc_iface)
