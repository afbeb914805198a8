/* logit_bias.c -- add fixed biases to chosen tokens, named by id or by their exact text. */
#include "sampler_common.h"

#include <errno.h>

typedef struct bias_entry {
  dk_token tok;
  float bias;
} bias_entry;

typedef struct logit_bias_inst {
  bias_entry *e;
  size_t n;
} logit_bias_inst;

static const dk_param_spec logit_bias_params[] = {
    {"bias", DK_PARAM_LIST, 0, NULL, 0, 0,
     "List of \"TOKEN_ID:VALUE\" entries: VALUE is added to that token's logit. VALUE is a decimal "
     "number or -inf (which bans the token); +inf and NaN are refused. Entries for the same token add "
     "up. Default: empty."},
    {"text_bias", DK_PARAM_LIST, 0, NULL, 0, 0,
     "List of \"TEXT:VALUE\" entries (split at the last colon, so TEXT may contain colons). VALUE goes "
     "to every token whose decoded piece is byte for byte equal to TEXT; nothing is tokenized, so a "
     "word that the model spells with a leading space needs that space (\" the:-2\"). A TEXT that "
     "matches no token is an error. Default: empty."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static void logit_bias_destroy(void *inst) {
  logit_bias_inst *s = inst;
  if (s == NULL) return;
  free(s->e);
  free(s);
}

/* Parse VALUE; 0 on success. */
static int parse_value(const char *str, float *out) {
  char *end;
  errno = 0;
  double v = strtod(str, &end);
  if (end == str || *end != '\0' || errno == ERANGE) return -1;
  if (isnan(v) || (isinf(v) && v > 0)) return -1;
  *out = (float)v;
  return 0;
}

static int push(logit_bias_inst *s, size_t *cap, dk_token tok, float bias) {
  if (dks_reserve((void **)&s->e, cap, s->n + 1, sizeof *s->e) != 0) return -1;
  s->e[s->n].tok = tok;
  s->e[s->n].bias = bias;
  s->n++;
  return 0;
}

static int logit_bias_create(const dk_host *host, const dk_create_info *ci, void **inst, dk_error *err) {
  logit_bias_inst *s = calloc(1, sizeof *s);
  size_t cap = 0;
  const dk_vocab *v = ci->vocab;
  int rc = DK_OK;
  if (s == NULL) return host->set_error(err, DK_ERR_NOMEM, "logit_bias: out of memory");
  size_t nb = host->cfg_list_len(ci->config, "bias");
  for (size_t i = 0; i < nb && rc == DK_OK; i++) {
    const char *item = host->cfg_list_item(ci->config, "bias", i);
    char *end;
    errno = 0;
    long id = strtol(item, &end, 10);
    float val;
    if (end == item || *end != ':' || errno == ERANGE || id < 0 || id > INT32_MAX ||
        parse_value(end + 1, &val) != 0)
      rc = host->set_error(err, DK_ERR_INVALID,
                           "logit_bias: bias entry \"%s\" is not TOKEN_ID:VALUE (VALUE finite or -inf)",
                           item);
    else if (v != NULL && id >= v->n_vocab)
      rc = host->set_error(err, DK_ERR_INVALID, "logit_bias: token %ld is outside the vocabulary (%d tokens)",
                           id, (int)v->n_vocab);
    else if (push(s, &cap, (dk_token)id, val) != 0)
      rc = host->set_error(err, DK_ERR_NOMEM, "logit_bias: out of memory");
  }
  size_t nt = host->cfg_list_len(ci->config, "text_bias");
  for (size_t i = 0; i < nt && rc == DK_OK; i++) {
    const char *item = host->cfg_list_item(ci->config, "text_bias", i);
    const char *colon = strrchr(item, ':');
    float val;
    if (colon == NULL || colon == item || parse_value(colon + 1, &val) != 0) {
      rc = host->set_error(err, DK_ERR_INVALID,
                           "logit_bias: text_bias entry \"%s\" is not TEXT:VALUE (VALUE finite or -inf)",
                           item);
      break;
    }
    if (v == NULL || v->piece == NULL || v->piece_len == NULL) {
      rc = host->set_error(err, DK_ERR_INVALID, "logit_bias: text_bias needs the model's vocabulary");
      break;
    }
    const size_t len = (size_t)(colon - item);
    size_t found = 0;
    for (int32_t t = 0; t < v->n_vocab && rc == DK_OK; t++) {
      if (v->piece_len[t] != len || memcmp(v->piece[t], item, len) != 0) continue;
      found++;
      if (push(s, &cap, t, val) != 0) rc = host->set_error(err, DK_ERR_NOMEM, "logit_bias: out of memory");
    }
    if (rc == DK_OK && found == 0)
      rc = host->set_error(err, DK_ERR_INVALID, "logit_bias: no token's text is exactly \"%.*s\"",
                           (int)len, item);
  }
  if (rc != DK_OK) {
    logit_bias_destroy(s);
    return rc;
  }
  *inst = s;
  return DK_OK;
}

static int logit_bias_apply(void *inst, const dk_sample_ctx *ctx, dk_candidates *cand, dk_error *err) {
  const logit_bias_inst *s = inst;
  (void)ctx;
  (void)err;
  if (s->n == 0 || cand->n == 0) return DK_OK;
  int scan = 0;
  for (size_t i = 0; i < s->n; i++) {
    dk_token t = s->e[i].tok;
    /* a fresh logits row holds token t at index t: no search needed */
    if ((size_t)t < cand->n && cand->data[t].id == t)
      cand->data[t].logit += s->e[i].bias;
    else
      scan = 1;
  }
  if (scan) {
    for (size_t j = 0; j < cand->n; j++) {
      dk_token id = cand->data[j].id;
      for (size_t i = 0; i < s->n; i++) {
        dk_token t = s->e[i].tok;
        if (t == id && !((size_t)t < cand->n && cand->data[t].id == t)) cand->data[j].logit += s->e[i].bias;
      }
    }
  }
  cand->flags &= ~(DK_CAND_SORTED | DK_CAND_SOFTMAXED);
  return DK_OK;
}

static int logit_bias_clone(const void *inst, void **out, dk_error *err) {
  const logit_bias_inst *s = inst;
  logit_bias_inst *c = calloc(1, sizeof *c);
  (void)err;
  if (c == NULL) return DK_ERR_NOMEM;
  c->e = dks_memdup(s->e, s->n * sizeof *s->e);
  if (c->e == NULL) {
    free(c);
    return DK_ERR_NOMEM;
  }
  c->n = s->n;
  *out = c;
  return DK_OK;
}

static const dk_sampler_iface logit_bias_iface = {
    DKS_HEADER("logit_bias", "add fixed biases to tokens given by id or by exact text", logit_bias_params),
    logit_bias_create, logit_bias_destroy, logit_bias_apply, NULL, NULL, logit_bias_clone};

DKS_PLUGIN(logit_bias, logit_bias_iface)
