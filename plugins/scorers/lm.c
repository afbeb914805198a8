/* lm.c -- scorer: the generated tokens' log-likelihood under another model (the pipeline's draft) or the target itself. */
#include "hyp_cache.h"

#include "../decoders/decoder_math.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const dk_param_spec lm_params[] = {
    {"model", DK_PARAM_STRING, 0, "draft", 0, 0,
     "Which model judges: draft (the GGUF of the pipeline's draft: block) or target (the "
     "pipeline's model, i.e. its own likelihood)."},
    {"normalize", DK_PARAM_BOOL, 0, "false", 0, 0,
     "Divide by the number of generated tokens: the mean log-probability per token instead of "
     "the sum."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

typedef struct lm {
  const dk_host *h;
  hc_cache cache;
  int draft, normalize;
} lm;

static void lm_destroy(void *inst) {
  lm *l = inst;
  if (!l) return;
  hc_free(&l->cache);
  free(l);
}

static int lm_create(const dk_host *h, const dk_create_info *ci, void **inst, dk_error *err) {
  const char *which = h->cfg_string(ci->config, "model");
  int draft = !which || strcmp(which, "draft") == 0;
  if (!draft && strcmp(which, "target") != 0)
    return h->set_error(err, DK_ERR_INVALID, "key 'model': expected draft or target, got '%s'",
                        which);
  lm *l = calloc(1, sizeof *l);
  if (!l) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  l->h = h;
  l->draft = draft;
  l->normalize = h->cfg_bool(ci->config, "normalize");
  hc_init(&l->cache, h, HC_ALL_ROWS);
  *inst = l;
  return DK_OK;
}

/* The parent's sum plus log p of every new generated token; the row that
 * predicts the first new token is the parent's last. */
static int lm_value(void *user, const hc_entry *parent, const dk_token *toks, size_t n_old,
                    size_t n_new, size_t n_prompt, const float *rows, double *value,
                    dk_error *err) {
  const lm *l = user;
  size_t nv = l->cache.row_len;
  double sum = parent ? parent->value : 0.0;
  for (size_t p = n_old; p < n_old + n_new; p++) {
    if (p < n_prompt || p == 0) continue;
    const float *row = p == n_old ? (parent ? parent->row : NULL) : rows + (p - n_old - 1) * nv;
    if (!row) continue;
    if (toks[p] < 0 || (size_t)toks[p] >= nv)
      return l->h->set_error(err, DK_ERR_INVALID, "token %d is outside the judging model's vocabulary",
                             (int)toks[p]);
    sum += (double)row[toks[p]] - dkd_row_lse(row, nv);
  }
  *value = sum;
  return DK_OK;
}

/* The plain sums (no normalising) of the hypotheses on the judging model. */
static int lm_sums(lm *l, dk_session *s, const dk_token *const *toks, const size_t *n, size_t n_hyps,
                   size_t n_prompt, double *out, dk_error *err) {
  const dk_host *h = l->h;
  if (!s) return h->set_error(err, DK_ERR_STATE, "needs a session: it evaluates a model");
  const dk_model_ref *m = l->draft ? h->session_draft_model(s) : h->session_model(s);
  if (!m)
    return h->set_error(err, DK_ERR_INVALID,
                        "key 'model': draft, but the pipeline has no draft: block");
  return hc_score(&l->cache, s, m, toks, n, n_hyps, n_prompt, lm_value, l, out, err);
}

static int lm_score_batch(void *inst, dk_session *s, const dk_token *const *toks, const size_t *n,
                          size_t n_hyps, size_t n_prompt, double *out, dk_error *err) {
  lm *l = inst;
  int rc = lm_sums(l, s, toks, n, n_hyps, n_prompt, out, err);
  if (rc || !l->normalize) return rc;
  for (size_t i = 0; i < n_hyps; i++)
    if (n[i] > n_prompt) out[i] /= (double)(n[i] - n_prompt);
  return DK_OK;
}

/* One step of lookahead costs one evaluation: the context's (usually cached)
 * and every candidate read off its last row, the sum score_batch forms for
 * the context plus the candidate, term for term. */
static int lm_score_next(void *inst, dk_session *s, const dk_token *ctx, size_t n_ctx,
                         size_t n_prompt, const dk_token *cands, size_t n_cands, double *out,
                         dk_error *err) {
  lm *l = inst;
  const dk_host *h = l->h;
  if (n_ctx == 0 || n_prompt > n_ctx)
    return h->set_error(err, DK_ERR_INVALID, "score_next: a context of %zu tokens with a prompt of %zu",
                        n_ctx, n_prompt);
  double base;
  int rc = lm_sums(l, s, &ctx, &n_ctx, 1, n_prompt, &base, err);
  if (rc) return rc;
  const hc_entry *e = hc_find(&l->cache, ctx, n_ctx);
  if (!e) return h->set_error(err, DK_ERR_STATE, "score_next: the context's row was not kept");
  size_t nv = l->cache.row_len;
  double lse = dkd_row_lse(e->row, nv);
  for (size_t i = 0; i < n_cands; i++) {
    if (cands[i] < 0 || (size_t)cands[i] >= nv)
      return h->set_error(err, DK_ERR_INVALID, "token %d is outside the judging model's vocabulary",
                          (int)cands[i]);
    out[i] = base + ((double)e->row[cands[i]] - lse);
    if (l->normalize) out[i] /= (double)(n_ctx + 1 - n_prompt);
  }
  return DK_OK;
}

static int lm_score(void *inst, dk_session *s, const dk_token *toks, size_t n, size_t n_prompt,
                    double *out, dk_error *err) {
  const dk_token *const one[1] = {toks};
  return lm_score_batch(inst, s, one, &n, 1, n_prompt, out, err);
}

static const struct dk_scorer_iface lm_iface = {
    .hdr = {sizeof(struct dk_scorer_iface), DK_KIND_SCORER, "lm", "1.0.0",
            "log-likelihood of the generated tokens under the draft model (or the target)",
            lm_params, sizeof(dk_param_spec), DK_CAP_SCORER_USES_DRAFT_MODEL},
    .create = lm_create,
    .destroy = lm_destroy,
    .score = lm_score,
    .score_batch = lm_score_batch,
    .score_next = lm_score_next,
};

static const dk_iface_header *const components[] = {&lm_iface.hdr};
static const dk_plugin_desc desc = {DK_PLUGIN_DESC_HEAD, "lm", "1.0.0", components, 1, NULL, NULL};
DK_PLUGIN_ENTRY(lm) { return &desc; }
