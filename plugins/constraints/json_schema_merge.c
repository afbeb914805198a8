/* json_schema_merge.c -- one flat JSON Schema per value: keywords filtered, older drafts' forms rewritten, allOf and $ref siblings merged */
#include "json_schema_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keywords that only annotate: never constraints. */
static const char *const annotations[] = {
    "$schema", "$id", "id", "$comment", "$anchor", "$dynamicAnchor", "$recursiveAnchor",
    "$vocabulary", "title", "description", "default", "examples", "deprecated", "readOnly",
    "writeOnly", "$defs", "definitions", "contentEncoding", "contentMediaType", "contentSchema",
    NULL};
/* Constraints this converter compiles (some in part; see the manual). */
static const char *const supported[] = {
    "type", "properties", "required", "additionalProperties", "patternProperties", "items",
    "prefixItems", "additionalItems", "enum", "const", "anyOf", "oneOf", "allOf", "$ref",
    "minLength", "maxLength", "minItems", "maxItems", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "pattern", "format", "minProperties", "maxProperties", "uniqueItems",
    "not", "unevaluatedProperties", "unevaluatedItems", "if", "then", "else",
    "dependentRequired", "dependentSchemas", "dependencies", "multipleOf", "contains",
    "propertyNames",
    JS_NONINT, NULL};
/* Constraints it knows and cannot compile: refused, since ignoring them would let
 * invalid values through. */
static const char *const refused[] = {
    "minContains", "maxContains", "$dynamicRef", "$recursiveRef", NULL};

static int in_list(const char *const *l, const char *k) {
  for (; *l; l++)
    if (!strcmp(*l, k)) return 1;
  return 0;
}


/* ---- normalising: one flat schema per value (allOf and $ref siblings merged) ---- */

int js_is_lone_ref(json_t *s) {
  return json_is_object(s) && json_object_size(s) == 1 && json_object_get(s, "$ref");
}

json_t *js_type_list(json_t *t) {
  json_t *l = json_array();
  if (json_is_string(t)) json_array_append(l, t);
  else if (json_is_array(t)) json_array_extend(l, t);
  return l;
}

int js_has_type(json_t *l, const char *t) {
  size_t i;
  json_t *x;
  json_array_foreach(l, i, x) if (json_is_string(x) && !strcmp(json_string_value(x), t)) return 1;
  return 0;
}

static json_t *intersect_types(json_t *a, json_t *b) {
  json_t *la = js_type_list(a), *lb = js_type_list(b), *r = json_array();
  size_t i;
  json_t *x;
  json_array_foreach(la, i, x) {
    const char *t = json_string_value(x);
    if (!t) continue;
    if (js_has_type(lb, t)) json_array_append(r, x);
    else if (!strcmp(t, "integer") && js_has_type(lb, "number")) json_array_append(r, x);
    else if (!strcmp(t, "number") && js_has_type(lb, "integer"))
      json_array_append_new(r, json_string("integer"));
  }
  json_decref(la);
  json_decref(lb);
  return r;
}

static json_t *all_of2(json_t *a, json_t *b) { return json_pack("{s:[O,O]}", "allOf", a, b); }

static const char *const min_keys[] = {"minimum", "exclusiveMinimum", "minLength", "minItems",
                                       "minProperties", NULL};
static const char *const max_keys[] = {"maximum", "exclusiveMaximum", "maxLength", "maxItems",
                                       "maxProperties", NULL};

/* Properties of `into` that `by`'s additionalProperties also governs. */
static void apply_additional(json_t *r, json_t *by, json_t *other) {
  json_t *ap = json_object_get(by, "additionalProperties");
  json_t *props = json_object_get(r, "properties");
  json_t *own = json_object_get(by, "properties");
  json_t *oprops = json_object_get(other, "properties");
  if (!ap || !json_is_object(props) || !json_is_object(oprops)) return;
  const char *k;
  json_t *v;
  json_object_foreach(oprops, k, v) {
    if (own && json_object_get(own, k)) continue;
    json_object_set_new(props, k, all_of2(json_object_get(props, k), ap));
  }
}

