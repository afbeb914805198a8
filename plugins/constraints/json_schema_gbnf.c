/* json_schema_gbnf.c -- JSON Schema (a Draft 2020-12 subset) translated to GBNF */
#include "gbnf_text.h"
#include "grammar.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct jref {
  char *ptr, *rule;
} jref;

typedef struct js {
  gtext rules;
  json_t *root;
  int ws;
  char *err;
  size_t errlen;
  int failed;
  jref *refs;
  size_t n_refs, cap_refs;
  char **names;
  size_t n_names, cap_names;
  unsigned need_value, need_string, need_number, need_int, need_char;
} js;

static void js_err(js *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void js_err(js *c, const char *path, const char *fmt, ...) {
  if (c->failed) return;
  c->failed = 1;
  int k = snprintf(c->err, c->errlen, "schema %s: ", path);
  if (k < 0 || (size_t)k >= c->errlen) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->err + k, c->errlen - (size_t)k, fmt, ap);
  va_end(ap);
}

static const char *const annotations[] = {
    "$schema", "$id", "$comment", "$anchor", "title", "description", "default", "examples",
    "deprecated", "readOnly", "writeOnly", "$defs", "definitions", NULL};
static const char *const supported[] = {
    "type", "properties", "required", "additionalProperties", "items", "prefixItems", "enum",
    "const", "anyOf", "oneOf", "allOf", "$ref", "minLength", "maxLength", "minItems",
    "maxItems", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "pattern",
    "format", NULL};

static int in_list(const char *const *l, const char *k) {
  for (; *l; l++)
    if (!strcmp(*l, k)) return 1;
  return 0;
}

/* Rule names are built from the path of the schema, made unique with a suffix. */
static const char *new_name(js *c, const char *hint) {
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
  char name[128];
  for (unsigned k = 0;; k++) {
    if (k) snprintf(name, sizeof name, "%s-%u", base, k);
    else snprintf(name, sizeof name, "%s", base);
    int used = !strncmp(name, "j-", 2) || !strcmp(name, "ws");   /* reserved for helpers */
    for (size_t i = 0; i < c->n_names && !used; i++) used = !strcmp(c->names[i], name);
    if (!used) break;
  }
  if (c->n_names == c->cap_names) {
    size_t nc = c->cap_names ? c->cap_names * 2 : 32;
    char **nn = realloc(c->names, nc * sizeof *nn);
    if (!nn) {
      c->rules.oom = 1;
      return "r";
    }
    c->names = nn;
    c->cap_names = nc;
  }
  size_t len = strlen(name) + 1;
  char *s = malloc(len);
  if (!s) {
    c->rules.oom = 1;
    return "r";
  }
  memcpy(s, name, len);
  c->names[c->n_names++] = s;
  return s;
}

static const char *W(const js *c) { return c->ws ? " ws" : ""; }

static void gen_value(js *c, json_t *s, const char *path, gtext *out);

/* Appends the rule `name ::= <schema s>` to the grammar. */
static void emit_rule(js *c, const char *name, json_t *s, const char *path) {
  gtext body = {0};
  gen_value(c, s, path, &body);
  if (!c->failed) {
    gt_printf(&c->rules, "%s ::=", name);
    gt_putn(&c->rules, body.s ? body.s : "", body.n);
    gt_puts(&c->rules, "\n");
  }
  gt_free(&body);
}

/* Defines a rule for schema s and returns its name. */
static const char *gen_rule(js *c, json_t *s, const char *hint, const char *path) {
  const char *name = new_name(c, hint);
  emit_rule(c, name, s, path);
  return name;
}

static json_t *resolve_ref(js *c, const char *ref, const char *path) {
  if (ref[0] != '#') {
    js_err(c, path, "only local references (\"#...\") are supported, not '%s'", ref);
    return NULL;
  }
  json_t *cur = c->root;
  const char *p = ref + 1;
  if (*p && *p != '/') {
    js_err(c, path, "unsupported reference '%s' (use a JSON pointer like #/$defs/name)", ref);
    return NULL;
  }
  while (*p == '/' && cur) {
    p++;
    char tok[256];
    size_t n = 0;
    while (*p && *p != '/' && n < sizeof tok - 1) {
      if (p[0] == '~' && p[1] == '1') {
        tok[n++] = '/';
        p += 2;
      } else if (p[0] == '~' && p[1] == '0') {
        tok[n++] = '~';
        p += 2;
      } else {
        tok[n++] = *p++;
      }
    }
    tok[n] = 0;
    if (json_is_object(cur)) cur = json_object_get(cur, tok);
    else if (json_is_array(cur)) cur = json_array_get(cur, (size_t)strtoul(tok, NULL, 10));
    else cur = NULL;
  }
  if (!cur) js_err(c, path, "reference '%s' does not resolve", ref);
  return cur;
}

