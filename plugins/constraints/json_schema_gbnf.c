/* json_schema_gbnf.c -- JSON Schema (2020-12, draft-04 to 2019-09 forms) translated to GBNF */
#include "json_schema_impl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void js_err(js *c, const char *path, const char *fmt, ...) {
  if (c->failed) return;
  c->failed = 1;
  int k = snprintf(c->err, c->errlen, "schema %s: ", path);
  if (k < 0 || (size_t)k >= c->errlen) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->err + k, c->errlen - (size_t)k, fmt, ap);
  va_end(ap);
}

void js_oom(js *c) {
  c->rules.oom = 1;
  if (!c->failed) snprintf(c->err, c->errlen, "out of memory");
  c->failed = 1;
}

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
    JS_NONINT, NULL};
/* Constraints it knows and cannot compile: refused, since ignoring them would let
 * invalid values through. */
static const char *const refused[] = {
    "propertyNames", "contains", "minContains", "maxContains", "multipleOf", "dependentSchemas",
    "dependentRequired", "dependencies", "$dynamicRef", "$recursiveRef", NULL};

static int in_list(const char *const *l, const char *k) {
  for (; *l; l++)
    if (!strcmp(*l, k)) return 1;
  return 0;
}

/* ---- rule names ---- */

static uint64_t str_hash(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static int name_used(const js *c, const char *name) {
  if (!strncmp(name, "j-", 2) || !strcmp(name, "ws")) return 1;   /* reserved for helpers */
  if (!c->cap_names) return 0;
  for (size_t h = (size_t)str_hash(name) & (c->cap_names - 1); c->names[h];
       h = (h + 1) & (c->cap_names - 1))
    if (!strcmp(c->names[h], name)) return 1;
  return 0;
}

static int name_add(js *c, char *name) {
  if ((c->n_names + 1) * 2 > c->cap_names) {
    size_t nc = c->cap_names ? c->cap_names * 2 : 64;
    char **t = calloc(nc, sizeof *t);
    if (!t) return -1;
    for (size_t i = 0; i < c->cap_names; i++)
      if (c->names[i]) {
        size_t h = (size_t)str_hash(c->names[i]) & (nc - 1);
        while (t[h]) h = (h + 1) & (nc - 1);
        t[h] = c->names[i];
      }
    free(c->names);
    c->names = t;
    c->cap_names = nc;
  }
  size_t h = (size_t)str_hash(name) & (c->cap_names - 1);
  while (c->names[h]) h = (h + 1) & (c->cap_names - 1);
  c->names[h] = name;
  c->n_names++;
  return 0;
}

/* Suffix counters live in the name table too, under "#base" keys followed by the
 * count after a NUL. */
static char **counter_slot(js *c, const char *key) {
  if (!c->cap_names) return NULL;
  for (size_t h = (size_t)str_hash(key) & (c->cap_names - 1); c->names[h];
       h = (h + 1) & (c->cap_names - 1))
    if (!strcmp(c->names[h], key)) return &c->names[h];
  return NULL;
}

static unsigned next_suffix(js *c, const char *key) {
  char **slot = counter_slot(c, key);
  if (!slot) return 0;
  unsigned k;
  memcpy(&k, *slot + strlen(*slot) + 1, sizeof k);
  return k;
}

static void set_suffix(js *c, const char *key, unsigned k) {
  char **slot = counter_slot(c, key);
  if (slot) {
    memcpy(*slot + strlen(*slot) + 1, &k, sizeof k);
    return;
  }
  size_t len = strlen(key) + 1;
  char *s = malloc(len + sizeof k);
  if (!s || (memcpy(s, key, len), memcpy(s + len, &k, sizeof k), name_add(c, s))) {
    free(s);
    js_oom(c);
  }
}

/* Rule names are built from the path of the schema, made unique with a suffix. */
const char *js_name(js *c, const char *hint) {
  char base[96];
  size_t n = 0;
  for (const char *p = hint; *p && n < sizeof base - 12; p++) {
    char ch = *p;
    int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
    if (ok) base[n++] = ch;
    else if (n && base[n - 1] != '-') base[n++] = '-';
  }
  while (n && base[n - 1] == '-') n--;
  if (!n) base[n++] = 'r';
  base[n] = 0;
  /* each base remembers the next suffix to try, so n rules of one base cost O(n) */
  char key[112], name[128];
  snprintf(key, sizeof key, "#%s", base);   /* '#' never occurs in a rule name */
  unsigned k = next_suffix(c, key);
  for (;; k++) {
    if (k) snprintf(name, sizeof name, "%s-%u", base, k);
    else snprintf(name, sizeof name, "%s", base);
    if (!name_used(c, name)) break;
  }
  set_suffix(c, key, k + 1);
  size_t len = strlen(name) + 1;
  char *s = malloc(len);
  if (!s || (memcpy(s, name, len), name_add(c, s))) {
    free(s);
    js_oom(c);
    return "r";
  }
  return s;
}

const char *js_W(const js *c) { return c->ws ? " ws" : ""; }

/* ---- references ---- */

/* Finds the subschema whose $id (or draft-04 id) is id, or whose $anchor is anchor. */
static json_t *find_id(json_t *s, const char *id, const char *anchor, int depth) {
  if (depth > 64) return NULL;
  if (json_is_object(s)) {
    json_t *v = json_object_get(s, "$id");
    if (!v) v = json_object_get(s, "id");
    if (id && json_is_string(v)) {
      const char *sv = json_string_value(v);
      size_t ls = strlen(sv), li = strlen(id);
      /* an $id matches the reference exactly or as its last path segments */
      if (!strcmp(sv, id) || (ls > li && sv[ls - li - 1] == '/' && !strcmp(sv + ls - li, id)) ||
          (li > ls && id[li - ls - 1] == '/' && !strcmp(id + li - ls, sv)))
        return s;
    }
    json_t *a = json_object_get(s, "$anchor");
    if (anchor && json_is_string(a) && !strcmp(json_string_value(a), anchor)) return s;
    const char *k;
    json_t *x;
    json_object_foreach(s, k, x) {
      if (!strcmp(k, "enum") || !strcmp(k, "const")) continue;
      json_t *r = find_id(x, id, anchor, depth + 1);
      if (r) return r;
    }
  } else if (json_is_array(s)) {
    size_t i;
    json_t *x;
    json_array_foreach(s, i, x) {
      json_t *r = find_id(x, id, anchor, depth + 1);
      if (r) return r;
    }
  }
  return NULL;
}

static json_t *walk_pointer(json_t *cur, const char *p) {
  while (*p == '/' && cur) {
    p++;
    char tok[256];
    size_t n = 0;
    while (*p && *p != '/' && n < sizeof tok - 1) {
      if (p[0] == '~' && p[1] == '1') tok[n++] = '/', p += 2;
      else if (p[0] == '~' && p[1] == '0') tok[n++] = '~', p += 2;
      else if (p[0] == '%' && p[1] && p[2]) {   /* URI-escaped pointer characters */
        char hx[3] = {p[1], p[2], 0};
        tok[n++] = (char)strtol(hx, NULL, 16);
        p += 3;
      } else tok[n++] = *p++;
    }
    tok[n] = 0;
    if (json_is_object(cur)) cur = json_object_get(cur, tok);
    else if (json_is_array(cur)) cur = json_array_get(cur, (size_t)strtoul(tok, NULL, 10));
    else cur = NULL;
  }
  return *p ? NULL : cur;
}

json_t *js_resolve(js *c, const char *ref, const char *path) {
  const char *hash = strchr(ref, '#');
  json_t *base = c->doc;
  if (hash != ref) {
    /* a URI before '#': the document itself, or a subschema with that $id */
    char uri[512];
    size_t n = hash ? (size_t)(hash - ref) : strlen(ref);
    if (n >= sizeof uri) n = sizeof uri - 1;
    memcpy(uri, ref, n);
    uri[n] = 0;
    base = find_id(c->doc, uri, NULL, 0);
    if (!base) {
      js_err(c, path, "reference '%s' does not resolve (only references into this document "
                      "are followed)", ref);
      return NULL;
    }
  }
  json_t *cur = base;
  if (hash && hash[1] && hash[1] != '/') cur = find_id(base, NULL, hash + 1, 0);
  else if (hash) cur = walk_pointer(base, hash + 1);
  if (!cur) js_err(c, path, "reference '%s' does not resolve", ref);
  return cur;
}

/* Appends the rule `name ::= <schema s>` to the grammar. */
static void define_rule(js *c, const char *name, json_t *s, const char *path) {
  gtext body = {0};
  js_value(c, s, path, &body);
  if (!c->failed) {
    gt_printf(&c->rules, "%s ::=", name);
    gt_putn(&c->rules, body.s ? body.s : "", body.n);
    gt_puts(&c->rules, "\n");
  }
  gt_free(&body);
}

static const char *ref_rule(js *c, const char *ref, const char *path) {
  for (size_t i = 0; i < c->n_refs; i++)
    if (!strcmp(c->refs[i].ptr, ref)) return c->refs[i].rule;
  json_t *target = js_resolve(c, ref, path);
  if (!target) return "r";
  if (c->n_refs == c->cap_refs) {
    size_t nc = c->cap_refs ? c->cap_refs * 2 : 8;
    jref *nr = realloc(c->refs, nc * sizeof *nr);
    if (!nr) {
      js_oom(c);
      return "r";
    }
    c->refs = nr;
    c->cap_refs = nc;
  }
  const char *slash = strrchr(ref, '/');
  const char *name = js_name(c, slash ? slash + 1 : "root-ref");
  size_t len = strlen(ref) + 1;
  char *copy = malloc(len);
  if (!copy) {
    js_oom(c);
    return "r";
  }
  memcpy(copy, ref, len);
  c->refs[c->n_refs].ptr = copy;
  c->refs[c->n_refs].rule = (char *)name;
  c->n_refs++;
  /* registered before generating, so recursive schemas refer back to the rule */
  define_rule(c, name, target, ref);
  return name;
}

/* ---- literals ---- */

static json_t *canon(json_t *v) {
  if (json_is_real(v)) {
    double d = json_real_value(v);
    if (d == floor(d) && fabs(d) < 9e15) return json_integer((json_int_t)d);
  }
  if (json_is_array(v)) {
    json_t *a = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) json_array_append_new(a, canon(x));
    return a;
  }
  if (json_is_object(v)) {
    json_t *o = json_object();
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x) json_object_set_new(o, k, canon(x));
    return o;
  }
  return json_incref(v);
}