/* The schema both a and b describe (both normalised). NULL on an error. */
json_t *js_merge(js *c, json_t *a, json_t *b, const char *path) {
  if (json_is_false(a) || json_is_false(b)) return json_false();
  /* nothing to combine: keep a $ref a reference, so recursive schemas stay rules */
  if (!json_object_size(a)) return json_copy(b);
  if (!json_object_size(b)) return json_copy(a);
  if (js_is_lone_ref(a) || js_is_lone_ref(b)) {
    json_t *x = js_is_lone_ref(a) ? a : b, *y = x == a ? b : a;
    json_t *t = js_resolve(c, json_string_value(json_object_get(x, "$ref")), path);
    json_t *nt = t ? js_normalize(c, t, path) : NULL;
    json_t *r = nt ? js_merge(c, nt, y, path) : NULL;
    json_decref(nt);
    return r;
  }
  if ((json_object_get(a, "patternProperties") && json_object_get(b, "additionalProperties")) ||
      (json_object_get(b, "patternProperties") && json_object_get(a, "additionalProperties"))) {
    js_err(c, path, "allOf combining patternProperties with additionalProperties is not supported");
    return NULL;
  }
  json_t *r = json_copy(a);
  if (!r) return NULL;
  const char *k;
  json_t *vb;
  json_object_foreach(b, k, vb) {
    json_t *va = json_object_get(a, k);
    if (!va) {
      json_object_set(r, k, vb);
      continue;
    }
    if (json_equal(va, vb)) continue;
    if (!strcmp(k, "type")) {
      json_t *t = intersect_types(va, vb);
      if (!json_array_size(t)) {
        json_decref(t);
        json_decref(r);
        return json_false();
      }
      json_object_set_new(r, k, t);
    } else if (!strcmp(k, "enum")) {
      json_t *e = json_array();
      size_t i, j;
      json_t *x, *y;
      json_array_foreach(va, i, x) json_array_foreach(vb, j, y) if (json_equal(x, y)) {
        json_array_append(e, x);
        break;
      }
      json_object_set_new(r, k, e);
    } else if (!strcmp(k, "const")) {
      json_decref(r);
      return json_false();
    } else if (in_list(min_keys, k) || in_list(max_keys, k)) {
      if (!json_is_number(va) || !json_is_number(vb)) continue;
      int bigger = json_number_value(vb) > json_number_value(va);
      if (bigger == in_list(min_keys, k)) json_object_set(r, k, vb);
    } else if (!strcmp(k, "required")) {
      json_t *q = json_copy(va);
      size_t i, j;
      json_t *x, *y;
      json_array_foreach(vb, i, x) {
        int seen = 0;
        json_array_foreach(q, j, y) seen |= json_equal(x, y);
        if (!seen) json_array_append(q, x);
      }
      json_object_set_new(r, k, q);
    } else if (!strcmp(k, "properties") || !strcmp(k, "patternProperties")) {
      json_t *q = json_copy(va);
      const char *pk;
      json_t *pv;
      json_object_foreach(vb, pk, pv) {
        json_t *old = json_object_get(q, pk);
        json_object_set_new(q, pk, old ? all_of2(old, pv) : json_incref(pv));
      }
      json_object_set_new(r, k, q);
    } else if (!strcmp(k, "additionalProperties") || !strcmp(k, "items")) {
      json_object_set_new(r, k, all_of2(va, vb));
    } else if (!strcmp(k, "prefixItems")) {
      size_t na = json_array_size(va), nb = json_array_size(vb), n = na > nb ? na : nb;
      json_t *q = json_array();
      for (size_t i = 0; i < n; i++) {
        json_t *x = i < na ? json_array_get(va, i) : json_object_get(a, "items");
        json_t *y = i < nb ? json_array_get(vb, i) : json_object_get(b, "items");
        json_array_append_new(q, all_of2(x ? x : json_true(), y ? y : json_true()));
      }
      json_object_set_new(r, k, q);
    } else if (!strcmp(k, "uniqueItems") || !strcmp(k, JS_NONINT)) {
      json_object_set_new(r, k, json_true());
    } else {
      js_err(c, path, "allOf with two different '%s' is not supported", k);
      json_decref(r);
      return NULL;
    }
  }
  /* a prefix longer than a side's own, where that side allows no more items */
  const json_t *sides[2] = {a, b};
  for (int i = 0; i < 2; i++)
    if (json_is_false(json_object_get((json_t *)sides[i], "items"))) {
      size_t np = json_array_size(json_object_get((json_t *)sides[i], "prefixItems"));
      json_t *mx = json_object_get(r, "maxItems");
      if (!mx || json_number_value(mx) > (double)np)
        json_object_set_new(r, "maxItems", json_integer((json_int_t)np));
    }
  apply_additional(r, a, b);
  apply_additional(r, b, a);
  return r;
}