static const char *ref_rule(js *c, const char *ref, const char *path) {
  for (size_t i = 0; i < c->n_refs; i++)
    if (!strcmp(c->refs[i].ptr, ref)) return c->refs[i].rule;
  json_t *target = resolve_ref(c, ref, path);
  if (!target) return "r";
  if (c->n_refs == c->cap_refs) {
    size_t nc = c->cap_refs ? c->cap_refs * 2 : 8;
    jref *nr = realloc(c->refs, nc * sizeof *nr);
    if (!nr) {
      c->rules.oom = 1;
      return "r";
    }
    c->refs = nr;
    c->cap_refs = nc;
  }
  const char *slash = strrchr(ref, '/');
  const char *name = new_name(c, slash ? slash + 1 : "root-ref");
  size_t len = strlen(ref) + 1;
  char *copy = malloc(len);
  if (!copy) {
    c->rules.oom = 1;
    return "r";
  }
  memcpy(copy, ref, len);
  c->refs[c->n_refs].ptr = copy;
  c->refs[c->n_refs].rule = (char *)name;
  c->n_refs++;
  /* registered before generating, so recursive schemas refer back to the rule */
  emit_rule(c, name, target, ref);
  return name;
}

static void put_json_literal(js *c, json_t *v, const char *path, gtext *out) {
  char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  if (!d) {
    js_err(c, path, "cannot serialise a constant");
    return;
  }
  gt_puts(out, " ");
  gt_literal(out, d, strlen(d));
  free(d);
}

/* ---- integers with bounds ---- */

/* Numbers of exactly the digits of lo..hi (same length, no sign). */
static void fixed_range(gtext *o, const char *lo, const char *hi, size_t n) {
  if (n == 0) return;
  if (!memcmp(lo, hi, n)) {
    gt_puts(o, " ");
    gt_literal(o, lo, n);
    return;
  }
  if (lo[0] == hi[0]) {
    gt_printf(o, " \"%c\"", lo[0]);
    fixed_range(o, lo + 1, hi + 1, n - 1);
    return;
  }
  int lo_zero = 1, hi_nine = 1;
  for (size_t i = 1; i < n; i++) {
    if (lo[i] != '0') lo_zero = 0;
    if (hi[i] != '9') hi_nine = 0;
  }
  char nines[24], zeros[24];
  memset(nines, '9', sizeof nines);
  memset(zeros, '0', sizeof zeros);
  gt_puts(o, " (");
  int first = 1;
  char start = lo[0], end = hi[0];
  if (!lo_zero) {
    gt_printf(o, " \"%c\"", lo[0]);
    fixed_range(o, lo + 1, nines, n - 1);
    first = 0;
    start++;
  }
  if (!hi_nine) end--;
  if (start <= end) {
    gt_printf(o, "%s [%c-%c]", first ? "" : " |", start, end);
    if (n > 1) gt_printf(o, " [0-9]{%zu}", n - 1);
    first = 0;
  }
  if (!hi_nine) {
    gt_printf(o, "%s \"%c\"", first ? "" : " |", hi[0]);
    fixed_range(o, zeros, hi + 1, n - 1);
  }
  gt_puts(o, " )");
}

#define MAX_DIGITS 18

