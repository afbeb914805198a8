/* grammar_check.c -- whether a text is in a grammar's language, and where it leaves it */
#include "grammar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dkg_checker {
  dkg_engine *e;
};

dkg_checker *dkg_checker_new(const char *gbnf, size_t len, char *err, size_t errlen) {
  dkg_grammar *g;
  if (dkg_grammar_parse(gbnf, len, &g, err, errlen)) return NULL;
  /* texts are fed as bytes: the vocabulary only has to exist */
  static const char *const piece[] = {"</s>"};
  static const uint32_t plen[] = {4};
  dkg_vocab *v = dkg_vocab_new(piece, plen, 1, 0, NULL, err, errlen);
  dkg_checker *k = v ? calloc(1, sizeof *k) : NULL;
  if (k) k->e = dkg_engine_new(g, v, err, errlen);
  dkg_grammar_free(g);
  if (v) dkg_vocab_free(v);
  if (!k || !k->e) {
    if (!k && v) snprintf(err, errlen, "out of memory");
    free(k);
    return NULL;
  }
  return k;
}

void dkg_checker_free(dkg_checker *k) {
  if (!k) return;
  dkg_engine_release(k->e);
  free(k);
}

int dkg_checker_run(dkg_checker *k, const char *s, size_t n, size_t *fail_at) {
  dkg_matcher *m = dkg_matcher_new(k->e);
  if (!m) return -1;
  int rc = 1;
  size_t at = n;
  /* one step for the whole text; only a rejected text is fed again byte by byte to
   * find the first byte the language cannot continue with */
  if (dkg_matcher_advance_bytes(m, s, n)) {
    rc = 0;
    for (at = 0; at < n && dkg_matcher_advance_bytes(m, s + at, 1) == 0; at++) {
    }
  } else if (!dkg_matcher_is_complete(m)) {
    rc = 0;
  }
  dkg_matcher_free(m);
  if (fail_at) *fail_at = at;
  return rc;
}

int dkg_checker_next(dkg_checker *k, const char *s, size_t n, uint8_t allowed[256], int *can_end) {
  dkg_matcher *m = dkg_matcher_new(k->e);
  if (!m) return -1;
  int rc = dkg_matcher_advance_bytes(m, s, n);
  if (rc == 0) {
    for (unsigned b = 0; b < 256; b++) {
      char ch = (char)b;
      allowed[b] = (uint8_t)dkg_matcher_accepts_bytes(m, &ch, 1);
    }
    *can_end = dkg_matcher_is_complete(m);
  }
  dkg_matcher_free(m);
  return rc;
}