/* r merged with the normalised part (r is consumed). */
static json_t *merge_part(js *c, json_t *r, json_t *part, const char *path) {
  json_t *np = js_normalize(c, part, path);
  json_t *m = np ? js_merge(c, r, np, path) : NULL;
  json_decref(np);
  json_decref(r);
  return m;
}

static int in_names(json_t *names, const char *k) {
  size_t i;
  json_t *x;
  json_array_foreach(names, i, x) if (json_is_string(x) && !strcmp(json_string_value(x), k)) return 1;
  return 0;
}

/* dependentRequired, dependentSchemas and draft-07 dependencies, compiled without
 * tracking which properties an object has: a trigger that is required brings its
 * dependents in (required names, or its schema merged), and any other trigger whose
 * dependents are not all required is never written. */
static json_t *resolve_dependents(js *c, json_t *r, const char *path) {
  json_t *dr = json_object_get(r, "dependentRequired"), *ds = json_object_get(r, "dependentSchemas");
  json_t *dep = json_object_get(r, "dependencies");
  if (!dr && !ds && !dep) return r;
  json_t *names = json_object(), *schemas = json_object();   /* trigger -> names, -> schema */
  const char *k;
  json_t *v;
  json_object_foreach(dr, k, v) json_object_set(names, k, v);
  json_object_foreach(ds, k, v) json_object_set(schemas, k, v);
  json_object_foreach(dep, k, v) json_object_set(json_is_array(v) ? names : schemas, k, v);
  json_object_del(r, "dependentRequired");
  json_object_del(r, "dependentSchemas");
  json_object_del(r, "dependencies");
  json_t *req = json_object_get(r, "required");
  req = json_is_array(req) ? json_copy(req) : json_array();
  json_t *merged = json_array();
  for (int changed = 1; changed && r && !json_is_false(r);) {
    changed = 0;
    json_object_foreach(names, k, v) {
      if (!in_names(req, k)) continue;
      size_t i;
      json_t *x;
      json_array_foreach(v, i, x) if (json_is_string(x) && !in_names(req, json_string_value(x))) {
        json_array_append(req, x);
        changed = 1;
      }
    }
    json_object_foreach(schemas, k, v) {
      if (!in_names(req, k) || in_names(merged, k)) continue;
      json_array_append_new(merged, json_string(k));
      r = merge_part(c, r, v, path);
      if (!r || json_is_false(r)) break;
      json_t *more = json_object_get(r, "required");
      size_t i;
      json_t *x;
      json_array_foreach(more, i, x) if (!in_names(req, json_string_value(x))) json_array_append(req, x);
      changed = 1;
    }
  }
  if (r && json_is_object(r)) {
    /* an object that declared nothing allows any properties; declaring forbidden
     * triggers must not take that away */
    if (!json_object_get(r, "properties") && !json_object_get(r, "patternProperties") &&
        !json_object_get(r, "additionalProperties") && !json_array_size(json_object_get(r, "required")))
      json_object_set_new(r, "additionalProperties", json_true());
    json_t *props = json_object_get(r, "properties");
    props = json_is_object(props) ? json_copy(props) : json_object();
    for (int pass = 0; pass < 2; pass++)
      json_object_foreach(pass ? schemas : names, k, v) {
        if (in_names(req, k)) continue;
        int vacuous = !pass;
        size_t i;
        json_t *x;
        if (!pass) json_array_foreach(v, i, x) vacuous &= in_names(req, json_string_value(x));
        if (!vacuous && !json_is_true(v)) json_object_set_new(props, k, json_false());
      }
    json_object_set_new(r, "properties", props);
    json_object_set(r, "required", req);
  }
  json_decref(req);
  json_decref(merged);
  json_decref(names);
  json_decref(schemas);
  return r;
}

