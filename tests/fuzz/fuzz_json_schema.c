/* fuzz_json_schema.c -- fuzz target: a JSON Schema to GBNF, which must parse, then a matcher walk. */
#include "fuzz.h"
#include "walk.h"

#include <stdlib.h>
#include <string.h>

/* The first byte picks the whitespace mode; the schema runs to a NUL, the
 * walk follows it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int ws = data[0] & 1 ? DKG_WS_FLEXIBLE : DKG_WS_NONE;
  const uint8_t *walk;
  size_t n_walk, len = fuzz_split(data + 1, size - 1, &walk, &n_walk);
  char err[512];
  char *gbnf = dkg_json_schema_to_gbnf((const char *)data + 1, len, ws, err, sizeof err);
  if (!gbnf) return 0;
  dkg_matcher_free(fuzz_walk(gbnf, strlen(gbnf), 1, walk, n_walk));
  free(gbnf);
  return 0;
}
