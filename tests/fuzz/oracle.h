/* oracle.h -- the grammar fixtures of METHODS 19.5 with direct checkers written without the grammar engine. */
#ifndef DK_FUZZ_ORACLE_H
#define DK_FUZZ_ORACLE_H

#include <stddef.h>

#include "grammar.h"

/* What a direct checker says about a text: no continuation makes it a
 * sentence, some continuation does, or it is a sentence already (a sentence
 * may still be continued). */
enum { ORACLE_DEAD, ORACLE_VIABLE, ORACLE_COMPLETE };

typedef struct oracle_fixture {
  const char *name;
  const char *gbnf;     /* the same language, for the engine */
  const char *alphabet; /* every byte the language uses */
  int (*check)(const char *s, size_t n);
} oracle_fixture;

/* Balanced parentheses with atoms, then a tiny JSON subset (objects, arrays,
 * strings of 'a', numbers over 0 and 1 without leading zeros, spaces). */
#define ORACLE_N_FIXTURES 2
extern const oracle_fixture oracle_fixtures[ORACLE_N_FIXTURES];

/* Compiles a fixture's grammar for vocab; on failure NULL and a message. */
dkg_engine *oracle_engine(const oracle_fixture *f, dkg_vocab *vocab, char *err, size_t errlen);

/* The matcher m has taken s[0..i) byte by byte; it now takes s[i] as one
 * step, and accepts_bytes, advance_bytes and is_complete must agree with
 * the direct checker on s[0..i].  *state gets the checker's answer (when it
 * is dead, m is unchanged).  Returns 0, or -1 with the disagreement in msg. */
int oracle_step(const oracle_fixture *f, dkg_matcher *m, const char *s, size_t i, int *state,
                char *msg, size_t msglen);
/* The engine's whole-text checker k (of f's grammar) must agree with the
 * direct checker on s: whether it is a sentence, and the offset of the first
 * byte that no sentence continues with (n if none).  0, or -1 and msg. */
int oracle_whole(const oracle_fixture *f, dkg_checker *k, const char *s, size_t n, char *msg,
                 size_t msglen);

#endif