/* Drops annotations and ignored keywords, rewrites older drafts' forms, merges allOf
 * and $ref siblings. Returns a new reference (json false for a schema that matches
 * nothing) or NULL on an error. */
json_t *js_normalize(js *c, json_t *s, const char *path) {
  if (json_is_true(s)) return json_object();
  if (json_is_false(s)) return json_false();
  if (!json_is_object(s)) {
    js_err(c, path, "a schema must be an object or a boolean");
    return NULL;
  }
  if (++c->depth > JS_MAX_DEPTH) {
    js_err(c, path, "schemas nest or refer to each other too deeply to combine");
    c->depth--;
    return NULL;
  }
  json_t *r = json_object();
  const char *k;
  json_t *v;
  json_object_foreach(s, k, v) {
    if (in_list(annotations, k)) continue;
    if (in_list(refused, k)) {
      js_err(c, path, "keyword '%s' is not supported", k);
      goto fail;
    }
    if (!in_list(supported, k)) {
      if (c->strict) {
        js_err(c, path, "unknown keyword '%s' (strict mode refuses it)", k);
        goto fail;
      }
      continue;   /* the specification ignores unknown keywords */
    }
    json_object_set(r, k, v);
  }
  if (json_object_get(r, "$ref") && c->draft <= 7) {
    /* before 2019-09, keywords next to $ref are ignored */
    json_t *only = json_pack("{s:O}", "$ref", json_object_get(r, "$ref"));
    json_decref(r);
    r = only;
  }
  json_t *items = json_object_get(r, "items");
  if (json_is_array(items)) {
    json_object_set(r, "prefixItems", items);
    json_t *ai = json_object_get(r, "additionalItems");
    if (ai) json_object_set(r, "items", ai);
    else json_object_del(r, "items");
  }
  json_object_del(r, "additionalItems");
  static const char *const excl[2][2] = {{"exclusiveMinimum", "minimum"},
                                         {"exclusiveMaximum", "maximum"}};
  for (int i = 0; i < 2; i++) {
    json_t *e = json_object_get(r, excl[i][0]);
    if (!json_is_boolean(e)) continue;   /* draft-04: a flag on minimum/maximum */
    json_t *m = json_object_get(r, excl[i][1]);
    if (json_is_true(e) && m) {
      json_object_set(r, excl[i][0], m);
      json_object_del(r, excl[i][1]);
    } else {
      json_object_del(r, excl[i][0]);
    }
  }
  /* contains: the first element is the one that matches it */
  json_t *has = json_incref(json_object_get(r, "contains"));
  if (has) {
    json_object_del(r, "contains");
    json_t *pre = json_object_get(r, "prefixItems");
    pre = json_is_array(pre) ? json_copy(pre) : json_array();
    json_t *first = json_array_size(pre) ? json_array_get(pre, 0) : json_object_get(r, "items");
    json_t *both = json_pack("{s:[O,O]}", "allOf", first ? first : json_true(), has);
    if (json_array_size(pre)) json_array_set_new(pre, 0, both);
    else json_array_append_new(pre, both);
    json_object_set_new(r, "prefixItems", pre);
    json_t *mn = json_object_get(r, "minItems");
    if (!json_is_number(mn) || json_number_value(mn) < 1)
      json_object_set_new(r, "minItems", json_integer(1));
    json_decref(has);
  }
  json_t *ue = json_object_get(r, "unevaluatedItems");
  if (ue && !json_object_get(r, "items")) json_object_set(r, "items", ue);
  json_object_del(r, "unevaluatedItems");
  /* properties produced are always evaluated ones */
  json_object_del(r, "unevaluatedProperties");
  /* if/then/else: a value matching both if and then is valid whatever else says, so
   * only such values are written (the else branch would need the complement of if) */
  json_t *cond = json_incref(json_object_get(r, "if"));
  json_t *then = json_incref(json_object_get(r, "then"));
  int has_else = json_object_get(r, "else") != NULL;
  json_object_del(r, "if");
  json_object_del(r, "then");
  json_object_del(r, "else");
  if (cond && (then || has_else)) {
    json_t *parts = json_pack("[O,O]", cond, then ? then : json_true());
    json_t *all = json_object_get(r, "allOf");
    if (json_is_array(all)) json_array_extend(parts, all);
    json_object_set_new(r, "allOf", parts);
  }
  json_decref(cond);
  json_decref(then);
  json_t *not = json_object_get(r, "not");
  if (not) {
    json_t *nn = js_normalize(c, not, path);
    if (!nn) goto fail;
    int all = json_is_object(nn) && !json_object_size(nn), none = json_is_false(nn);
    json_decref(nn);
    if (all) {   /* not {}: nothing is valid */
      json_decref(r);
      c->depth--;
      return json_false();
    }
    if (none) json_object_del(r, "not");
  }
  json_t *ref = json_object_get(r, "$ref");
  if (ref && !json_is_string(ref)) {
    js_err(c, path, "'$ref' must be a string");
    goto fail;
  }
  if (ref && json_object_size(r) > 1) {
    json_t *t = js_resolve(c, json_string_value(ref), path);
    json_t *nt = t ? js_normalize(c, t, json_string_value(ref)) : NULL;
    if (!nt) goto fail;
    json_object_del(r, "$ref");
    json_t *m = js_merge(c, r, nt, path);
    json_decref(nt);
    json_decref(r);
    r = m;
    if (!r) goto fail;
  }
  json_t *all = json_is_object(r) ? json_object_get(r, "allOf") : NULL;
  if (all) {
    if (!json_is_array(all) || !json_array_size(all)) {
      js_err(c, path, "'allOf' must be a non-empty array");
      goto fail;
    }
    json_incref(all);
    json_object_del(r, "allOf");
    size_t i;
    json_t *part;
    json_array_foreach(all, i, part) {
      char sub[512];
      snprintf(sub, sizeof sub, "%s/allOf/%zu", path, i);
      r = merge_part(c, r, part, sub);
      if (!r || json_is_false(r)) break;
    }
    json_decref(all);
    if (!r) goto fail;
  }
  if (json_is_object(r)) r = resolve_dependents(c, r, path);
  if (!r) goto fail;
  c->depth--;
  return r;
fail:
  json_decref(r);
  c->depth--;
  return NULL;
}

