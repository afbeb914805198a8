/* contrastive.c -- contrastive search: the top-k candidate that is likely and least like the context, by last-layer hidden states. */
/*
 * Su et al., SimCTG (METHODS 18.1).  Each step forks the context's
 * sequence once per candidate and evaluates the k candidates in one
 * batched call, which gives each candidate's hidden state h_v (and the
 * logits of the step after, if it is chosen); the choice maximises
 *   (1 - alpha) p(v) - alpha max_j cos(h_v, h_j)
 * over the context's positions j, prompt included.
 */
#include <decokit/plugin.h>

#include "batch_step.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const dk_param_spec contrastive_params[] = {
    {"k", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "4", 1, 1024,
     "Candidates per step: the k most probable tokens of the processed distribution, all "
     "evaluated in one batched call."},
    {"alpha", DK_PARAM_DOUBLE, DK_PARAM_MIN | DK_PARAM_MAX, "0.6", 0, 1,
     "Degeneration penalty weight: a candidate scores (1 - alpha) p minus alpha times its "
     "largest cosine similarity to the context's hidden states.  0 is greedy."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

typedef struct contrastive {
  const dk_host *h;
  size_t k, nv, d;
  double alpha;
  dk_token_data *dist, *top;
  float *rows;    /* k logits rows of the candidates' step */
  float *cand_h;  /* k hidden rows */
  float *logits;  /* the chosen candidate's row: the next step's */
  const float *cur_logits;
  dk_seq cur;     /* the context's sequence; owned when own_cur */
  int own_cur;
  dk_seq *forks;
  dk_token *toks;
  size_t n_forks;
  float *ctx_h;   /* the context's hidden states, n_ctx rows, and their norms */
  float *ctx_norm;
  size_t n_ctx, cap_ctx;
} contrastive;

static void contrastive_destroy(void *inst) {
  contrastive *c = inst;
  free(c->dist);
  free(c->top);
  free(c->rows);
  free(c->cand_h);
  free(c->logits);
  free(c->forks);
  free(c->toks);
  free(c->ctx_h);
  free(c->ctx_norm);
  free(c);
}

static int contrastive_create(const dk_host *h, const dk_create_info *ci, void **inst,
                              dk_error *err) {
  if (!ci->vocab || ci->vocab->n_vocab <= 0)
    return h->set_error(err, DK_ERR_INVALID, "needs the model's vocabulary");
  contrastive *c = calloc(1, sizeof *c);
  if (!c) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  c->h = h;
  c->nv = (size_t)ci->vocab->n_vocab;
  c->k = (size_t)h->cfg_int(ci->config, "k");
  if (c->k > c->nv) c->k = c->nv;
  c->alpha = h->cfg_double(ci->config, "alpha");
  c->dist = malloc(c->nv * sizeof *c->dist);
  c->top = malloc(c->nv * sizeof *c->top);
  c->rows = malloc(c->k * c->nv * sizeof *c->rows);
  c->logits = malloc(c->nv * sizeof *c->logits);
  c->forks = malloc(c->k * sizeof *c->forks);
  c->toks = malloc(c->k * sizeof *c->toks);
  if (!c->dist || !c->top || !c->rows || !c->logits || !c->forks || !c->toks) {
    contrastive_destroy(c);
    return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  }
  *inst = c;
  return DK_OK;
}

static float norm(const float *x, size_t d) {
  double s = 0;
  for (size_t i = 0; i < d; i++) s += (double)x[i] * x[i];
  return (float)sqrt(s);
}

/* Room for n more context rows. */
static int ctx_reserve(contrastive *c, size_t n, dk_error *err) {
  if (c->n_ctx + n <= c->cap_ctx) return DK_OK;
  size_t cap = c->cap_ctx ? c->cap_ctx : 64;
  while (cap < c->n_ctx + n) cap *= 2;
  float *hs = realloc(c->ctx_h, cap * c->d * sizeof *hs);
  if (hs) c->ctx_h = hs;
  float *ns = hs ? realloc(c->ctx_norm, cap * sizeof *ns) : NULL;
  if (ns) c->ctx_norm = ns;
  if (!hs || !ns) return c->h->set_error(err, DK_ERR_NOMEM, "out of memory");
  c->cap_ctx = cap;
  return DK_OK;
}

static void ctx_push(contrastive *c, size_t n) {
  for (size_t i = c->n_ctx; i < c->n_ctx + n; i++) c->ctx_norm[i] = norm(c->ctx_h + i * c->d, c->d);
  c->n_ctx += n;
}

static void drop_forks(contrastive *c, dk_session *s, size_t keep) {
  const dk_model_ref *m = c->h->session_model(s);
  for (size_t i = 0; i < c->n_forks; i++)
    if (i != keep) m->iface->seq_free(m->inst, c->forks[i]);
  c->n_forks = 0;
}

static void contrastive_end(void *inst, dk_session *s) {
  contrastive *c = inst;
  drop_forks(c, s, (size_t)-1);
  if (c->own_cur) c->h->session_model(s)->iface->seq_free(c->h->session_model(s)->inst, c->cur);
  c->own_cur = 0;
}

/* The prompt's hidden states: from the prefill when the session's sequence
 * still has them (a fork of the prompt may not), else by evaluating the
 * prompt once more on a scratch sequence. */
static int prompt_hidden(contrastive *c, dk_session *s, dk_error *err) {
  const dk_host *h = c->h;
  const dk_model_ref *m = h->session_model(s);
  size_t n, n_prompt;
  const dk_token *toks = h->session_tokens(s, &n, &n_prompt);
  int rc = ctx_reserve(c, n_prompt, err);
  if (rc) return rc;
  float *out = c->ctx_h + c->n_ctx * c->d;
  if (m->iface->hidden(m->inst, h->session_seq(s), n_prompt, out, err) != DK_OK) {
    dk_seq tmp;
    if ((rc = m->iface->seq_new(m->inst, &tmp, err))) return rc;
    rc = m->iface->eval(m->inst, tmp, toks, n_prompt, NULL, 0, err);
    if (!rc) rc = m->iface->hidden(m->inst, tmp, n_prompt, out, err);
    m->iface->seq_free(m->inst, tmp);
    if (rc) return rc;
  }
  ctx_push(c, n_prompt);
  return DK_OK;
}

static int contrastive_begin(void *inst, dk_session *s, dk_error *err) {
  contrastive *c = inst;
  const dk_host *h = c->h;
  const dk_model_ref *m = h->session_model(s);
  if (!DK_HAS(h, dk_host, commit_ex))
    return h->set_error(err, DK_ERR_UNSUPPORTED, "needs a host with ABI 1.1 commits");
  if (!(m->info->caps & DK_MODEL_CAP_HIDDEN) || !m->iface->hidden || m->info->n_embd <= 0)
    return h->set_error(err, DK_ERR_UNSUPPORTED,
                        "needs a model that gives hidden states (model '%s' does not)",
                        m->info->arch ? m->info->arch : "?");
  int rc = batch_step_check(h, m, "contrastive search", err);
  if (rc) return rc;
  if ((size_t)m->info->n_embd != c->d) {
    c->d = (size_t)m->info->n_embd;
    free(c->cand_h);
    free(c->ctx_h);
    c->ctx_h = NULL;
    c->cap_ctx = 0;
    c->cand_h = malloc(c->k * c->d * sizeof *c->cand_h);
    if (!c->cand_h) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  }
  c->n_ctx = 0;
  c->n_forks = 0;
  c->cur = h->session_seq(s);
  c->own_cur = 0;
  c->cur_logits = h->session_prompt_logits(s);
  return prompt_hidden(c, s, err);
}

/* The largest cosine similarity of x to a context row. */
static double max_similarity(const contrastive *c, const float *x) {
  float nx = norm(x, c->d);
  double best = -1.0;
  for (size_t j = 0; j < c->n_ctx; j++) {
    const float *y = c->ctx_h + j * c->d;
    double dot = 0;
    for (size_t i = 0; i < c->d; i++) dot += (double)x[i] * y[i];
    double den = (double)nx * c->ctx_norm[j];
    double cs = den > 0 ? dot / den : 0.0;
    if (cs > best) best = cs;
  }
  return best;
}

static int contrastive_step(void *inst, dk_session *s, dk_error *err) {
  contrastive *c = inst;
  const dk_host *h = c->h;
  const dk_model_ref *m = h->session_model(s);
  dk_candidates dist = {c->dist, c->nv, -1, 0};
  int rc = h->session_distribution(s, c->cur_logits, &dist, err);
  if (rc) return rc;
  /* The k best by logit (ties to the lower id, as greedy), in a copy: the
   * full list goes with the commit. */
  memcpy(c->top, dist.data, dist.n * sizeof *dist.data);
  dk_candidates top = {c->top, dist.n, -1, dist.flags};
  h->cand_top(&top, c->k);
  for (size_t i = 0; i < top.n; i++) {
    if ((rc = m->iface->fork(m->inst, c->cur, &c->forks[i], err))) return rc;
    c->n_forks = i + 1;
    c->toks[i] = top.data[i].id;
  }
  rc = batch_step(h, m, c->forks, c->toks, top.n, c->rows, c->cand_h, err);
  if (rc) return rc;
  size_t best = 0;
  double best_score = -INFINITY;
  for (size_t i = 0; i < top.n; i++) {
    double sc = (1.0 - c->alpha) * top.data[i].p;
    if (c->alpha > 0) sc -= c->alpha * max_similarity(c, c->cand_h + i * c->d);
    if (sc > best_score) {
      best_score = sc;
      best = i;
    }
  }
  dk_token tok = c->toks[best];
  dk_token_logprob lp = {sizeof lp, NAN, NAN, c->cur_logits, &dist};
  rc = h->commit_ex(s, NULL, &tok, 1, &lp, err);
  if (rc) return rc;
  /* The chosen fork is the new context; its row and hidden state move in. */
  if ((rc = ctx_reserve(c, 1, err))) return rc;
  memcpy(c->ctx_h + c->n_ctx * c->d, c->cand_h + best * c->d, c->d * sizeof *c->ctx_h);
  ctx_push(c, 1);
  memcpy(c->logits, c->rows + best * c->nv, c->nv * sizeof *c->logits);
  c->cur_logits = c->logits;
  if (c->own_cur) m->iface->seq_free(m->inst, c->cur);
  c->cur = c->forks[best];
  c->own_cur = 1;
  drop_forks(c, s, best);
  return DK_OK;
}

static const dk_decoder_iface contrastive_iface = {
    .hdr = {.struct_size = sizeof(dk_decoder_iface),
            .kind = DK_KIND_DECODER,
            .name = "contrastive",
            .version = "1.0.0",
            .summary = "contrastive search: likely tokens whose hidden state is least like the "
                       "context's",
            .params = contrastive_params,
            .param_stride = sizeof(dk_param_spec),
            .caps = DK_CAP_INSTANCE_MT | DK_CAP_NEEDS_HIDDEN},
    .create = contrastive_create,
    .destroy = contrastive_destroy,
    .begin = contrastive_begin,
    .step = contrastive_step,
    .end = contrastive_end,
};

static const dk_iface_header *const components[] = {&contrastive_iface.hdr};

static const dk_plugin_desc desc = {
    DK_PLUGIN_DESC_HEAD, "contrastive", "1.0.0", components, 1, NULL, NULL,
};

DK_PLUGIN_ENTRY(contrastive) { return &desc; }
