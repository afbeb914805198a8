/* fuzz_gbnf.c -- fuzz target: GBNF text (up to a NUL), compiled and walked with the bytes after it. */
#include "fuzz.h"
#include "walk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *walk;
  size_t n_walk, len = fuzz_split(data, size, &walk, &n_walk);
  dkg_matcher_free(fuzz_walk((const char *)data, len, 0, walk, n_walk));
  return 0;
}
