/* json_schema_oneof.c -- telling oneOf branches apart, so that a value matches exactly one */
#include "json_schema_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- oneOf: branches must not overlap ---- */

unsigned js_kind_of_value(json_t *v) {
  if (json_is_null(v)) return K_NULL;
  if (json_is_boolean(v)) return K_BOOL;
  if (json_is_integer(v)) return K_INT;
  if (json_is_real(v)) return json_real_value(v) == floor(json_real_value(v)) ? K_INT : K_FRAC;
  if (json_is_string(v)) return K_STR;
  return json_is_object(v) ? K_OBJ : K_ARR;
}

static unsigned kinds_of_types(json_t *t, int nonint) {
  if (!t) return K_ALL;
  json_t *l = js_type_list(t);
  unsigned k = 0;
  size_t i;
  json_t *x;
  json_array_foreach(l, i, x) {
    const char *n = json_string_value(x);
    if (!n) continue;
    if (!strcmp(n, "null")) k |= K_NULL;
    else if (!strcmp(n, "boolean")) k |= K_BOOL;
    else if (!strcmp(n, "integer")) k |= K_INT;
    else if (!strcmp(n, "number")) k |= nonint ? K_FRAC : K_INT | K_FRAC;
    else if (!strcmp(n, "string")) k |= K_STR;
    else if (!strcmp(n, "object")) k |= K_OBJ;
    else if (!strcmp(n, "array")) k |= K_ARR;
  }
  json_decref(l);
  return k;
}

/* The literal values of a schema (enum or const), or NULL. Borrowed. */
json_t *js_literals(json_t *s, json_t **tmp) {
  *tmp = NULL;
  if (!json_is_object(s)) return NULL;
  json_t *cst = json_object_get(s, "const");
  if (cst) return *tmp = json_pack("[O]", cst);
  json_t *en = json_object_get(s, "enum");
  return json_is_array(en) ? en : NULL;
}

static unsigned kinds(js *c, json_t *s, int depth) {
  if (json_is_false(s)) return 0;
  if (!json_is_object(s) || depth > 8) return K_ALL;
  if (js_is_lone_ref(s)) {
    json_t *t = js_resolve(c, json_string_value(json_object_get(s, "$ref")), "#");
    json_t *n = t ? js_normalize(c, t, "#") : NULL;
    unsigned k = n ? kinds(c, n, depth + 1) : K_ALL;
    json_decref(n);
    return k;
  }
  unsigned k = kinds_of_types(json_object_get(s, "type"), json_object_get(s, JS_NONINT) != NULL);
  json_t *tmp, *lit = js_literals(s, &tmp);
  if (lit) {
    unsigned kl = 0;
    size_t i;
    json_t *x;
    json_array_foreach(lit, i, x) kl |= js_kind_of_value(x);
    k &= kl;
  }
  json_decref(tmp);
  static const char *const alts[2] = {"anyOf", "oneOf"};
  for (int a = 0; a < 2; a++) {
    json_t *br = json_object_get(s, alts[a]);
    if (!json_is_array(br)) continue;
    unsigned kb = 0;
    size_t i;
    json_t *x;
    json_array_foreach(br, i, x) {
      json_t *n = js_normalize(c, x, "#");
      kb |= n ? kinds(c, n, depth + 1) : K_ALL;
      json_decref(n);
    }
    k &= kb;
  }
  return k;
}

static int has_bounds(json_t *s) {
  for (int i = 0; i < 2; i++)
    if (json_object_get(s, i ? "maximum" : "minimum") ||
        json_object_get(s, i ? "exclusiveMaximum" : "exclusiveMinimum"))
      return 1;
  return 0;
}

/* Whether the number ranges of a and b are disjoint. */
static int ranges_apart(js *c, json_t *a, json_t *b) {
  int al, ah, bl, bh;
  long long alo, ahi, blo, bhi;
  if (js_int_bounds(c, a, "#", &al, &alo, &ah, &ahi) ||
      js_int_bounds(c, b, "#", &bl, &blo, &bh, &bhi))
    return 0;
  return (ah && bl && ahi < blo) || (bh && al && bhi < alo);
}

/* Literals of a (of kinds k) that b's grammar rejects exactly: strings without a
 * format, booleans, null. */
