/* beam_search.c -- the beam search engine of the beam and diverse_beam decoders (METHODS 18.11, vectorised transformers rules, per group). */
/*
 * One `step` call is one search step: score every live beam's next token
 * through its branch (constraint mask + sampler chain), pick each group's
 * candidates, finish and stop as transformers does, then fork the chosen
 * beams and evaluate all of them in one batched call.  Nothing is
 * committed until the search ends; then the best finished hypothesis is
 * committed with its tokens' raw and processed log-probabilities and the
 * first num_return are reported as results.
 */
#include "beam_search.h"

#include "batch_step.h"
#include "decoder_math.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* transformers starts every beam but a group's first at this finite score,
 * so the first step expands one hypothesis only. */
#define PLACEHOLDER_SCORE (-1e9)

typedef struct hyp {
  dk_seq seq;          /* owned sequence, or -1 (none, or the prompt's when n == 0) */
  dk_branch *br;       /* owned branch, or NULL */
  const float *logits; /* the row predicting the next token */
  dk_token *toks;      /* generated tokens (capacity max_new) */
  float *raw, *proc;   /* their log-probabilities, raw and after the chain */
  size_t n;
  double score;        /* sum of processed (and diversity-penalised) log-probs */
  double attr;         /* ACBS: the attribute when it was chosen */
} hyp;

typedef struct fin {
  dk_token *toks;
  float *raw, *proc;
  size_t n;
  double score; /* sum / g^alpha */
} fin;

typedef struct cand {
  double s;       /* accumulated score with this token (ACBS: plus the attribute) */
  double lm;      /* the same without the attribute */
  double attr;    /* ACBS: the attribute of the hypothesis with this token, else 0 */
  size_t beam;    /* index within the group's live beams */
  dk_token v;
} cand;

typedef struct child {
  size_t parent;  /* global slot in cur */
  dk_token v;
  int take_seq, take_br;
} child;

typedef struct bs_search {
  const dk_host *h;
  bs_params p;
  size_t nv, S, K; /* vocabulary, beams per group, candidates per group */
  float *logits;   /* width rows from the last batched call */
  double *lp;      /* width rows of processed log-probs (-inf: not allowed) */
  double *lse;     /* log-sum-exp of each raw row */
  dk_token_data *cand_buf;
  cand *top;
  int *count;      /* diversity: tokens the earlier groups chose this step */
  dk_token *counted; /* one group's contribution to count */
  child *kids;
  dk_seq *seqs;
  dk_token *toks;
  /* per completion */
  size_t max_new, step;
  dk_token eos[2];
  size_t n_eos;
  int check_stops;
  dk_token *stop_buf;
  hyp *cur, *next;
  size_t *n_live, *n_next, *n_fin;
  int *done;
  fin *fins;       /* groups * S, each group's sorted best first */
  void *arena;     /* every history array of the completion */
  /* ACBS: each live beam's top_k tokens (ascending ids) and their attributes */
  double *weights;
  dk_token *ak_tok;
  double *ak_attr, *ak_sc;
  size_t *ak_n;
  dk_token *ak_hyp;  /* the scorers' hypotheses: context + generated + token */
  const dk_token **ak_ptr;
  size_t *ak_len, n_ctx, ak_stride;
} bs_search;

int bs_read_params(const dk_host *h, const dk_config *cfg, bs_params *p, dk_error *err) {
  memset(p, 0, sizeof *p);
  p->width = (size_t)h->cfg_int(cfg, "width");
  p->groups = 1;
  p->n_return = (size_t)h->cfg_int(cfg, "num_return");
  p->length_penalty = h->cfg_double(cfg, "length_penalty");
  const char *es = h->cfg_string(cfg, "early_stopping");
  if (!es || strcmp(es, "false") == 0) p->early = BS_EARLY_FALSE;
  else if (strcmp(es, "true") == 0) p->early = BS_EARLY_TRUE;
  else if (strcmp(es, "never") == 0) p->early = BS_EARLY_NEVER;
  else
    return h->set_error(err, DK_ERR_INVALID,
                        "key 'early_stopping': expected true, false or never, got '%s'", es);
  if (p->n_return > p->width)
    return h->set_error(err, DK_ERR_INVALID, "key 'num_return': %zu is more than width %zu",
                        p->n_return, p->width);
  return DK_OK;
}

