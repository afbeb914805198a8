/* dry.c -- DRY, "Don't Repeat Yourself": penalise tokens that would extend a repeat of earlier context. */
#include "sampler_common.h"

#define DRY_MAX_BREAKER_BYTES 40 /* longer breakers are cut, as llama.cpp does */
#define DRY_MAX_BREAKER_TOKENS 20

#define DRY_SINGLE 1u /* the piece contains a whole breaker: the token is a breaker by itself */
#define DRY_HEAD 2u   /* the piece ends with the start of a breaker that later tokens may finish */

typedef struct dry_inst {
  const dk_host *host;
  double multiplier, base;
  int64_t allowed, last_n;
  const dk_vocab *vocab;
  char **brk_text;
  size_t *brk_len, n_brk;
  uint8_t *brk_flag; /* per token id; NULL without a vocabulary or breakers */
  int32_t *z;        /* scratch */
  size_t z_cap;
  int32_t *maxrep; /* scratch per token id: longest repeat + 1 it would extend; zero between calls */
  size_t maxrep_cap;
} dry_inst;

static const char *const dry_default_breakers[] = {"\n", ":", "\"", "*"};

static const dk_param_spec dry_params[] = {
    {"multiplier", DK_PARAM_DOUBLE, DK_PARAM_MIN, "0.0", 0, 0,
     "Strength of the penalty. A candidate that would extend a repeat of n >= allowed_length tokens "
     "has multiplier * base^(n - allowed_length) subtracted from its logit. 0 disables the sampler; "
     "its author recommends about 0.8. Default 0.0, as in llama.cpp."},
    {"base", DK_PARAM_DOUBLE, DK_PARAM_MIN, "1.75", 1, 0,
     "Growth of the penalty with the repeat length (the exponent is capped so the penalty stays a "
     "finite float). Default 1.75, as in llama.cpp."},
    {"allowed_length", DK_PARAM_INT, DK_PARAM_MIN, "2", 0, 0,
     "Repeats shorter than this are free. Default 2, as in llama.cpp."},
    {"last_n", DK_PARAM_INT, DK_PARAM_MIN, "-1", -1, 0,
     "How many of the most recent context tokens (prompt and generated) are searched for repeats. "
     "-1 means the whole context, 0 disables the sampler. Default -1, as in llama.cpp."},
    {"breakers", DK_PARAM_LIST, 0, NULL, 0, 0,
     "Sequence breakers: strings that a repeat may not extend back across. They are matched against "
     "the token pieces of the vocabulary: a token whose piece contains a breaker is a breaker by itself "
     "(and is never penalised); a breaker may also span several consecutive tokens whose bytes spell "
     "it out (at most 20 tokens). Breakers longer than 40 bytes are cut to 40. When the list is not "
     "set it is [\"\\n\", \":\", \"\\\"\", \"*\"], as in llama.cpp; an empty list means no breakers."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static void dry_destroy(void *inst) {
  dry_inst *s = inst;
  if (s == NULL) return;
  for (size_t i = 0; i < s->n_brk; i++) free(s->brk_text[i]);
  free(s->brk_text);
  free(s->brk_len);
  free(s->brk_flag);
  free(s->z);
  free(s->maxrep);
  free(s);
}

static int contains(const char *hay, size_t hn, const char *needle, size_t nn) {
  if (nn == 0 || nn > hn) return 0;
  for (size_t i = 0; i + nn <= hn; i++)
    if (hay[i] == needle[0] && memcmp(hay + i, needle, nn) == 0) return 1;
  return 0;
}

/* Does the piece end with a proper prefix of the breaker? */
static int ends_with_start(const char *p, size_t pn, const char *b, size_t bn) {
  for (size_t j = 1; j < bn && j <= pn; j++)
    if (memcmp(p + pn - j, b, j) == 0) return 1;
  return 0;
}

static int dry_add_breaker(dry_inst *s, const char *text) {
  size_t len = strlen(text);
  if (len == 0) return 0;
  if (len > DRY_MAX_BREAKER_BYTES) len = DRY_MAX_BREAKER_BYTES;
  char *copy = malloc(len + 1);
  if (copy == NULL) return -1;
  memcpy(copy, text, len);
  copy[len] = '\0';
  s->brk_text[s->n_brk] = copy;
  s->brk_len[s->n_brk] = len;
  s->n_brk++;
  return 0;
}

static int dry_create(const dk_host *host, const dk_create_info *ci, void **inst, dk_error *err) {
  dry_inst *s = calloc(1, sizeof *s);
  if (s == NULL) return host->set_error(err, DK_ERR_NOMEM, "dry: out of memory");
  s->host = host;
  s->multiplier = host->cfg_double(ci->config, "multiplier");
  s->base = host->cfg_double(ci->config, "base");
  s->allowed = host->cfg_int(ci->config, "allowed_length");
  s->last_n = host->cfg_int(ci->config, "last_n");
  s->vocab = ci->vocab;
  const int set = host->cfg_is_set(ci->config, "breakers");
  const size_t n = set ? host->cfg_list_len(ci->config, "breakers") : 4;
  s->brk_text = calloc(n ? n : 1, sizeof *s->brk_text);
  s->brk_len = calloc(n ? n : 1, sizeof *s->brk_len);
  if (s->brk_text == NULL || s->brk_len == NULL) goto nomem;
  for (size_t i = 0; i < n; i++) {
    const char *b = set ? host->cfg_list_item(ci->config, "breakers", i) : dry_default_breakers[i];
    if (dry_add_breaker(s, b) != 0) goto nomem;
  }
  const dk_vocab *v = ci->vocab;
  if (s->n_brk > 0 && v != NULL && v->piece != NULL && v->piece_len != NULL && v->n_vocab > 0) {
    s->brk_flag = calloc((size_t)v->n_vocab, 1);
    if (s->brk_flag == NULL) goto nomem;
    for (int32_t t = 0; t < v->n_vocab; t++) {
      const char *p = v->piece[t];
      size_t pn = v->piece_len[t];
      for (size_t i = 0; i < s->n_brk; i++) {
        if (contains(p, pn, s->brk_text[i], s->brk_len[i])) {
          s->brk_flag[t] = DRY_SINGLE;
          break;
        }
        if (ends_with_start(p, pn, s->brk_text[i], s->brk_len[i])) s->brk_flag[t] = DRY_HEAD;
      }
    }
  }
  *inst = s;
  return DK_OK;
nomem:
  dry_destroy(s);
  return host->set_error(err, DK_ERR_NOMEM, "dry: out of memory");
}

static uint8_t flag_of(const dry_inst *s, dk_token t) {
  return (s->brk_flag != NULL && t >= 0 && t < s->vocab->n_vocab) ? s->brk_flag[t] : 0;
}

/* Tokens, most recent first: r(i) = tokens[n - 1 - i]. */
#define R(i) (toks[n_tok - 1 - (size_t)(i)])

/* If a breaker starts inside the piece of R(i) and the following tokens
 * R(i-1), R(i-2), ... finish it, return how many following tokens it used;
 * -1 when no breaker starts there. */
static long breaker_tail(const dry_inst *s, const dk_token *toks, size_t n_tok, size_t i) {
  const dk_vocab *v = s->vocab;
  const dk_token head = R(i);
  const char *p = v->piece[head];
  const size_t pn = v->piece_len[head];
  long best = -1;
  for (size_t b = 0; b < s->n_brk; b++) {
    const char *bt = s->brk_text[b];
    const size_t bn = s->brk_len[b];
    for (size_t j = 1; j < bn && j <= pn; j++) {
      if (memcmp(p + pn - j, bt, j) != 0) continue;
      size_t pos = j, used = 0;
      int ok = 1;
      while (ok && pos < bn) {
        used++;
        if (used > i || used > DRY_MAX_BREAKER_TOKENS) {
          ok = 0;
          break;
        }
        const dk_token q = R(i - used);
        if (q < 0 || q >= v->n_vocab) {
          ok = 0;
          break;
        }
        size_t qn = v->piece_len[q], cmp = bn - pos < qn ? bn - pos : qn;
        if (memcmp(v->piece[q], bt + pos, cmp) != 0) ok = 0;
        pos += cmp;
      }
      if (ok && (long)used > best) best = (long)used;
    }
  }
  return best;
}

static int dry_apply(void *inst, const dk_sample_ctx *ctx, dk_candidates *cand, dk_error *err) {
  dry_inst *s = inst;
  if (s->multiplier == 0 || s->base < 1 || s->last_n == 0) return DK_OK;
  if (ctx == NULL || cand->n == 0) return DK_OK;
  const dk_token *toks = ctx->tokens;
  const size_t n_tok = ctx->n_tokens;
  size_t n = n_tok;
  if (s->last_n > 0 && (uint64_t)s->last_n < n) n = (size_t)s->last_n;
  if (n <= (uint64_t)s->allowed) return DK_OK;

  /* 1. a repeat may not reach back across the most recent breaker */
  size_t rep_limit = n;
  for (size_t i = 0; i < n; i++) {
    uint8_t f = flag_of(s, R(i));
    if (f & DRY_SINGLE) {
      rep_limit = i;
      break;
    }
    if (f & DRY_HEAD) {
      long tail = breaker_tail(s, toks, n_tok, i);
      if (tail >= 0) {
        rep_limit = i - (size_t)tail;
        break;
      }
    }
  }
  if (rep_limit < (uint64_t)s->allowed) return DK_OK;

  /* 2. z[k] = length of the longest common prefix of R(0..) and R(k..):
   * how far the context's suffix also ends at position k (Z-algorithm, linear) */
  if (dks_reserve((void **)&s->z, &s->z_cap, n, sizeof *s->z) != 0)
    return s->host->set_error(err, DK_ERR_NOMEM, "dry: out of memory");
  int32_t *z = s->z;
  z[0] = (int32_t)n;
  size_t lo = 0, hi = 0; /* [lo, hi) is the rightmost match window found so far */
  for (size_t k = 1; k < n; k++) {
    size_t len = 0;
    if (k < hi) {
      len = hi - k;
      if ((size_t)z[k - lo] < len) len = (size_t)z[k - lo];
    }
    while (k + len < n && R(len) == R(k + len)) len++;
    z[k] = (int32_t)len;
    if (k + len > hi) {
      lo = k;
      hi = k + len;
    }
  }

  /* 3. the token that followed each earlier occurrence would extend the repeat */
  dk_token max_id = -1;
  for (size_t k = 1; k < n; k++)
    if (R(k - 1) > max_id) max_id = R(k - 1);
  if (max_id < 0) return DK_OK;
  if ((size_t)max_id >= s->maxrep_cap) {
    size_t old = s->maxrep_cap;
    if (dks_reserve((void **)&s->maxrep, &s->maxrep_cap, (size_t)max_id + 1, sizeof *s->maxrep) != 0)
      return s->host->set_error(err, DK_ERR_NOMEM, "dry: out of memory");
    memset(s->maxrep + old, 0, (s->maxrep_cap - old) * sizeof *s->maxrep);
  }
  int any = 0;
  for (size_t k = 1; k < n; k++) {
    size_t len = (size_t)z[k] < rep_limit ? (size_t)z[k] : rep_limit;
    dk_token t = R(k - 1);
    if (len < (uint64_t)s->allowed || t < 0) continue;
    if ((int32_t)len + 1 > s->maxrep[t]) s->maxrep[t] = (int32_t)len + 1;
    any = 1;
  }

  /* 4. penalise; the exponent cap keeps base^e below FLT_MAX */
  if (any) {
    int64_t max_exp = 0;
    if (s->base > 1.000001) max_exp = (int64_t)(88.7228391 / log(s->base));
    for (size_t i = 0; i < cand->n; i++) {
      dk_token id = cand->data[i].id;
      if (id < 0 || (size_t)id >= s->maxrep_cap || s->maxrep[id] == 0) continue;
      if (flag_of(s, id) & DRY_SINGLE) continue;
      int64_t e = (int64_t)s->maxrep[id] - 1 - s->allowed;
      if (max_exp > 0 && e > max_exp) e = max_exp;
      cand->data[i].logit -= (float)(s->multiplier * pow(s->base, (double)e));
    }
    cand->flags &= ~(DK_CAND_SORTED | DK_CAND_SOFTMAXED);
    for (size_t k = 1; k < n; k++)
      if (R(k - 1) >= 0) s->maxrep[R(k - 1)] = 0;
  }
  return DK_OK;
}

static int dry_clone(const void *inst, void **out, dk_error *err) {
  const dry_inst *s = inst;
  dry_inst *c = calloc(1, sizeof *c);
  (void)err;
  if (c == NULL) return DK_ERR_NOMEM;
  *c = *s;
  c->brk_text = NULL;
  c->brk_len = NULL;
  c->brk_flag = NULL;
  c->z = NULL;
  c->z_cap = 0;
  c->maxrep = NULL;
  c->maxrep_cap = 0;
  c->n_brk = 0;
  c->brk_text = calloc(s->n_brk ? s->n_brk : 1, sizeof *c->brk_text);
  c->brk_len = calloc(s->n_brk ? s->n_brk : 1, sizeof *c->brk_len);
  if (c->brk_text == NULL || c->brk_len == NULL) goto nomem;
  for (size_t i = 0; i < s->n_brk; i++)
    if (dry_add_breaker(c, s->brk_text[i]) != 0) goto nomem;
  if (s->brk_flag != NULL) {
    c->brk_flag = dks_memdup(s->brk_flag, (size_t)s->vocab->n_vocab);
    if (c->brk_flag == NULL) goto nomem;
  }
  *out = c;
  return DK_OK;
nomem:
  dry_destroy(c);
  return DK_ERR_NOMEM;
}

static const dk_sampler_iface dry_iface = {
    DKS_HEADER("dry", "DRY: penalise tokens that would extend a repeat of earlier text", dry_params),
    dry_create, dry_destroy, dry_apply, NULL, NULL, dry_clone};

DKS_PLUGIN(dry, dry_iface)
