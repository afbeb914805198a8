/* fuzz_gbnf.c -- fuzz target: GBNF text (up to a NUL), compiled and walked with the bytes after it. */
#include "fuzz.h"
#include "walk.h"

#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_vocab();
  return 0;
}

const char *fuzz_unavailable(void) { return NULL; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nul = memchr(data, 0, size);
  size_t glen = nul ? (size_t)(nul - data) : size;
  const uint8_t *walk = nul ? nul + 1 : data + size;
  dkg_matcher *m = fuzz_walk((const char *)data, glen, 0, walk, (size_t)(data + size - walk));
  dkg_matcher_free(m);
  return 0;
}