void bs_destroy(void *inst) {
  bs_search *b = inst;
  if (!b) return;
  free(b->logits);
  free(b->lp);
  free(b->lse);
  free(b->cand_buf);
  free(b->top);
  free(b->count);
  free(b->counted);
  free(b->kids);
  free(b->seqs);
  free(b->toks);
  free(b->arena);
  free(b->cur);
  free(b->next);
  free(b->n_live);
  free(b->n_next);
  free(b->n_fin);
  free(b->done);
  free(b->fins);
  free(b->stop_buf);
  free(b->weights);
  free(b->ak_tok);
  free(b->ak_attr);
  free(b->ak_sc);
  free(b->ak_n);
  free(b->ak_hyp);
  free(b->ak_ptr);
  free(b->ak_len);
  free(b);
}

int bs_create(const dk_host *h, const dk_create_info *ci, const bs_params *p, void **inst,
              dk_error *err) {
  if (!ci->vocab || ci->vocab->n_vocab <= 0)
    return h->set_error(err, DK_ERR_INVALID, "needs the model's vocabulary");
  if (p->groups == 0 || p->width % p->groups)
    return h->set_error(err, DK_ERR_INVALID, "key 'groups': %zu does not divide width %zu",
                        p->groups, p->width);
  bs_search *b = calloc(1, sizeof *b);
  if (!b) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  b->h = h;
  b->p = *p;
  b->nv = (size_t)ci->vocab->n_vocab;
  b->S = p->width / p->groups;
  size_t w = p->width, nv = b->nv, g = p->groups;
  /* Room for up to two EOS ids per beam in a group's candidates. */
  size_t kmax = 3 * b->S;
  b->logits = malloc(w * nv * sizeof *b->logits);
  b->lp = malloc(w * nv * sizeof *b->lp);
  b->lse = malloc(w * sizeof *b->lse);
  b->cand_buf = malloc(nv * sizeof *b->cand_buf);
  b->top = malloc(kmax * sizeof *b->top);
  b->count = calloc(nv, sizeof *b->count);
  b->counted = malloc(b->S * sizeof *b->counted);
  b->kids = malloc(w * sizeof *b->kids);
  b->seqs = malloc(w * sizeof *b->seqs);
  b->toks = malloc(w * sizeof *b->toks);
  b->cur = calloc(w, sizeof *b->cur);
  b->next = calloc(w, sizeof *b->next);
  b->n_live = calloc(g, sizeof *b->n_live);
  b->n_next = calloc(g, sizeof *b->n_next);
  b->n_fin = calloc(g, sizeof *b->n_fin);
  b->done = calloc(g, sizeof *b->done);
  b->fins = calloc(w, sizeof *b->fins);
  if (p->top_k) {
    size_t kk = p->top_k < nv ? p->top_k : nv;
    b->p.top_k = kk;
    b->weights = malloc((p->n_weights ? p->n_weights : 1) * sizeof *b->weights);
    if (b->weights && p->n_weights) memcpy(b->weights, p->weights, p->n_weights * sizeof *b->weights);
    b->p.weights = NULL;
    b->ak_tok = malloc(w * kk * sizeof *b->ak_tok);
    b->ak_attr = malloc(w * kk * sizeof *b->ak_attr);
    b->ak_sc = malloc(w * kk * sizeof *b->ak_sc);
    b->ak_n = calloc(w, sizeof *b->ak_n);
    b->ak_ptr = malloc(w * kk * sizeof *b->ak_ptr);
    b->ak_len = malloc(w * kk * sizeof *b->ak_len);
    if (!b->weights || !b->ak_tok || !b->ak_attr || !b->ak_sc || !b->ak_n || !b->ak_ptr || !b->ak_len) {
      bs_destroy(b);
      return h->set_error(err, DK_ERR_NOMEM, "out of memory");
    }
  }
  if (!b->logits || !b->lp || !b->lse || !b->cand_buf || !b->top || !b->count || !b->counted ||
      !b->kids || !b->seqs || !b->toks || !b->cur || !b->next || !b->n_live || !b->n_next ||
      !b->n_fin || !b->done || !b->fins) {
    bs_destroy(b);
    return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  }
  /* Nothing owned yet: an end() after a failed begin frees nothing. */
  for (size_t i = 0; i < w; i++) b->cur[i].seq = b->next[i].seq = -1;
  *inst = b;
  return DK_OK;
}

