/* plugin_proxy.c -- check drafts, draft distributions and scores before a decoder trusts them. */
#include "plugin_proxy.h"

#include "error.h"

#include <math.h>

#define DPX(inst) ((dk_drafter_proxy *)(inst))
#define SPX(inst) ((dk_scorer_proxy *)(inst))

int dk_plugin_status(int rc, int done_ok, dk_error *err, const char *what) {
  if (rc == DK_OK || rc < 0 || (done_ok && rc == DK_DONE)) {
    if (rc < 0) dk_error_ensure(err, rc, what);
    return rc;
  }
  return dk_error_set(err, DK_ERR_INTERNAL, "%s returned status %d, which is not a dk_status it may return",
                      what, rc);
}

static int bad_draft(dk_drafter_proxy *px, dk_draft *out, dk_error *err, const char *why, size_t i,
                     long long v) {
  out->n = 0;
  return dk_error_set(err, DK_ERR_INVALID, "drafter '%s': node %zu: %s (%lld)", px->name, i, why, v);
}

static int check_draft(dk_drafter_proxy *px, dk_draft *out, dk_error *err) {
  if (out->n > out->cap) {
    long long n = (long long)out->n;
    out->n = 0;
    return dk_error_set(err, DK_ERR_INVALID, "drafter '%s': proposed %lld nodes for room for %zu",
                        px->name, n, out->cap);
  }
  for (size_t i = 0; i < out->n; i++) {
    if (out->tokens[i] < 0 || out->tokens[i] >= px->n_vocab)
      return bad_draft(px, out, err, "token outside the vocabulary", i, out->tokens[i]);
    if (out->parents[i] < -1 || out->parents[i] >= (int32_t)i)
      return bad_draft(px, out, err, "parent is not an earlier node or -1", i, out->parents[i]);
  }
  return DK_OK;
}

/* q must be a distribution that gave each node its token: the verifier's
 * exactness rests on it. */
static int check_dist(dk_drafter_proxy *px, dk_draft *out, const dk_draft_dist *q, dk_error *err) {
  if (!q->ids && q->k != (size_t)px->n_vocab) {
    out->n = 0;
    return dk_error_set(err, DK_ERR_INVALID,
                        "drafter '%s': dense draft rows need k = %d entries, got %zu", px->name,
                        px->n_vocab, q->k);
  }
  for (size_t i = 0; i < out->n; i++) {
    const float *pr = q->probs + i * q->k;
    const dk_token *ids = q->ids ? q->ids + i * q->k : NULL;
    double sum = 0, own = 0;
    for (size_t j = 0; j < q->k; j++) {
      if (!isfinite(pr[j]) || pr[j] < 0)
        return bad_draft(px, out, err, "draft probability is negative or not finite", i, (long long)j);
      dk_token t = ids ? ids[j] : (dk_token)j;
      if (ids && (t < -1 || t >= px->n_vocab))
        return bad_draft(px, out, err, "draft distribution names a token outside the vocabulary", i, t);
      if (t == -1 && pr[j] > 0)
        return bad_draft(px, out, err, "unused draft entry has probability", i, (long long)j);
      sum += pr[j];
      if (t == out->tokens[i]) own += pr[j];
    }
    if (fabs(sum - 1.0) > 1e-3)
      return bad_draft(px, out, err, "draft probabilities do not sum to 1 (x1000)", i,
                       (long long)llround(sum * 1000));
    if (!(own > 0)) return bad_draft(px, out, err, "the node's token has q = 0", i, out->tokens[i]);
  }
  return DK_OK;
}

static int dpx_propose(void *inst, dk_session *s, const dk_token *ctx, size_t n_ctx, dk_draft *out,
                       dk_error *err) {
  dk_drafter_proxy *px = DPX(inst);
  int rc = dk_plugin_status(px->real->propose(px->real_inst, s, ctx, n_ctx, out, err), 0, err,
                            "propose");
  if (rc) {
    out->n = 0;
    return dk_error_prefix(err, "drafter '%s': ", px->name);
  }
  return check_draft(px, out, err);
}

static int dpx_propose_dist(void *inst, dk_session *s, const dk_token *ctx, size_t n_ctx,
                            dk_draft *out, dk_draft_dist *q, dk_error *err) {
  dk_drafter_proxy *px = DPX(inst);
  if (!q || !q->probs || q->k == 0) {
    out->n = 0;
    return dk_error_set(err, DK_ERR_INVALID, "propose_dist: the caller gave no room for q");
  }
  int rc = dk_plugin_status(px->real->propose_dist(px->real_inst, s, ctx, n_ctx, out, q, err), 0,
                            err, "propose_dist");
  if (rc) {
    out->n = 0;
    return dk_error_prefix(err, "drafter '%s': ", px->name);
  }
  rc = check_draft(px, out, err);
  return rc ? rc : check_dist(px, out, q, err);
}