/* Non-negative integers in [a, b]; b < 0 means unbounded (up to MAX_DIGITS digits). */
static void nonneg_range(gtext *o, long long a, long long b) {
  char sa[32], sb[32];
  int la = snprintf(sa, sizeof sa, "%lld", a);
  int lb = b >= 0 ? snprintf(sb, sizeof sb, "%lld", b) : MAX_DIGITS;
  gt_puts(o, " (");
  for (int len = la; len <= lb; len++) {
    char lo[32], hi[32];
    if (len == la) memcpy(lo, sa, (size_t)la);
    else {
      lo[0] = '1';
      memset(lo + 1, '0', (size_t)len - 1);
    }
    if (b >= 0 && len == lb) memcpy(hi, sb, (size_t)lb);
    else memset(hi, '9', (size_t)len);
    if (len > la) gt_puts(o, " |");
    if (b < 0 && len > la && len < lb) {
      /* every longer length up to the cap in one repetition */
      gt_printf(o, " [1-9] [0-9]{%d,%d}", len - 1, MAX_DIGITS - 1);
      break;
    }
    fixed_range(o, lo, hi, (size_t)len);
  }
  gt_puts(o, " )");
}

static int get_int_bound(js *c, json_t *s, const char *key, const char *path, long long *out) {
  json_t *v = json_object_get(s, key);
  if (!v) return 0;
  double d;
  if (json_is_integer(v)) d = (double)json_integer_value(v);
  else if (json_is_real(v)) d = json_real_value(v);
  else {
    js_err(c, path, "'%s' must be a number", key);
    return 0;
  }
  if (fabs(d) > 1e17) {
    js_err(c, path, "'%s' is too large", key);
    return 0;
  }
  int is_max = !strcmp(key, "maximum") || !strcmp(key, "exclusiveMaximum");
  long long k = (long long)(is_max ? floor(d) : ceil(d));
  if (!strcmp(key, "exclusiveMinimum") && (double)k == d) k++;
  if (!strcmp(key, "exclusiveMaximum") && (double)k == d) k--;
  *out = k;
  return 1;
}

static void gen_integer(js *c, json_t *s, const char *path, gtext *o) {
  long long lo = 0, hi = 0, t;
  int has_lo = 0, has_hi = 0;
  if (get_int_bound(c, s, "minimum", path, &t)) lo = t, has_lo = 1;
  if (get_int_bound(c, s, "exclusiveMinimum", path, &t) && (!has_lo || t > lo)) lo = t, has_lo = 1;
  if (get_int_bound(c, s, "maximum", path, &t)) hi = t, has_hi = 1;
  if (get_int_bound(c, s, "exclusiveMaximum", path, &t) && (!has_hi || t < hi)) hi = t, has_hi = 1;
  if (c->failed) return;
  if (!has_lo && !has_hi) {
    c->need_int = 1;
    gt_puts(o, " j-integer");
    return;
  }
  if (has_lo && has_hi && lo > hi) {
    js_err(c, path, "the integer range [%lld, %lld] is empty", lo, hi);
    return;
  }
  gt_puts(o, " (");
  int any = 0;
  /* negative part: -(magnitudes) */
  if (!has_lo || lo < 0) {
    long long mag_lo = has_hi && hi < 0 ? -hi : 1;
    long long mag_hi = has_lo ? -lo : -1;
    gt_puts(o, " \"-\"");
    nonneg_range(o, mag_lo, mag_hi);
    any = 1;
  }
  if (!has_hi || hi >= 0) {
    if (any) gt_puts(o, " |");
    nonneg_range(o, has_lo && lo > 0 ? lo : 0, has_hi ? hi : -1);
  }
  gt_puts(o, " )");
}

/* ---- strings ---- */

static const struct {
  const char *name, *gbnf;
} formats[] = {
    {"date", "[0-9]{4} \"-\" ( \"0\" [1-9] | \"1\" [0-2] ) \"-\" ( \"0\" [1-9] | [12] [0-9] | \"3\" [01] )"},
    {"time", "( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] \":\" [0-5] [0-9] ( \".\" [0-9]{1,6} )? "
             "( \"Z\" | [+-] ( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] )"},
    {"date-time", NULL},
    {"uuid", "[0-9a-f]{8} \"-\" [0-9a-f]{4} \"-\" [1-8] [0-9a-f]{3} \"-\" [89ab] [0-9a-f]{3} \"-\" "
             "[0-9a-f]{12}"},
    /* Unbounded parts rather than RFC 5321's 64/63-byte limits: a bounded
     * repeat is one parser state per position, each costing a full walk of
     * the vocabulary trie, which made email fields the slowest masks. */
    {"email", "[a-zA-Z0-9_%+-] [a-zA-Z0-9._%+-]* \"@\" [a-zA-Z0-9] [a-zA-Z0-9-]* "
              "( \".\" [a-zA-Z0-9] [a-zA-Z0-9-]* ){1,4}"},
};