/* Free the sequences and branches the hypotheses still own. */
static void release(bs_search *b, dk_session *s, hyp *hs, size_t n) {
  const dk_model_ref *m = b->h->session_model(s);
  for (size_t i = 0; i < n; i++) {
    if (hs[i].seq >= 0) m->iface->seq_free(m->inst, hs[i].seq);
    if (hs[i].br) b->h->branch_free(s, hs[i].br);
    hs[i].seq = -1;
    hs[i].br = NULL;
  }
}

void bs_end(void *inst, dk_session *s) {
  bs_search *b = inst;
  release(b, s, b->cur, b->p.width);
  release(b, s, b->next, b->p.width);
  free(b->arena);
  b->arena = NULL;
  free(b->stop_buf);
  b->stop_buf = NULL;
  free(b->ak_hyp);
  b->ak_hyp = NULL;
}

/* Give every hypothesis and finished slot its history arrays, in one block. */
static int alloc_histories(bs_search *b, dk_error *err) {
  size_t w = b->p.width, slots = 3 * w, n = b->max_new;
  size_t per = n * (sizeof(dk_token) + 2 * sizeof(float));
  free(b->arena);
  b->arena = malloc(slots * per);
  free(b->stop_buf);
  b->stop_buf = malloc((n + 1) * sizeof *b->stop_buf);
  if (!b->arena || !b->stop_buf) return b->h->set_error(err, DK_ERR_NOMEM, "out of memory");
  char *a = b->arena;
  for (size_t i = 0; i < slots; i++, a += per) {
    dk_token *t = (dk_token *)(void *)a;
    float *raw = (float *)(void *)(a + n * sizeof(dk_token)), *proc = raw + n;
    if (i < w) {
      b->cur[i] = (hyp){.seq = -1, .toks = t, .raw = raw, .proc = proc};
    } else if (i < 2 * w) {
      b->next[i - w] = (hyp){.seq = -1, .toks = t, .raw = raw, .proc = proc};
    } else {
      b->fins[i - 2 * w] = (fin){.toks = t, .raw = raw, .proc = proc};
    }
  }
  return DK_OK;
}