static void dpx_observe(void *inst, const dk_token *acc, size_t n_acc, size_t n_prop) {
  DPX(inst)->real->observe(DPX(inst)->real_inst, acc, n_acc, n_prop);
}
static void dpx_observe_verified(void *inst, dk_session *s, const dk_verify_feedback *fb) {
  DPX(inst)->real->observe_verified(DPX(inst)->real_inst, s, fb);
}
static void dpx_reset(void *inst) { DPX(inst)->real->reset(DPX(inst)->real_inst); }
static int dpx_begin(void *inst, dk_session *s, dk_error *err) {
  dk_drafter_proxy *px = DPX(inst);
  int rc = dk_plugin_status(px->real->begin(px->real_inst, s, err), 0, err, "begin");
  return rc ? dk_error_prefix(err, "drafter '%s': ", px->name) : DK_OK;
}
static void dpx_end(void *inst, dk_session *s) { DPX(inst)->real->end(DPX(inst)->real_inst, s); }

void dk_drafter_proxy_init(dk_drafter_proxy *px, const struct dk_drafter_iface *real, void *inst,
                           const char *name, int32_t n_vocab) {
  px->real = real;
  px->real_inst = inst;
  px->name = name;
  px->n_vocab = n_vocab;
  px->iface = *real;
  px->iface.propose = dpx_propose;
#define OPT(f, fn) px->iface.f = real->f ? fn : NULL
  OPT(propose_dist, dpx_propose_dist);
  OPT(observe, dpx_observe);
  OPT(observe_verified, dpx_observe_verified);
  OPT(reset, dpx_reset);
  OPT(begin, dpx_begin);
  OPT(end, dpx_end);
#undef OPT
  px->ref.iface = &px->iface;
  px->ref.inst = px;
}

/* Scores may be -INFINITY (impossible) but never NaN or +INFINITY. */
static int check_scores(dk_scorer_proxy *px, const double *out, size_t n, dk_error *err) {
  for (size_t i = 0; i < n; i++)
    if (isnan(out[i]) || out[i] == INFINITY)
      return dk_error_set(err, DK_ERR_INVALID, "scorer '%s': score %zu is %s", px->name, i,
                          isnan(out[i]) ? "NaN" : "+inf");
  return DK_OK;
}

static int spx_score(void *inst, dk_session *s, const dk_token *toks, size_t n, size_t n_prompt,
                     double *out, dk_error *err) {
  dk_scorer_proxy *px = SPX(inst);
  int rc = dk_plugin_status(px->real->score(px->real_inst, s, toks, n, n_prompt, out, err), 0,
                            err, "score");
  if (rc) return dk_error_prefix(err, "scorer '%s': ", px->name);
  return check_scores(px, out, 1, err);
}

static int spx_score_batch(void *inst, dk_session *s, const dk_token *const *toks, const size_t *n,
                           size_t n_hyps, size_t n_prompt, double *out, dk_error *err) {
  dk_scorer_proxy *px = SPX(inst);
  int rc = dk_plugin_status(
      px->real->score_batch(px->real_inst, s, toks, n, n_hyps, n_prompt, out, err), 0, err,
      "score_batch");
  if (rc) return dk_error_prefix(err, "scorer '%s': ", px->name);
  return check_scores(px, out, n_hyps, err);
}

static int spx_score_next(void *inst, dk_session *s, const dk_token *ctx, size_t n_ctx,
                          size_t n_prompt, const dk_token *cands, size_t n_cands, double *out,
                          dk_error *err) {
  dk_scorer_proxy *px = SPX(inst);
  int rc = dk_plugin_status(
      px->real->score_next(px->real_inst, s, ctx, n_ctx, n_prompt, cands, n_cands, out, err), 0,
      err, "score_next");
  if (rc) return dk_error_prefix(err, "scorer '%s': ", px->name);
  return check_scores(px, out, n_cands, err);
}

void dk_scorer_proxy_init(dk_scorer_proxy *px, const struct dk_scorer_iface *real, void *inst,
                          const char *name) {
  px->real = real;
  px->real_inst = inst;
  px->name = name;
  px->iface = *real;
  px->iface.score = spx_score;
  px->iface.score_batch = real->score_batch ? spx_score_batch : NULL;
  px->iface.score_next = real->score_next ? spx_score_next : NULL;
  px->ref.iface = &px->iface;
  px->ref.inst = px;
}
