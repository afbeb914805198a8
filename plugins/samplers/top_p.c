/* top_p.c -- nucleus (top-p) sampling: keep the smallest top set whose probability reaches p. */
#include "sampler_common.h"

typedef struct top_p_inst {
  const dk_host *host;
  double p;
  size_t min_keep;
} top_p_inst;

static const dk_param_spec top_p_params[] = {
    {"p", DK_PARAM_DOUBLE, DK_PARAM_MIN | DK_PARAM_MAX, "0.95", 0, 1,
     "Cumulative probability to keep. Candidates are taken from the most likely down until their "
     "probabilities (softmax over the candidates this sampler receives) add up to at least p. "
     "p = 1 disables the sampler. Default 0.95, as in llama.cpp."},
    {"min_keep", DK_PARAM_INT, DK_PARAM_MIN, "1", 0, 0,
     "Never keep fewer than this many candidates, even when fewer already reach p. Default 1."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static int top_p_create(const dk_host *host, const dk_create_info *ci, void **inst, dk_error *err) {
  top_p_inst *s = malloc(sizeof *s);
  if (s == NULL) return host->set_error(err, DK_ERR_NOMEM, "top_p: out of memory");
  s->host = host;
  s->p = host->cfg_double(ci->config, "p");
  s->min_keep = (size_t)host->cfg_int(ci->config, "min_keep");
  *inst = s;
  return DK_OK;
}

static void top_p_destroy(void *inst) { free(inst); }

static int top_p_apply(void *inst, const dk_sample_ctx *ctx, dk_candidates *cand, dk_error *err) {
  const top_p_inst *s = inst;
  (void)ctx;
  (void)err;
  if (s->p >= 1.0 || cand->n == 0) return DK_OK;
  s->host->cand_softmax(cand);
  if (!(cand->flags & DK_CAND_SORTED)) {
    /* the nucleus is usually tiny: select just enough of the top, never the whole vocabulary */
    size_t k = dks_top_count_for_mass(cand, s->p, s->min_keep);
    s->host->cand_top(cand, k);
  }
  /* cand_top moves whole entries, so p still holds the probabilities computed above */
  double cum = 0;
  size_t last = cand->n;
  for (size_t i = 0; i < cand->n; i++) {
    cum += cand->data[i].p;
    if (cum >= s->p && i + 1 >= s->min_keep) {
      last = i + 1;
      break;
    }
  }
  if (last < cand->n) cand->n = last;
  cand->flags &= ~DK_CAND_SOFTMAXED;
  return DK_OK;
}

static int top_p_clone(const void *inst, void **out, dk_error *err) {
  (void)err;
  *out = dks_memdup(inst, sizeof(top_p_inst));
  return *out ? DK_OK : DK_ERR_NOMEM;
}

static const dk_sampler_iface top_p_iface = {
    DKS_HEADER("top_p", "nucleus sampling: keep the most likely tokens up to probability p", top_p_params),
    top_p_create, top_p_destroy, top_p_apply, NULL, NULL, top_p_clone};

DKS_PLUGIN(top_p, top_p_iface)