static void gen_string(js *c, json_t *s, const char *path, gtext *o) {
  json_t *fmt = json_object_get(s, "format"), *pat = json_object_get(s, "pattern");
  json_t *mn = json_object_get(s, "minLength"), *mx = json_object_get(s, "maxLength");
  if ((fmt || pat) && (mn || mx)) {
    js_err(c, path, "'%s' together with minLength/maxLength is not supported",
           fmt ? "format" : "pattern");
    return;
  }
  if (fmt && pat) {
    js_err(c, path, "'format' together with 'pattern' is not supported");
    return;
  }
  if (fmt) {
    const char *f = json_string_value(fmt);
    if (!f) {
      js_err(c, path, "'format' must be a string");
      return;
    }
    for (size_t i = 0; i < sizeof formats / sizeof *formats; i++) {
      if (strcmp(formats[i].name, f)) continue;
      gt_puts(o, " \"\\\"\" ");
      if (formats[i].gbnf) gt_puts(o, formats[i].gbnf);
      else gt_printf(o, "%s \"T\" %s", formats[0].gbnf, formats[1].gbnf);
      gt_puts(o, " \"\\\"\"");
      return;
    }
    js_err(c, path, "unsupported format '%s' (supported: date, time, date-time, uuid, email)", f);
    return;
  }
  if (pat) {
    const char *p = json_string_value(pat);
    if (!p) {
      js_err(c, path, "'pattern' must be a string");
      return;
    }
    int as, ae;
    c->need_char = 1;
    gt_puts(o, " \"\\\"\"");
    size_t mark = o->n;
    gt_puts(o, " ");
    if (dkg_regex_expr(p, 1, &as, &ae, o, c->err, c->errlen)) {
      c->failed = 1;
      return;
    }
    if (!as) {   /* JSON Schema patterns search anywhere in the string */
      gtext t = {0};
      gt_puts(&t, " j-char*");
      gt_putn(&t, o->s + mark, o->n - mark);
      o->n = mark;
      gt_putn(o, t.s, t.n);
      gt_free(&t);
    }
    if (!ae) gt_puts(o, " j-char*");
    gt_puts(o, " \"\\\"\"");
    return;
  }
  if (mn || mx) {
    json_int_t a = mn ? json_integer_value(mn) : 0, b = mx ? json_integer_value(mx) : -1;
    if ((mn && !json_is_integer(mn)) || (mx && !json_is_integer(mx)) || a < 0 ||
        (mx && b < a) || b > 100000) {
      js_err(c, path, "minLength/maxLength must be integers with 0 <= minLength <= maxLength");
      return;
    }
    c->need_char = 1;
    if (mx) gt_printf(o, " \"\\\"\" j-char{%lld,%lld} \"\\\"\"", (long long)a, (long long)b);
    else gt_printf(o, " \"\\\"\" j-char{%lld,} \"\\\"\"", (long long)a);
    return;
  }
  c->need_string = 1;
  gt_puts(o, " j-string");
}

/* ---- objects ---- */

typedef struct member {
  const char *key;
  const char *rule;
  int required;
} member;

