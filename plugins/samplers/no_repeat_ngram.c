/* no_repeat_ngram.c -- forbid any token that would repeat an n-gram already in the context. */
#include "sampler_common.h"

typedef struct no_repeat_ngram_inst {
  const dk_host *host;
  int64_t n;
  unsigned char *banned; /* scratch per token id, all zero between calls */
  size_t cap;
} no_repeat_ngram_inst;

static const dk_param_spec no_repeat_ngram_params[] = {
    {"n", DK_PARAM_INT, 0, "3", 0, 0,
     "n-gram size. A candidate is removed when it and the n - 1 tokens before it would form an n-gram "
     "that already occurs in the context (prompt and generated), as transformers' "
     "no_repeat_ngram_size does. n = 1 forbids every token seen before; n <= 0 disables the sampler. "
     "If no candidate with a finite logit would be left, the list is left unchanged. Default 3."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static int nrn_create(const dk_host *host, const dk_create_info *ci, void **inst, dk_error *err) {
  no_repeat_ngram_inst *s = calloc(1, sizeof *s);
  if (s == NULL) return host->set_error(err, DK_ERR_NOMEM, "no_repeat_ngram: out of memory");
  s->host = host;
  s->n = host->cfg_int(ci->config, "n");
  *inst = s;
  return DK_OK;
}

static void nrn_destroy(void *inst) {
  no_repeat_ngram_inst *s = inst;
  if (s == NULL) return;
  free(s->banned);
  free(s);
}

static int nrn_apply(void *inst, const dk_sample_ctx *ctx, dk_candidates *cand, dk_error *err) {
  no_repeat_ngram_inst *s = inst;
  if (s->n <= 0 || ctx == NULL || cand->n == 0) return DK_OK;
  const size_t n = (size_t)s->n, len = ctx->n_tokens;
  const dk_token *t = ctx->tokens;
  if (len < n) return DK_OK; /* no complete n-gram yet */
  const dk_token *tail = t + len - (n - 1); /* the n - 1 tokens a new token would follow */
  size_t n_banned = 0;
  for (size_t i = 0; i + n <= len; i++) {
    if (memcmp(t + i, tail, (n - 1) * sizeof *t) != 0) continue;
    dk_token b = t[i + n - 1];
    if (b < 0) continue;
    if ((size_t)b >= s->cap) {
      size_t old = s->cap;
      if (dks_reserve((void **)&s->banned, &s->cap, (size_t)b + 1, 1) != 0)
        return s->host->set_error(err, DK_ERR_NOMEM, "no_repeat_ngram: out of memory");
      memset(s->banned + old, 0, s->cap - old);
    }
    n_banned += !s->banned[b];
    s->banned[b] = 1;
  }
  if (n_banned == 0) return DK_OK;
  /* a ban must not leave only impossible (-inf) tokens behind */
  size_t keep = 0, keep_finite = 0;
  for (size_t i = 0; i < cand->n; i++) {
    dk_token id = cand->data[i].id;
    int ok = !(id >= 0 && (size_t)id < s->cap && s->banned[id]);
    keep += ok;
    keep_finite += ok && cand->data[i].logit > -INFINITY;
  }
  if (keep_finite > 0 && keep < cand->n) {
    size_t j = 0;
    for (size_t i = 0; i < cand->n; i++) {
      dk_token id = cand->data[i].id;
      if (!(id >= 0 && (size_t)id < s->cap && s->banned[id])) cand->data[j++] = cand->data[i];
    }
    cand->n = j;
    cand->flags &= ~DK_CAND_SOFTMAXED;
  }
  for (size_t i = 0; i + n <= len; i++)
    if (t[i + n - 1] >= 0 && (size_t)t[i + n - 1] < s->cap) s->banned[t[i + n - 1]] = 0;
  return DK_OK;
}

static int nrn_clone(const void *inst, void **out, dk_error *err) {
  no_repeat_ngram_inst *c = dks_memdup(inst, sizeof *c);
  (void)err;
  if (c == NULL) return DK_ERR_NOMEM;
  c->banned = NULL;
  c->cap = 0;
  *out = c;
  return DK_OK;
}

static const dk_sampler_iface no_repeat_ngram_iface = {
    DKS_HEADER("no_repeat_ngram", "forbid tokens that would repeat an n-gram of the context",
               no_repeat_ngram_params),
    nrn_create, nrn_destroy, nrn_apply, NULL, NULL, nrn_clone};

DKS_PLUGIN(no_repeat_ngram, no_repeat_ngram_iface)
