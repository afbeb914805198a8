/* chain.c -- run sampler instances in the pipeline's order; the one place a token is chosen. */
#include "chain.h"

#include "candidates.h"
#include "error.h"
#include "plugin_proxy.h"

#include <math.h>
#include <stdlib.h>

int dk_chain_init(dk_chain *c, const dk_pipeline *p, uint64_t seed, uint64_t stream_base,
                  const dk_vocab *vocab, dk_error *err) {
  c->n = 0;
  c->p = p;
  c->in = p->n_samplers ? calloc(p->n_samplers, sizeof *c->in) : NULL;
  if (p->n_samplers && !c->in) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  for (size_t i = 0; i < p->n_samplers; i++) {
    int rc = dk_instance_create(p->samplers[i].comp, &p->samplers[i].cfg, seed, stream_base + i,
                                vocab, 1, &c->in[i], err);
    if (rc) return dk_block_error(p, &p->samplers[i], err);
    c->n = i + 1;
  }
  return DK_OK;
}

void dk_chain_free(dk_chain *c) {
  for (size_t i = 0; i < c->n; i++) dk_instance_destroy(c->in[i]);
  free(c->in);
  c->in = NULL;
  c->n = 0;
}

/* What a sampler left behind must be safe for the next one and for the host:
 * the same array, no more entries than it was given, a selection inside
 * them, and numbers that are numbers (-INFINITY is a removed token). */
static int check_after_apply(const dk_candidates *cand, dk_token_data *data, size_t n_before,
                             dk_error *err) {
  if (cand->data != data)
    return dk_error_set(err, DK_ERR_INTERNAL,
                        "apply replaced the candidate array (%s); samplers may only reorder it",
                        cand->data ? "with another pointer" : "with NULL");
  if (cand->n > n_before)
    return dk_error_set(err, DK_ERR_INTERNAL,
                        "apply left %zu candidates, more than the %zu it was given", cand->n,
                        n_before);
  if (cand->n == 0) return dk_error_set(err, DK_ERR_INTERNAL, "removed every candidate");
  if (cand->selected < -1 || cand->selected >= (int64_t)cand->n)
    return dk_error_set(err, DK_ERR_INTERNAL, "selected index %lld of %zu candidates",
                        (long long)cand->selected, cand->n);
  int probs = (cand->flags & DK_CAND_SOFTMAXED) != 0;
  for (size_t i = 0; i < cand->n; i++) {
    const dk_token_data *d = &cand->data[i];
    if (isnan(d->logit) || (isinf(d->logit) && d->logit > 0))
      return dk_error_set(err, DK_ERR_INTERNAL, "apply wrote a%s logit for token %d",
                          isnan(d->logit) ? " NaN" : "n infinite", d->id);
    if (probs && !isfinite(d->p))
      return dk_error_set(err, DK_ERR_INTERNAL, "apply wrote a%s probability for token %d",
                          isnan(d->p) ? " NaN" : "n infinite", d->id);
  }
  return DK_OK;
}

int dk_chain_apply(dk_chain *c, const dk_sample_ctx *ctx, dk_candidates *cand, dk_error *err) {
  dk_token_data *data = cand->data;
  for (size_t i = 0; i < c->n && cand->selected < 0; i++) {
    dk_instance *in = c->in[i];
    const dk_sampler_iface *si = (const dk_sampler_iface *)(const void *)in->comp->hdr;
    size_t n_before = cand->n;
    /* A positive code (even DK_DONE) would pass for success to the callers
     * and end generation without a word: it is an error here. */
    int rc = dk_plugin_status(si->apply(in->inst, ctx, cand, err), 0, err, "apply");
    if (rc == DK_OK) rc = check_after_apply(cand, data, n_before, err);
    if (rc) {
      /* Whatever the plugin left must not be read again. */
      cand->data = data;
      cand->n = cand->n <= n_before ? cand->n : n_before;
      cand->selected = -1;
      dk_error_ensure(err, rc, "apply");
      dk_error_prefix(err, "sampler '%s': ", in->comp->hdr->name);
      return c->p ? dk_block_error(c->p, &c->p->samplers[i], err) : err->code;
    }
  }
  return DK_OK;
}

dk_token dk_chain_choose(const dk_chain *c, dk_candidates *cand, dk_rng *rng) {
  if (cand->selected >= 0) return cand->data[cand->selected].id;
  if (c->n == 0) {
    /* No chain: greedy, ties to the lower id. */
    size_t best = 0;
    for (size_t i = 1; i < cand->n; i++)
      if (cand->data[i].logit > cand->data[best].logit ||
          (cand->data[i].logit == cand->data[best].logit && cand->data[i].id < cand->data[best].id))
        best = i;
    return cand->data[best].id;
  }
  /* A chain without a selector ends in a draw from what is left. */
  dk_cand_softmax(cand);
  double u = dk_rng_uniform(rng), acc = 0;
  for (size_t i = 0; i < cand->n; i++) {
    acc += cand->data[i].p;
    if (u < acc) return cand->data[i].id;
  }
  return cand->data[cand->n - 1].id;
}

void dk_chain_accept(dk_chain *c, dk_token tok) {
  for (size_t i = 0; i < c->n; i++) {
    const dk_sampler_iface *si = (const dk_sampler_iface *)(const void *)c->in[i]->comp->hdr;
    if (si->accept) si->accept(c->in[i]->inst, tok);
  }
}
