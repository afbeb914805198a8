/* lud.c -- decoder: Lexical Unit Decoding, a confident span from m placeholder slots per forward (and its lossless verify variant). */
/*
 * METHODS 7.  Each step evaluates, in one call with logits at every row,
 * the tokens committed last step (their real K/V replaces the placeholder
 * rows they were predicted from) followed by m placeholders.  The row of
 * the last real token is the ordinary AR prediction and is always taken;
 * placeholder k predicts the token k after it.  Slots are taken in order
 * while the model's probability of the chosen token is >= beta, and a span
 * stops before a token that repeats the one just before it.  The
 * placeholder rows are then truncated away.
 *
 * verify: true makes the span a draft: the next call evaluates it as real
 * tokens after the committed ones, keeps the longest prefix that the
 * sampler chain itself picks row by row plus the chain's own next token,
 * and only when the whole draft survives do that call's placeholder rows
 * (which then follow real text) propose the next draft.  Every committed
 * token is the chain's choice on the real context: with a greedy chain the
 * output is greedy's (up to the rounding of multi-token calls at a
 * near-tie, as for every verifier).
 *
 * The placeholder id comes from the model's `decokit.lud.placeholder_token_id`
 * metadata, which the llama plugin reports as a line of describe(), unless
 * the pipeline sets `placeholder`.
 */
#include <decokit/plugin.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LUD_META_KEY "decokit.lud.placeholder_token_id"
#define LUD_MAX_M 64

