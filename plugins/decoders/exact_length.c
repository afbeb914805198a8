/* exact_length.c -- exact length-conditional search (METHODS 3): the most likely text of exactly `length` tokens and an EOS, by depth-first branch and bound. */
/*
 * The mode of p(y | x) among texts of L tokens that ACBS approximates with
 * a length attribute, found exactly.  A depth-first search expands each
 * prefix's tokens most likely first and drops a prefix once its
 * log-probability is no better than the best complete text found so far:
 * log-probabilities only fall as a text grows.  Every expanded prefix costs
 * one model call on a fork of its parent, so this is a tool for small
 * models and short lengths; max_nodes bounds the work.  Probabilities are
 * the processed ones (after the constraint and the sampler chain, through
 * a branch per prefix), so a grammar restricts the search too.
 */
#include <decokit/plugin.h>

#include "decoder_math.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LENGTH 64

static const dk_param_spec exact_params[] = {
    {"length", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "8", 1, MAX_LENGTH,
     "L: the text has exactly L tokens, then the model's EOS (none of the L is an EOS); "
     "max_tokens must leave room for L + 1.  With EOS ignored the text is the L tokens."},
    {"max_nodes", DK_PARAM_INT, DK_PARAM_MIN, "100000", 1, 0,
     "Most prefixes the search may expand (one model call each); a search that needs more "
     "fails instead of returning a text it cannot prove best."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

typedef struct next_tok {
  double lp; /* processed log-probability */
  dk_token v;
} next_tok;

/* A prefix of the search: what follows it and which of its tokens come next. */
typedef struct frame {
  dk_seq seq;     /* the model after the prefix; -1 at the root (the session's own) */
  dk_branch *br;  /* its constraint and sampler states */
  float *row;     /* raw logits of the next token */
  double *lp;     /* processed log-probabilities, -inf where removed */
  double lse;     /* the raw row's log-sum-exp */
  next_tok *ord;  /* allowed tokens, most likely first (lower id first among equals) */
  size_t n_ord, next;
  double score;   /* the prefix's summed processed log-probabilities */
} frame;

typedef struct exact {
  const dk_host *h;
  size_t L, max_nodes, nv;
  dk_token_data *cand;
  frame f[MAX_LENGTH];
  float *leaf_row; /* after a prefix of length L: how likely the EOS is */
  double *leaf_lp;
  /* per completion */
  size_t depth, nodes, n_text; /* live frames; expanded prefixes; L, or L + 1 with an EOS */
  dk_token eos[2];
  size_t n_eos;
  dk_token path[MAX_LENGTH + 1], best[MAX_LENGTH + 1];
  float raw[MAX_LENGTH + 1], proc[MAX_LENGTH + 1], best_raw[MAX_LENGTH + 1],
      best_proc[MAX_LENGTH + 1];
  double best_score;
  int found;
} exact;

static void exact_destroy(void *inst) {
  exact *e = inst;
  if (!e) return;
  for (size_t d = 0; d < MAX_LENGTH; d++) {
    free(e->f[d].row);
    free(e->f[d].lp);
    free(e->f[d].ord);
  }
  free(e->cand);
  free(e->leaf_row);
  free(e->leaf_lp);
  free(e);
}

static int exact_create(const dk_host *h, const dk_create_info *ci, void **inst, dk_error *err) {
  if (!ci->vocab || ci->vocab->n_vocab <= 0)
    return h->set_error(err, DK_ERR_INVALID, "needs the model's vocabulary");
  exact *e = calloc(1, sizeof *e);
  if (!e) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  e->h = h;
  e->L = (size_t)h->cfg_int(ci->config, "length");
  e->max_nodes = (size_t)h->cfg_int(ci->config, "max_nodes");
  e->nv = (size_t)ci->vocab->n_vocab;
  e->cand = malloc(e->nv * sizeof *e->cand);
  e->leaf_row = malloc(e->nv * sizeof *e->leaf_row);
  e->leaf_lp = malloc(e->nv * sizeof *e->leaf_lp);
  int ok = e->cand && e->leaf_row && e->leaf_lp;
  /* frames 0..L-1; the prefixes of length L only say how likely the EOS is */
  for (size_t d = 0; ok && d < e->L; d++) {
    e->f[d].row = malloc(e->nv * sizeof *e->f[d].row);
    e->f[d].lp = malloc(e->nv * sizeof *e->f[d].lp);
    e->f[d].ord = malloc(e->nv * sizeof *e->f[d].ord);
    ok = e->f[d].row && e->f[d].lp && e->f[d].ord;
  }
  if (!ok) {
    exact_destroy(e);
    return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  }
  *inst = e;
  return DK_OK;
}

static int is_eos(const exact *e, dk_token v) {
  for (size_t i = 0; i < e->n_eos; i++)
    if (e->eos[i] == v) return 1;
  return 0;
}

/* Pop frames down to `depth`, freeing what they own. */
static void pop_to(exact *e, dk_session *s, size_t depth) {
  const dk_model_ref *m = e->h->session_model(s);
  while (e->depth > depth) {
    frame *f = &e->f[--e->depth];
    if (f->seq >= 0) m->iface->seq_free(m->inst, f->seq);
    if (f->br) e->h->branch_free(s, f->br);
    f->seq = -1;
    f->br = NULL;
  }
}

static void exact_end(void *inst, dk_session *s) { pop_to(inst, s, 0); }

/* The processed log-probabilities of the token after a prefix, its raw
 * row's log-sum-exp, into lp and *lse. */
static int next_lp(exact *e, dk_session *s, dk_branch *br, const float *row, double *lp,
                   double *lse, dk_error *err) {
  dk_candidates c = {e->cand, e->nv, -1, 0};
  int rc = e->h->session_distribution_ex(s, br, row, NULL, 0, &c, err);
  if (rc) return rc;
  double z = dkd_cand_lse(&c);
  for (size_t v = 0; v < e->nv; v++) lp[v] = -INFINITY;
  if (z > -INFINITY)
    for (size_t i = 0; i < c.n; i++)
      if (c.data[i].id >= 0 && (size_t)c.data[i].id < e->nv && c.data[i].logit > -INFINITY)
        lp[c.data[i].id] = (double)c.data[i].logit - z;
  *lse = dkd_row_lse(row, e->nv);
  return DK_OK;
}

static int by_lp(const void *a, const void *b) {
  const next_tok *x = a, *y = b;
  if (x->lp != y->lp) return x->lp > y->lp ? -1 : 1;
  return (x->v > y->v) - (x->v < y->v);
}

/* Push the frame of prefix length e->depth: it owns seq and br and predicts
 * the next token with row. */
static int push(exact *e, dk_session *s, dk_seq seq, dk_branch *br, const float *row, double score,
                dk_error *err) {
  frame *f = &e->f[e->depth++];
  f->seq = seq;
  f->br = br;
  f->score = score;
  f->next = f->n_ord = 0;
  memcpy(f->row, row, e->nv * sizeof *row);
  int rc = next_lp(e, s, br, f->row, f->lp, &f->lse, err);
  if (rc) return rc;
  for (size_t v = 0; v < e->nv; v++)
    if (f->lp[v] > -INFINITY && !is_eos(e, (dk_token)v))
      f->ord[f->n_ord++] = (next_tok){f->lp[v], (dk_token)v};
  qsort(f->ord, f->n_ord, sizeof *f->ord, by_lp);
  return DK_OK;
}

static int exact_begin(void *inst, dk_session *s, dk_error *err) {
  exact *e = inst;
  const dk_host *h = e->h;
  const dk_model_ref *m = h->session_model(s);
  if (!(m->info->caps & DK_MODEL_CAP_FORK) || !m->iface->fork)
    return h->set_error(err, DK_ERR_UNSUPPORTED, "exact search needs a model that can fork sequences");
  if (!DK_HAS(h, dk_host, session_add_result))
    return h->set_error(err, DK_ERR_UNSUPPORTED, "needs a host with ABI 1.1 branches and results");
  dk_limits lim = {.struct_size = sizeof lim};
  int rc = h->session_limits(s, &lim);
  if (rc) return h->set_error(err, rc, "session_limits failed");
  e->n_eos = 0;
  if (!lim.ignore_eos) {
    if (lim.eos >= 0) e->eos[e->n_eos++] = lim.eos;
    if (lim.eot >= 0 && lim.eot != lim.eos) e->eos[e->n_eos++] = lim.eot;
  }
  e->n_text = e->L + (e->n_eos ? 1 : 0);
  int64_t room = lim.max_tokens_left;
  if (lim.context_left >= 0 && lim.context_left < room) room = lim.context_left;
  if (room < (int64_t)e->n_text)
    return h->set_error(err, DK_ERR_INVALID,
                        "key 'length': %zu tokens%s do not fit in the %lld left (max_tokens or the context)",
                        e->L, e->n_eos ? " and the EOS" : "", (long long)room);
  const float *prompt = h->session_prompt_logits(s);
  if (!prompt) return h->set_error(err, DK_ERR_STATE, "no prompt logits to start from");
  e->depth = e->nodes = 0;
  e->found = 0;
  e->best_score = -INFINITY;
  dk_branch *br;
  if ((rc = h->branch_new(s, NULL, &br, err))) return rc;
  return push(e, s, -1, br, prompt, 0.0, err);
}

/* A complete text: the path of length L, then the EOS at lp_eos (with EOS
 * ignored, the path alone).  Kept when strictly better. */
static void offer(exact *e, double score, dk_token eos, float raw_eos, float proc_eos) {
  if (!(score > e->best_score)) return;
  e->best_score = score;
  e->found = 1;
  memcpy(e->best, e->path, e->L * sizeof *e->best);
  memcpy(e->best_raw, e->raw, e->L * sizeof *e->best_raw);
  memcpy(e->best_proc, e->proc, e->L * sizeof *e->best_proc);
  if (e->n_eos) {
    e->best[e->L] = eos;
    e->best_raw[e->L] = raw_eos;
    e->best_proc[e->L] = proc_eos;
  }
}

/* Expand the next token of the deepest frame: a model call on a fork. */
static int expand(exact *e, dk_session *s, dk_error *err) {
  const dk_host *h = e->h;
  const dk_model_ref *m = h->session_model(s);
  frame *f = &e->f[e->depth - 1];
  next_tok t = f->ord[f->next++];
  double score = f->score + t.lp;
  /* sorted: no later token of this prefix does better either */
  if (!(score > e->best_score)) {
    f->next = f->n_ord;
    return DK_OK;
  }
  size_t d = e->depth; /* the child's length */
  e->path[d - 1] = t.v;
  e->raw[d - 1] = (float)((double)f->row[t.v] - f->lse);
  e->proc[d - 1] = (float)t.lp;
  if (d == e->L && !e->n_eos) {
    offer(e, score, -1, 0, 0);
    return DK_OK;
  }
  if (++e->nodes > e->max_nodes)
    return h->set_error(err, DK_ERR_RANGE,
                        "key 'max_nodes': %zu prefixes expanded and the best text of %zu tokens is not "
                        "proven yet",
                        e->max_nodes, e->L);
  dk_seq seq = -1;
  dk_branch *br = NULL;
  float *row = d < e->L ? e->f[d].row : e->leaf_row;
  int rc = m->iface->fork(m->inst, f->seq >= 0 ? f->seq : h->session_seq(s), &seq, err);
  if (!rc) rc = m->iface->eval(m->inst, seq, &t.v, 1, row, 0, err);
  if (!rc) rc = h->branch_new(s, f->br, &br, err);
  if (!rc) rc = h->branch_extend(s, br, &t.v, 1, err);
  if (!rc && d < e->L) return push(e, s, seq, br, row, score, err); /* the frame owns them now */
  double lse = 0;
  if (!rc) rc = next_lp(e, s, br, row, e->leaf_lp, &lse, err); /* length L: only an EOS may follow */
  for (size_t i = 0; !rc && i < e->n_eos; i++) {
    dk_token v = e->eos[i];
    if (v >= 0 && (size_t)v < e->nv && e->leaf_lp[v] > -INFINITY)
      offer(e, score + e->leaf_lp[v], v, (float)((double)row[v] - lse), (float)e->leaf_lp[v]);
  }
  if (seq >= 0) m->iface->seq_free(m->inst, seq);
  if (br) h->branch_free(s, br);
  return rc;
}

/* Report and commit the best text. */
static int finish(exact *e, dk_session *s, dk_error *err) {
  const dk_host *h = e->h;
  if (!e->found)
    return h->set_error(err, DK_ERR_STATE, "no text of exactly %zu tokens%s is possible", e->L,
                        e->n_eos ? " followed by an EOS" : "");
  int rc = h->session_add_result(s, e->best, e->n_text, e->best_score, err);
  if (rc) return rc;
  dk_token_logprob lps[MAX_LENGTH + 1];
  for (size_t i = 0; i < e->n_text; i++)
    lps[i] = (dk_token_logprob){sizeof lps[i], e->best_raw[i], e->best_proc[i], NULL, NULL};
  rc = h->commit_ex(s, NULL, e->best, e->n_text, lps, err);
  h->metric_add(s, "exact.nodes", (double)e->nodes);
  return rc < 0 ? rc : DK_DONE;
}

/* The whole search is one step: it commits once, at the end (the model's
 * abort callback still reaches every evaluation). */
static int exact_step(void *inst, dk_session *s, dk_error *err) {
  exact *e = inst;
  for (;;) {
    while (e->depth > 0 && e->f[e->depth - 1].next == e->f[e->depth - 1].n_ord) pop_to(e, s, e->depth - 1);
    if (e->depth == 0) return finish(e, s, err);
    int rc = expand(e, s, err);
    if (rc) return rc;
  }
}

static const dk_decoder_iface exact_iface = {
    .hdr = {.struct_size = sizeof(dk_decoder_iface),
            .kind = DK_KIND_DECODER,
            .name = "exact_length",
            .version = "1.0.0",
            .summary = "the most likely text of exactly `length` tokens, by exact branch and "
                       "bound (small models)",
            .params = exact_params,
            .param_stride = sizeof(dk_param_spec),
            .caps = DK_CAP_INSTANCE_MT},
    .create = exact_create,
    .destroy = exact_destroy,
    .begin = exact_begin,
    .step = exact_step,
    .end = exact_end,
};

static const dk_iface_header *const components[] = {&exact_iface.hdr};

static const dk_plugin_desc desc = {
    DK_PLUGIN_DESC_HEAD, "exact_length", "1.0.0", components, 1, NULL, NULL,
};

DK_PLUGIN_ENTRY(exact_length) { return &desc; }
