/* fuzz_grammar_oracle.c -- fuzz target: the matcher and the whole-text checker against direct checkers (METHODS 19.5). */
/*
 * The first byte picks a fixture of oracle.c (balanced parentheses or the
 * tiny JSON subset); every later byte becomes a letter of its alphabet.  The
 * text is fed to a matcher byte by byte, every prefix checked against the
 * direct checker (viable, complete, dead), and then whole to the engine's
 * checker.  make check enumerates every short text (check_grammar_oracle);
 * this target reaches longer ones.
 */
#include "fuzz.h"
#include "oracle.h"
#include "walk.h"

#include <string.h>

#define MAX_TEXT 256

static dkg_engine *engines[ORACLE_N_FIXTURES];
static dkg_checker *checkers[ORACLE_N_FIXTURES];

/* Built on the first input: walk.c's LLVMFuzzerInitialize is the family's. */
static void build(size_t i) {
  char err[256];
  const oracle_fixture *f = &oracle_fixtures[i];
  if (!engines[i] && !(engines[i] = oracle_engine(f, fuzz_vocab(), err, sizeof err)))
    fuzz_fail("fixture %s: %s", f->name, err);
  if (!checkers[i] && !(checkers[i] = dkg_checker_new(f->gbnf, strlen(f->gbnf), err, sizeof err)))
    fuzz_fail("fixture %s: %s", f->name, err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  size_t which = data[0] % ORACLE_N_FIXTURES;
  const oracle_fixture *f = &oracle_fixtures[which];
  /* An engine keeps every matcher's history nodes until it is released
   * (forks share them), so one engine for millions of inputs would grow
   * without bound: start fresh ones every 4096 inputs. */
  static unsigned uses;
  if (++uses % 4096 == 0)
    for (size_t i = 0; i < ORACLE_N_FIXTURES; i++) {
      dkg_engine_release(engines[i]);
      dkg_checker_free(checkers[i]);
      engines[i] = NULL;
      checkers[i] = NULL;
    }
  build(which);
  char text[MAX_TEXT], msg[512];
  size_t n_alpha = strlen(f->alphabet), n = 0;
  for (size_t i = 1; i < size && n < MAX_TEXT; i++) text[n++] = f->alphabet[data[i] % n_alpha];
  dkg_matcher *m = dkg_matcher_new(engines[which]);
  if (!m) return 0;
  for (size_t i = 0; i < n; i++) {
    int state;
    if (oracle_step(f, m, text, i, &state, msg, sizeof msg)) fuzz_fail("%s", msg);
    if (state == ORACLE_DEAD) break;
  }
  dkg_matcher_free(m);
  if (oracle_whole(f, checkers[which], text, n, msg, sizeof msg)) fuzz_fail("%s", msg);
  return 0;
}
