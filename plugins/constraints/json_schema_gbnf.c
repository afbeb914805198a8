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
  /* A base in the helpers' reserved names would never find a free suffix. */
  if (!strncmp(base, "j-", 2) || !strcmp(base, "ws")) {
    memmove(base + 2, base, n + 1);
    memcpy(base, "r-", 2);
  }
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

/* ---- membership through the grammar ---- */

static char *convert(js *parent, json_t *doc, json_t *schema, char *err, size_t errlen);

void js_accepts_forget(js *c) {
  dkg_checker_free(c->acc_k);
  json_decref(c->acc_schema);
  c->acc_k = NULL;
  c->acc_schema = NULL;
}

int js_accepts(js *c, json_t *s, json_t *v, const char *path) {
  if (c->depth > JS_MAX_DEPTH) {
    js_err(c, path, "schemas nest too deeply to check their constants");
    return -1;
  }
  /* the checker of the last schema is kept: an enum checks each value against the
   * same schema */
  if (c->acc_schema != s) {
    char msg[512];
    char *g = convert(c, c->doc, s, msg, sizeof msg);
    dkg_checker *k = g ? dkg_checker_new(g, strlen(g), msg, sizeof msg) : NULL;
    free(g);
    if (!k) {
      js_err(c, path, "%s", msg);
      return -1;
    }
    dkg_checker_free(c->acc_k);
    json_decref(c->acc_schema);
    c->acc_k = k;
    c->acc_schema = json_incref(s);
  }
  char *d = js_dump(v);
  int r = d ? dkg_checker_run(c->acc_k, d, strlen(d), NULL) : -1;
  free(d);
  if (r < 0) js_err(c, path, "cannot check a constant against the schema");
  return r;
}

/* ---- the value dispatch ---- */

static void gen_typed(js *c, json_t *s, const char *type, const char *path, gtext *o) {
  static const char *const obj_kw[] = {"properties", "required", "additionalProperties",
                                       "patternProperties", "minProperties", "maxProperties",
                                       "propertyNames",
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
  json_t *tmp, *lit = js_literals(s, &tmp);
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
    if (ok && json_object_get(s, JS_NONINT)) ok = js_kind_of_value(x) != K_INT;
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

/* Whether an object-only schema requires a property it cannot hold (declared with a
 * schema that matches nothing, or undeclared where no other property may appear):
 * 1, 0, or -1 on an error. Such a branch of anyOf or oneOf is dropped, not refused. */
static int requires_impossible(js *c, json_t *s, const char *path) {
  json_t *t = json_object_get(s, "type"), *req = json_object_get(s, "required");
  if (!json_is_string(t) || strcmp(json_string_value(t), "object") || !json_is_array(req))
    return 0;
  json_t *props = json_object_get(s, "properties"), *add = json_object_get(s, "additionalProperties");
  int closed = !json_object_get(s, "patternProperties") && add &&
               (json_is_false(add) || (json_is_object(add) && js_never(c, add, path) == 1));
  size_t i;
  json_t *x;
  json_array_foreach(req, i, x) {
    const char *p = json_string_value(x);
    json_t *ps = p && json_is_object(props) ? json_object_get(props, p) : NULL;
    if (!p) continue;
    if (ps) {
      int nv = js_never(c, ps, path);
      if (nv) return nv;
    } else if (closed) {
      return 1;
    }
  }
  return c->failed ? -1 : 0;
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
    json_t *nb = js_normalize(c, json_array_get(br, i), sub);
    m[i] = nb ? js_merge(c, rest, nb, sub) : NULL;
    json_decref(nb);
    int imp = m[i] ? requires_impossible(c, m[i], sub) : 0;
    if (imp > 0) {
      json_decref(m[i]);
      m[i] = json_false();
    }
  }
  json_t **m0 = NULL;
  if (!strcmp(kw, "oneOf") && !c->failed) {
    m0 = calloc(n, sizeof *m0);
    if (!m0) js_oom(c);
    for (size_t i = 0; m0 && i < n; i++) m0[i] = json_deep_copy(m[i]);
  }
  if (m0)
    for (size_t i = 0; i < n && !c->failed; i++)
      for (size_t j = i + 1; j < n && !c->failed; j++)
        if (m[i] && m[j] && !json_is_false(m[i]) && !json_is_false(m[j]) &&
            !js_make_apart(c, &m[i], &m[j], m0[i], m0[j]))
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
  for (size_t i = 0; i < n; i++) {
    json_decref(m[i]);
    if (m0) json_decref(m0[i]);
  }
  free(m);
  free(m0);
  json_decref(rest);
}

static void gen_flat(js *c, json_t *s, const char *path, gtext *o) {
  if (json_is_false(s)) {
    js_err(c, path, "the schema matches nothing");
    return;
  }
  if (js_is_lone_ref(s)) {
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
    json_t *l = js_type_list(type);
    /* number already holds the integers */
    size_t i;
    json_t *x;
    json_array_foreach(l, i, x) {
      if (!json_is_string(x)) {
        js_err(c, path, "'type' must list strings");
        break;
      }
      if (!strcmp(json_string_value(x), "integer") && js_has_type(l, "number")) continue;
      json_array_append(types, x);
    }
    json_decref(l);
  } else {
    for (const char *const *t = all_types; *t; t++) json_array_append_new(types, json_string(*t));
  }
  json_t *not = json_object_get(s, "not");
  int nonint = 0;
  if (not) {
    json_t *nn = js_normalize(c, not, path);
    if (nn && json_object_size(nn) == 1 && json_object_get(nn, "type")) {
      json_t *excl = js_type_list(json_object_get(nn, "type")), *keep = json_array();
      size_t i;
      json_t *x;
      json_array_foreach(types, i, x) {
        const char *t = json_string_value(x);
        if (js_has_type(excl, t) || (!strcmp(t, "integer") && js_has_type(excl, "number"))) continue;
        /* numbers that are not integers */
        if (!strcmp(t, "number") && js_has_type(excl, "integer")) nonint = 1;
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
  if (++c->depth > JS_MAX_DEPTH) {
    js_err(c, path, "schemas nest or refer to each other too deeply");
  } else {
    json_t *n = js_normalize(c, s, path);
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
  js_accepts_forget(c);
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

