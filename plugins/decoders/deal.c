/* deal.c -- DeAL: decoding-time alignment as a search that scores each top-k candidate by likelihood plus rewards on a greedy look-ahead. */
/*
 * Huang et al., DeAL (METHODS 8).  Each step expands every running beam by
 * its k most probable tokens (processed distribution, in the beam's
 * branch), rolls every candidate out greedily for `lookahead` tokens, and
 * scores it
 *   log P(y + v) + lambda * sum_i w_i R_i(y + v + rollout)
 * with the pipeline's scorers R_i.  The best `width` of the candidates and
 * of the beams that already ended become the beams; when all have ended
 * the best is committed.  One step runs 1 + lookahead batched model calls:
 * the candidates' tokens, then each look-ahead position of all rollouts.
 */
#include <decokit/plugin.h>

#include "batch_step.h"
#include "decoder_math.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const dk_param_spec deal_params[] = {
    {"width", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "1", 1, 256,
     "Beams kept each step (b); 1 is greedy search with look-ahead."},
    {"k", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "10", 1, 1024,
     "Candidates per beam: its k most probable next tokens."},
    {"lookahead", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "10", 0, 4096,
     "Greedy look-ahead tokens after each candidate before the rewards are computed."},
    {"lambda", DK_PARAM_DOUBLE, 0, "1.0", 0, 0,
     "Weight of the rewards against the log-likelihood; 0 is plain (beam) search."},
    {"weights", DK_PARAM_LIST, 0, NULL, 0, 0,
     "One weight per scorer of the pipeline, in order (default: all 1)."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

typedef struct dhyp {
  dk_seq seq;        /* owned, or -1 */
  dk_branch *br;     /* owned, or NULL */
  const float *row;  /* logits after the hypothesis */
  dk_token *toks;    /* prompt, then generated tokens, then room for a look-ahead */
  float *raw, *proc; /* per generated token */
  size_t n;          /* generated tokens */
  double logp, score;
  int ended;
  size_t parent, n_roll; /* candidates: the beam expanded, the look-ahead length */
  int roll_done;
  const float *rrow;     /* the look-ahead's current row */
  dk_seq rseq;
  dk_branch *rbr;
} dhyp;

typedef struct deal {
  const dk_host *h;
  size_t width, k, lookahead, nv;
  double lambda;
  double *weights;
  size_t n_weights;
  /* per completion */
  size_t n_prompt, max_new, n_beams, n_cands, cap_cands;
  dhyp *beams, *cands;
  void *arena;
  float *rows_c, *rows_r, *row0;
  dk_token_data *dist, *top;
  dk_seq *seqs;
  dk_token *toks;
  size_t *map;
  const dk_token **hyp_ptr;
  size_t *hyp_len;
  double *sc, *acc;
  dk_token_logprob *lps;
} deal;

static void deal_free_completion(deal *d) {
  free(d->arena);
  free(d->beams);
  free(d->cands);
  free(d->rows_c);
  free(d->rows_r);
  free(d->seqs);
  free(d->toks);
  free(d->map);
  free(d->hyp_ptr);
  free(d->hyp_len);
  free(d->sc);
  free(d->acc);
  free(d->lps);
  d->arena = NULL;
  d->beams = d->cands = NULL;
  d->rows_c = d->rows_r = NULL;
  d->seqs = NULL;
  d->toks = NULL;
  d->map = d->hyp_len = NULL;
  d->hyp_ptr = NULL;
  d->sc = d->acc = NULL;
  d->lps = NULL;
}

static void deal_destroy(void *inst) {
  deal *d = inst;
  deal_free_completion(d);
  free(d->weights);
  free(d->dist);
  free(d->top);
  free(d);
}

static int deal_create(const dk_host *h, const dk_create_info *ci, void **inst, dk_error *err) {
  if (!ci->vocab || ci->vocab->n_vocab <= 0)
    return h->set_error(err, DK_ERR_INVALID, "needs the model's vocabulary");
  deal *d = calloc(1, sizeof *d);
  if (!d) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  d->h = h;
  d->nv = (size_t)ci->vocab->n_vocab;
  d->width = (size_t)h->cfg_int(ci->config, "width");
  d->k = (size_t)h->cfg_int(ci->config, "k");
  d->lookahead = (size_t)h->cfg_int(ci->config, "lookahead");
  d->lambda = h->cfg_double(ci->config, "lambda");
  d->n_weights = h->cfg_list_len(ci->config, "weights");
  d->weights = calloc(d->n_weights ? d->n_weights : 1, sizeof *d->weights);
  d->dist = malloc(d->nv * sizeof *d->dist);
  d->top = malloc(d->nv * sizeof *d->top);
  if (!d->weights || !d->dist || !d->top) {
    deal_destroy(d);
    return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  }
  for (size_t i = 0; i < d->n_weights; i++) {
    const char *w = h->cfg_list_item(ci->config, "weights", i);
    char *end;
    d->weights[i] = strtod(w, &end);
    if (end == w || *end || !isfinite(d->weights[i])) {
      deal_destroy(d);
      return h->set_error(err, DK_ERR_INVALID, "key 'weights': item %zu ('%s') is not a number", i, w);
    }
  }
  *inst = d;
  return DK_OK;
}

static void release(deal *d, dk_session *s, dhyp *hs, size_t n) {
  const dk_model_ref *m = d->h->session_model(s);
  for (size_t i = 0; hs && i < n; i++) {
    if (hs[i].seq >= 0) m->iface->seq_free(m->inst, hs[i].seq);
    if (hs[i].rseq >= 0) m->iface->seq_free(m->inst, hs[i].rseq);
    if (hs[i].br) d->h->branch_free(s, hs[i].br);
    if (hs[i].rbr) d->h->branch_free(s, hs[i].rbr);
    hs[i].seq = hs[i].rseq = -1;
    hs[i].br = hs[i].rbr = NULL;
  }
}

static void deal_end(void *inst, dk_session *s) {
  deal *d = inst;
  release(d, s, d->beams, d->width);
  release(d, s, d->cands, d->cap_cands);
  deal_free_completion(d);
}

static int deal_begin(void *inst, dk_session *s, dk_error *err) {
  deal *d = inst;
  const dk_host *h = d->h;
  if (!DK_HAS(h, dk_host, session_add_result))
    return h->set_error(err, DK_ERR_UNSUPPORTED, "needs a host with ABI 1.1 branches and results");
  size_t ns = h->session_n_scorers(s);
  if (ns == 0)
    return h->set_error(err, DK_ERR_INVALID,
                        "needs at least one scorer: list the rewards under the pipeline's 'scorers'");
  if (d->n_weights && d->n_weights != ns)
    return h->set_error(err, DK_ERR_INVALID, "key 'weights': %zu weights for %zu scorers",
                        d->n_weights, ns);
  int rc = batch_step_check(h, h->session_model(s), "deal", err);
  if (rc) return rc;
  dk_limits lim = {.struct_size = sizeof lim};
  if ((rc = h->session_limits(s, &lim))) return h->set_error(err, rc, "session_limits failed");
  d->max_new = lim.max_tokens_left > 0 ? (size_t)lim.max_tokens_left : 0;
  if (lim.context_left >= 0 && (size_t)lim.context_left < d->max_new) d->max_new = (size_t)lim.context_left;
  size_t n_all;
  const dk_token *ptoks = h->session_tokens(s, &n_all, &d->n_prompt);
  size_t w = d->width, kk = d->k < d->nv ? d->k : d->nv;
  d->cap_cands = w * kk + w;
  size_t slots = w + d->cap_cands, len = d->n_prompt + d->max_new + d->lookahead + 1;
  size_t per = len * sizeof(dk_token) + 2 * (d->max_new + 1) * sizeof(float);
  deal_free_completion(d);
  d->arena = malloc(slots * per);
  d->beams = calloc(w, sizeof *d->beams);
  d->cands = calloc(d->cap_cands, sizeof *d->cands);
  d->rows_c = malloc(d->cap_cands * d->nv * sizeof *d->rows_c);
  d->rows_r = malloc(d->cap_cands * d->nv * sizeof *d->rows_r);
  d->seqs = malloc(d->cap_cands * sizeof *d->seqs);
  d->toks = malloc(d->cap_cands * sizeof *d->toks);
  d->map = malloc(d->cap_cands * sizeof *d->map);
  d->hyp_ptr = malloc(d->cap_cands * sizeof *d->hyp_ptr);
  d->hyp_len = malloc(d->cap_cands * sizeof *d->hyp_len);
  d->sc = malloc(d->cap_cands * sizeof *d->sc);
  d->acc = malloc(d->cap_cands * sizeof *d->acc);
  d->lps = malloc((d->max_new + 1) * sizeof *d->lps);
  if (!d->arena || !d->beams || !d->cands || !d->rows_c || !d->rows_r || !d->seqs || !d->toks ||
      !d->map || !d->hyp_ptr || !d->hyp_len || !d->sc || !d->acc || !d->lps) {
    deal_free_completion(d);
    return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  }
  char *a = d->arena;
  for (size_t i = 0; i < slots; i++, a += per) {
    dhyp *x = i < w ? &d->beams[i] : &d->cands[i - w];
    x->seq = x->rseq = -1;
    x->toks = (dk_token *)(void *)a;
    x->raw = (float *)(void *)(a + len * sizeof(dk_token));
    x->proc = x->raw + d->max_new + 1;
    memcpy(x->toks, ptoks, d->n_prompt * sizeof *ptoks);
  }
  d->n_beams = 1;
  dhyp *b0 = &d->beams[0];
  b0->row = h->session_prompt_logits(s);
  b0->n = 0;
  b0->logp = 0;
  b0->ended = 0;
  return h->branch_new(s, NULL, &b0->br, err);
}

/* Would the generated tokens gen[0..n) end generation at their last one? */
static int ends(deal *d, dk_session *s, const dk_token *gen, size_t n) {
  uint32_t why = DK_STOP_NONE;
  d->h->session_would_stop(s, gen, n, &why);
  return why != DK_STOP_NONE;
}

/* The processed distribution of a row in a branch, and its log-sum-exp. */
static int distribution(deal *d, dk_session *s, dk_branch *br, const float *row, dk_candidates *c,
                        double *lse, dk_error *err) {
  *c = (dk_candidates){d->dist, d->nv, -1, 0};
  int rc = d->h->session_distribution_ex(s, br, row, NULL, 0, c, err);
  if (rc) return rc;
  *lse = dkd_cand_lse(c);
  return DK_OK;
}

static void copy_hyp(deal *d, dhyp *dst, const dhyp *src) {
  memcpy(dst->toks + d->n_prompt, src->toks + d->n_prompt, src->n * sizeof *dst->toks);
  memcpy(dst->raw, src->raw, src->n * sizeof *dst->raw);
  memcpy(dst->proc, src->proc, src->n * sizeof *dst->proc);
  dst->n = src->n;
  dst->logp = src->logp;
  dst->score = src->score;
  dst->ended = src->ended;
  dst->n_roll = 0;
}

/* Expand every running beam by its k best tokens; ended beams carry over. */
static int expand(deal *d, dk_session *s, dk_error *err) {
  const dk_host *h = d->h;
  d->n_cands = 0;
  for (size_t i = 0; i < d->n_beams; i++) {
    dhyp *b = &d->beams[i];
    if (b->ended) {
      dhyp *c = &d->cands[d->n_cands++];
      copy_hyp(d, c, b);
      c->parent = i;
      continue;
    }
    dk_candidates dist;
    double lse;
    int rc = distribution(d, s, b->br, b->row, &dist, &lse, err);
    if (rc) return rc;
    double rl = dkd_row_lse(b->row, d->nv);
    memcpy(d->top, dist.data, dist.n * sizeof *dist.data);
    dk_candidates top = {d->top, dist.n, -1, dist.flags};
    h->cand_top(&top, d->k);
    for (size_t j = 0; j < top.n; j++) {
      if (top.data[j].logit == -INFINITY) continue;
      dhyp *c = &d->cands[d->n_cands++];
      copy_hyp(d, c, b);
      dk_token v = top.data[j].id;
      c->toks[d->n_prompt + b->n] = v;
      c->raw[b->n] = (float)((double)b->row[v] - rl);
      c->proc[b->n] = (float)((double)top.data[j].logit - lse);
      c->n = b->n + 1;
      c->logp = b->logp + c->proc[b->n];
      c->parent = i;
      c->ended = ends(d, s, c->toks + d->n_prompt, c->n);
    }
  }
  return DK_OK;
}

/* Fork the running candidates off their beams and evaluate their tokens. */
static int advance_candidates(deal *d, dk_session *s, dk_error *err) {
  const dk_host *h = d->h;
  const dk_model_ref *m = h->session_model(s);
  size_t nb = 0;
  for (size_t j = 0; j < d->n_cands; j++) {
    dhyp *c = &d->cands[j], *b = &d->beams[c->parent];
    if (c->n == b->n) continue; /* a carried, ended beam */
    int rc = h->branch_new(s, b->br, &c->br, err);
    if (!rc) rc = h->branch_extend(s, c->br, &c->toks[d->n_prompt + c->n - 1], 1, err);
    if (rc) return rc;
    if (c->ended) continue;
    if ((rc = m->iface->fork(m->inst, b->seq >= 0 ? b->seq : h->session_seq(s), &c->seq, err)))
      return rc;
    d->seqs[nb] = c->seq;
    d->toks[nb] = c->toks[d->n_prompt + c->n - 1];
    d->map[nb++] = j;
  }
  if (nb == 0) return DK_OK;
  int rc = batch_step(h, m, d->seqs, d->toks, nb, d->rows_c, NULL, err);
  for (size_t i = 0; !rc && i < nb; i++) d->cands[d->map[i]].row = d->rows_c + i * d->nv;
  return rc;
}

/* The greedy token of a row in a branch: the processed maximum, ties to
 * the lower id, so look-aheads are deterministic whatever the chain's
 * selector. */
static int greedy(deal *d, dk_session *s, dk_branch *br, const float *row, dk_token *out,
                  dk_error *err) {
  dk_candidates dist;
  double lse;
  int rc = distribution(d, s, br, row, &dist, &lse, err);
  if (rc) return rc;
  size_t best = 0;
  for (size_t i = 1; i < dist.n; i++)
    if (dist.data[i].logit > dist.data[best].logit ||
        (dist.data[i].logit == dist.data[best].logit && dist.data[i].id < dist.data[best].id))
      best = i;
  *out = dist.data[best].id;
  return DK_OK;
}

/* Greedy look-ahead of every running candidate, one batched call a
 * position.  It stops at an EOS (not text the rewards see), at a stop
 * string or at the length limit. */
static int roll_out(deal *d, dk_session *s, dk_error *err) {
  const dk_host *h = d->h;
  const dk_model_ref *m = h->session_model(s);
  int rc = DK_OK;
  for (size_t j = 0; j < d->n_cands; j++) {
    dhyp *c = &d->cands[j];
    c->n_roll = 0;
    c->rrow = c->row;
    c->roll_done = c->ended || c->seq < 0 || d->lookahead == 0;
    if (c->roll_done) continue;
    if ((rc = m->iface->fork(m->inst, c->seq, &c->rseq, err))) return rc;
    if ((rc = h->branch_new(s, c->br, &c->rbr, err))) return rc;
  }
  for (size_t t = 0; t < d->lookahead; t++) {
    size_t nb = 0;
    for (size_t j = 0; j < d->n_cands; j++) {
      dhyp *c = &d->cands[j];
      if (c->roll_done) continue;
      dk_token g, *gen = c->toks + d->n_prompt;
      if ((rc = greedy(d, s, c->rbr, c->rrow, &g, err))) return rc;
      gen[c->n + c->n_roll] = g;
      uint32_t why = DK_STOP_NONE;
      h->session_would_stop(s, gen, c->n + c->n_roll + 1, &why);
      if (why == DK_STOP_EOS) {
        c->roll_done = 1;
        continue;
      }
      c->n_roll++;
      if ((rc = h->branch_extend(s, c->rbr, &g, 1, err))) return rc;
      if (why != DK_STOP_NONE) {
        c->roll_done = 1;
        continue;
      }
      d->seqs[nb] = c->rseq;
      d->toks[nb] = g;
      d->map[nb++] = j;
    }
    if (nb == 0) break;
    if ((rc = batch_step(h, m, d->seqs, d->toks, nb, d->rows_r, NULL, err))) return rc;
    for (size_t i = 0; i < nb; i++) d->cands[d->map[i]].rrow = d->rows_r + i * d->nv;
  }
  for (size_t j = 0; j < d->n_cands; j++) {
    dhyp *c = &d->cands[j];
    if (c->rseq >= 0) m->iface->seq_free(m->inst, c->rseq);
    if (c->rbr) h->branch_free(s, c->rbr);
    c->rseq = -1;
    c->rbr = NULL;
  }
  return DK_OK;
}

/* score = log P + lambda * sum_i w_i R_i over prompt + hypothesis + look-ahead. */
static int score_candidates(deal *d, dk_session *s, dk_error *err) {
  const dk_host *h = d->h;
  size_t ns = h->session_n_scorers(s);
  for (size_t j = 0; j < d->n_cands; j++) {
    d->hyp_ptr[j] = d->cands[j].toks;
    d->hyp_len[j] = d->n_prompt + d->cands[j].n + d->cands[j].n_roll;
    d->acc[j] = 0;
  }
  for (size_t i = 0; i < ns; i++) {
    const dk_scorer_ref *sr = h->session_scorer(s, i);
    double w = d->n_weights ? d->weights[i] : 1.0;
    int rc = DK_OK;
    if (sr->iface->score_batch)
      rc = sr->iface->score_batch(sr->inst, s, d->hyp_ptr, d->hyp_len, d->n_cands, d->n_prompt, d->sc, err);
    for (size_t j = 0; !sr->iface->score_batch && !rc && j < d->n_cands; j++)
      rc = sr->iface->score(sr->inst, s, d->hyp_ptr[j], d->hyp_len[j], d->n_prompt, &d->sc[j], err);
    if (rc) return rc;
    for (size_t j = 0; j < d->n_cands; j++) d->acc[j] += w * d->sc[j];
  }
  for (size_t j = 0; j < d->n_cands; j++) d->cands[j].score = d->cands[j].logp + d->lambda * d->acc[j];
  return DK_OK;
}

/* The best `width` candidates become the beams (equal scores: the earlier
 * candidate, i.e. the better beam and token). */
static void select_beams(deal *d, dk_session *s) {
  size_t nb = 0;
  for (size_t j = 0; j < d->n_cands; j++) d->map[j] = j;
  for (size_t j = 0; j < d->n_cands; j++) { /* stable insertion sort by score */
    size_t x = d->map[j], i = j;
    while (i > 0 && d->cands[d->map[i - 1]].score < d->cands[x].score) {
      d->map[i] = d->map[i - 1];
      i--;
    }
    d->map[i] = x;
  }
  /* A carried beam keeps its own sequence and branch. */
  for (size_t j = 0; j < d->n_cands && j < d->width; j++) {
    dhyp *c = &d->cands[d->map[j]], *b = &d->beams[c->parent];
    if (c->n == b->n && c->ended) {
      c->seq = b->seq;
      c->br = b->br;
      b->seq = -1;
      b->br = NULL;
    }
  }
  release(d, s, d->beams, d->n_beams);
  for (size_t j = 0; j < d->n_cands && j < d->width; j++) {
    dhyp t = d->beams[nb];
    d->beams[nb++] = d->cands[d->map[j]];
    d->cands[d->map[j]] = t;
  }
  release(d, s, d->cands, d->cap_cands);
  d->n_beams = nb;
}

/* All beams ended: report them ranked and commit the best. */
static int finish(deal *d, dk_session *s, dk_error *err) {
  const dk_host *h = d->h;
  int rc = DK_OK;
  for (size_t i = 0; !rc && i < d->n_beams; i++)
    rc = h->session_add_result(s, d->beams[i].toks + d->n_prompt, d->beams[i].n, d->beams[i].score, err);
  if (rc) return rc;
  const dhyp *b = &d->beams[0];
  for (size_t i = 0; i < b->n; i++) d->lps[i] = (dk_token_logprob){sizeof *d->lps, b->raw[i], b->proc[i], NULL, NULL};
  rc = h->commit_ex(s, NULL, b->toks + d->n_prompt, b->n, d->lps, err);
  return rc < 0 ? rc : DK_DONE;
}

static int deal_step(void *inst, dk_session *s, dk_error *err) {
  deal *d = inst;
  int rc = expand(d, s, err);
  if (!rc) rc = advance_candidates(d, s, err);
  if (!rc) rc = roll_out(d, s, err);
  if (!rc) rc = score_candidates(d, s, err);
  if (rc) return rc;
  if (d->n_cands == 0)
    return d->h->set_error(err, DK_ERR_STATE, "no candidate token is allowed");
  select_beams(d, s);
  int all_ended = 1;
  for (size_t i = 0; i < d->n_beams; i++) all_ended &= d->beams[i].ended;
  return all_ended ? finish(d, s, err) : DK_OK;
}

static const dk_decoder_iface deal_iface = {
    .hdr = {.struct_size = sizeof(dk_decoder_iface),
            .kind = DK_KIND_DECODER,
            .name = "deal",
            .version = "1.0.0",
            .summary = "DeAL: search scored by likelihood plus the pipeline's scorers on a greedy "
                       "look-ahead",
            .params = deal_params,
            .param_stride = sizeof(dk_param_spec),
            .caps = DK_CAP_INSTANCE_MT | DK_CAP_DECODER_USES_SCORERS |
                    DK_CAP_DECODER_NEEDS_SCORERS},
    .create = deal_create,
    .destroy = deal_destroy,
    .begin = deal_begin,
    .step = deal_step,
    .end = deal_end,
};

static const dk_iface_header *const components[] = {&deal_iface.hdr};

static const dk_plugin_desc desc = {
    DK_PLUGIN_DESC_HEAD, "deal", "1.0.0", components, 1, NULL, NULL,
};

DK_PLUGIN_ENTRY(deal) { return &desc; }
