/* rng.h -- per-instance xoshiro256** streams derived from one seed. */
#ifndef DK_CORE_RNG_H
#define DK_CORE_RNG_H

#include <decokit/plugin.h>

struct dk_rng {
  uint64_t s[4];
};

/* Seed a stream from (seed, stream id): distinct ids give independent streams. */
void dk_rng_seed(dk_rng *rng, uint64_t seed, uint64_t stream);
uint64_t dk_rng_u64(dk_rng *rng);
double dk_rng_uniform(dk_rng *rng);

#endif