static void gen_object(js *c, json_t *s, const char *path, gtext *o) {
  json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
  json_t *add = json_object_get(s, "additionalProperties");
  if ((props && !json_is_object(props)) || (req && !json_is_array(req)) ||
      (add && !json_is_boolean(add) && !json_is_object(add))) {
    js_err(c, path, "malformed properties/required/additionalProperties");
    return;
  }
  size_t np = props ? json_object_size(props) : 0, nr = req ? json_array_size(req) : 0;
  member *m = calloc(np + nr + 1, sizeof *m);
  if (!m) {
    c->rules.oom = 1;
    return;
  }
  size_t n = 0;
  char sub[512];
  const char *key;
  json_t *val;
  json_object_foreach(props, key, val) {
    snprintf(sub, sizeof sub, "%s/properties/%s", path, key);
    m[n].key = key;
    m[n].rule = gen_rule(c, val, key, sub);
    n++;
  }
  int extra = add && !json_is_false(add);
  const char *extra_rule = NULL;
  if (extra) {
    snprintf(sub, sizeof sub, "%s/additionalProperties", path);
    extra_rule = json_is_true(add) ? NULL : gen_rule(c, add, "additional", sub);
    if (!extra_rule) c->need_value = 1;
  }
  for (size_t i = 0; i < nr && !c->failed; i++) {
    const char *r = json_string_value(json_array_get(req, i));
    if (!r) {
      js_err(c, path, "'required' must list strings");
      break;
    }
    size_t k = 0;
    while (k < n && strcmp(m[k].key, r)) k++;
    if (k == n) {
      if (add && json_is_false(add)) {
        js_err(c, path, "required property '%s' is not allowed by additionalProperties: false", r);
        break;
      }
      /* required but undeclared: its value follows additionalProperties */
      m[n].key = r;
      if (!extra_rule) c->need_value = 1;
      m[n].rule = extra_rule ? extra_rule : "j-value";
      n++;
    }
    m[k].required = 1;
  }
  if (c->failed) {
    free(m);
    return;
  }
  c->need_string |= extra;
  const char *base = new_name(c, path[0] ? path : "object");
  /* F-i: members from i on with none written yet; N-i: after at least one */
  for (size_t i = n + 1; i-- > 0;) {
    gtext kv = {0};
    if (i < n) {
      json_t *ks = json_string(m[i].key);
      char *kd = ks ? json_dumps(ks, JSON_ENCODE_ANY) : NULL;
      json_decref(ks);
      if (!kd) {
        c->rules.oom = 1;
        gt_free(&kv);
        break;
      }
      gt_puts(&kv, " ");
      gt_literal(&kv, kd, strlen(kd));
      free(kd);
      gt_printf(&kv, "%s \":\"%s %s", W(c), W(c), m[i].rule);
    }
    if (i == n) {
      if (extra) {
        gt_printf(&c->rules, "%s-n%zu ::= (%s \",\"%s j-string%s \":\"%s %s )*\n", base, i, W(c),
                  W(c), W(c), W(c), extra_rule ? extra_rule : "j-value");
        gt_printf(&c->rules, "%s-f%zu ::= ( j-string%s \":\"%s %s %s-n%zu )?\n", base, i, W(c),
                  W(c), extra_rule ? extra_rule : "j-value", base, i);
      } else {
        gt_printf(&c->rules, "%s-n%zu ::= \"\"\n%s-f%zu ::= \"\"\n", base, i, base, i);
      }
    } else if (m[i].required) {
      gt_printf(&c->rules, "%s-n%zu ::=%s \",\"%s%s %s-n%zu\n", base, i, W(c), W(c),
                kv.s ? kv.s : "", base, i + 1);
      gt_printf(&c->rules, "%s-f%zu ::=%s %s-n%zu\n", base, i, kv.s ? kv.s : "", base, i + 1);
    } else {
      gt_printf(&c->rules, "%s-n%zu ::= (%s \",\"%s%s )? %s-n%zu\n", base, i, W(c), W(c),
                kv.s ? kv.s : "", base, i + 1);
      gt_printf(&c->rules, "%s-f%zu ::=%s %s-n%zu | %s-f%zu\n", base, i, kv.s ? kv.s : "", base,
                i + 1, base, i + 1);
    }
    gt_free(&kv);
  }
  gt_printf(o, " \"{\"%s %s-f0%s \"}\"", W(c), base, W(c));
  free(m);
}

/* ---- arrays ---- */

