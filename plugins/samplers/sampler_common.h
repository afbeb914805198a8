/* sampler_common.h -- small static helpers shared by the sampler plugins (each .so gets its own copy). */
#ifndef DK_SAMPLER_COMMON_H
#define DK_SAMPLER_COMMON_H

#include <decokit/plugin.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A private xoshiro256** stream.  Samplers draw their state once from the
 * host's per-instance stream at create(); keeping the state inside the
 * instance is what lets clone() continue the exact same stream and reset()
 * replay it, neither of which a borrowed host stream allows. */
typedef struct dks_rng {
  uint64_t s[4];
} dks_rng;

static inline uint64_t dks_splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static inline uint64_t dks_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline void dks_rng_seed(dks_rng *r, uint64_t seed) {
  for (int i = 0; i < 4; i++) r->s[i] = dks_splitmix64(&seed);
}

/* Seed from the instance's host stream when there is one, else from the seed. */
static inline void dks_rng_init(dks_rng *r, const dk_host *host, const dk_create_info *ci) {
  uint64_t seed = ci->seed;
  if (ci->rng != NULL && host->rng_u64 != NULL) seed = host->rng_u64(ci->rng);
  dks_rng_seed(r, seed);
}

static inline uint64_t dks_rng_next(dks_rng *r) {
  uint64_t *s = r->s;
  const uint64_t result = dks_rotl(s[1] * 5, 7) * 9;
  const uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = dks_rotl(s[3], 45);
  return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double dks_rng_uniform(dks_rng *r) {
  return (double)(dks_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Index of the highest logit; ties go to the lowest id, as the host's sort does. */
static inline size_t dks_argmax(const dk_candidates *c) {
  size_t best = 0;
  for (size_t i = 1; i < c->n; i++) {
    const dk_token_data *a = &c->data[i], *b = &c->data[best];
    if (a->logit > b->logit || (a->logit == b->logit && a->id < b->id)) best = i;
  }
  return best;
}

static inline float dks_max_logit(const dk_candidates *c) {
  if (c->n == 0) return -INFINITY;
  if (c->flags & DK_CAND_SORTED) return c->data[0].logit;
  float m = c->data[0].logit;
  for (size_t i = 1; i < c->n; i++)
    if (c->data[i].logit > m) m = c->data[i].logit;
  return m;
}

/* Draw an index from softmaxed candidates (p sums to 1) with uniform u in
 * [0, 1).  Zero-probability entries are never chosen. */
static inline int64_t dks_draw(const dk_candidates *c, double u) {
  double cum = 0;
  int64_t last = -1;
  for (size_t i = 0; i < c->n; i++) {
    if (!(c->data[i].p > 0)) continue;
    cum += c->data[i].p;
    last = (int64_t)i;
    if (cum > u) return last;
  }
  /* rounding left u above the total: the last positive entry takes it */
  return last >= 0 ? last : 0;
}

/* Scale logits by 1/t; t <= 0 keeps only the argmax (lowest id on ties). */
static inline void dks_apply_temp(dk_candidates *c, double t) {
  if (c->n == 0) return;
  if (t <= 0) {
    size_t i = dks_argmax(c);
    dk_token_data best = c->data[i];
    c->data[i] = c->data[0];
    c->data[0] = best;
    c->data[0].p = 1.0f;
    c->n = 1;
    c->flags = DK_CAND_SORTED | DK_CAND_SOFTMAXED;
    return;
  }
  const float tf = (float)t;
  for (size_t i = 0; i < c->n; i++) c->data[i].logit /= tf;
  /* a positive scale keeps the order but changes the distribution */
  c->flags &= ~DK_CAND_SOFTMAXED;
}

/* Grow a scratch buffer to hold at least `need` elements of `size` bytes. */
static inline int dks_reserve(void **buf, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return 0;
  size_t n = *cap ? *cap : 64;
  while (n < need) n *= 2;
  void *p = realloc(*buf, n * size);
  if (p == NULL) return -1;
  *buf = p;
  *cap = n;
  return 0;
}

static inline void *dks_memdup(const void *src, size_t n) {
  void *p = malloc(n ? n : 1);
  if (p != NULL && n) memcpy(p, src, n);
  return p;
}

/* Entropy in nats of softmaxed candidates. */
static inline double dks_entropy(const dk_candidates *c) {
  double entropy = 0;
  for (size_t i = 0; i < c->n; i++) {
    double p = c->data[i].p;
    if (p > 0) entropy -= p * log(p);
  }
  return entropy;
}

/* Drop softmaxed candidates with probability below cut, keeping the order;
 * when fewer than max(min_keep, 1) pass, the most likely ones survive instead. */
static inline void dks_keep_p_at_least(const dk_host *host, dk_candidates *c, float cut,
                                       size_t min_keep) {
  size_t count = 0;
  for (size_t i = 0; i < c->n; i++) count += c->data[i].p >= cut;
  size_t need = min_keep > 1 ? min_keep : 1;
  if (count < need) {
    host->cand_top(c, need < c->n ? need : c->n);
  } else {
    size_t j = 0;
    for (size_t i = 0; i < c->n; i++)
      if (c->data[i].p >= cut) c->data[j++] = c->data[i];
    c->n = j;
  }
  c->flags &= ~DK_CAND_SOFTMAXED;
}

/* The feedback loop both Mirostat versions share: mu starts at 2 * tau and,
 * once the host accepts the token the sampler drew, moves by
 * eta * (observed surprise - tau). */
typedef struct dks_mirostat {
  double tau, eta, mu;
  dks_rng rng, rng0;
  dk_token pending;        /* the token last selected, or -1 */
  double pending_surprise; /* its surprise in bits under the truncated distribution */
} dks_mirostat;

static inline void dks_mirostat_init(dks_mirostat *m, const dk_host *host, const dk_create_info *ci) {
  m->tau = host->cfg_double(ci->config, "tau");
  m->eta = host->cfg_double(ci->config, "eta");
  m->mu = 2 * m->tau;
  m->pending = -1;
  m->pending_surprise = 0;
  dks_rng_init(&m->rng, host, ci);
  m->rng0 = m->rng;
}

/* Draw from the truncated candidates and remember the choice for accept(). */
static inline void dks_mirostat_draw(dks_mirostat *m, const dk_host *host, dk_candidates *cand) {
  host->cand_softmax(cand);
  cand->selected = dks_draw(cand, dks_rng_uniform(&m->rng));
  const dk_token_data *d = &cand->data[cand->selected];
  m->pending = d->id;
  m->pending_surprise = -log2((double)d->p);
}

static inline void dks_mirostat_accept(dks_mirostat *m, dk_token tok) {
  if (m->pending >= 0 && tok == m->pending) m->mu -= m->eta * (m->pending_surprise - m->tau);
  m->pending = -1;
}

static inline void dks_mirostat_reset(dks_mirostat *m) {
  m->mu = 2 * m->tau;
  m->pending = -1;
  m->rng = m->rng0;
}

/* The iface header every sampler shares; only name, summary and params vary. */
#define DKS_HEADER(name_, summary_, params_)                                             \
  {                                                                                      \
    sizeof(dk_sampler_iface), DK_KIND_SAMPLER, name_, "1.0.0", summary_, params_,        \
        sizeof(dk_param_spec), DK_CAP_INSTANCE_MT                                        \
  }

/* The descriptor and entry point of a one-sampler library. */
#define DKS_PLUGIN(ident, iface_)                                                        \
  static const dk_iface_header *const ident##_components[] = {&(iface_).hdr};           \
  static const dk_plugin_desc ident##_desc = {DK_PLUGIN_DESC_HEAD, #ident, "1.0.0",      \
                                              ident##_components, 1, NULL, NULL};        \
  DK_PLUGIN_ENTRY(ident) { return &ident##_desc; }

#endif