int bs_begin(void *inst, dk_session *s, dk_error *err) {
  bs_search *b = inst;
  const dk_host *h = b->h;
  if (!DK_HAS(h, dk_host, session_add_result))
    return h->set_error(err, DK_ERR_UNSUPPORTED, "needs a host with ABI 1.1 branches and results");
  int rc = batch_step_check(h, h->session_model(s), "beam search", err);
  if (rc) return rc;
  if (b->p.top_k) {
    size_t ns = h->session_n_scorers(s);
    if (ns == 0)
      return h->set_error(err, DK_ERR_INVALID,
                          "needs at least one scorer: list the attribute's under the pipeline's "
                          "'scorers' (e.g. the classifier)");
    if (b->p.n_weights && b->p.n_weights != ns)
      return h->set_error(err, DK_ERR_INVALID, "key 'weights': %zu weights for %zu scorers",
                          b->p.n_weights, ns);
  }
  dk_limits lim = {.struct_size = sizeof lim};
  if ((rc = h->session_limits(s, &lim))) return h->set_error(err, rc, "session_limits failed");
  b->max_new = lim.max_tokens_left > 0 ? (size_t)lim.max_tokens_left : 0;
  if (lim.context_left >= 0 && (size_t)lim.context_left < b->max_new)
    b->max_new = (size_t)lim.context_left;
  if (b->max_new == 0) return h->set_error(err, DK_ERR_RANGE, "no room to generate a token");
  b->n_eos = 0;
  if (!lim.ignore_eos) {
    if (lim.eos >= 0) b->eos[b->n_eos++] = lim.eos;
    if (lim.eot >= 0 && lim.eot != lim.eos) b->eos[b->n_eos++] = lim.eot;
  }
  b->check_stops = lim.n_stop > 0;
  /* transformers' K: every beam can put all its EOS ids in and still
   * leave a full set of running beams. */
  b->K = (b->n_eos + 1 > 2 ? b->n_eos + 1 : 2) * b->S;
  b->step = 0;
  if ((rc = alloc_histories(b, err))) return rc;
  if (b->p.top_k) {
    size_t n_prompt;
    h->session_tokens(s, &b->n_ctx, &n_prompt);
    b->ak_stride = b->n_ctx + b->max_new;
    free(b->ak_hyp);
    b->ak_hyp = malloc(b->p.width * b->p.top_k * b->ak_stride * sizeof *b->ak_hyp);
    if (!b->ak_hyp) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  }
  const float *prompt = h->session_prompt_logits(s);
  if (!prompt) return h->set_error(err, DK_ERR_STATE, "no prompt logits to start from");
  for (size_t g = 0; g < b->p.groups; g++) {
    b->n_live[g] = b->S;
    b->n_fin[g] = 0;
    b->done[g] = 0;
  }
  for (size_t i = 0; i < b->p.width; i++) {
    hyp *hp = &b->cur[i];
    hp->logits = prompt;
    hp->n = 0;
    hp->score = i % b->S == 0 ? 0.0 : PLACEHOLDER_SCORE;
    if ((rc = h->branch_new(s, NULL, &hp->br, err))) return rc;
  }
  return DK_OK;
}

/* The processed log-probabilities of one beam's next token (dense, -inf for
 * what the constraint or chain removed) and its raw row's log-sum-exp. */
static int score_row(bs_search *b, dk_session *s, const hyp *hp, double *lp, double *lse,
                     dk_error *err) {
  dk_candidates c = {b->cand_buf, b->nv, -1, 0};
  int rc = b->h->session_distribution_ex(s, hp->br, hp->logits, NULL, 0, &c, err);
  if (rc) return rc;
  size_t nv = b->nv;
  double z = dkd_cand_lse(&c);
  /* Usually nothing reshaped the row: the candidates are the raw row in id
   * order, so one pass writes every log-probability, and the raw row's
   * log-sum-exp is z itself (the same values summed in the same order). */
  int untouched = z > -INFINITY && c.n == nv;
  for (size_t v = 0; untouched && v < nv; v++) {
    const dk_token_data *d = &c.data[v];
    untouched = d->id == (dk_token)v && memcmp(&d->logit, &hp->logits[v], sizeof d->logit) == 0;
    lp[v] = d->logit > -INFINITY ? (double)d->logit - z : -INFINITY;
  }
  if (untouched) {
    *lse = z;
    return DK_OK;
  }
  for (size_t v = 0; v < nv; v++) lp[v] = -INFINITY;
  if (z > -INFINITY)
    for (size_t i = 0; i < c.n; i++)
      if (c.data[i].id >= 0 && (size_t)c.data[i].id < nv && c.data[i].logit > -INFINITY)
        lp[c.data[i].id] = (double)c.data[i].logit - z;
  /* a second pass of exp over the vocabulary costs as much as the first */
  *lse = dkd_row_lse(hp->logits, nv);
  return DK_OK;
}

/* Group g's best K candidates, best first; equal scores keep the lower
 * flat index (beam * n_vocab + token), which the scan order gives. */
