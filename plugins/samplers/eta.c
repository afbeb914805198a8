/* eta.c -- eta sampling (Hewitt et al.): a probability floor that falls as the entropy rises. */
#include "sampler_common.h"

typedef struct eta_inst {
  const dk_host *host;
  double epsilon;
  size_t min_keep;
} eta_inst;

static const dk_param_spec eta_params[] = {
    {"epsilon", DK_PARAM_DOUBLE, DK_PARAM_MIN | DK_PARAM_MAX, "0.0006", 0, 1,
     "The paper's epsilon. Candidates with probability below eta = min(epsilon, sqrt(epsilon) * "
     "exp(-H)) are removed, H being the entropy (nats) of the softmax over the candidates this "
     "sampler receives; a flat distribution thus keeps more tokens. 0 disables the sampler. The paper "
     "recommends 3e-4 to 2e-3; default 0.0006 (llama.cpp has no such sampler)."},
    {"min_keep", DK_PARAM_INT, DK_PARAM_MIN, "1", 0, 0,
     "Never keep fewer than this many candidates (the most likely ones). Default 1."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static int eta_create(const dk_host *host, const dk_create_info *ci, void **inst, dk_error *err) {
  eta_inst *s = malloc(sizeof *s);
  if (s == NULL) return host->set_error(err, DK_ERR_NOMEM, "eta: out of memory");
  s->host = host;
  s->epsilon = host->cfg_double(ci->config, "epsilon");
  s->min_keep = (size_t)host->cfg_int(ci->config, "min_keep");
  *inst = s;
  return DK_OK;
}

static void eta_destroy(void *inst) { free(inst); }

static int eta_apply(void *inst, const dk_sample_ctx *ctx, dk_candidates *cand, dk_error *err) {
  const eta_inst *s = inst;
  (void)ctx;
  (void)err;
  if (s->epsilon <= 0 || cand->n == 0) return DK_OK;
  s->host->cand_softmax(cand);
  double eta = sqrt(s->epsilon) * exp(-dks_entropy(cand));
  if (s->epsilon < eta) eta = s->epsilon;
  dks_keep_p_at_least(s->host, cand, (float)eta, s->min_keep);
  return DK_OK;
}

static int eta_clone(const void *inst, void **out, dk_error *err) {
  (void)err;
  *out = dks_memdup(inst, sizeof(eta_inst));
  return *out ? DK_OK : DK_ERR_NOMEM;
}

static const dk_sampler_iface eta_iface = {
    DKS_HEADER("eta", "eta sampling: an entropy-dependent probability floor", eta_params),
    eta_create, eta_destroy, eta_apply, NULL, NULL, eta_clone};

DKS_PLUGIN(eta, eta_iface)