static const dk_param_spec lud_params[] = {
    {"m", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "4", 1, LUD_MAX_M,
     "Placeholder slots appended per forward: a step commits at most m + 1 tokens."},
    {"beta", DK_PARAM_DOUBLE, DK_PARAM_MIN | DK_PARAM_MAX, "0.7", 0, 1,
     "Confidence threshold in (0, 1] (0 is refused): a slot's token is taken while the model "
     "gives it at least this probability."},
    {"verify", DK_PARAM_BOOL, 0, "false", 0, 0,
     "Treat the span as a draft verified by the next forward: the output is then what the "
     "sampler chain picks token by token (greedy's with a greedy chain, as for speculative "
     "decoding: rows of a multi-token call may round differently at a near-tie)."},
    {"placeholder", DK_PARAM_INT, DK_PARAM_MIN, "-1", -1, 0,
     "Placeholder token id; -1 reads the model's `" LUD_META_KEY "` metadata."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

typedef struct lud {
  const dk_host *h;
  size_t m;
  double beta;
  int verify;
  int64_t placeholder_param;
  /* per completion */
  dk_token ph;
  size_t n_vocab;
  float *rows;                  /* (2m + 2) rows of n_vocab */
  dk_token *in;                 /* the call's tokens */
  dk_token pend[LUD_MAX_M + 1]; /* committed, not yet in the cache */
  size_t n_pend;
  dk_token draft[LUD_MAX_M]; /* verify: evaluated after pend next call */
  size_t n_draft;
  float *first; /* n_vocab: the AR row when nothing is pending (after the prompt) */
} lud;

/* How many slot tokens join the span (the AR token is always taken): slot
 * k (0-based) joins while conf[k] >= beta and its token differs from the
 * span's previous token.  prev is the AR token. */
static size_t lud_accept(const double *conf, const dk_token *tok, size_t n, dk_token prev, double beta) {
  size_t k = 0;
  while (k < n && conf[k] >= beta && tok[k] != prev) prev = tok[k++];
  return k;
}

static int lud_create(const dk_host *h, const dk_create_info *ci, void **inst, dk_error *err) {
  double beta = h->cfg_double(ci->config, "beta");
  if (!(beta > 0.0))
    return h->set_error(err, DK_ERR_INVALID, "beta: %g is outside (0, 1]; a slot is taken when its "
                        "probability is >= beta", beta);
  lud *l = calloc(1, sizeof *l);
  if (!l) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  l->h = h;
  l->m = (size_t)h->cfg_int(ci->config, "m");
  l->beta = beta;
  l->verify = h->cfg_bool(ci->config, "verify");
  l->placeholder_param = h->cfg_int(ci->config, "placeholder");
  *inst = l;
  return DK_OK;
}

static void lud_release(lud *l) {
  free(l->rows);
  free(l->in);
  free(l->first);
  l->rows = l->first = NULL;
  l->in = NULL;
}

static void lud_destroy(void *inst) {
  lud_release(inst);
  free(inst);
}

/* The placeholder id from the model's describe() line "KEY: N". */
static int lud_meta_placeholder(lud *l, const dk_model_ref *m, int64_t *out, dk_error *err) {
  const dk_host *h = l->h;
  if (!m->iface->describe)
    return h->set_error(err, DK_ERR_INVALID, "%s: the model reports no metadata (no describe); set the "
                        "decoder's `placeholder` or use a model fine-tuned for LUD", LUD_META_KEY);
  size_t need = 0;
  char probe[1];
  int rc = m->iface->describe(m->inst, probe, 0, &need, err);
  if (rc != DK_OK && rc != DK_ERR_RANGE) return rc;
  if (need > (size_t)1 << 24) return h->set_error(err, DK_ERR_INVALID, "model describe() claims %zu bytes", need);
  char *text = malloc(need + 1);
  if (!text) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  size_t got = 0;
  rc = m->iface->describe(m->inst, text, need, &got, err);
  if (rc == DK_OK && got > need) rc = h->set_error(err, DK_ERR_INVALID, "model describe() wrote past its size");
  if (rc) {
    free(text);
    return rc;
  }
  text[got] = '\0';
  static const char key[] = LUD_META_KEY ": ";
  const char *p = NULL;
  for (const char *q = text; q && *q; q = strchr(q, '\n'), q = q ? q + 1 : q)
    if (strncmp(q, key, sizeof key - 1) == 0) {
      p = q + sizeof key - 1;
      break;
    }
  if (!p) {
    free(text);
    return h->set_error(err, DK_ERR_INVALID, "%s: the model has no such metadata (not fine-tuned for "
                        "Lexical Unit Decoding?); set the decoder's `placeholder` to override", LUD_META_KEY);
  }
  char *end;
  errno = 0;
  long long v = strtoll(p, &end, 10);
  int bad = errno || end == p || (*end && *end != '\n');
  free(text);
  if (bad) return h->set_error(err, DK_ERR_INVALID, "%s: the model's value is not an integer", LUD_META_KEY);
  *out = v;
  return DK_OK;
}

static int lud_begin(void *inst, dk_session *s, dk_error *err) {
  lud *l = inst;
  const dk_host *h = l->h;
  const dk_model_ref *m = h->session_model(s);
  int64_t ph = l->placeholder_param;
  if (ph < 0) {
    int rc = lud_meta_placeholder(l, m, &ph, err);
    if (rc) return rc;
  }
  if (ph < 0 || ph >= m->info->n_vocab)
    return h->set_error(err, DK_ERR_INVALID, "%s: token %lld is outside the vocabulary (%d tokens)",
                        l->placeholder_param < 0 ? LUD_META_KEY : "placeholder", (long long)ph,
                        (int)m->info->n_vocab);
  if (!(m->info->caps & DK_MODEL_CAP_TRUNCATE) || !m->iface->truncate)
    return h->set_error(err, DK_ERR_INVALID, "lud needs a model that can truncate its cache");
  const float *pl = h->session_prompt_logits(s);
  if (!pl) return h->set_error(err, DK_ERR_STATE, "lud needs the prompt evaluated");
  lud_release(l);
  l->ph = (dk_token)ph;
  l->n_vocab = (size_t)m->info->n_vocab;
  l->rows = malloc((2 * l->m + 2) * l->n_vocab * sizeof *l->rows);
  l->in = malloc((2 * l->m + 2) * sizeof *l->in);
  l->first = malloc(l->n_vocab * sizeof *l->first);
  if (!l->rows || !l->in || !l->first) {
    lud_release(l);
    return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  }
  memcpy(l->first, pl, l->n_vocab * sizeof *l->first);
  l->n_pend = l->n_draft = 0;
  return DK_OK;
}

/* The model's probability of tok in a raw row (a max-shifted softmax). */
static double row_prob(const float *row, size_t n, dk_token tok) {
  float mx = row[0];
  for (size_t i = 1; i < n; i++)
    if (row[i] > mx) mx = row[i];
  double z = 0;
  for (size_t i = 0; i < n; i++) z += exp((double)row[i] - mx);
  return exp((double)row[tok] - mx) / z;
}

static size_t argmax(const float *row, size_t n) {
  size_t b = 0;
  for (size_t i = 1; i < n; i++)
    if (row[i] > row[b]) b = i;
  return b;
}

/* One forward: pend, then the draft (verify), then m placeholders (fewer
 * near the end of the context).  Sets *n_slots. */
static int lud_forward(lud *l, dk_session *s, const dk_model_ref *m, dk_seq seq, size_t *n_slots,
                       dk_error *err) {
  const dk_host *h = l->h;
  dk_limits lim = {.struct_size = sizeof lim};
  int rc = h->session_limits(s, &lim);
  if (rc) return h->set_error(err, rc, "session limits");
  /* context_left counts from the committed text, pending tokens included;
   * the step may commit the draft, one more token and the slots' span. */
  size_t slots = l->m;
  if (lim.context_left >= 0) {
    size_t left = lim.context_left > 0 ? (size_t)lim.context_left - 1 : 0;
    if (l->n_draft > left) l->n_draft = left;
    left -= l->n_draft;
    if (slots > left) slots = left;
  }
  size_t n_real = l->n_pend + l->n_draft;
  memcpy(l->in, l->pend, l->n_pend * sizeof *l->in);
  memcpy(l->in + l->n_pend, l->draft, l->n_draft * sizeof *l->in);
  for (size_t k = 0; k < slots; k++) l->in[n_real + k] = l->ph;
  *n_slots = slots;
  if (n_real + slots == 0) return DK_OK;
  h->metric_add(s, "lud_forwards", 1);
  return m->iface->eval(m->inst, seq, l->in, n_real + slots, l->rows, DK_EVAL_ALL_LOGITS, err);
}

/* The AR row after the committed text: the last pending row, or the prompt's. */
static const float *ar_row(const lud *l) {
  return l->n_pend ? l->rows + (l->n_pend - 1) * l->n_vocab : l->first;
}

static int lud_step_plain(lud *l, dk_session *s, dk_error *err) {
  const dk_host *h = l->h;
  const dk_model_ref *m = h->session_model(s);
  dk_seq seq = h->session_seq(s);
  size_t base = m->iface->seq_len(m->inst, seq), slots;
  int rc = lud_forward(l, s, m, seq, &slots, err);
  if (rc) return rc;
  /* The placeholder rows go; the pending tokens are now real in the cache. */
  if (slots && (rc = m->iface->truncate(m->inst, seq, base + l->n_pend, err))) return rc;
  dk_token span[LUD_MAX_M + 1];
  dk_token_logprob lp[LUD_MAX_M + 1];
  for (size_t i = 0; i <= slots; i++) lp[i] = (dk_token_logprob){.struct_size = sizeof lp[0]};
  const float *ar = ar_row(l);
  rc = h->session_sample_ex(s, NULL, ar, NULL, 0, &span[0], &lp[0], err);
  if (rc) return rc;
  if (span[0] < 0 || (size_t)span[0] >= l->n_vocab) return h->set_error(err, DK_ERR_INVALID, "sampler chose no token");
  size_t n = 1;
  const float *slot0 = l->rows + l->n_pend * l->n_vocab;
  for (size_t k = 0; k < slots; k++) {
    dk_token t;
    dk_token_logprob tl = {.struct_size = sizeof tl};
    rc = h->session_sample_ex(s, NULL, slot0 + k * l->n_vocab, span, n, &t, &tl, err);
    if (rc) return rc;
    double conf = row_prob(slot0 + k * l->n_vocab, l->n_vocab, t);
    if (lud_accept(&conf, &t, 1, span[n - 1], l->beta) == 0) break;
    span[n] = t;
    lp[n++] = tl;
  }
  h->metric_add(s, "lud_extra", (double)(n - 1));
  memcpy(l->pend, span, n * sizeof *span);
  l->n_pend = n;
  return h->commit_ex(s, NULL, span, n, lp, err);
}

/* verify: rows [0, n_pend) are the committed tokens, [n_pend, n_pend + n_draft)
 * the draft as real tokens, then the slots. */
static int lud_step_verify(lud *l, dk_session *s, dk_error *err) {
  const dk_host *h = l->h;
  const dk_model_ref *m = h->session_model(s);
  dk_seq seq = h->session_seq(s);
  size_t base = m->iface->seq_len(m->inst, seq), slots;
  int rc = lud_forward(l, s, m, seq, &slots, err);
  if (rc) return rc;
  dk_token out[LUD_MAX_M + 1];
  dk_token_logprob lp[LUD_MAX_M + 1];
  size_t n = 0;
  const float *row = ar_row(l);
  for (;;) {
    lp[n] = (dk_token_logprob){.struct_size = sizeof lp[0]};
    rc = h->session_sample_ex(s, NULL, row, out, n, &out[n], &lp[n], err);
    if (rc) return rc;
    if (out[n] < 0 || (size_t)out[n] >= l->n_vocab) return h->set_error(err, DK_ERR_INVALID, "sampler chose no token");
    if (n < l->n_draft && out[n] == l->draft[n]) {
      row = l->rows + (l->n_pend + n) * l->n_vocab;
      n++;
      continue;
    }
    n++;
    break;
  }
  size_t kept = n - 1; /* draft tokens that are now real context */
  h->metric_add(s, "lud_drafted", (double)l->n_draft);
  h->metric_add(s, "lud_accepted", (double)kept);
  /* Slots follow real text only when the whole draft was taken. */
  size_t nd = 0;
  if (kept == l->n_draft) {
    const float *slot0 = l->rows + (l->n_pend + l->n_draft) * l->n_vocab;
    dk_token prev = out[n - 1];
    for (size_t k = 0; k < slots; k++) {
      const float *r = slot0 + k * l->n_vocab;
      dk_token t = (dk_token)argmax(r, l->n_vocab);
      double conf = row_prob(r, l->n_vocab, t);
      if (lud_accept(&conf, &t, 1, prev, l->beta) == 0) break;
      l->draft[nd++] = prev = t;
    }
  }
  if ((rc = m->iface->truncate(m->inst, seq, base + l->n_pend + kept, err))) return rc;
  l->n_draft = nd;
  l->pend[0] = out[n - 1];
  l->n_pend = 1;
  return h->commit_ex(s, NULL, out, n, lp, err);
}

static int lud_step(void *inst, dk_session *s, dk_error *err) {
  lud *l = inst;
  return l->verify ? lud_step_verify(l, s, err) : lud_step_plain(l, s, err);
}

static void lud_end(void *inst, dk_session *s) {
  (void)s;
  lud_release(inst);
}

static const dk_decoder_iface lud_iface = {
    .hdr = {.struct_size = sizeof(dk_decoder_iface),
            .kind = DK_KIND_DECODER,
            .name = "lud",
            .version = "1.0.0",
            .summary = "Lexical Unit Decoding: the AR token plus the confident run of m placeholder "
                       "slots per forward, on a model fine-tuned for it",
            .params = lud_params,
            .param_stride = sizeof(dk_param_spec),
            .caps = DK_CAP_INSTANCE_MT},
    .create = lud_create,
    .destroy = lud_destroy,
    .begin = lud_begin,
    .step = lud_step,
    .end = lud_end,
};

static const dk_iface_header *const components[] = {&lud_iface.hdr};

static const dk_plugin_desc desc = {
    DK_PLUGIN_DESC_HEAD, "lud", "1.0.0", components, 1, NULL, NULL,
};

DK_PLUGIN_ENTRY(lud) { return &desc; }
