/* momentum.c -- momentum decoding: greedy over the top-k, minus a resistance that grows with the cycle a candidate would close. */
/*
 * Lan et al., "Momentum Decoding" (METHODS 2).  The context (prompt and
 * output) is a walk on the graph of tokens seen; a candidate v closes a
 * cycle of length L(v): 0 if v was never seen, else the longest n <= max_ngram
 * such that the last n-1 tokens followed by v occurred before, 1 when no
 * such n >= 2 exists.  The chosen token maximises p(v) - alpha * f(L(v)),
 * p over the whole (processed) vocabulary.
 */
#include <decokit/plugin.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { RES_LINEAR, RES_CONSTANT, RES_LOG, RES_EXP };

static const dk_param_spec momentum_params[] = {
    {"k", DK_PARAM_INT, DK_PARAM_MIN, "5", 1, 0,
     "Candidate pool: the k most probable tokens of the processed distribution."},
    {"alpha", DK_PARAM_DOUBLE, DK_PARAM_MIN, "0.2", 0, 0,
     "Weight of the resistance subtracted from a candidate's probability; 0 is greedy."},
    {"max_ngram", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "5", 2, 64,
     "Longest cycle (n-gram) looked for when measuring the cycle a candidate closes."},
    {"resistance", DK_PARAM_STRING, 0, "linear", 0, 0,
     "f(L) for a cycle of length L: linear (L), constant (2 for L >= 1), log "
     "(log6(1 + L) / 0.2) or exp (1.5^L / 2)."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

typedef struct momentum {
  const dk_host *h;
  size_t k, max_ngram, nv;
  double alpha;
  int res;
  float *logits;
  dk_token_data *dist, *top; /* the distribution, and a copy cut to its k best */
  int fresh;
} momentum;

static void momentum_destroy(void *inst) {
  momentum *d = inst;
  free(d->logits);
  free(d->dist);
  free(d->top);
  free(d);
}

static int momentum_create(const dk_host *h, const dk_create_info *ci, void **inst, dk_error *err) {
  if (!ci->vocab || ci->vocab->n_vocab <= 0)
    return h->set_error(err, DK_ERR_INVALID, "needs the model's vocabulary");
  const char *r = h->cfg_string(ci->config, "resistance");
  static const char *const names[] = {"linear", "constant", "log", "exp"};
  int res = -1;
  for (int i = 0; i < 4; i++)
    if (r && strcmp(r, names[i]) == 0) res = i;
  if (res < 0)
    return h->set_error(err, DK_ERR_INVALID,
                        "key 'resistance': expected linear, constant, log or exp, got '%s'", r ? r : "");
  momentum *d = calloc(1, sizeof *d);
  if (!d) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  d->h = h;
  d->nv = (size_t)ci->vocab->n_vocab;
  d->k = (size_t)h->cfg_int(ci->config, "k");
  if (d->k > d->nv) d->k = d->nv;
  d->alpha = h->cfg_double(ci->config, "alpha");
  d->max_ngram = (size_t)h->cfg_int(ci->config, "max_ngram");
  d->res = res;
  d->logits = malloc(d->nv * sizeof *d->logits);
  d->dist = malloc(d->nv * sizeof *d->dist);
  d->top = malloc(d->nv * sizeof *d->top);
  if (!d->logits || !d->dist || !d->top) {
    momentum_destroy(d);
    return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  }
  *inst = d;
  return DK_OK;
}

static int momentum_begin(void *inst, dk_session *s, dk_error *err) {
  momentum *d = inst;
  if (!DK_HAS(d->h, dk_host, commit_ex))
    return d->h->set_error(err, DK_ERR_UNSUPPORTED, "needs a host with ABI 1.1 commits");
  (void)s;
  d->fresh = 1;
  return DK_OK;
}

/* L(v) after h[0..n): see the file comment. */
static size_t cycle_len(const dk_token *h, size_t n, dk_token v, size_t max_ngram) {
  size_t best = 0;
  for (size_t j = 0; j < n; j++) {
    if (h[j] != v) continue;
    size_t m = 1; /* v itself */
    while (m < max_ngram && m <= j && h[j - m] == h[n - m]) m++;
    if (m > best) best = m;
  }
  return best;
}

static double resistance(int res, size_t L) {
  switch (res) {
  case RES_CONSTANT: return L >= 1 ? 2.0 : 0.0;
  case RES_LOG: return log(1.0 + (double)L) / log(6.0) / 0.2;
  case RES_EXP: return pow(1.5, (double)L) / 2.0;
  default: return (double)L;
  }
}

static int momentum_step(void *inst, dk_session *s, dk_error *err) {
  momentum *d = inst;
  const dk_host *h = d->h;
  const float *logits = d->fresh ? h->session_prompt_logits(s) : d->logits;
  d->fresh = 0;
  dk_candidates c = {d->dist, d->nv, -1, 0};
  int rc = h->session_distribution(s, logits, &c, err);
  if (rc) return rc;
  /* The k best by logit, ties to the lower id, as greedy orders them (p
   * could round distinct logits to a tie); the full list stays intact for
   * the commit's processed numbers. */
  memcpy(d->top, c.data, c.n * sizeof *c.data);
  dk_candidates top = {d->top, c.n, -1, c.flags};
  h->cand_top(&top, d->k);
  size_t n_ctx, n_prompt;
  const dk_token *ctx = h->session_tokens(s, &n_ctx, &n_prompt);
  dk_token tok = top.data[0].id;
  double best = -INFINITY;
  for (size_t i = 0; i < top.n && d->alpha > 0; i++) {
    const dk_token_data *t = &top.data[i];
    double sc = t->p - d->alpha * resistance(d->res, cycle_len(ctx, n_ctx, t->id, d->max_ngram));
    if (sc > best) {
      best = sc;
      tok = t->id;
    }
  }
  dk_token_logprob lp = {sizeof lp, NAN, NAN, logits, &c};
  rc = h->commit_ex(s, NULL, &tok, 1, &lp, err);
  if (rc) return rc;
  const dk_model_ref *m = h->session_model(s);
  return m->iface->eval(m->inst, h->session_seq(s), &tok, 1, d->logits, 0, err);
}

static const dk_decoder_iface momentum_iface = {
    .hdr = {.struct_size = sizeof(dk_decoder_iface),
            .kind = DK_KIND_DECODER,
            .name = "momentum",
            .version = "1.0.0",
            .summary = "momentum decoding: greedy over the top-k with a resistance against "
                       "closing cycles",
            .params = momentum_params,
            .param_stride = sizeof(dk_param_spec),
            .caps = DK_CAP_INSTANCE_MT},
    .create = momentum_create,
    .destroy = momentum_destroy,
    .begin = momentum_begin,
    .step = momentum_step,
};

static const dk_iface_header *const components[] = {&momentum_iface.hdr};

static const dk_plugin_desc desc = {
    DK_PLUGIN_DESC_HEAD, "momentum", "1.0.0", components, 1, NULL, NULL,
};

DK_PLUGIN_ENTRY(momentum) { return &desc; }
