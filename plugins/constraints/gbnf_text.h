/* gbnf_text.h -- growing text buffer and GBNF literal quoting for the grammar generators */
#ifndef DK_GBNF_TEXT_H
#define DK_GBNF_TEXT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gtext {
  char *s;
  size_t n, cap;
  int oom;
} gtext;

void gt_putn(gtext *b, const char *s, size_t n);
void gt_puts(gtext *b, const char *s);
void gt_printf(gtext *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s[0..n) as a GBNF string literal, escaping quotes, backslashes and
 * control characters. */
void gt_literal(gtext *b, const char *s, size_t n);
/* Appends one code point as it may appear inside a GBNF character class. */
void gt_class_char(gtext *b, uint32_t cp);
/* One strict UTF-8 character at s[0..len): its length (1..4) and *cp, or 0
 * for a truncated, overlong or surrogate form or a value past U+10FFFF.
 * Every reader of grammar text (GBNF, regex, choice options) uses it, so
 * they agree on what is text. */
int dkg_utf8_decode(const char *s, size_t len, uint32_t *cp);
/* Takes the text (caller frees); NULL if an allocation failed. */
char *gt_take(gtext *b);
void gt_free(gtext *b);

/* Appends a regex as one parenthesised GBNF expression. With json_string the
 * expression produces the text of a JSON string's content (quotes, backslashes and
 * control characters escaped). Reports whether the pattern is anchored. */
int dkg_regex_expr(const char *pattern, int json_string, int *anchored_start,
                   int *anchored_end, gtext *out, char *err, size_t errlen);
/* The same as a search, as JSON Schema reads patterns: where the pattern is not
 * anchored, any number of the rule `any` may come before or after it. */
int dkg_regex_search_expr(const char *pattern, int json_string, const char *any, gtext *out,
                          char *err, size_t errlen);

#endif
