/* sampling.c -- the constraint mask and sampler chain over one row of logits, in a completion's or a branch's context. */
#include "session_impl.h"

#include "candidates.h"
#include "error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int dk_grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t nc = *cap ? *cap : 64;
  while (nc < need) {
    if (nc > SIZE_MAX / 2 / elem) return -1;
    nc *= 2;
  }
  void *t = realloc(*p, nc * elem);
  if (!t) return -1;
  *p = t;
  *cap = nc;
  return 0;
}

static int nan_logit(dk_error *err, size_t i) {
  return dk_error_set(err, DK_ERR_INVALID, "the model returned a NaN logit for token %zu", i);
}

static const struct dk_constraint_iface *constraint_iface(const dk_instance *in) {
  return (const struct dk_constraint_iface *)(const void *)in->comp->hdr;
}

/* The context the chain sees: committed tokens, then the branch's, then
 * extra.  Built in a buffer grown to fit, so no decoder-chosen length can
 * overflow it. */
static int build_ctx(dk_session *s, const dk_branch *b, const dk_token *extra, size_t n_extra,
                     dk_sample_ctx *sc, dk_error *err) {
  size_t nb = b ? b->n : 0;
  sc->struct_size = sizeof *sc;
  sc->n_prompt = s->n_prompt;
  if (!nb && !n_extra) {
    sc->tokens = s->toks;
    sc->n_tokens = s->n_toks;
    return DK_OK;
  }
  if (n_extra > SIZE_MAX / 4 - s->n_toks - nb ||
      dk_grow((void **)&s->ctx_buf, &s->cap_ctx, s->n_toks + nb + n_extra, sizeof *s->ctx_buf))
    return dk_error_set(err, DK_ERR_NOMEM, "out of memory for a context of %zu + %zu + %zu tokens",
                        s->n_toks, nb, n_extra);
  memcpy(s->ctx_buf, s->toks, s->n_toks * sizeof *s->toks);
  if (nb) memcpy(s->ctx_buf + s->n_toks, b->toks, nb * sizeof *b->toks);
  if (n_extra) memcpy(s->ctx_buf + s->n_toks + nb, extra, n_extra * sizeof *extra);
  sc->tokens = s->ctx_buf;
  sc->n_tokens = s->n_toks + nb + n_extra;
  return DK_OK;
}

/* Candidates from the allowed tokens only: walk set bits, skipping empty
 * words, so a narrow grammar costs little even at 128k tokens. */
static int masked_candidates(dk_session *s, dk_instance *con, const float *logits,
                             const dk_token *extra, size_t n_extra, dk_candidates *cand,
                             dk_error *err) {
  size_t nv = (size_t)s->run->info.n_vocab, k = 0;
  double t0 = dk_now();
  const struct dk_constraint_iface *ci = constraint_iface(con);
  /* The constraint state already holds committed (and branch) tokens; extra
   * tokens are advanced for the mask and rolled back after it. */
  /* EOS/EOT are not grammar text, as in commit and branch_extend. */
  size_t advanced = 0;
  int rc = DK_OK;
  for (size_t i = 0; i < n_extra && rc == DK_OK; i++) {
    if (dk_session_is_eos(s, extra[i])) continue;
    rc = ci->advance(con->inst, extra[i], err);
    if (rc == DK_OK) advanced++;
  }
  double tm = dk_now();
  if (rc == DK_OK) rc = ci->mask(con->inst, s->mask, err);
  double mask_s = dk_now() - tm;
  if (advanced) ci->rollback(con->inst, advanced, NULL);
  if (rc) {
    dk_error_ensure(err, rc, "constraint");
    dk_error_prefix(err, "constraint '%s': ", con->comp->hdr->name);
    return dk_block_error(s->run->p, s->run->p->constraint, err);
  }
  for (size_t w = 0; w < (nv + 31) / 32; w++) {
    uint32_t bits = s->mask[w];
    if (w == nv / 32) bits &= (1u << (nv % 32)) - 1u; /* no ids past the vocabulary */
    while (bits) {
      size_t i = w * 32 + (size_t)__builtin_ctz(bits);
      bits &= bits - 1;
      if (isnan(logits[i])) return nan_logit(err, i);
      cand->data[k++] = (dk_token_data){(dk_token)i, logits[i], 0.0f};
    }
  }
  s->out->t_constraint += dk_now() - t0;
  if (!dk_grow((void **)&s->out->mask_us, &s->cap_mask, s->out->n_mask + 1, sizeof(double)))
    s->out->mask_us[s->out->n_mask++] = mask_s * 1e6;
  if (k == 0) {
    dk_error_set(err, DK_ERR_STATE, "constraint '%s' allows no token after %zu tokens",
                 con->comp->hdr->name, s->n_generated);
    return dk_block_error(s->run->p, s->run->p->constraint, err);
  }
  cand->n = k;
  return DK_OK;
}

