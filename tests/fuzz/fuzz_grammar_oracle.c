/* fuzz_grammar_oracle.c -- fuzz target: the matcher against a direct checker on balanced parentheses. */
/*
 * The grammar fixture of METHODS section 19.5: for the language of balanced
 * parentheses with atoms, a prefix can still be completed exactly when its
 * depth never went negative, and it is complete exactly when the depth is
 * back to zero.  Fuzz bytes become '(' ')' 'x' and every prefix is checked
 * against that ground truth, byte by byte.
 */
#include "fuzz.h"
#include "walk.h"

#include <string.h>

static const char k_grammar[] = "root ::= p*\np ::= \"(\" p* \")\" | \"x\"\n";
static dkg_engine *engine;

/* Built on the first input: walk.c's LLVMFuzzerInitialize is the family's. */
static void build_engine(void) {
  char err[256];
  dkg_grammar *g;
  if (dkg_grammar_parse(k_grammar, strlen(k_grammar), &g, err, sizeof err))
    fuzz_fail("fixture grammar: %s", err);
  engine = dkg_engine_new(g, fuzz_vocab(), err, sizeof err);
  dkg_grammar_free(g);
  if (!engine) fuzz_fail("fixture grammar: %s", err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char alphabet[3] = {'(', ')', 'x'};
  /* An engine keeps every matcher's history nodes until it is released
   * (forks share them), so one engine for millions of inputs would grow
   * without bound: start a fresh one every 4096 inputs. */
  static unsigned uses;
  if (engine && ++uses % 4096 == 0) {
    dkg_engine_release(engine);
    engine = NULL;
  }
  if (!engine) build_engine();
  dkg_matcher *m = dkg_matcher_new(engine);
  if (!m) return 0;
  long depth = 0;
  for (size_t i = 0; i < size && i < 256; i++) {
    char c = alphabet[data[i] % 3];
    long next = depth + (c == '(') - (c == ')');
    int viable = next >= 0;
    int viable_m = dkg_matcher_accepts_bytes(m, &c, 1) != 0;
    if (viable != viable_m)
      fuzz_fail("after %zu bytes, '%c': checker says %s, matcher says %s", i, c,
                viable ? "viable" : "dead", viable_m ? "viable" : "dead");
    int rc = dkg_matcher_advance_bytes(m, &c, 1);
    if ((rc == 0) != viable) fuzz_fail("advance_bytes('%c') returned %d at depth %ld", c, rc, depth);
    if (!viable) break;
    depth = next;
    if ((depth == 0) != (dkg_matcher_is_complete(m) != 0))
      fuzz_fail("depth %ld after %zu bytes but is_complete is %d", depth, i + 1,
                dkg_matcher_is_complete(m));
  }
  dkg_matcher_free(m);
  return 0;
}
