/* walk.c -- the matcher walk shared by the GBNF, regex, JSON Schema and choice fuzz targets. */
#include "walk.h"

#include "fuzz.h"
#include "test_vocab.h"

#include <stdlib.h>
#include <string.h>

static dkg_vocab *vocab;

dkg_vocab *fuzz_vocab(void) {
  if (!vocab) {
    char err[256];
    tvocab *tv = tvocab_synthetic(600, 1);
    if (!tv) fuzz_fail("synthetic vocabulary");
    /* The engine's vocabulary copies the pieces. */
    vocab = dkg_vocab_new((const char *const *)tv->piece, tv->len, tv->n, tv->eos, tv->special,
                          err, sizeof err);
    tvocab_free(tv);
    if (!vocab) fuzz_fail("vocabulary: %s", err);
  }
  return vocab;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_vocab();
  return 0;
}

const char *fuzz_unavailable(void) { return NULL; }

size_t fuzz_split(const uint8_t *data, size_t size, const uint8_t **walk, size_t *n_walk) {
  const uint8_t *nul = memchr(data, 0, size);
  size_t len = nul ? (size_t)(nul - data) : size;
  *walk = nul ? nul + 1 : data + size;
  *n_walk = (size_t)(data + size - *walk);
  return len;
}

static int allowed(const uint32_t *bits, int32_t t) { return (bits[t >> 5] >> (t & 31)) & 1u; }

/* Word at a time: a bit-by-bit scan of the mask cost more than the step it checks. */
static int32_t count_allowed(const uint32_t *bits, size_t n_words) {
  int32_t n = 0;
  for (size_t w = 0; w < n_words; w++) n += __builtin_popcount(bits[w]);
  return n;
}

/* The token of the pick-th set bit (pick < count_allowed). */
static int32_t nth_allowed(const uint32_t *bits, int32_t pick) {
  size_t w = 0;
  for (;; w++) {
    int32_t c = __builtin_popcount(bits[w]);
    if (pick < c) break;
    pick -= c;
  }
  uint32_t x = bits[w];
  while (pick-- > 0) x &= x - 1; /* clear the lowest set bits before the one picked */
  return (int32_t)(w * 32) + __builtin_ctz(x);
}

dkg_matcher *fuzz_walk(const char *gbnf, size_t len, int must_parse, const uint8_t *walk,
                       size_t n_walk) {
  char err[512];
  dkg_grammar *g;
  if (dkg_grammar_parse(gbnf, len, &g, err, sizeof err)) {
    if (must_parse) fuzz_fail("generated GBNF does not parse: %s\n%.*s", err, (int)len, gbnf);
    return NULL;
  }
  dkg_vocab *v = fuzz_vocab();
  dkg_engine *e = dkg_engine_new(g, v, err, sizeof err);
  dkg_grammar_free(g);
  if (!e) return NULL;
  /* The stack cap is a documented limit: a lower one makes a grammar that
   * explodes hit it in milliseconds instead of seconds, so the fuzzer keeps
   * looking for crashes rather than waiting on the cap. */
  dkg_engine_set_max_stacks(e, 1u << 14);
  dkg_matcher *m = dkg_matcher_new(e);
  dkg_engine_release(e);
  if (!m) return NULL;
  int32_t nv = dkg_vocab_size(v);
  size_t n_words = ((size_t)nv + 31) / 32;
  uint32_t *bits = calloc(n_words, sizeof *bits);
  if (!bits) fuzz_fail("out of memory");
  for (size_t i = 0; i < n_walk && !dkg_matcher_is_finished(m); i++) {
    uint8_t b = walk[i];
    if (b >= 0xf8 && dkg_matcher_n_steps(m) > 0) {
      size_t back = (size_t)(b - 0xf7);
      size_t steps = dkg_matcher_n_steps(m);
      int rc = dkg_matcher_rollback(m, back);
      if ((rc == 0) != (back <= steps)) fuzz_fail("rollback(%zu) of %zu steps returned %d", back, steps, rc);
      continue;
    }
    if (b == 0xf0) {
      dkg_matcher *f = dkg_matcher_fork(m);
      if (f) {
        dkg_matcher_free(m);
        m = f;
      }
      continue;
    }
    int mrc = dkg_matcher_mask(m, bits);
    if (mrc == DKG_TOO_AMBIGUOUS) break; /* the refusal it documents, not a bug */
    if (mrc) fuzz_fail("mask failed (%d)", mrc);
    if (nv % 32 && (bits[n_words - 1] >> (nv % 32)))
      fuzz_fail("the mask sets bits past the vocabulary's %d tokens", nv);
    int32_t n_allowed = count_allowed(bits, n_words);
    if (allowed(bits, dkg_vocab_eos(v)) != (dkg_matcher_is_complete(m) != 0))
      fuzz_fail("EOS allowed %d but is_complete %d", allowed(bits, dkg_vocab_eos(v)),
                dkg_matcher_is_complete(m));
    /* A token the mask refuses must be refused by advance, state unchanged. */
    int32_t probe = (int32_t)(b * 7) % nv;
    if (!allowed(bits, probe)) {
      size_t steps = dkg_matcher_n_steps(m);
      if (dkg_matcher_advance(m, probe) == 0) fuzz_fail("token %d advanced but is masked out", probe);
      if (dkg_matcher_n_steps(m) != steps) fuzz_fail("a refused advance changed the state");
    }
    if (n_allowed == 0) break;
    int32_t t = nth_allowed(bits, (int32_t)(b % (uint32_t)n_allowed));
    int arc = dkg_matcher_advance(m, t);
    if (arc == DKG_TOO_AMBIGUOUS) break; /* the step passed the stack cap: a documented refusal */
    if (arc) fuzz_fail("token %d is in the mask but advance refused it", t);
  }
  free(bits);
  return m;
}