char *js_dump(json_t *v) {
  json_t *cv = canon(v);
  char *d = cv ? json_dumps(cv, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
  json_decref(cv);
  return d;
}

void js_literal(js *c, json_t *v, const char *path, gtext *o) {
  char *d = js_dump(v);
  if (!d) {
    js_err(c, path, "cannot serialise a constant");
    return;
  }
  gt_puts(o, " ");
  gt_literal(o, d, strlen(d));
  free(d);
}

/* ---- normalising: one flat schema per value (allOf and $ref siblings merged) ---- */

#define MAX_DEPTH 100

static json_t *normalize(js *c, json_t *s, const char *path);

static int is_lone_ref(json_t *s) {
  return json_is_object(s) && json_object_size(s) == 1 && json_object_get(s, "$ref");
}

static json_t *type_list(json_t *t) {
  json_t *l = json_array();
  if (json_is_string(t)) json_array_append(l, t);
  else if (json_is_array(t)) json_array_extend(l, t);
  return l;
}

static int has_type(json_t *l, const char *t) {
  size_t i;
  json_t *x;
  json_array_foreach(l, i, x) if (json_is_string(x) && !strcmp(json_string_value(x), t)) return 1;
  return 0;
}

static json_t *intersect_types(json_t *a, json_t *b) {
  json_t *la = type_list(a), *lb = type_list(b), *r = json_array();
  size_t i;
  json_t *x;
  json_array_foreach(la, i, x) {
    const char *t = json_string_value(x);
    if (!t) continue;
    if (has_type(lb, t)) json_array_append(r, x);
    else if (!strcmp(t, "integer") && has_type(lb, "number")) json_array_append(r, x);
    else if (!strcmp(t, "number") && has_type(lb, "integer"))
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
static json_t *merge(js *c, json_t *a, json_t *b, const char *path) {
  if (json_is_false(a) || json_is_false(b)) return json_false();
  /* nothing to combine: keep a $ref a reference, so recursive schemas stay rules */
  if (!json_object_size(a)) return json_copy(b);
  if (!json_object_size(b)) return json_copy(a);
  if (is_lone_ref(a) || is_lone_ref(b)) {
    json_t *x = is_lone_ref(a) ? a : b, *y = x == a ? b : a;
    json_t *t = js_resolve(c, json_string_value(json_object_get(x, "$ref")), path);
    json_t *nt = t ? normalize(c, t, path) : NULL;
    json_t *r = nt ? merge(c, nt, y, path) : NULL;
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

/* Drops annotations and ignored keywords, rewrites older drafts' forms, merges allOf
 * and $ref siblings. Returns a new reference (json false for a schema that matches
 * nothing) or NULL on an error. */
static json_t *normalize(js *c, json_t *s, const char *path) {
  if (json_is_true(s)) return json_object();
  if (json_is_false(s)) return json_false();
  if (!json_is_object(s)) {
    js_err(c, path, "a schema must be an object or a boolean");
    return NULL;
  }
  if (++c->depth > MAX_DEPTH) {
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
  json_t *ue = json_object_get(r, "unevaluatedItems");
  if (ue && !json_object_get(r, "items")) json_object_set(r, "items", ue);
  json_object_del(r, "unevaluatedItems");
  /* properties produced are always evaluated ones */
  json_object_del(r, "unevaluatedProperties");
  if (json_object_get(r, "if") && (json_object_get(r, "then") || json_object_get(r, "else"))) {
    js_err(c, path, "if/then/else is not supported");
    goto fail;
  }
  json_object_del(r, "if");
  json_object_del(r, "then");
  json_object_del(r, "else");
  json_t *not = json_object_get(r, "not");
  if (not) {
    json_t *nn = normalize(c, not, path);
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
    json_t *nt = t ? normalize(c, t, json_string_value(ref)) : NULL;
    if (!nt) goto fail;
    json_object_del(r, "$ref");
    json_t *m = merge(c, r, nt, path);
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
      json_t *np = normalize(c, part, sub);
      json_t *m = np ? merge(c, r, np, sub) : NULL;
      json_decref(np);
      json_decref(r);
      r = m;
      if (!r || json_is_false(r)) break;
    }
    json_decref(all);
    if (!r) goto fail;
  }
  c->depth--;
  return r;
fail:
  json_decref(r);
  c->depth--;
  return NULL;
}

int js_never(js *c, json_t *s, const char *path) {
  json_t *n = normalize(c, s, path);
  int r = n ? json_is_false(n) : -1;
  json_decref(n);
  return r;
}

/* ---- membership through the grammar ---- */

static char *convert(js *parent, json_t *doc, json_t *schema, char *err, size_t errlen);

int js_accepts(js *c, json_t *s, json_t *v, const char *path) {
  if (c->depth > MAX_DEPTH) {
    js_err(c, path, "schemas nest too deeply to check their constants");
    return -1;
  }
  char msg[512];
  char *g = convert(c, c->doc, s, msg, sizeof msg);
  if (!g) {
    js_err(c, path, "%s", msg);
    return -1;
  }
  dkg_checker *k = dkg_checker_new(g, strlen(g), msg, sizeof msg);
  free(g);
  if (!k) {
    js_err(c, path, "%s", msg);
    return -1;
  }
  char *d = js_dump(v);
  int r = d ? dkg_checker_run(k, d, strlen(d), NULL) : -1;
  free(d);
  dkg_checker_free(k);
  if (r < 0) js_err(c, path, "cannot check a constant against the schema");
  return r;
}

/* ---- oneOf: branches must not overlap ---- */

enum { K_NULL = 1, K_BOOL = 2, K_INT = 4, K_FRAC = 8, K_STR = 16, K_OBJ = 32, K_ARR = 64,
       K_ALL = 127 };

static unsigned kind_of_value(json_t *v) {
  if (json_is_null(v)) return K_NULL;
  if (json_is_boolean(v)) return K_BOOL;
  if (json_is_integer(v)) return K_INT;
  if (json_is_real(v)) return json_real_value(v) == floor(json_real_value(v)) ? K_INT : K_FRAC;
  if (json_is_string(v)) return K_STR;
  return json_is_object(v) ? K_OBJ : K_ARR;
}

static unsigned kinds_of_types(json_t *t, int nonint) {
  if (!t) return K_ALL;
  json_t *l = type_list(t);
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
static json_t *literals(json_t *s, json_t **tmp) {
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
  if (is_lone_ref(s)) {
    json_t *t = js_resolve(c, json_string_value(json_object_get(s, "$ref")), "#");
    json_t *n = t ? normalize(c, t, "#") : NULL;
    unsigned k = n ? kinds(c, n, depth + 1) : K_ALL;
    json_decref(n);
    return k;
  }
  unsigned k = kinds_of_types(json_object_get(s, "type"), json_object_get(s, JS_NONINT) != NULL);
  json_t *tmp, *lit = literals(s, &tmp);
  if (lit) {
    unsigned kl = 0;
    size_t i;
    json_t *x;
    json_array_foreach(lit, i, x) kl |= kind_of_value(x);
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
      json_t *n = normalize(c, x, "#");
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
  json_t *tmp, *lit = literals(a, &tmp);
  int ok = lit != NULL;
  json_t *tb, *lb = literals(b, &tb);
  size_t i, j;
  json_t *x, *y;
  if (ok) json_array_foreach(lit, i, x) {
      if (!(kind_of_value(x) & k)) continue;
      if (lb) {
        json_array_foreach(lb, j, y) if (json_equal(x, y)) ok = 0;
      } else if ((kind_of_value(x) & (K_STR | K_BOOL | K_NULL)) &&
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
    int both = 0;
    size_t j;
    json_t *y;
    json_array_foreach(rb, j, y) both |= json_is_string(y) && !strcmp(json_string_value(y), p);
    if (!both || !pa || !pb) continue;
    json_t *sa = normalize(c, json_object_get(pa, p), "#");
    json_t *sb = normalize(c, json_object_get(pb, p), "#");
    int apart = 0;
    if (sa && sb) {
      json_t *ta, *tb2, *la = literals(sa, &ta), *lb = literals(sb, &tb2);
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

/* Removes the integers from o's types: all of them are also in an unbounded number
 * branch, so none of them can match exactly one branch. */
static int drop_integers(json_t **o) {
  json_t *t = json_object_get(*o, "type");
  if (!t || json_object_get(*o, "enum") || json_object_get(*o, "const") ||
      json_object_get(*o, "anyOf") || json_object_get(*o, "oneOf"))
    return 0;
  json_t *l = type_list(t), *keep = json_array();
  size_t i;
  json_t *x;
  int had_number = has_type(l, "number");
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
 * must leave both languages. 0 when that cannot be done. */
static int make_apart(js *c, json_t **a, json_t **b) {
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
      int lit = n && literals(*n, &lt) != NULL;
      json_decref(lt);
      if (n && json_is_object(*n) && !has_bounds(*n) && !lit &&
          !json_object_get(*n, "anyOf") && !json_object_get(*n, "oneOf") &&
          !json_object_get(*n, "not") && drop_integers(o)) {
        json_object_set_new(*n, JS_NONINT, json_true());
        if (json_is_false(*o)) return 1;
        continue;
      }
    }
    if (bit == K_OBJ && (objects_apart(c, *a, *b) || objects_apart(c, *b, *a))) continue;
    return 0;
  }
  return !c->failed;
}

/* ---- the value dispatch ---- */

static void gen_typed(js *c, json_t *s, const char *type, const char *path, gtext *o) {
  static const char *const obj_kw[] = {"properties", "required", "additionalProperties",
                                       "patternProperties", "minProperties", "maxProperties",
                                       NULL};
  if (!strcmp(type, "string")) js_string(c, s, path, o);
  else if (!strcmp(type, "integer")) js_integer(c, s, path, o);
  else if (!strcmp(type, "number")) js_number(c, s, path, o);
  else if (!strcmp(type, "boolean")) gt_puts(o, " ( \"true\" | \"false\" )");
  else if (!strcmp(type, "null")) gt_puts(o, " \"null\"");
  else if (!strcmp(type, "object")) {
    int any = 0;
    for (const char *const *k = obj_kw; *k; k++) any |= json_object_get(s, *k) != NULL;
    if (any) js_object(c, s, path, o);
    else {
      c->need_value = 1;   /* no object keywords: any object */
      gt_puts(o, " j-object");
    }
  } else if (!strcmp(type, "array")) js_array(c, s, path, o);
  else js_err(c, path, "unknown type '%s'", type);
}

static void gen_enum(js *c, json_t *s, const char *path, gtext *o) {
  json_t *tmp, *lit = literals(s, &tmp);
  if (!json_is_array(lit) || !json_array_size(lit)) {
    js_err(c, path, "'enum' must be a non-empty array");
    json_decref(tmp);
    return;
  }
  /* the other keywords hold too: keep the values they accept */
  json_t *rest = json_copy(s);
  json_object_del(rest, "enum");
  json_object_del(rest, "const");
  json_object_del(rest, JS_NONINT);
  int constrained = json_object_size(rest) > 0;
  int n = 0;
  size_t i;
  json_t *x;
  gt_puts(o, " (");
  json_array_foreach(lit, i, x) {
    int ok = 1;
    for (size_t j = 0; j < i && ok; j++) ok = !json_equal(json_array_get(lit, j), x);
    if (ok && json_object_get(s, JS_NONINT)) ok = kind_of_value(x) != K_INT;
    if (ok && constrained) ok = js_accepts(c, rest, x, path);
    if (ok < 0 || c->failed) break;
    if (!ok) continue;
    if (n++) gt_puts(o, " |");
    js_literal(c, x, path, o);
  }
  gt_puts(o, " )");
  json_decref(rest);
  json_decref(tmp);
  if (!n && !c->failed) js_err(c, path, "no value of enum/const satisfies the other keywords");
}

static void gen_alternatives(js *c, json_t *s, const char *path, gtext *o) {
  const char *kw = json_object_get(s, "anyOf") ? "anyOf" : "oneOf";
  json_t *br = json_object_get(s, kw);
  if (!json_is_array(br) || !json_array_size(br)) {
    js_err(c, path, "'%s' must be a non-empty array", kw);
    return;
  }
  json_t *rest = json_copy(s);
  json_object_del(rest, kw);
  size_t n = json_array_size(br);
  json_t **m = calloc(n, sizeof *m);
  if (!m) {
    json_decref(rest);
    js_oom(c);
    return;
  }
  char sub[512];
  for (size_t i = 0; i < n && !c->failed; i++) {
    snprintf(sub, sizeof sub, "%s/%s/%zu", path, kw, i);
    json_t *nb = normalize(c, json_array_get(br, i), sub);
    m[i] = nb ? merge(c, rest, nb, sub) : NULL;
    json_decref(nb);
  }
  if (!strcmp(kw, "oneOf"))
    for (size_t i = 0; i < n && !c->failed; i++)
      for (size_t j = i + 1; j < n && !c->failed; j++)
        if (m[i] && m[j] && !json_is_false(m[i]) && !json_is_false(m[j]) &&
            !make_apart(c, &m[i], &m[j]))
          js_err(c, path, "oneOf branches %zu and %zu may both match one value; only branches "
                          "told apart by type, const/enum values, a required property's "
                          "const/enum, or number ranges are supported", i, j);
  int k = 0;
  gt_puts(o, " (");
  for (size_t i = 0; i < n && !c->failed; i++) {
    if (json_is_false(m[i])) continue;
    snprintf(sub, sizeof sub, "%s/%s/%zu", path, kw, i);
    const char *r = js_rule(c, m[i], "alt", sub);
    gt_printf(o, "%s %s", k++ ? " |" : "", r);
  }
  gt_puts(o, " )");
  if (!k && !c->failed) js_err(c, path, "no branch of %s can match", kw);
  for (size_t i = 0; i < n; i++) json_decref(m[i]);
  free(m);
  json_decref(rest);
}

static void gen_flat(js *c, json_t *s, const char *path, gtext *o) {
  if (json_is_false(s)) {
    js_err(c, path, "the schema matches nothing");
    return;
  }
  if (is_lone_ref(s)) {
    gt_printf(o, " %s", ref_rule(c, json_string_value(json_object_get(s, "$ref")), path));
    return;
  }
  if (json_object_get(s, "enum") || json_object_get(s, "const")) {
    gen_enum(c, s, path, o);
    return;
  }
  if (json_object_get(s, "anyOf") || json_object_get(s, "oneOf")) {
    gen_alternatives(c, s, path, o);
    return;
  }
  json_t *type = json_object_get(s, "type");
  if (type && !json_is_string(type) && !(json_is_array(type) && json_array_size(type))) {
    js_err(c, path, "'type' must be a string or a non-empty list of strings");
    return;
  }
  static const char *const all_types[] = {"null", "boolean", "object", "array", "string",
                                          "number", NULL};
  json_t *types = json_array();
  if (type) {
    json_t *l = type_list(type);
    /* number already holds the integers */
    size_t i;
    json_t *x;
    json_array_foreach(l, i, x) {
      if (!json_is_string(x)) {
        js_err(c, path, "'type' must list strings");
        break;
      }
      if (!strcmp(json_string_value(x), "integer") && has_type(l, "number")) continue;
      json_array_append(types, x);
    }
    json_decref(l);
  } else {
    for (const char *const *t = all_types; *t; t++) json_array_append_new(types, json_string(*t));
  }
  json_t *not = json_object_get(s, "not");
  int nonint = 0;
  if (not) {
    json_t *nn = normalize(c, not, path);
    if (nn && json_object_size(nn) == 1 && json_object_get(nn, "type")) {
      json_t *excl = type_list(json_object_get(nn, "type")), *keep = json_array();
      size_t i;
      json_t *x;
      json_array_foreach(types, i, x) {
        const char *t = json_string_value(x);
        if (has_type(excl, t) || (!strcmp(t, "integer") && has_type(excl, "number"))) continue;
        /* numbers that are not integers */
        if (!strcmp(t, "number") && has_type(excl, "integer")) nonint = 1;
        json_array_append(keep, x);
      }
      json_decref(excl);
      json_decref(types);
      types = keep;
    } else if (nn && !c->failed) {
      js_err(c, path, "'not' is supported only around a 'type'");
    }
    json_decref(nn);
  }
  json_t *typed = s;
  if (nonint) {
    typed = json_copy(s);
    json_object_set_new(typed, JS_NONINT, json_true());
  }
  if (!json_array_size(types) && !c->failed) js_err(c, path, "no type is left to match");
  size_t n = json_array_size(types);
  if (n > 1) gt_puts(o, " (");
  for (size_t i = 0; i < n && !c->failed; i++) {
    if (i) gt_puts(o, " |");
    gen_typed(c, typed, json_string_value(json_array_get(types, i)), path, o);
  }
  if (n > 1) gt_puts(o, " )");
  if (typed != s) json_decref(typed);
  json_decref(types);
}

void js_value(js *c, json_t *s, const char *path, gtext *o) {
  if (c->failed) return;
  if (++c->depth > MAX_DEPTH) {
    js_err(c, path, "schemas nest or refer to each other too deeply");
  } else {
    json_t *n = normalize(c, s, path);
    if (n) gen_flat(c, n, path, o);
    json_decref(n);
  }
  c->depth--;
}

const char *js_rule(js *c, json_t *s, const char *hint, const char *path) {
  const char *name = js_name(c, hint);
  define_rule(c, name, s, path);
  return name;
}

/* ---- the whole grammar ---- */

static int draft_of(json_t *doc) {
  json_t *sv = json_is_object(doc) ? json_object_get(doc, "$schema") : NULL;
  const char *s = json_string_value(sv);
  if (!s) return 2020;
  if (strstr(s, "draft-04") || strstr(s, "draft-03")) return 4;
  if (strstr(s, "draft-06")) return 6;
  if (strstr(s, "draft-07")) return 7;
  if (strstr(s, "2019-09")) return 2019;
  return 2020;
}

static void free_state(js *c) {
  gt_free(&c->rules);
  for (size_t i = 0; i < c->n_refs; i++) free(c->refs[i].ptr);
  free(c->refs);
  for (size_t i = 0; i < c->cap_names; i++) free(c->names[i]);
  free(c->names);
}

/* The grammar of schema, a part of doc; a nested conversion (for constants) inherits
 * the options and the depth of parent. */
static char *convert_with(const js *opts, json_t *doc, json_t *schema, int depth, char *err,
                          size_t errlen) {
  js c = {.doc = doc, .err = err, .errlen = errlen, .ws = opts->ws, .strict = opts->strict,
          .any_order = opts->any_order, .draft = opts->draft, .depth = depth};
  err[0] = 0;
  gtext body = {0};
  js_name(&c, "root");
  js_value(&c, schema, "#", &body);
  gtext out = {0};
  if (!c.failed) {
    const char *W = js_W(&c);
    gt_puts(&out, "root ::=");
    gt_putn(&out, body.s ? body.s : "", body.n);
    gt_puts(&out, "\n");
    gt_putn(&out, c.rules.s ? c.rules.s : "", c.rules.n);
    if (c.ws) gt_puts(&out, "ws ::= ( \" \" | \"\\n\" [ \\t]{0,8} )?\n");
    if (c.need_value) {
      c.need_string = c.need_number = 1;
      gt_printf(&out,
                "j-value ::= j-object | j-array | j-string | j-number | \"true\" | \"false\" | "
                "\"null\"\n"
                "j-object ::= \"{\"%s ( j-string%s \":\"%s j-value (%s \",\"%s j-string%s "
                "\":\"%s j-value )* )?%s \"}\"\n"
                "j-array ::= \"[\"%s ( j-value (%s \",\"%s j-value )* )?%s \"]\"\n",
                W, W, W, W, W, W, W, W, W, W, W, W);
    }
    if (c.need_string) {
      c.need_char = 1;
      gt_puts(&out, "j-string ::= \"\\\"\" j-char* \"\\\"\"\n");
    }
    if (c.need_char)
      /* \u escapes exclude surrogates, which no JSON parser accepts alone */
      gt_puts(&out,
              "j-char ::= [^\"\\\\\\x00-\\x1F] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" ( "
              "[0-9a-cA-Ce-fE-F] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2} ) )\n");
    if (c.need_key) gt_puts(&out, "j-kchar ::= [^\"\\\\\\x00-\\x1F]\n");
    if (c.need_number)
      gt_puts(&out,
              "j-number ::= \"-\"? ( \"0\" | [1-9] [0-9]{0,15} ) ( \".\" [0-9]{1,15} )? "
              "( [eE] [-+]? [0-9]{1,2} )?\n");
    if (c.need_int) gt_puts(&out, "j-integer ::= \"-\"? ( \"0\" | [1-9] [0-9]{0,16} )\n");
    if (c.need_never) gt_puts(&out, "j-never ::= [^\\x00-\\U0010FFFF]\n");
  }
  gt_free(&body);
  free_state(&c);
  if (c.failed) {
    gt_free(&out);
    return NULL;
  }
  char *s = gt_take(&out);
  if (!s) snprintf(err, errlen, "out of memory");
  return s;
}

static char *convert(js *parent, json_t *doc, json_t *schema, char *err, size_t errlen) {
  return convert_with(parent, doc, schema, parent->depth + 1, err, errlen);
}

char *dkg_json_schema_to_gbnf_opts(const char *schema_json, size_t len,
                                   const dkg_schema_opts *opts, char *err, size_t errlen) {
  if (len > DKG_MAX_TEXT) {
    snprintf(err, errlen, "the schema is longer than %u bytes", (unsigned)DKG_MAX_TEXT);
    return NULL;
  }
  json_error_t je;
  json_t *root = json_loadb(schema_json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
  if (!root) {
    snprintf(err, errlen, "schema is not valid JSON: line %d, column %d: %s", je.line,
             je.column, je.text);
    return NULL;
  }
  js o = {.ws = opts->ws, .strict = opts->strict, .any_order = opts->any_order,
          .draft = draft_of(root)};
  char *s = convert_with(&o, root, root, 0, err, errlen);
  json_decref(root);
  return s;
}

char *dkg_json_schema_to_gbnf(const char *schema_json, size_t len, int ws, char *err,
                              size_t errlen) {
  dkg_schema_opts o = {.ws = ws};
  return dkg_json_schema_to_gbnf_opts(schema_json, len, &o, err, errlen);
}