static void gen_array(js *c, json_t *s, const char *path, gtext *o) {
  json_t *pre = json_object_get(s, "prefixItems"), *items = json_object_get(s, "items");
  json_t *mn = json_object_get(s, "minItems"), *mx = json_object_get(s, "maxItems");
  if (items && json_is_array(items)) {
    js_err(c, path, "'items' as an array is the pre-2020 tuple form; use 'prefixItems'");
    return;
  }
  if ((pre && !json_is_array(pre)) || (mn && !json_is_integer(mn)) ||
      (mx && !json_is_integer(mx))) {
    js_err(c, path, "malformed prefixItems/minItems/maxItems");
    return;
  }
  long long lo = mn ? (long long)json_integer_value(mn) : 0;
  long long hi = mx ? (long long)json_integer_value(mx) : -1;
  size_t np = pre ? json_array_size(pre) : 0;
  if (items && json_is_false(items) && (hi < 0 || hi > (long long)np)) hi = (long long)np;
  if (lo < 0 || (hi >= 0 && hi < lo) || hi > 10000 || lo > 10000) {
    js_err(c, path, "minItems/maxItems must satisfy 0 <= minItems <= maxItems <= 10000");
    return;
  }
  const char **er = calloc(np + 1, sizeof *er);
  if (!er) {
    c->rules.oom = 1;
    return;
  }
  char sub[512];
  for (size_t i = 0; i < np; i++) {
    snprintf(sub, sizeof sub, "%s/prefixItems/%zu", path, i);
    er[i] = gen_rule(c, json_array_get(pre, i), "item", sub);
  }
  const char *ir = NULL;
  if (!items || json_is_true(items)) {
    c->need_value = 1;
    ir = "j-value";
  } else if (!json_is_false(items)) {
    snprintf(sub, sizeof sub, "%s/items", path);
    ir = gen_rule(c, items, "item", sub);
  }
  if (c->failed) {
    free(er);
    return;
  }
  if (!ir && lo > (long long)np) {
    js_err(c, path, "minItems exceeds the number of prefixItems while items is false");
    free(er);
    return;
  }
  gt_printf(o, " \"[\"%s", W(c));
  /* element k is written as the first or after a comma; nesting closes optional tails */
  int open = 0;
  long long k = 0;
  for (;; k++) {
    if (hi >= 0 && k >= hi) break;
    const char *sep = k ? " \",\"" : "";
    const char *sw = k ? W(c) : "";
    if (k >= (long long)np) {
      /* the rest are all the items schema: one bounded or unbounded repetition */
      long long need = lo > k ? lo - k : 0;
      if (k == 0) {
        /* first element has no comma: x ("," x){n-1,m-1}, optional when lo == 0 */
        if (!need) gt_puts(o, " (");
        gt_printf(o, " %s (%s \",\"%s %s )", ir, W(c), W(c), ir);
        long long rmin = need ? need - 1 : 0;
        if (hi < 0) gt_printf(o, "{%lld,}", rmin);
        else gt_printf(o, "{%lld,%lld}", rmin, hi - 1);
        if (!need) gt_puts(o, " )?");
      } else {
        gt_printf(o, " (%s%s%s %s )", W(c), sep, sw, ir);
        if (hi < 0) gt_printf(o, "{%lld,}", need);
        else gt_printf(o, "{%lld,%lld}", need, hi - k);
      }
      break;
    }
    int optional = k >= lo;
    if (optional) {
      gt_puts(o, " (");
      open++;
    }
    gt_printf(o, "%s%s%s %s", k ? W(c) : "", sep, sw, er[k]);
    if (k + 1 >= (long long)np && !ir) break;
  }
  for (; open > 0; open--) gt_puts(o, " )?");
  gt_printf(o, "%s \"]\"", W(c));
  free(er);
}

/* ---- dispatch ---- */

static int has_any(json_t *s, const char *const *keys) {
  for (; *keys; keys++)
    if (json_object_get(s, *keys)) return 1;
  return 0;
}

static void gen_typed(js *c, json_t *s, const char *type, const char *path, gtext *o) {
  static const char *const num_kw[] = {"minimum", "maximum", "exclusiveMinimum",
                                       "exclusiveMaximum", NULL};
  if (!strcmp(type, "string")) gen_string(c, s, path, o);
  else if (!strcmp(type, "integer")) gen_integer(c, s, path, o);
  else if (!strcmp(type, "number")) {
    if (has_any(s, num_kw)) {
      js_err(c, path, "minimum/maximum are supported for type integer only");
      return;
    }
    c->need_number = 1;
    gt_puts(o, " j-number");
  } else if (!strcmp(type, "boolean")) gt_puts(o, " ( \"true\" | \"false\" )");
  else if (!strcmp(type, "null")) gt_puts(o, " \"null\"");
  else if (!strcmp(type, "object")) gen_object(c, s, path, o);
  else if (!strcmp(type, "array")) gen_array(c, s, path, o);
  else js_err(c, path, "unknown type '%s'", type);
}

