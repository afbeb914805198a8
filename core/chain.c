/* chain.c -- run sampler instances in the pipeline's order; the one place a token is chosen. */
#include "chain.h"

#include "candidates.h"
#include "error.h"

#include <stdlib.h>

int dk_chain_init(dk_chain *c, const dk_pipeline *p, uint64_t seed, uint64_t stream_base,
                  const dk_vocab *vocab, dk_error *err) {
  c->n = 0;
  c->in = p->n_samplers ? calloc(p->n_samplers, sizeof *c->in) : NULL;
  if (p->n_samplers && !c->in) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  for (size_t i = 0; i < p->n_samplers; i++) {
    int rc = dk_instance_create(p->samplers[i].comp, &p->samplers[i].cfg, seed, stream_base + i,
                                vocab, 1, &c->in[i], err);
    if (rc) return rc;
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

int dk_chain_apply(dk_chain *c, const dk_sample_ctx *ctx, dk_candidates *cand, dk_error *err) {
  for (size_t i = 0; i < c->n && cand->selected < 0; i++) {
    dk_instance *in = c->in[i];
    const dk_sampler_iface *si = (const dk_sampler_iface *)(const void *)in->comp->hdr;
    int rc = si->apply(in->inst, ctx, cand, err);
    if (rc == DK_OK && cand->n == 0) rc = dk_error_set(err, DK_ERR_INTERNAL, "removed every candidate");
    if (rc == DK_OK && cand->selected >= (int64_t)cand->n)
      rc = dk_error_set(err, DK_ERR_INTERNAL, "selected index %lld of %zu candidates",
                        (long long)cand->selected, cand->n);
    if (rc) {
      dk_error_ensure(err, rc, "apply");
      return dk_error_prefix(err, "sampler '%s': ", in->comp->hdr->name);
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
