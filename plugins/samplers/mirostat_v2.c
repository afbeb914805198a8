/* mirostat_v2.c -- Mirostat 2.0 (Basu et al.): a selector that steers the observed surprise toward tau. */
#include "sampler_common.h"

typedef struct mirostat_v2_inst {
  const dk_host *host;
  dks_mirostat ms;
} mirostat_v2_inst;

static const dk_param_spec mirostat_v2_params[] = {
    {"tau", DK_PARAM_DOUBLE, DK_PARAM_MIN, "5.0", 0, 0,
     "Target surprise in bits (-log2 p of the chosen token). Lower gives more focused text. mu "
     "starts at 2 * tau. Default 5.0, as in llama.cpp."},
    {"eta", DK_PARAM_DOUBLE, DK_PARAM_MIN, "0.1", 0, 0,
     "Learning rate: after each token, mu -= eta * (observed surprise - tau). The update happens when "
     "the host reports the chosen token (accept) and that token is the one this sampler selected. "
     "Default 0.1, as in llama.cpp."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static int mirostat_v2_create(const dk_host *host, const dk_create_info *ci, void **inst, dk_error *err) {
  mirostat_v2_inst *s = malloc(sizeof *s);
  if (s == NULL) return host->set_error(err, DK_ERR_NOMEM, "mirostat_v2: out of memory");
  s->host = host;
  dks_mirostat_init(&s->ms, host, ci);
  *inst = s;
  return DK_OK;
}

static void mirostat_v2_destroy(void *inst) { free(inst); }

static int mirostat_v2_apply(void *inst, const dk_sample_ctx *ctx, dk_candidates *cand, dk_error *err) {
  mirostat_v2_inst *s = inst;
  (void)ctx;
  if (cand->n == 0) return s->host->set_error(err, DK_ERR_INVALID, "mirostat_v2: no candidates left");
  s->host->cand_softmax(cand);
  /* surprise -log2 p <= mu  <=>  p >= 2^-mu: a threshold, so no sort is needed to count */
  const double floor_p = exp2(-s->ms.mu);
  size_t keep = 0;
  for (size_t i = 0; i < cand->n; i++) keep += cand->data[i].p >= floor_p;
  if (keep == 0) keep = 1;
  s->host->cand_top(cand, keep);
  cand->flags &= ~DK_CAND_SOFTMAXED;
  dks_mirostat_draw(&s->ms, s->host, cand);
  return DK_OK;
}

static void mirostat_v2_accept(void *inst, dk_token tok) {
  mirostat_v2_inst *s = inst;
  dks_mirostat_accept(&s->ms, tok);
}

static void mirostat_v2_reset(void *inst) {
  mirostat_v2_inst *s = inst;
  dks_mirostat_reset(&s->ms);
}

static int mirostat_v2_clone(const void *inst, void **out, dk_error *err) {
  (void)err;
  *out = dks_memdup(inst, sizeof(mirostat_v2_inst));
  return *out ? DK_OK : DK_ERR_NOMEM;
}

static const dk_sampler_iface mirostat_v2_iface = {
    DKS_HEADER("mirostat_v2", "Mirostat 2.0 selector: keep the surprise near tau", mirostat_v2_params),
    mirostat_v2_create, mirostat_v2_destroy, mirostat_v2_apply, mirostat_v2_accept,
    mirostat_v2_reset, mirostat_v2_clone};

DKS_PLUGIN(mirostat_v2, mirostat_v2_iface)
