/* classifier.c -- scorer: log p(attribute) from a logistic head over the model's last hidden state (ACBS's prefix classifier). */
/*
 * The head file (written by tools/train/attribute.py; format in
 * models/README.md) holds w and b over the model's last-layer hidden
 * state after the final norm.  A hypothesis scores log sigmoid(w.h + b) on
 * the hidden row of its last token; trailing control tokens (an EOS that
 * ends a beam) are left out, so a finished hypothesis is judged on its text.
 * The file also carries a check sequence and the head's logit on it, which
 * the tests compare with what the model gives here.
 */
#include "hyp_cache.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const dk_param_spec classifier_params[] = {
    {"file", DK_PARAM_PATH, DK_PARAM_REQUIRED, NULL, 0, 0,
     "The head: a binary file of tools/train/attribute.py (weights over the model's hidden state, "
     "a bias and a check sequence), e.g. models/decokit-tiny-attr-lord-god.bin for decokit-tiny."},
    {"negate", DK_PARAM_BOOL, 0, "false", 0, 0,
     "Score log(1 - p) instead: steer away from the attribute."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static const char MAGIC[8] = {'D', 'K', 'C', 'L', 'S', 0, 0, 1};
#define MAX_EMBD 65536u
#define MAX_PROBE 4096u

typedef struct classifier {
  const dk_host *h;
  const dk_vocab *vocab;
  hc_cache cache;
  uint32_t n_embd, n_probe;
  float *w, bias;
  dk_token *probe;
  float probe_logit;
  int negate;
  size_t *n_text; /* hypothesis lengths without trailing control tokens */
  size_t cap;
  /* score_next's hypotheses: the context plus one candidate each */
  dk_token *next_toks;
  const dk_token **next_ptr;
  size_t *next_len, cap_toks, cap_next;
} classifier;

static void classifier_destroy(void *inst) {
  classifier *c = inst;
  if (!c) return;
  hc_free(&c->cache);
  free(c->w);
  free(c->probe);
  free(c->n_text);
  free(c->next_toks);
  free(c->next_ptr);
  free(c->next_len);
  free(c);
}

static int read_u32(FILE *f, uint32_t *v) {
  unsigned char b[4];
  if (fread(b, 1, 4, f) != 4) return -1;
  *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
  return 0;
}

static int read_f32(FILE *f, float *v) {
  uint32_t u;
  if (read_u32(f, &u)) return -1;
  memcpy(v, &u, sizeof *v);
  return isfinite(*v) ? 0 : -1;
}

static int load(classifier *c, const char *path, dk_error *err) {
  const dk_host *h = c->h;
  FILE *f = fopen(path, "rb");
  if (!f) return h->set_error(err, DK_ERR_IO, "key 'file': cannot open '%s'", path);
  char magic[8];
  int rc = DK_OK;
  if (fread(magic, 1, 8, f) != 8 || memcmp(magic, MAGIC, 8) != 0) {
    rc = h->set_error(err, DK_ERR_FORMAT, "key 'file': '%s' is not a classifier head", path);
  } else if (read_u32(f, &c->n_embd) || read_u32(f, &c->n_probe) || c->n_embd == 0 ||
             c->n_embd > MAX_EMBD || c->n_probe == 0 || c->n_probe > MAX_PROBE) {
    rc = h->set_error(err, DK_ERR_FORMAT, "key 'file': '%s' has a bad header", path);
  } else if (!(c->w = malloc(c->n_embd * sizeof *c->w)) ||
             !(c->probe = malloc(c->n_probe * sizeof *c->probe))) {
    rc = h->set_error(err, DK_ERR_NOMEM, "out of memory");
  } else {
    int bad = 0;
    for (uint32_t i = 0; i < c->n_embd && !bad; i++) bad = read_f32(f, &c->w[i]);
    bad = bad || read_f32(f, &c->bias);
    for (uint32_t i = 0; i < c->n_probe && !bad; i++) {
      uint32_t t;
      bad = read_u32(f, &t) || t >= (uint32_t)c->vocab->n_vocab;
      c->probe[i] = (dk_token)t;
    }
    bad = bad || read_f32(f, &c->probe_logit) || fgetc(f) != EOF;
    if (bad)
      rc = h->set_error(err, DK_ERR_FORMAT,
                        "key 'file': '%s' is truncated, too long or holds a bad value", path);
  }
  fclose(f);
  return rc;
}

static int classifier_create(const dk_host *h, const dk_create_info *ci, void **inst,
                             dk_error *err) {
  if (!ci->vocab || ci->vocab->n_vocab <= 0)
    return h->set_error(err, DK_ERR_INVALID, "needs the model's vocabulary");
  classifier *c = calloc(1, sizeof *c);
  if (!c) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  c->h = h;
  c->vocab = ci->vocab;
  c->negate = h->cfg_bool(ci->config, "negate");
  hc_init(&c->cache, h, HC_HIDDEN);
  int rc = load(c, h->cfg_string(ci->config, "file"), err);
  if (rc) {
    classifier_destroy(c);
    return rc;
  }
  *inst = c;
  return DK_OK;
}

/* log sigmoid(z), or log(1 - sigmoid(z)) when negated, without overflow. */
static double log_sigmoid(double z) { return z >= 0 ? -log1p(exp(-z)) : z - log1p(exp(z)); }

static int head_value(void *user, const hc_entry *parent, const dk_token *toks, size_t n_old,
                      size_t n_new, size_t n_prompt, const float *rows, double *value,
                      dk_error *err) {
  const classifier *c = user;
  (void)parent;
  (void)toks;
  (void)n_old;
  (void)n_new;
  (void)n_prompt;
  (void)err;
  double z = c->bias;
  for (uint32_t i = 0; i < c->n_embd; i++) z += (double)c->w[i] * (double)rows[i];
  *value = c->negate ? log_sigmoid(-z) : log_sigmoid(z);
  return DK_OK;
}

static int is_control(const classifier *c, dk_token t) {
  return t >= 0 && t < c->vocab->n_vocab && c->vocab->attr &&
         (c->vocab->attr[t] & DK_TOKEN_CONTROL);
}

static int classifier_score_batch(void *inst, dk_session *s, const dk_token *const *toks,
                                  const size_t *n, size_t n_hyps, size_t n_prompt, double *out,
                                  dk_error *err) {
  classifier *c = inst;
  const dk_host *h = c->h;
  if (!s) return h->set_error(err, DK_ERR_STATE, "needs a session: it reads the model's hidden states");
  const dk_model_ref *m = h->session_model(s);
  if (!(m->info->caps & DK_MODEL_CAP_HIDDEN))
    return h->set_error(err, DK_ERR_UNSUPPORTED,
                        "key 'file': the head reads hidden states, the model gives none (HID)");
  if ((uint32_t)m->info->n_embd != c->n_embd)
    return h->set_error(err, DK_ERR_INVALID,
                        "key 'file': the head reads %u hidden values, the model has %d",
                        c->n_embd, m->info->n_embd);
  if (n_hyps > c->cap) {
    size_t *p = realloc(c->n_text, n_hyps * sizeof *p);
    if (!p) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
    c->n_text = p;
    c->cap = n_hyps;
  }
  for (size_t i = 0; i < n_hyps; i++) {
    size_t k = n[i];
    while (k > n_prompt && is_control(c, toks[i][k - 1])) k--;
    c->n_text[i] = k;
  }
  return hc_score(&c->cache, s, m, toks, c->n_text, n_hyps, n_prompt, head_value, c, out, err);
}

static int classifier_score(void *inst, dk_session *s, const dk_token *toks, size_t n,
                            size_t n_prompt, double *out, dk_error *err) {
  const dk_token *const one[1] = {toks};
  return classifier_score_batch(inst, s, one, &n, 1, n_prompt, out, err);
}

/* The head reads the hidden row after the candidate, so each candidate is a
 * hypothesis of its own: all of them in one score_batch, which forks the
 * context once from the cache and evaluates one token per candidate. */
static int classifier_score_next(void *inst, dk_session *s, const dk_token *ctx, size_t n_ctx,
                                 size_t n_prompt, const dk_token *cands, size_t n_cands,
                                 double *out, dk_error *err) {
  classifier *c = inst;
  const dk_host *h = c->h;
  if (n_prompt > n_ctx)
    return h->set_error(err, DK_ERR_INVALID, "score_next: a context of %zu tokens with a prompt of %zu",
                        n_ctx, n_prompt);
  if (n_cands == 0) return DK_OK;
  size_t stride = n_ctx + 1;
  if (n_cands > SIZE_MAX / stride) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  if (n_cands * stride > c->cap_toks) {
    dk_token *t = realloc(c->next_toks, n_cands * stride * sizeof *t);
    if (!t) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
    c->next_toks = t;
    c->cap_toks = n_cands * stride;
  }
  if (n_cands > c->cap_next) {
    const dk_token **p = realloc(c->next_ptr, n_cands * sizeof *p);
    if (p) c->next_ptr = p;
    size_t *l = realloc(c->next_len, n_cands * sizeof *l);
    if (l) c->next_len = l;
    if (!p || !l) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
    c->cap_next = n_cands;
  }
  for (size_t i = 0; i < n_cands; i++) {
    if (cands[i] < 0 || cands[i] >= c->vocab->n_vocab)
      return h->set_error(err, DK_ERR_INVALID, "token %d is outside the model's vocabulary",
                          (int)cands[i]);
    dk_token *t = c->next_toks + i * stride;
    memcpy(t, ctx, n_ctx * sizeof *t);
    t[n_ctx] = cands[i];
    c->next_ptr[i] = t;
    c->next_len[i] = stride;
  }
  return classifier_score_batch(inst, s, c->next_ptr, c->next_len, n_cands, n_prompt, out, err);
}

static const struct dk_scorer_iface classifier_iface = {
    .hdr = {sizeof(struct dk_scorer_iface), DK_KIND_SCORER, "classifier", "1.0.0",
            "log p(attribute): a logistic head over the model's last hidden state (ACBS)",
            classifier_params, sizeof(dk_param_spec), DK_CAP_NEEDS_HIDDEN},
    .create = classifier_create,
    .destroy = classifier_destroy,
    .score = classifier_score,
    .score_batch = classifier_score_batch,
    .score_next = classifier_score_next,
};

static const dk_iface_header *const components[] = {&classifier_iface.hdr};
static const dk_plugin_desc desc = {DK_PLUGIN_DESC_HEAD, "classifier", "1.0.0", components, 1,
                                    NULL, NULL};
DK_PLUGIN_ENTRY(classifier) { return &desc; }