static size_t top_candidates(bs_search *b, size_t g) {
  size_t nk = 0, K = b->K;
  double lambda = b->p.diversity;
  for (size_t i = 0; i < b->n_live[g]; i++) {
    size_t slot = g * b->S + i;
    const double *row = b->lp + slot * b->nv;
    double base = b->cur[slot].score;
    /* ACBS scans the beam's top_k tokens in id order, so with a constant
     * attribute and top_k >= K it ranks (and breaks ties) as beam search. */
    size_t n_scan = b->p.top_k ? b->ak_n[slot] : b->nv;
    /* Once the list is full, a plain token (no attribute; the penalty, lambda
     * >= 0, only lowers it) with base + row[v] below the last score cannot
     * enter: fl(base + r) is monotone in r, so a row value under `floor`
     * (the difference, less a margin far above its rounding) is passed over
     * without the exact test. */
    double floor = -INFINITY;
    if (nk == K) floor = (b->top[K - 1].s - base) - 1e-9 * (fabs(b->top[K - 1].s) + fabs(base) + 1.0);
    for (size_t j0 = 0; j0 < n_scan; j0++) {
      if (!b->p.top_k && row[j0] < floor) continue;
      size_t v = b->p.top_k ? (size_t)b->ak_tok[slot * b->p.top_k + j0] : j0;
      double attr = b->p.top_k ? b->ak_attr[slot * b->p.top_k + j0] : 0.0;
      if (row[v] == -INFINITY) continue;
      double lm = base + row[v] - (b->count[v] ? lambda * b->count[v] : 0.0), x = lm + attr;
      if (nk == K && !(x > b->top[K - 1].s)) continue;
      size_t j = nk < K ? nk++ : K - 1;
      while (j > 0 && b->top[j - 1].s < x) {
        b->top[j] = b->top[j - 1];
        j--;
      }
      b->top[j] = (cand){x, lm, attr, i, (dk_token)v};
      if (nk == K) floor = (b->top[K - 1].s - base) - 1e-9 * (fabs(b->top[K - 1].s) + fabs(base) + 1.0);
    }
  }
  return nk;
}

static int is_eos(const bs_search *b, dk_token v) {
  for (size_t i = 0; i < b->n_eos; i++)
    if (b->eos[i] == v) return 1;
  return 0;
}

enum { HIT_NONE, HIT_LENGTH, HIT_END };

/* Would the hypothesis followed by v end generation?  HIT_END for an EOS or
 * a stop string completing in its text, HIT_LENGTH when only the length
 * (max_tokens or the context) ends it. */
static int hits(bs_search *b, dk_session *s, const hyp *hp, dk_token v) {
  if (is_eos(b, v)) return HIT_END;
  int len = hp->n + 1 >= b->max_new ? HIT_LENGTH : HIT_NONE;
  if (!b->check_stops) return len;
  memcpy(b->stop_buf, hp->toks, hp->n * sizeof *hp->toks);
  b->stop_buf[hp->n] = v;
  uint32_t why = DK_STOP_NONE;
  b->h->session_would_stop(s, b->stop_buf, hp->n + 1, &why);
  return why == DK_STOP_STRING ? HIT_END : why != DK_STOP_NONE ? HIT_LENGTH : len;
}

static void copy_history(dk_token *t, float *raw, float *proc, const hyp *par, dk_token v,
                         float vraw, float vproc) {
  memcpy(t, par->toks, par->n * sizeof *t);
  memcpy(raw, par->raw, par->n * sizeof *raw);
  memcpy(proc, par->proc, par->n * sizeof *proc);
  t[par->n] = v;
  raw[par->n] = vraw;
  proc[par->n] = vproc;
}

/* Offer a finished hypothesis to group g's list: kept sorted, best first;
 * an equal score goes after what is there (older entries and lower ranks
 * win ties); the worst falls off a full list. */