/* Constraint mask + sampler chain over one row of logits; leaves the final
 * candidates in s->cand_buf. */
static int run_chain(dk_session *s, dk_branch *b, const float *logits, const dk_token *extra,
                     size_t n_extra, dk_candidates *cand, dk_error *err) {
  if (!logits) return dk_error_set(err, DK_ERR_INVALID, "no logits given");
  int rc = dk_branch_check(s, b, err);
  if (!rc) rc = dk_session_check_ids(s, extra, n_extra, "extra", err);
  if (rc) return rc;
  size_t nv = (size_t)s->run->info.n_vocab;
  cand->data = s->cand_buf;
  cand->selected = -1;
  cand->flags = 0;
  dk_instance *con = b ? b->constraint : s->constraint;
  if (con) {
    rc = masked_candidates(s, con, logits, extra, n_extra, cand, err);
    if (rc) return rc;
  } else {
    for (size_t i = 0; i < nv; i++) {
      if (isnan(logits[i])) return nan_logit(err, i);
      cand->data[i] = (dk_token_data){(dk_token)i, logits[i], 0.0f};
    }
    cand->n = nv;
  }
  dk_sample_ctx sc;
  rc = build_ctx(s, b, extra, n_extra, &sc, err);
  if (rc) return rc;
  double t0 = dk_now();
  rc = dk_chain_apply(b ? &b->chain : &s->chain, &sc, cand, err);
  s->out->t_sample += dk_now() - t0;
  return rc;
}

int dk_session_sample_ex(dk_session *s, dk_branch *b, const float *logits, const dk_token *extra,
                         size_t n_extra, dk_token *out, dk_token_logprob *lp, dk_error *err) {
  dk_candidates cand;
  int rc = run_chain(s, b, logits, extra, n_extra, &cand, err);
  if (rc) return rc;
  dk_token chosen = dk_chain_choose(b ? &b->chain : &s->chain, &cand, &s->chain_rng);
  if (lp) {
    size_t sz = lp->struct_size ? lp->struct_size : sizeof *lp;
    dk_token_logprob v = {sizeof v,
                          (float)(logits[chosen] - dk_row_lse(logits, (size_t)s->run->info.n_vocab)),
                          dk_processed_logprob(s, &cand, chosen), NULL, NULL};
    memcpy(lp, &v, sz < sizeof v ? sz : sizeof v);
    lp->struct_size = (uint32_t)(sz < sizeof v ? sz : sizeof v);
  }
  /* A 1.0 commit gets these numbers only for this exact context. */
  if (!b && !n_extra && s->run->opts.record_logprobs) {
    dk_token_logprob full = {sizeof full, NAN, NAN, logits, &cand};
    rc = dk_record_fill(s, &s->pending, chosen, &full, err);
    if (rc) return rc;
    s->pending_pos = s->n_toks;
  }
  *out = chosen;
  return DK_OK;
}

int dk_session_distribution_ex(dk_session *s, dk_branch *b, const float *logits,
                               const dk_token *extra, size_t n_extra, dk_candidates *out,
                               dk_error *err) {
  if (!out || !out->data) return dk_error_set(err, DK_ERR_INVALID, "no candidate buffer given");
  dk_candidates cand;
  int rc = run_chain(s, b, logits, extra, n_extra, &cand, err);
  if (rc) return rc;
  cand.selected = -1;
  dk_cand_softmax(&cand);
  memcpy(out->data, cand.data, cand.n * sizeof *cand.data);
  out->n = cand.n;
  out->flags = cand.flags;
  out->selected = -1;
  return DK_OK;
}

int dk_session_sample(dk_session *s, const float *logits, const dk_token *extra, size_t n_extra,
                      dk_token *out, dk_error *err) {
  return dk_session_sample_ex(s, NULL, logits, extra, n_extra, out, NULL, err);
}

int dk_session_distribution(dk_session *s, const float *logits, dk_candidates *out,
                            dk_error *err) {
  return dk_session_distribution_ex(s, NULL, logits, NULL, 0, out, err);
}
