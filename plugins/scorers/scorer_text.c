/* scorer_text.c -- build a hypothesis' generated tokens and text once, and hand them to a text scorer's function. */
#include "scorer_text.h"

#include <stdlib.h>
#include <string.h>

int st_init(st_base *b, const dk_host *h, const dk_create_info *ci, st_fn fn, dk_error *err) {
  if (!ci->vocab || ci->vocab->n_vocab <= 0 || !ci->vocab->piece)
    return h->set_error(err, DK_ERR_INVALID, "needs the model's vocabulary");
  b->h = h;
  b->vocab = ci->vocab;
  b->fn = fn;
  for (int32_t t = 0; t < b->vocab->n_vocab; t++)
    if (b->vocab->piece_len[t] > b->max_piece) b->max_piece = b->vocab->piece_len[t];
  return DK_OK;
}

void st_free(st_base *b) {
  free(b->toks);
  free(b->text);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t nc = *cap ? *cap : 256;
  while (nc < need) nc *= 2;
  void *t = realloc(*p, nc * elem);
  if (!t) return -1;
  *p = t;
  *cap = nc;
  return 0;
}

static int is_text(const dk_vocab *v, dk_token t) {
  return t >= 0 && t < v->n_vocab && !(v->attr && (v->attr[t] & DK_TOKEN_CONTROL));
}

/* toks[n_prompt..n) without control tokens into b->toks, their pieces into
 * b->text, with room for one more token and its piece. */
static int build(st_base *b, const dk_token *toks, size_t n, size_t n_prompt, size_t *nt,
                 size_t *len, dk_error *err) {
  size_t k = 0, l = 0;
  for (size_t i = n_prompt; i < n; i++)
    if (is_text(b->vocab, toks[i])) l += b->vocab->piece_len[toks[i]];
  if (grow((void **)&b->toks, &b->cap_toks, n - n_prompt + 1, sizeof *b->toks) ||
      grow((void **)&b->text, &b->cap_text, l + b->max_piece + 1, 1))
    return b->h->set_error(err, DK_ERR_NOMEM, "out of memory");
  l = 0;
  for (size_t i = n_prompt; i < n; i++) {
    if (!is_text(b->vocab, toks[i])) continue;
    b->toks[k++] = toks[i];
    memcpy(b->text + l, b->vocab->piece[toks[i]], b->vocab->piece_len[toks[i]]);
    l += b->vocab->piece_len[toks[i]];
  }
  b->text[l] = '\0';
  *nt = k;
  *len = l;
  return DK_OK;
}

int st_score(void *inst, dk_session *s, const dk_token *toks, size_t n, size_t n_prompt,
             double *out, dk_error *err) {
  st_base *b = inst;
  (void)s;
  if (n_prompt > n) return b->h->set_error(err, DK_ERR_INVALID, "prompt longer than the hypothesis");
  size_t nt, len;
  int rc = build(b, toks, n, n_prompt, &nt, &len, err);
  if (rc) return rc;
  *out = b->fn(inst, b->toks, nt, b->text, len);
  return DK_OK;
}

int st_score_batch(void *inst, dk_session *s, const dk_token *const *toks, const size_t *n,
                   size_t n_hyps, size_t n_prompt, double *out, dk_error *err) {
  for (size_t i = 0; i < n_hyps; i++) {
    int rc = st_score(inst, s, toks[i], n[i], n_prompt, &out[i], err);
    if (rc) return rc;
  }
  return DK_OK;
}

int st_score_next(void *inst, dk_session *s, const dk_token *ctx, size_t n_ctx, size_t n_prompt,
                  const dk_token *cands, size_t n_cands, double *out, dk_error *err) {
  st_base *b = inst;
  (void)s;
  if (n_prompt > n_ctx) return b->h->set_error(err, DK_ERR_INVALID, "prompt longer than the context");
  size_t nt, len;
  int rc = build(b, ctx, n_ctx, n_prompt, &nt, &len, err);
  if (rc) return rc;
  for (size_t i = 0; i < n_cands; i++) {
    dk_token c = cands[i];
    if (!is_text(b->vocab, c)) {
      b->text[len] = '\0';
      out[i] = b->fn(inst, b->toks, nt, b->text, len);
      continue;
    }
    b->toks[nt] = c;
    memcpy(b->text + len, b->vocab->piece[c], b->vocab->piece_len[c]);
    b->text[len + b->vocab->piece_len[c]] = '\0';
    out[i] = b->fn(inst, b->toks, nt + 1, b->text, len + b->vocab->piece_len[c]);
  }
  return DK_OK;
}