static void add_finished(bs_search *b, size_t g, const hyp *par, dk_token v, float vraw,
                         float vproc, double score) {
  fin *f = b->fins + g * b->S;
  size_t n = b->n_fin[g], j = 0;
  while (j < n && f[j].score >= score) j++;
  if (j == b->S) return;
  fin spare = f[n < b->S ? n : b->S - 1]; /* its arrays get the new history */
  size_t last = n < b->S ? n : b->S - 1;
  memmove(f + j + 1, f + j, (last - j) * sizeof *f);
  copy_history(spare.toks, spare.raw, spare.proc, par, v, vraw, vproc);
  spare.n = par->n + 1;
  spare.score = score;
  f[j] = spare;
  if (n < b->S) b->n_fin[g] = n + 1;
}

/* Rules 3-7 for one group: candidates, finished update, next running
 * beams (as children to build), and the stop test. */
static void search_group(bs_search *b, dk_session *s, size_t g, size_t *n_kids) {
  size_t nk = top_candidates(b, g), L = b->step, S = b->S;
  double alpha = b->p.length_penalty;
  size_t n_counted = 0;
  b->n_next[g] = 0;
  for (size_t r = 0; r < nk; r++) {
    const cand *c = &b->top[r];
    size_t slot = g * S + c->beam;
    const hyp *par = &b->cur[slot];
    float vraw = (float)((double)par->logits[c->v] - b->lse[slot]);
    float vproc = (float)b->lp[slot * b->nv + (size_t)c->v];
    int hit = hits(b, s, par, c->v);
    /* Later groups pay for this group's new running tokens: the first S
     * that do not end the text, also at the last step, where the length
     * finishes them (transformers' group search counts them there too). */
    if (hit != HIT_END && n_counted < S) {
      b->counted[n_counted++] = c->v;
    }
    if (hit) {
      if (r < S)
        add_finished(b, g, par, c->v, vraw, vproc,
                     c->lm / pow((double)(L + 1), alpha) + c->attr);
      continue;
    }
    if (b->n_next[g] == S) continue;
    hyp *nx = &b->next[g * S + b->n_next[g]++];
    copy_history(nx->toks, nx->raw, nx->proc, par, c->v, vraw, vproc);
    nx->n = par->n + 1;
    nx->score = c->lm;
    nx->attr = c->attr;
    b->kids[(*n_kids)++] = (child){slot, c->v, 0, 0};
  }
  for (size_t i = 0; i < n_counted; i++) b->count[b->counted[i]]++;
  size_t nf = b->n_fin[g];
  if (b->n_next[g] == 0) {
    b->done[g] = 1; /* every candidate hit: max length, or nothing else allowed */
  } else if (nf == S && b->p.early == BS_EARLY_TRUE) {
    b->done[g] = 1;
  } else if (nf == S) {
    double h = b->p.early == BS_EARLY_NEVER && alpha > 0 ? (double)b->max_new : (double)(L + 1);
    double best = b->next[g * S].score / pow(h, alpha) + b->next[g * S].attr;
    if (best <= b->fins[g * S + S - 1].score) b->done[g] = 1;
  }
  if (b->done[g]) { /* its running beams are not advanced */
    *n_kids -= b->n_next[g];
    b->n_next[g] = 0;
  }
}