static int literals_excluded(js *c, json_t *a, json_t *b, unsigned k) {
  json_t *tmp, *lit = js_literals(a, &tmp);
  int ok = lit != NULL;
  json_t *tb, *lb = js_literals(b, &tb);
  size_t i, j;
  json_t *x, *y;
  if (ok) json_array_foreach(lit, i, x) {
      if (!(js_kind_of_value(x) & k)) continue;
      if (lb) {
        json_array_foreach(lb, j, y) if (json_equal(x, y)) ok = 0;
      } else if ((js_kind_of_value(x) & (K_STR | K_BOOL | K_NULL)) &&
                 !(json_is_string(x) && json_object_get(b, "format"))) {
        if (js_accepts(c, b, x, "#") != 0) ok = 0;
      } else {
        ok = 0;
      }
    }
  json_decref(tmp);
  json_decref(tb);
  return ok;
}

/* Objects told apart by a property one requires and the other forbids, or that both
 * require with disjoint constants. */
static int objects_apart(js *c, json_t *a, json_t *b) {
  json_t *ra = json_object_get(a, "required"), *pa = json_object_get(a, "properties");
  json_t *pb = json_object_get(b, "properties"), *rb = json_object_get(b, "required");
  size_t i;
  json_t *x;
  json_array_foreach(ra, i, x) {
    const char *p = json_string_value(x);
    if (!p) continue;
    if (json_is_false(json_object_get(b, "additionalProperties")) &&
        !json_object_get(b, "patternProperties") && !(pb && json_object_get(pb, p)))
      return 1;
    if (pb && json_is_false(json_object_get(pb, p))) return 1;
    int both = 0;
    size_t j;
    json_t *y;
    json_array_foreach(rb, j, y) both |= json_is_string(y) && !strcmp(json_string_value(y), p);
    if (!both || !pa || !pb) continue;
    json_t *sa = js_normalize(c, json_object_get(pa, p), "#");
    json_t *sb = js_normalize(c, json_object_get(pb, p), "#");
    int apart = 0;
    if (sa && sb) {
      json_t *ta, *tb2, *la = js_literals(sa, &ta), *lb = js_literals(sb, &tb2);
      if (la && lb) {
        apart = 1;
        size_t u, w;
        json_t *m1, *m2;
        json_array_foreach(la, u, m1) json_array_foreach(lb, w, m2) if (json_equal(m1, m2)) apart = 0;
      }
      json_decref(ta);
      json_decref(tb2);
    }
    json_decref(sa);
    json_decref(sb);
    if (apart) return 1;
  }
  return 0;
}

static int requires_prop(json_t *s, const char *p) {
  size_t i;
  json_t *x;
  json_array_foreach(json_object_get(s, "required"), i, x) if (json_is_string(x) &&
                                                               !strcmp(json_string_value(x), p))
    return 1;
  return 0;
}

/* A property a requires and b does not, or NULL. */
static const char *required_only_by(json_t *a, json_t *b) {
  size_t i;
  json_t *x;
  json_array_foreach(json_object_get(a, "required"), i, x) {
    const char *p = json_string_value(x);
    if (p && !requires_prop(b, p)) return p;
  }
  return NULL;
}

/* Narrows object schema *s to objects without property p (p is not required by
 * it). Schemas and their properties may be shared with other branches and the
 * document, so both are copied before the change. An undeclared-properties schema
 * keeps writing extra properties: declaring one would otherwise end that (see
 * js_object). */
static int forbid_prop(json_t **s, const char *p) {
  json_t *n = json_copy(*s), *props = n ? json_object_get(n, "properties") : NULL;
  if (!n || (props && !json_is_object(props))) {
    json_decref(n);
    return -1;
  }
  if (!props && !json_object_get(n, "additionalProperties") &&
      !json_object_get(n, "patternProperties") && !json_object_get(n, "required") &&
      json_object_set_new(n, "additionalProperties", json_true())) {
    json_decref(n);
    return -1;
  }
  props = props ? json_copy(props) : json_object();
  if (!props || json_object_set_new(props, p, json_false()) ||
      json_object_set_new(n, "properties", props)) {
    json_decref(n);
    return -1;
  }
  json_decref(*s);
  *s = n;
  return 0;
}

/* The schema s stands for, with lone references followed (a new reference; NULL on
 * an error). */
static json_t *deref(js *c, json_t *s) {
  json_incref(s);
  for (int d = 0; d < 16 && s && js_is_lone_ref(s); d++) {
    json_t *t = js_resolve(c, json_string_value(json_object_get(s, "$ref")), "#");
    json_decref(s);
    s = t ? js_normalize(c, t, "#") : NULL;
  }
  return s;
}

/* Objects of a and b told apart by narrowing: each side stops writing a property the
 * other's original schema (a0, b0) requires, so no value written by one branch has
 * all the properties the other requires. 1 when done, 0 when there is no such pair,
 * -1 on an error. */
