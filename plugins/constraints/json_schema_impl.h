/* json_schema_impl.h -- state shared by the parts of the JSON Schema to GBNF converter */
#ifndef DK_JSON_SCHEMA_IMPL_H
#define DK_JSON_SCHEMA_IMPL_H

#include <jansson.h>

#include "gbnf_text.h"
#include "grammar.h"

typedef struct jref {
  char *ptr, *rule;
} jref;

typedef struct js {
  gtext rules;
  json_t *doc;          /* the whole document, which $ref points into */
  int ws, strict, any_order;
  int draft;            /* 4, 6, 7, 2019 or 2020 (keyword forms differ) */
  char *err;
  size_t errlen;
  int failed;
  int depth;            /* nested merges and checks, bounded */
  jref *refs;
  size_t n_refs, cap_refs;
  char **names;         /* rule names in use, open addressing */
  size_t n_names, cap_names;
  unsigned need_value, need_string, need_number, need_int, need_char, need_key, need_never;
} js;

/* Marks a number schema whose values must not be integers (oneOf exclusivity). */
#define JS_NONINT " non-integer"

void js_err(js *c, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void js_oom(js *c);
/* A fresh rule name built from hint. */
const char *js_name(js *c, const char *hint);
const char *js_W(const js *c);
/* Appends the grammar of schema s (any schema) as an expression. */
void js_value(js *c, json_t *s, const char *path, gtext *o);
/* Defines a rule for schema s and returns its name. */
const char *js_rule(js *c, json_t *s, const char *hint, const char *path);
/* The schema a reference points to (borrowed), or NULL with an error. */
json_t *js_resolve(js *c, const char *ref, const char *path);
/* Whether schema s matches nothing: 1, 0, or -1 on an error. */
int js_never(js *c, json_t *s, const char *path);
/* Whether the JSON text of value v is in the language of schema s: 1, 0, or -1 on
 * an error (already reported). */
int js_accepts(js *c, json_t *s, json_t *v, const char *path);
/* Compact JSON text of v with integral reals written as integers (as the grammar
 * generates them); caller frees. */
char *js_dump(json_t *v);
void js_literal(js *c, json_t *v, const char *path, gtext *o);

/* json_schema_scalar.c */
void js_integer(js *c, json_t *s, const char *path, gtext *o);
void js_number(js *c, json_t *s, const char *path, gtext *o);
void js_string(js *c, json_t *s, const char *path, gtext *o);
/* Inclusive integer bounds of a number schema (exclusive and fractional bounds
 * rounded inwards); returns -1 on an error. */
int js_int_bounds(js *c, json_t *s, const char *path, int *has_lo, long long *lo, int *has_hi,
                  long long *hi);

/* json_schema_compound.c */
void js_object(js *c, json_t *s, const char *path, gtext *o);
void js_array(js *c, json_t *s, const char *path, gtext *o);

#endif
