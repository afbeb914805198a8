/* fuzz_regex.c -- fuzz target: a regex (up to a NUL) to GBNF, which must parse, then a matcher walk. */
#include "fuzz.h"
#include "walk.h"

#include <stdlib.h>
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
  size_t plen = nul ? (size_t)(nul - data) : size;
  const uint8_t *walk = nul ? nul + 1 : data + size;
  char *pattern = malloc(plen + 1);
  if (!pattern) return 0;
  memcpy(pattern, data, plen);
  pattern[plen] = '\0';
  char err[512];
  char *gbnf = dkg_regex_to_gbnf(pattern, err, sizeof err);
  free(pattern);
  if (!gbnf) return 0;
  /* Whatever the converter accepts must come out as valid GBNF. */
  dkg_matcher_free(fuzz_walk(gbnf, strlen(gbnf), 1, walk, (size_t)(data + size - walk)));
  free(gbnf);
  return 0;
}