/* Fork, extend and evaluate the chosen children in one batched call. */
static int advance(bs_search *b, dk_session *s, size_t n_kids, dk_error *err) {
  const dk_host *h = b->h;
  const dk_model_ref *m = h->session_model(s);
  size_t w = b->p.width;
  int rc = DK_OK;
  /* The first child of a parent inherits its sequence and branch; the
   * others are forked from the parent before anything is extended. */
  for (size_t k = 0; k < n_kids; k++) {
    child *c = &b->kids[k];
    int first = 1;
    for (size_t j = 0; j < k; j++) first &= b->kids[j].parent != c->parent;
    c->take_seq = first && b->cur[c->parent].seq >= 0;
    c->take_br = first;
  }
  size_t k = 0;
  for (size_t g = 0; g < b->p.groups; g++)
    for (size_t i = 0; i < b->n_next[g]; i++, k++) {
      child *c = &b->kids[k];
      hyp *nx = &b->next[g * b->S + i], *par = &b->cur[c->parent];
      if (!c->take_seq) {
        dk_seq src = par->seq >= 0 ? par->seq : h->session_seq(s);
        if ((rc = m->iface->fork(m->inst, src, &nx->seq, err))) return rc;
      }
      if (!c->take_br && (rc = h->branch_new(s, par->br, &nx->br, err))) return rc;
    }
  k = 0;
  for (size_t g = 0; g < b->p.groups; g++)
    for (size_t i = 0; i < b->n_next[g]; i++, k++) {
      child *c = &b->kids[k];
      hyp *nx = &b->next[g * b->S + i], *par = &b->cur[c->parent];
      if (c->take_seq) {
        nx->seq = par->seq;
        par->seq = -1;
      }
      if (c->take_br) {
        nx->br = par->br;
        par->br = NULL;
      }
      if ((rc = h->branch_extend(s, nx->br, &c->v, 1, err))) return rc;
      b->seqs[k] = nx->seq;
      b->toks[k] = c->v;
    }
  release(b, s, b->cur, w);
  rc = batch_step(h, m, b->seqs, b->toks, n_kids, b->logits, NULL, err);
  if (rc) return rc;
  hyp *t = b->cur;
  b->cur = b->next;
  b->next = t;
  k = 0;
  for (size_t g = 0; g < b->p.groups; g++) {
    b->n_live[g] = b->n_next[g];
    for (size_t i = 0; i < b->n_live[g]; i++, k++) b->cur[g * b->S + i].logits = b->logits + k * b->nv;
  }
  b->step++;
  return DK_OK;
}

/* Report the best num_return hypotheses of all groups and commit the best. */
static int finish(bs_search *b, dk_session *s, dk_error *err) {
  const dk_host *h = b->h;
  size_t total = 0;
  const fin *order[64 + 1];
  const fin **all = b->p.width <= 64 ? order : malloc(b->p.width * sizeof *all);
  if (!all) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  /* Merge by score; equal scores keep group order (insertion is stable). */
  for (size_t g = 0; g < b->p.groups; g++)
    for (size_t i = 0; i < b->n_fin[g]; i++) {
      const fin *f = &b->fins[g * b->S + i];
      size_t j = total++;
      while (j > 0 && all[j - 1]->score < f->score) {
        all[j] = all[j - 1];
        j--;
      }
      all[j] = f;
    }
  int rc = DK_OK;
  if (total == 0)
    rc = h->set_error(err, DK_ERR_STATE, "beam search ended with no finished hypothesis");
  for (size_t r = 0; rc == DK_OK && r < b->p.n_return && r < total; r++)
    rc = h->session_add_result(s, all[r]->toks, all[r]->n, all[r]->score, err);
  dk_token_logprob *lps = NULL;
  if (rc == DK_OK) {
    const fin *best = all[0];
    lps = malloc((best->n ? best->n : 1) * sizeof *lps);
    if (!lps) rc = h->set_error(err, DK_ERR_NOMEM, "out of memory");
    for (size_t i = 0; lps && i < best->n; i++)
      lps[i] = (dk_token_logprob){sizeof *lps, best->raw[i], best->proc[i], NULL, NULL};
    if (lps) rc = h->commit_ex(s, NULL, best->toks, best->n, lps, err);
  }
  free(lps);
  if (all != order) free(all);
  return rc < 0 ? rc : DK_DONE;
}

/* ACBS: every live beam's top_k tokens by processed log-probability (lower
 * id first among equals), kept in id order. */
static void beam_top_k(bs_search *b, size_t slot) {
  const double *row = b->lp + slot * b->nv;
  size_t kk = b->p.top_k, n = 0;
  dk_token *t = b->ak_tok + slot * kk;
  for (size_t v = 0; v < b->nv; v++) {
    if (row[v] == -INFINITY || (n == kk && !(row[v] > row[t[n - 1]]))) continue;
    size_t j = n < kk ? n++ : kk - 1;
    while (j > 0 && row[t[j - 1]] < row[v]) {
      t[j] = t[j - 1];
      j--;
    }
    t[j] = (dk_token)v;
  }
  for (size_t i = 1; i < n; i++) /* by id */
    for (size_t j = i; j > 0 && t[j - 1] > t[j]; j--) {
      dk_token x = t[j];
      t[j] = t[j - 1];
      t[j - 1] = x;
    }
  b->ak_n[slot] = n;
}

