/* fuzz_json_schema.c -- fuzz target: a JSON Schema to GBNF, which must parse, then a matcher walk. */
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

/* The first byte picks the whitespace mode; the schema runs to a NUL, the
 * walk follows it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int ws = data[0] & 1 ? DKG_WS_FLEXIBLE : DKG_WS_NONE;
  data++;
  size--;
  const uint8_t *nul = memchr(data, 0, size);
  size_t slen = nul ? (size_t)(nul - data) : size;
  const uint8_t *walk = nul ? nul + 1 : data + size;
  char err[512];
  char *gbnf = dkg_json_schema_to_gbnf((const char *)data, slen, ws, err, sizeof err);
  if (!gbnf) return 0;
  dkg_matcher_free(fuzz_walk(gbnf, strlen(gbnf), 1, walk, (size_t)(data + size - walk)));
  free(gbnf);
  return 0;
}
