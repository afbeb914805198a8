/* mirostat.c -- Mirostat 1.0 (Basu et al.): Zipf-estimated top-k that steers the surprise toward tau. */
#include "sampler_common.h"

typedef struct mirostat_inst {
  const dk_host *host;
  dks_mirostat ms;
  int64_t m;
  int32_t n_vocab; /* 0: use the candidate count */
} mirostat_inst;

static const dk_param_spec mirostat_params[] = {
    {"tau", DK_PARAM_DOUBLE, DK_PARAM_MIN, "5.0", 0, 0,
     "Target surprise in bits (-log2 p of the chosen token). mu starts at 2 * tau. Default 5.0, as in "
     "llama.cpp."},
    {"eta", DK_PARAM_DOUBLE, DK_PARAM_MIN, "0.1", 0, 0,
     "Learning rate: after each token, mu -= eta * (observed surprise - tau), applied when the host "
     "reports the chosen token and it is the one this sampler selected. Default 0.1, as in llama.cpp."},
    {"m", DK_PARAM_INT, DK_PARAM_MIN, "100", 1, 0,
     "How many of the most likely tokens estimate the Zipf exponent s, from which k = "
     "(e * 2^mu / (1 - N^-e))^(1/s), e = s - 1, N the vocabulary size; the draw is then from the top k. "
     "Default 100, as in llama.cpp."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static int mirostat_create(const dk_host *host, const dk_create_info *ci, void **inst, dk_error *err) {
  mirostat_inst *s = malloc(sizeof *s);
  if (s == NULL) return host->set_error(err, DK_ERR_NOMEM, "mirostat: out of memory");
  s->host = host;
  dks_mirostat_init(&s->ms, host, ci);
  s->m = host->cfg_int(ci->config, "m");
  s->n_vocab = ci->vocab != NULL ? ci->vocab->n_vocab : 0;
  *inst = s;
  return DK_OK;
}

static void mirostat_destroy(void *inst) { free(inst); }

static int mirostat_apply(void *inst, const dk_sample_ctx *ctx, dk_candidates *cand, dk_error *err) {
  mirostat_inst *s = inst;
  (void)ctx;
  if (cand->n == 0) return s->host->set_error(err, DK_ERR_INVALID, "mirostat: no candidates left");
  s->host->cand_softmax(cand);
  s->host->cand_sort(cand);
  /* least-squares fit of log(p_i / p_i+1) = s * log((i+2) / (i+1)) over the top m */
  double sum_tb = 0, sum_tt = 0;
  for (size_t i = 0; i + 1 < (size_t)s->m && i + 1 < cand->n; i++) {
    double t = log((double)(i + 2) / (double)(i + 1));
    double b = log((double)cand->data[i].p / (double)cand->data[i + 1].p);
    if (!isfinite(b)) break; /* the rest have probability 0 */
    sum_tb += t * b;
    sum_tt += t * t;
  }
  size_t k = 1;
  if (sum_tt > 0) {
    const double s_hat = sum_tb / sum_tt, e_hat = s_hat - 1;
    const double nv = s->n_vocab > 0 ? (double)s->n_vocab : (double)cand->n;
    const double kf = pow(e_hat * exp2(s->ms.mu) / (1 - pow(nv, -e_hat)), 1 / s_hat);
    if (isfinite(kf) && kf > 1) k = kf >= (double)cand->n ? cand->n : (size_t)kf;
  }
  if (k < cand->n) {
    cand->n = k;
    cand->flags &= ~DK_CAND_SOFTMAXED;
  }
  dks_mirostat_draw(&s->ms, s->host, cand);
  return DK_OK;
}

static void mirostat_accept(void *inst, dk_token tok) {
  mirostat_inst *s = inst;
  dks_mirostat_accept(&s->ms, tok);
}

static void mirostat_reset(void *inst) {
  mirostat_inst *s = inst;
  dks_mirostat_reset(&s->ms);
}

static int mirostat_clone(const void *inst, void **out, dk_error *err) {
  (void)err;
  *out = dks_memdup(inst, sizeof(mirostat_inst));
  return *out ? DK_OK : DK_ERR_NOMEM;
}

static const dk_sampler_iface mirostat_iface = {
    DKS_HEADER("mirostat", "Mirostat 1.0 selector: Zipf-estimated top-k keeping the surprise near tau",
               mirostat_params),
    mirostat_create, mirostat_destroy, mirostat_apply, mirostat_accept, mirostat_reset, mirostat_clone};

DKS_PLUGIN(mirostat, mirostat_iface)