/* ACBS: the attribute of every (live beam, top-k token) hypothesis, the
 * weighted sum of the scorers, each scorer called once for all of them. */
static int attributes(bs_search *b, dk_session *s, dk_error *err) {
  const dk_host *h = b->h;
  size_t kk = b->p.top_k, n_hyps = 0, n_prompt, n_ctx;
  const dk_token *ctx = h->session_tokens(s, &n_ctx, &n_prompt);
  if (n_ctx != b->n_ctx) return h->set_error(err, DK_ERR_STATE, "the context changed during the search");
  for (size_t g = 0; g < b->p.groups; g++)
    for (size_t i = 0; !b->done[g] && i < b->n_live[g]; i++) {
      size_t slot = g * b->S + i;
      const hyp *hp = &b->cur[slot];
      beam_top_k(b, slot);
      for (size_t j = 0; j < b->ak_n[slot]; j++, n_hyps++) {
        dk_token *t = b->ak_hyp + n_hyps * b->ak_stride;
        memcpy(t, ctx, n_ctx * sizeof *t);
        memcpy(t + n_ctx, hp->toks, hp->n * sizeof *t);
        t[n_ctx + hp->n] = b->ak_tok[slot * kk + j];
        b->ak_ptr[n_hyps] = t;
        b->ak_len[n_hyps] = n_ctx + hp->n + 1;
        b->ak_attr[slot * kk + j] = 0;
      }
    }
  size_t ns = h->session_n_scorers(s);
  for (size_t i = 0; i < ns; i++) {
    const dk_scorer_ref *sr = h->session_scorer(s, i);
    double w = b->p.n_weights ? b->weights[i] : 1.0;
    if (w == 0) continue; /* a switched-off scorer, whose -inf must not become NaN */
    int rc = DK_OK;
    if (sr->iface->score_batch)
      rc = sr->iface->score_batch(sr->inst, s, b->ak_ptr, b->ak_len, n_hyps, n_ctx, b->ak_sc, err);
    for (size_t j = 0; !sr->iface->score_batch && !rc && j < n_hyps; j++)
      rc = sr->iface->score(sr->inst, s, b->ak_ptr[j], b->ak_len[j], n_ctx, &b->ak_sc[j], err);
    if (rc) return rc;
    size_t k = 0;
    for (size_t g = 0; g < b->p.groups; g++)
      for (size_t l = 0; !b->done[g] && l < b->n_live[g]; l++) {
        size_t slot = g * b->S + l;
        /* The host has refused NaN scores already; -inf (impossible) is a valid one. */
        for (size_t j = 0; j < b->ak_n[slot]; j++, k++) b->ak_attr[slot * kk + j] += w * b->ak_sc[k];
      }
  }
  return DK_OK;
}

int bs_step(void *inst, dk_session *s, dk_error *err) {
  bs_search *b = inst;
  size_t S = b->S;
  int rc;
  for (size_t g = 0; g < b->p.groups; g++) {
    if (b->done[g]) continue;
    for (size_t i = 0; i < b->n_live[g]; i++) {
      size_t slot = g * S + i;
      if ((rc = score_row(b, s, &b->cur[slot], b->lp + slot * b->nv, &b->lse[slot], err))) return rc;
    }
  }
  if (b->p.top_k && (rc = attributes(b, s, err))) return rc;
  size_t n_kids = 0;
  int all_done = 1;
  memset(b->count, 0, b->nv * sizeof *b->count);
  for (size_t g = 0; g < b->p.groups; g++) {
    b->n_next[g] = 0;
    if (b->done[g]) continue;
    search_group(b, s, g, &n_kids);
    all_done &= b->done[g];
  }
  if (all_done) return finish(b, s, err);
  return advance(b, s, n_kids, err);
}
