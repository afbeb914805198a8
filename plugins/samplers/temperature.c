/* temperature.c -- the temperature sampler: divide logits by t; t <= 0 keeps only the argmax. */
#include "sampler_common.h"

typedef struct temp_inst {
  double t;
} temp_inst;

static const dk_param_spec temp_params[] = {
    {"t", DK_PARAM_DOUBLE, 0, "0.8", 0, 0,
     "Temperature. Logits are divided by t before later samplers see them: below 1 sharpens the "
     "distribution, above 1 flattens it. t <= 0 keeps only the most likely token (lowest id on ties), "
     "which makes a following dist behave like greedy. Default 0.8, as in llama.cpp."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static int temp_create(const dk_host *host, const dk_create_info *ci, void **inst, dk_error *err) {
  temp_inst *s = malloc(sizeof *s);
  if (s == NULL) return host->set_error(err, DK_ERR_NOMEM, "temperature: out of memory");
  s->t = host->cfg_double(ci->config, "t");
  *inst = s;
  return DK_OK;
}

static void temp_destroy(void *inst) { free(inst); }

static int temp_apply(void *inst, const dk_sample_ctx *ctx, dk_candidates *cand, dk_error *err) {
  (void)ctx;
  (void)err;
  dks_apply_temp(cand, ((temp_inst *)inst)->t);
  return DK_OK;
}

static int temp_clone(const void *inst, void **out, dk_error *err) {
  (void)err;
  *out = dks_memdup(inst, sizeof(temp_inst));
  return *out ? DK_OK : DK_ERR_NOMEM;
}

static const dk_sampler_iface temp_iface = {
    DKS_HEADER("temperature", "scale logits by 1/t (t <= 0: keep the argmax)", temp_params),
    temp_create, temp_destroy, temp_apply, NULL, NULL, temp_clone};

DKS_PLUGIN(temperature, temp_iface)
