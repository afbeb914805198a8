/* fuzz_regex.c -- fuzz target: a regex (up to a NUL) to GBNF, which must parse, then a matcher walk. */
#include "fuzz.h"
#include "walk.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *walk;
  size_t n_walk, len = fuzz_split(data, size, &walk, &n_walk);
  char *pattern = fuzz_text(data, len);
  if (!pattern) return 0;
  char err[512];
  char *gbnf = dkg_regex_to_gbnf(pattern, err, sizeof err);
  free(pattern);
  if (!gbnf) return 0;
  /* Whatever the converter accepts must come out as valid GBNF. */
  dkg_matcher_free(fuzz_walk(gbnf, strlen(gbnf), 1, walk, n_walk));
  free(gbnf);
  return 0;
}
