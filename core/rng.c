/* rng.c -- xoshiro256** seeded through splitmix64, so plugins never need rand(). */
#include "rng.h"

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void dk_rng_seed(dk_rng *rng, uint64_t seed, uint64_t stream) {
  /* Mix the stream id in before expansion so neighbouring ids are unrelated. */
  uint64_t x = seed ^ (stream * 0xd1342543de82ef95ull + 0x2545f4914f6cdd1dull);
  for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t dk_rng_u64(dk_rng *rng) {
  uint64_t *s = rng->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double dk_rng_uniform(dk_rng *rng) {
  /* 53 random mantissa bits: uniform in [0, 1). */
  return (double)(dk_rng_u64(rng) >> 11) * 0x1.0p-53;
}
