/* penalties.c -- repetition, frequency and presence penalties over the last tokens of the context. */
#include "sampler_common.h"

typedef struct penalties_inst {
  const dk_host *host;
  int64_t last_n;
  float repeat, freq, present;
  int32_t *count; /* scratch: occurrences per token id, all zero between calls */
  size_t cap;
} penalties_inst;

static const dk_param_spec penalties_params[] = {
    {"last_n", DK_PARAM_INT, DK_PARAM_MIN, "64", -1, 0,
     "How many of the most recent context tokens (prompt and generated) are counted. -1 means the "
     "whole context, 0 disables the sampler. Default 64, as in llama.cpp."},
    {"repeat", DK_PARAM_DOUBLE, DK_PARAM_MIN, "1.0", 0, 0,
     "Repetition penalty: a token seen in the window has its logit divided by repeat when positive and "
     "multiplied by it when negative, so it always becomes less likely. 1.0 means none; 1.1 is a "
     "common choice. Default 1.0, as in llama.cpp."},
    {"freq", DK_PARAM_DOUBLE, 0, "0.0", 0, 0,
     "Frequency penalty: subtract freq times the number of occurrences in the window from the logit. "
     "Default 0.0 (off), as in llama.cpp."},
    {"present", DK_PARAM_DOUBLE, 0, "0.0", 0, 0,
     "Presence penalty: subtract present from the logit of every token that occurs in the window at "
     "least once. Default 0.0 (off), as in llama.cpp."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static int penalties_create(const dk_host *host, const dk_create_info *ci, void **inst, dk_error *err) {
  penalties_inst *s = calloc(1, sizeof *s);
  if (s == NULL) return host->set_error(err, DK_ERR_NOMEM, "penalties: out of memory");
  s->host = host;
  s->last_n = host->cfg_int(ci->config, "last_n");
  s->repeat = (float)host->cfg_double(ci->config, "repeat");
  s->freq = (float)host->cfg_double(ci->config, "freq");
  s->present = (float)host->cfg_double(ci->config, "present");
  *inst = s;
  return DK_OK;
}

static void penalties_destroy(void *inst) {
  penalties_inst *s = inst;
  if (s == NULL) return;
  free(s->count);
  free(s);
}

static void penalize(const penalties_inst *s, dk_token_data *d, int32_t c) {
  if (d->logit <= 0)
    d->logit *= s->repeat;
  else
    d->logit /= s->repeat;
  d->logit -= (float)c * s->freq + s->present;
}

static int penalties_apply(void *inst, const dk_sample_ctx *ctx, dk_candidates *cand, dk_error *err) {
  penalties_inst *s = inst;
  if (s->last_n == 0 || (s->repeat == 1.0f && s->freq == 0.0f && s->present == 0.0f)) return DK_OK;
  if (ctx == NULL || ctx->n_tokens == 0 || cand->n == 0) return DK_OK;
  size_t start = 0;
  if (s->last_n > 0 && ctx->n_tokens > (uint64_t)s->last_n) start = ctx->n_tokens - (size_t)s->last_n;
  const dk_token *w = ctx->tokens + start;
  const size_t nw = ctx->n_tokens - start;

  dk_token max_id = -1;
  for (size_t i = 0; i < nw; i++)
    if (w[i] > max_id) max_id = w[i];
  if (max_id < 0) return DK_OK;
  if ((size_t)max_id >= s->cap) {
    size_t old = s->cap;
    if (dks_reserve((void **)&s->count, &s->cap, (size_t)max_id + 1, sizeof *s->count) != 0)
      return s->host->set_error(err, DK_ERR_NOMEM, "penalties: out of memory");
    memset(s->count + old, 0, (s->cap - old) * sizeof *s->count);
  }
  int identity = 1; /* are the window's tokens at data[id]?  true for a fresh logits row */
  for (size_t i = 0; i < nw; i++) {
    dk_token t = w[i];
    if (t < 0) continue;
    s->count[t]++;
    if ((size_t)t >= cand->n || cand->data[t].id != t) identity = 0;
  }
  if (identity) {
    /* O(window) instead of O(vocabulary): penalties usually run first, on the raw row */
    for (size_t i = 0; i < nw; i++) {
      dk_token t = w[i];
      if (t < 0 || s->count[t] == 0) continue;
      penalize(s, &cand->data[t], s->count[t]);
      s->count[t] = 0;
    }
  } else {
    for (size_t i = 0; i < cand->n; i++) {
      dk_token t = cand->data[i].id;
      if (t >= 0 && (size_t)t < s->cap && s->count[t] > 0) penalize(s, &cand->data[i], s->count[t]);
    }
    for (size_t i = 0; i < nw; i++)
      if (w[i] >= 0) s->count[w[i]] = 0;
  }
  cand->flags &= ~(DK_CAND_SORTED | DK_CAND_SOFTMAXED);
  return DK_OK;
}

static int penalties_clone(const void *inst, void **out, dk_error *err) {
  const penalties_inst *s = inst;
  penalties_inst *c = dks_memdup(s, sizeof *s);
  (void)err;
  if (c == NULL) return DK_ERR_NOMEM;
  /* the scratch array holds no state between calls, so the copy starts without one */
  c->count = NULL;
  c->cap = 0;
  *out = c;
  return DK_OK;
}

static const dk_sampler_iface penalties_iface = {
    DKS_HEADER("penalties", "repetition, frequency and presence penalties over the last tokens",
               penalties_params),
    penalties_create, penalties_destroy, penalties_apply, NULL, NULL, penalties_clone};

DKS_PLUGIN(penalties, penalties_iface)