/* Whether type list l admits the JSON value v. */
static int type_admits(json_t *l, json_t *v) {
  switch (js_kind_of_value(v)) {
  case K_NULL: return js_has_type(l, "null");
  case K_BOOL: return js_has_type(l, "boolean");
  case K_INT: return js_has_type(l, "integer") || js_has_type(l, "number");
  case K_FRAC: return js_has_type(l, "number");
  case K_STR: return js_has_type(l, "string");
  case K_OBJ: return js_has_type(l, "object");
  default: return js_has_type(l, "array");
  }
}

int js_never(js *c, json_t *s, const char *path) {
  json_t *n = js_normalize(c, s, path);
  int r = n ? json_is_false(n) : -1;
  /* constants of which none has an allowed type (an enum of strings beside type
   * object): nothing matches, so an optional property with this schema is left out */
  json_t *t = r == 0 && json_is_object(n) ? json_object_get(n, "type") : NULL, *tmp = NULL;
  json_t *lit = t ? js_literals(n, &tmp) : NULL;
  if (lit) {
    json_t *l = js_type_list(t);
    size_t i;
    json_t *x;
    int any = 0;
    json_array_foreach(lit, i, x) any |= type_admits(l, x);
    json_decref(l);
    r = !any;
  }
  json_decref(tmp);
  json_decref(n);
  return r;
}