/* Merges allOf members (objects only) and the schema's own object keywords. */
static json_t *merge_all_of(js *c, json_t *s, const char *path) {
  json_t *m = json_object(), *props = json_object(), *req = json_array();
  json_t *add = NULL;
  if (!m || !props || !req) {
    json_decref(m);
    json_decref(props);
    json_decref(req);
    c->rules.oom = 1;
    return NULL;
  }
  json_t *all = json_object_get(s, "allOf");
  size_t n = json_is_array(all) ? json_array_size(all) : 0;
  if (!json_is_array(all) || !n) js_err(c, path, "'allOf' must be a non-empty array");
  for (size_t i = 0; i <= n && !c->failed; i++) {
    json_t *part = i < n ? json_array_get(all, i) : s;
    json_t *ref = json_object_get(part, "$ref");
    if (ref && json_is_string(ref)) part = resolve_ref(c, json_string_value(ref), path);
    if (!part || !json_is_object(part)) {
      js_err(c, path, "allOf members must be object schemas");
      break;
    }
    const char *key;
    json_t *val;
    json_object_foreach(part, key, val) {
      if (i < n && (!strcmp(key, "allOf") || !strcmp(key, "$ref"))) {
        js_err(c, path, "nested allOf/$ref inside allOf is not supported");
        break;
      }
      if (in_list(annotations, key) || !strcmp(key, "allOf")) continue;
      if (!strcmp(key, "type")) {
        if (!json_is_string(val) || strcmp(json_string_value(val), "object")) {
          js_err(c, path, "allOf is supported for object schemas only");
          break;
        }
      } else if (!strcmp(key, "properties") && json_is_object(val)) {
        const char *pk;
        json_t *pv;
        json_object_foreach(val, pk, pv) {
          if (json_object_get(props, pk)) {
            js_err(c, path, "allOf: property '%s' is defined twice", pk);
            break;
          }
          json_object_set(props, pk, pv);
        }
      } else if (!strcmp(key, "required") && json_is_array(val)) {
        json_array_extend(req, val);
      } else if (!strcmp(key, "additionalProperties")) {
        if (!add || json_is_false(val)) add = val;
      } else {
        js_err(c, path, "keyword '%s' inside allOf is not supported", key);
        break;
      }
    }
  }
  json_object_set_new(m, "type", json_string("object"));
  json_object_set_new(m, "properties", props);
  json_object_set_new(m, "required", req);
  if (add) json_object_set(m, "additionalProperties", add);
  if (c->failed) {
    json_decref(m);
    return NULL;
  }
  return m;
}

