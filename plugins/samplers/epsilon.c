/* epsilon.c -- epsilon sampling (Hewitt et al., "Truncation Sampling as Language Model Desmoothing"). */
#include "sampler_common.h"

typedef struct epsilon_inst {
  const dk_host *host;
  double epsilon;
  size_t min_keep;
} epsilon_inst;

static const dk_param_spec epsilon_params[] = {
    {"epsilon", DK_PARAM_DOUBLE, DK_PARAM_MIN | DK_PARAM_MAX, "0.0003", 0, 1,
     "Absolute probability floor: candidates with probability below epsilon (softmax over the "
     "candidates this sampler receives) are removed. 0 disables the sampler. The paper recommends "
     "3e-4 to 9e-4; default 0.0003 (llama.cpp has no such sampler)."},
    {"min_keep", DK_PARAM_INT, DK_PARAM_MIN, "1", 0, 0,
     "Never keep fewer than this many candidates (the most likely ones). Default 1."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static int epsilon_create(const dk_host *host, const dk_create_info *ci, void **inst, dk_error *err) {
  epsilon_inst *s = malloc(sizeof *s);
  if (s == NULL) return host->set_error(err, DK_ERR_NOMEM, "epsilon: out of memory");
  s->host = host;
  s->epsilon = host->cfg_double(ci->config, "epsilon");
  s->min_keep = (size_t)host->cfg_int(ci->config, "min_keep");
  *inst = s;
  return DK_OK;
}

static void epsilon_destroy(void *inst) { free(inst); }

static int epsilon_apply(void *inst, const dk_sample_ctx *ctx, dk_candidates *cand, dk_error *err) {
  const epsilon_inst *s = inst;
  (void)ctx;
  (void)err;
  if (s->epsilon <= 0 || cand->n == 0) return DK_OK;
  s->host->cand_softmax(cand);
  dks_keep_p_at_least(s->host, cand, (float)s->epsilon, s->min_keep);
  return DK_OK;
}

static int epsilon_clone(const void *inst, void **out, dk_error *err) {
  (void)err;
  *out = dks_memdup(inst, sizeof(epsilon_inst));
  return *out ? DK_OK : DK_ERR_NOMEM;
}

static const dk_sampler_iface epsilon_iface = {
    DKS_HEADER("epsilon", "epsilon sampling: drop tokens below a fixed probability", epsilon_params),
    epsilon_create, epsilon_destroy, epsilon_apply, NULL, NULL, epsilon_clone};

DKS_PLUGIN(epsilon, epsilon_iface)