static int objects_narrowed(json_t **a, json_t **b, json_t *a0, json_t *b0) {
  if (!json_is_object(*a) || !json_is_object(*b)) return 0;
  const char *p = required_only_by(a0, *b), *q = required_only_by(b0, *a);
  if (!p || !q) return 0;
  return forbid_prop(b, p) || forbid_prop(a, q) ? -1 : 1;
}

/* Objects of a and b (current and original branches) told apart, by a property or
 * by narrowing; references are followed first. 1 when apart, 0 when not, -1 on an
 * error (reported). */
static int objects_told_apart(js *c, json_t **a, json_t **b, json_t *a0, json_t *b0) {
  json_t *ra0 = deref(c, a0), *rb0 = deref(c, b0);
  int r = 0;
  if (!ra0 || !rb0) {
    r = -1;
  } else if (objects_apart(c, ra0, rb0) || objects_apart(c, rb0, ra0)) {
    r = 1;
  } else {
    json_t *ra = deref(c, *a), *rb = deref(c, *b);
    r = ra && rb ? objects_narrowed(&ra, &rb, ra0, rb0) : -1;
    if (r > 0) {
      json_decref(*a);
      json_decref(*b);
      *a = ra;
      *b = rb;
      js_accepts_forget(c);
    } else {
      json_decref(ra);
      json_decref(rb);
    }
    if (r < 0 && !c->failed) js_oom(c);
  }
  json_decref(ra0);
  json_decref(rb0);
  return c->failed ? -1 : r;
}

/* Removes the integers from o's types: all of them are also in an unbounded number
 * branch, so none of them can match exactly one branch. */
static int drop_integers(json_t **o) {
  json_t *t = json_object_get(*o, "type");
  if (!t || json_object_get(*o, "enum") || json_object_get(*o, "const") ||
      json_object_get(*o, "anyOf") || json_object_get(*o, "oneOf"))
    return 0;
  json_t *l = js_type_list(t), *keep = json_array();
  size_t i;
  json_t *x;
  int had_number = js_has_type(l, "number");
  json_array_foreach(l, i, x) {
    const char *n = json_string_value(x);
    if (n && strcmp(n, "integer") && strcmp(n, "number")) json_array_append(keep, x);
  }
  json_decref(l);
  if (had_number) {
    /* its non-integers remain, but would overlap the other branch's: give up */
    json_decref(keep);
    return 0;
  }
  if (!json_array_size(keep)) {
    json_decref(keep);
    json_decref(*o);
    *o = json_false();
    return 1;
  }
  json_object_set_new(*o, "type", keep);
  return 1;
}

/* Makes branches a and b exclusive: a value both take is valid for neither, so it
 * must leave both languages. a0 and b0 are the branches before any narrowing.
 * 0 when that cannot be done. */
int js_make_apart(js *c, json_t **a, json_t **b, json_t *a0, json_t *b0) {
  unsigned ka = kinds(c, *a, 0), kb = kinds(c, *b, 0), both = ka & kb;
  for (unsigned bit = 1; bit < K_ALL && !c->failed; bit <<= 1) {
    if (!(both & bit)) continue;
    if (literals_excluded(c, *a, *b, bit) || literals_excluded(c, *b, *a, bit)) continue;
    if ((bit == K_INT || bit == K_FRAC) && ranges_apart(c, *a, *b)) continue;
    if (bit == K_INT) {
      /* an unbounded number branch holds every integer of the other one: the number
       * branch keeps its non-integers, the other loses its integers */
      json_t **n = !(kb & K_FRAC) ? a : !(ka & K_FRAC) ? b : NULL;
      json_t **o = n == a ? b : a, *lt = NULL;
      int lit = n && js_literals(*n, &lt) != NULL;
      json_decref(lt);
      if (n && json_is_object(*n) && !has_bounds(*n) && !lit &&
          !json_object_get(*n, "anyOf") && !json_object_get(*n, "oneOf") &&
          !json_object_get(*n, "not") && drop_integers(o)) {
        json_object_set_new(*n, JS_NONINT, json_true());
        js_accepts_forget(c);   /* both branches changed */
        if (json_is_false(*o)) return 1;
        continue;
      }
    }
    /* the originals: a value one branch writes must fail the other's schema as
     * written, not as narrowed so far */
    if (bit == K_OBJ) {
      int r = objects_told_apart(c, a, b, a0, b0);
      if (r > 0) continue;
    }
    return 0;
  }
  return !c->failed;
}