static void gen_value(js *c, json_t *s, const char *path, gtext *o) {
  if (c->failed) return;
  if (json_is_true(s)) {
    c->need_value = 1;
    gt_puts(o, " j-value");
    return;
  }
  if (json_is_false(s)) {
    js_err(c, path, "the schema false matches nothing");
    return;
  }
  if (!json_is_object(s)) {
    js_err(c, path, "a schema must be an object or a boolean");
    return;
  }
  const char *key;
  json_t *val;
  size_t n_constraining = 0;
  json_object_foreach(s, key, val) {
    if (in_list(annotations, key)) continue;
    if (!in_list(supported, key)) {
      js_err(c, path, "unsupported keyword '%s'", key);
      return;
    }
    n_constraining++;
  }
  json_t *ref = json_object_get(s, "$ref");
  if (ref) {
    if (!json_is_string(ref)) {
      js_err(c, path, "'$ref' must be a string");
      return;
    }
    if (n_constraining > 1) {
      js_err(c, path, "'$ref' next to other constraining keywords is not supported");
      return;
    }
    const char *r = ref_rule(c, json_string_value(ref), path);
    gt_printf(o, " %s", r);
    return;
  }
  json_t *cst = json_object_get(s, "const"), *en = json_object_get(s, "enum");
  if (cst || en) {
    if (n_constraining > 1 && !(n_constraining == 2 && json_object_get(s, "type"))) {
      js_err(c, path, "'%s' next to other constraining keywords is not supported",
             cst ? "const" : "enum");
      return;
    }
    if (cst) {
      put_json_literal(c, cst, path, o);
      return;
    }
    if (!json_is_array(en) || !json_array_size(en)) {
      js_err(c, path, "'enum' must be a non-empty array");
      return;
    }
    gt_puts(o, " (");
    for (size_t i = 0; i < json_array_size(en); i++) {
      if (i) gt_puts(o, " |");
      put_json_literal(c, json_array_get(en, i), path, o);
    }
    gt_puts(o, " )");
    return;
  }
  json_t *any = json_object_get(s, "anyOf");
  if (!any) any = json_object_get(s, "oneOf");
  if (any) {
    const char *kw = json_object_get(s, "anyOf") ? "anyOf" : "oneOf";
    if (n_constraining > 1) {
      js_err(c, path, "'%s' next to other constraining keywords is not supported", kw);
      return;
    }
    if (!json_is_array(any) || !json_array_size(any)) {
      js_err(c, path, "'%s' must be a non-empty array", kw);
      return;
    }
    gt_puts(o, " (");
    for (size_t i = 0; i < json_array_size(any) && !c->failed; i++) {
      char sub[512];
      snprintf(sub, sizeof sub, "%s/%s/%zu", path, kw, i);
      if (i) gt_puts(o, " |");
      gt_printf(o, " %s", gen_rule(c, json_array_get(any, i), "alt", sub));
    }
    gt_puts(o, " )");
    return;
  }
  if (json_object_get(s, "allOf")) {
    json_t *m = merge_all_of(c, s, path);
    if (m) gen_object(c, m, path, o);
    json_decref(m);
    return;
  }
  json_t *type = json_object_get(s, "type");
  if (json_is_string(type)) {
    gen_typed(c, s, json_string_value(type), path, o);
  } else if (json_is_array(type) && json_array_size(type)) {
    gt_puts(o, " (");
    for (size_t i = 0; i < json_array_size(type) && !c->failed; i++) {
      const char *t = json_string_value(json_array_get(type, i));
      if (!t) {
        js_err(c, path, "'type' must list strings");
        return;
      }
      if (i) gt_puts(o, " |");
      gen_typed(c, s, t, path, o);
    }
    gt_puts(o, " )");
  } else if (type) {
    js_err(c, path, "'type' must be a string or a list of strings");
  } else {
    static const char *const obj_kw[] = {"properties", "required", "additionalProperties", NULL};
    static const char *const arr_kw[] = {"items", "prefixItems", "minItems", "maxItems", NULL};
    static const char *const str_kw[] = {"minLength", "maxLength", "pattern", "format", NULL};
    static const char *const int_kw[] = {"minimum", "maximum", "exclusiveMinimum",
                                         "exclusiveMaximum", NULL};
    if (has_any(s, obj_kw)) gen_object(c, s, path, o);
    else if (has_any(s, arr_kw)) gen_array(c, s, path, o);
    else if (has_any(s, str_kw)) gen_string(c, s, path, o);
    else if (has_any(s, int_kw)) js_err(c, path, "minimum/maximum need \"type\": \"integer\"");
    else {
      c->need_value = 1;
      gt_puts(o, " j-value");
    }
  }
}

char *dkg_json_schema_to_gbnf(const char *schema_json, size_t len, int ws, char *err,
                              size_t errlen) {
  json_error_t je;
  json_t *root = json_loadb(schema_json, len, JSON_REJECT_DUPLICATES, &je);
  if (!root) {
    snprintf(err, errlen, "schema is not valid JSON: line %d, column %d: %s", je.line,
             je.column, je.text);
    return NULL;
  }
  js c = {.root = root, .ws = ws, .err = err, .errlen = errlen};
  gtext body = {0};
  new_name(&c, "root");
  gen_value(&c, root, "#", &body);
  gtext out = {0};
  if (!c.failed) {
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
                W(&c), W(&c), W(&c), W(&c), W(&c), W(&c), W(&c), W(&c), W(&c), W(&c), W(&c),
                W(&c));
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
    if (c.need_number)
      gt_puts(&out,
              "j-number ::= \"-\"? ( \"0\" | [1-9] [0-9]{0,15} ) ( \".\" [0-9]{1,15} )? "
              "( [eE] [-+]? [0-9]{1,2} )?\n");
    if (c.need_int) gt_puts(&out, "j-integer ::= \"-\"? ( \"0\" | [1-9] [0-9]{0,17} )\n");
  }
  gt_free(&body);
  gt_free(&c.rules);
  for (size_t i = 0; i < c.n_refs; i++) free(c.refs[i].ptr);
  free(c.refs);
  for (size_t i = 0; i < c.n_names; i++) free(c.names[i]);
  free(c.names);
  json_decref(root);
  if (c.failed) {
    gt_free(&out);
    return NULL;
  }
  char *s = gt_take(&out);
  if (!s) snprintf(err, errlen, "out of memory");
  return s;
}
