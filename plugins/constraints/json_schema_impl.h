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
  json_t *acc_schema;   /* the schema js_accepts last compiled, and its checker */
  dkg_checker *acc_k;
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
/* Drops the checker js_accepts keeps, after a schema it may hold was changed. */
void js_accepts_forget(js *c);
/* Compact JSON text of v with integral reals written as integers (as the grammar
 * generates them); caller frees. */
char *js_dump(json_t *v);
void js_literal(js *c, json_t *v, const char *path, gtext *o);

/* Recursion bound of nested schemas, merges and constant checks. */
#define JS_MAX_DEPTH 100

/* json_schema_merge.c: the schema s as one flat schema (annotations and ignored
 * keywords dropped, older drafts' forms rewritten, allOf and 2019+ $ref siblings
 * merged). A new reference, json false when nothing matches, NULL on an error. */
json_t *js_normalize(js *c, json_t *s, const char *path);
int js_is_lone_ref(json_t *s);
/* The schema both normalised schemas a and b describe (same conventions). */
json_t *js_merge(js *c, json_t *a, json_t *b, const char *path);
/* type as a list (new reference), and whether list l names t. */
json_t *js_type_list(json_t *t);
int js_has_type(json_t *l, const char *t);

/* json_schema_oneof.c: kinds of JSON values, a schema's constants (enum or const;
 * borrowed, or a new array left in *tmp), and making two oneOf branches exclusive
 * (0 when they cannot be told apart; a0 and b0 are the branches before narrowing). */
enum { K_NULL = 1, K_BOOL = 2, K_INT = 4, K_FRAC = 8, K_STR = 16, K_OBJ = 32, K_ARR = 64,
       K_ALL = 127 };
unsigned js_kind_of_value(json_t *v);
json_t *js_literals(json_t *s, json_t **tmp);
int js_make_apart(js *c, json_t **a, json_t **b, json_t *a0, json_t *b0);

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
