/* walk.h -- compile GBNF and walk a matcher with fuzz bytes, checking the mask against advance. */
#ifndef DK_FUZZ_WALK_H
#define DK_FUZZ_WALK_H

#include <stddef.h>
#include <stdint.h>

#include "grammar.h"

/* The grammar targets' inputs are text, a NUL, then walk bytes: the length
 * of the text, and where the walk starts and how long it is. */
size_t fuzz_split(const uint8_t *data, size_t size, const uint8_t **walk, size_t *n_walk);
/* The synthetic test vocabulary (built once; walk.c's LLVMFuzzerInitialize
 * builds it before the first input). */
dkg_vocab *fuzz_vocab(void);
/* Parse gbnf (a grammar that fails to parse is fine unless must_parse),
 * compile it and take one step per walk byte: the byte picks an allowed
 * token (or, every few steps, a rollback or a fork).  Any disagreement
 * between the mask and advance/rollback is a finding.  Returns the matcher
 * after the walk (caller frees), or NULL if the grammar did not compile. */
dkg_matcher *fuzz_walk(const char *gbnf, size_t len, int must_parse, const uint8_t *walk,
                       size_t n_walk);

#endif
