/* choice_gbnf.c -- a list of strings as a grammar: exactly one of them */
#include "gbnf_text.h"
#include "grammar.h"

#include <stdio.h>
#include <string.h>

char *dkg_choice_to_gbnf(const char *const *options, size_t n, char *err, size_t errlen) {
  if (n == 0) {
    snprintf(err, errlen, "the list of options is empty");
    return NULL;
  }
  /* Options are text: bytes that are not UTF-8 could not be written as a
   * GBNF literal that means them. */
  for (size_t i = 0; i < n; i++) {
    size_t len = strlen(options[i]);
    for (size_t k = 0; k < len;) {
      uint32_t cp;
      int l = dkg_utf8_decode(options[i] + k, len - k, &cp);
      if (!l) {
        snprintf(err, errlen, "option %zu is not valid UTF-8 (byte %zu)", i + 1, k);
        return NULL;
      }
      k += (size_t)l;
    }
  }
  gtext b = {0};
  gt_puts(&b, "root ::=");
  for (size_t i = 0; i < n; i++) {
    gt_puts(&b, i ? " | " : " ");
    gt_literal(&b, options[i], strlen(options[i]));
  }
  gt_puts(&b, "\n");
  char *s = gt_take(&b);
  if (!s) snprintf(err, errlen, "out of memory");
  return s;
}
