/* chain.h -- a pipeline's sampler chain: instances in order, applied, then a selection. */
#ifndef DK_CORE_CHAIN_H
#define DK_CORE_CHAIN_H

#include <decokit/plugin.h>

#include "instance.h"
#include "pipeline.h"

typedef struct dk_chain {
  dk_instance **in;
  size_t n;
  const dk_pipeline *p; /* whose sampler blocks locate errors */
} dk_chain;

/* One instance per sampler block, on streams stream_base + i of seed. */
int dk_chain_init(dk_chain *c, const dk_pipeline *p, uint64_t seed, uint64_t stream_base,
                  const dk_vocab *vocab, dk_error *err);
void dk_chain_free(dk_chain *c);
/* Apply every sampler in order until one selects; errors name the sampler
 * and where its block was written. */
int dk_chain_apply(dk_chain *c, const dk_sample_ctx *ctx, dk_candidates *cand, dk_error *err);
/* The chosen token: the chain's selection, else greedy for an empty chain,
 * else a draw from the remaining candidates with rng. */
dk_token dk_chain_choose(const dk_chain *c, dk_candidates *cand, dk_rng *rng);
void dk_chain_accept(dk_chain *c, dk_token tok);

#endif
