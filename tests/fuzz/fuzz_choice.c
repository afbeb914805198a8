/* fuzz_choice.c -- fuzz target: choice options (one per line) to GBNF; every option must be accepted. */
#include "fuzz.h"
#include "walk.h"

#include <stdlib.h>
#include <string.h>

#define MAX_OPTIONS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = fuzz_text(data, size);
  if (!text) return 0;
  const char *opts[MAX_OPTIONS];
  size_t n = 0;
  for (char *s = text; n < MAX_OPTIONS;) {
    char *nl = strchr(s, '\n');
    if (nl) *nl = '\0';
    opts[n++] = s;
    if (!nl) break;
    s = nl + 1;
  }
  char err[512];
  char *gbnf = dkg_choice_to_gbnf(opts, n, err, sizeof err);
  if (gbnf) {
    dkg_matcher *m = fuzz_walk(gbnf, strlen(gbnf), 1, NULL, 0);
    /* The oracle: each option, as bytes, is a complete sentence. */
    for (size_t i = 0; m && i < n; i++) {
      size_t len = strlen(opts[i]);
      if (len == 0 || memchr(opts[i], '\0', len)) continue;
      dkg_matcher *f = dkg_matcher_fork(m);
      if (!f) break;
      if (dkg_matcher_advance_bytes(f, opts[i], len) != 0 || !dkg_matcher_is_complete(f))
        fuzz_fail("option %zu '%s' is not accepted by its own choice grammar", i, opts[i]);
      dkg_matcher_free(f);
    }
    dkg_matcher_free(m);
    free(gbnf);
  }
  free(text);
  return 0;
}
