/* dyn_temp.c -- dynamic (entropy-based) temperature: hotter when the model is unsure, cooler when it is sure. */
#include "sampler_common.h"

typedef struct dyn_temp_inst {
  const dk_host *host;
  double t, range, exponent;
} dyn_temp_inst;

static const dk_param_spec dyn_temp_params[] = {
    {"t", DK_PARAM_DOUBLE, 0, "0.8", 0, 0,
     "Centre temperature. The temperature used for a token lies in [max(0, t - range), t + range]. "
     "Default 0.8, as in llama.cpp."},
    {"range", DK_PARAM_DOUBLE, DK_PARAM_MIN, "0.0", 0, 0,
     "Half-width of the temperature range (llama.cpp's dynatemp_range). The normalised entropy "
     "H / ln(n) of the candidates picks the point in the range: 0 gives the low end, 1 the high end. "
     "range = 0 makes this plain temperature t. Default 0.0, as in llama.cpp."},
    {"exponent", DK_PARAM_DOUBLE, DK_PARAM_MIN, "1.0", 0, 0,
     "Shape of the mapping: the temperature is low + (high - low) * (H / ln n)^exponent. Above 1 keeps "
     "the temperature low until the entropy is high. Default 1.0, as in llama.cpp."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static int dyn_temp_create(const dk_host *host, const dk_create_info *ci, void **inst, dk_error *err) {
  dyn_temp_inst *s = malloc(sizeof *s);
  if (s == NULL) return host->set_error(err, DK_ERR_NOMEM, "dyn_temp: out of memory");
  s->host = host;
  s->t = host->cfg_double(ci->config, "t");
  s->range = host->cfg_double(ci->config, "range");
  s->exponent = host->cfg_double(ci->config, "exponent");
  *inst = s;
  return DK_OK;
}

static void dyn_temp_destroy(void *inst) { free(inst); }

static int dyn_temp_apply(void *inst, const dk_sample_ctx *ctx, dk_candidates *cand, dk_error *err) {
  const dyn_temp_inst *s = inst;
  (void)ctx;
  (void)err;
  if (!(s->range > 0)) {
    dks_apply_temp(cand, s->t);
    return DK_OK;
  }
  if (cand->n <= 1) return DK_OK;
  const double lo = s->t - s->range > 0 ? s->t - s->range : 0;
  const double hi = s->t + s->range;
  const double max_entropy = log((double)cand->n);
  s->host->cand_softmax(cand);
  const double t = lo + (hi - lo) * pow(dks_entropy(cand) / max_entropy, s->exponent);
  dks_apply_temp(cand, t);
  return DK_OK;
}

static int dyn_temp_clone(const void *inst, void **out, dk_error *err) {
  (void)err;
  *out = dks_memdup(inst, sizeof(dyn_temp_inst));
  return *out ? DK_OK : DK_ERR_NOMEM;
}

static const dk_sampler_iface dyn_temp_iface = {
    DKS_HEADER("dyn_temp", "dynamic temperature chosen from the entropy of the candidates",
               dyn_temp_params),
    dyn_temp_create, dyn_temp_destroy, dyn_temp_apply, NULL, NULL, dyn_temp_clone};

DKS_PLUGIN(dyn_temp, dyn_temp_iface)
