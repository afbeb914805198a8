/* json_schema_compound.c -- JSON Schema objects and arrays as GBNF */
#include "json_schema_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- keys that are not declared names ---- */

typedef struct tnode {
  uint32_t cp;
  int terminal;
  size_t first_child, next_sibling;   /* indexes + 1, 0 = none */
} tnode;

typedef struct trie {
  tnode *v;
  size_t n, cap;
} trie;

static size_t trie_add_node(trie *t, uint32_t cp) {
  if (t->n == t->cap) {
    size_t nc = t->cap ? t->cap * 2 : 64;
    tnode *nv = realloc(t->v, nc * sizeof *nv);
    if (!nv) return 0;
    t->v = nv;
    t->cap = nc;
  }
  t->v[t->n] = (tnode){cp, 0, 0, 0};
  return ++t->n;
}

static uint32_t utf8_next(const unsigned char **p) {
  const unsigned char *s = *p;
  uint32_t c = s[0];
  int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 4;
  uint32_t v = n == 1 ? c : n == 2 ? (c & 0x1Fu) : n == 3 ? (c & 0x0Fu) : (c & 0x07u);
  for (int i = 1; i < n && s[i]; i++) v = (v << 6) | (s[i] & 0x3Fu);
  *p = s + n;
  return v;
}

/* Keys written raw (no escapes) in the key grammar; a name needing escapes can never
 * be produced by it, so it needs no branch in the trie. */
static int raw_key_char(uint32_t cp) { return cp >= 0x20 && cp != '"' && cp != '\\'; }

static int trie_insert(trie *t, const char *name) {
  size_t cur = 1;   /* the root */
  for (const unsigned char *p = (const unsigned char *)name; *p;) {
    uint32_t cp = utf8_next(&p);
    if (!raw_key_char(cp)) return 0;
    size_t k = t->v[cur - 1].first_child, last = 0;
    while (k && t->v[k - 1].cp != cp) last = k, k = t->v[k - 1].next_sibling;
    if (!k) {
      k = trie_add_node(t, cp);
      if (!k) return -1;
      if (last) t->v[last - 1].next_sibling = k;
      else t->v[cur - 1].first_child = k;
    }
    cur = k;
  }
  t->v[cur - 1].terminal = 1;
  return 0;
}

/* Rules base-kN: the rest of a key after trie node N that does not end on a
 * declared name. Returns the root's rule. */
static void key_rules(js *c, const trie *t, const char *base) {
  c->need_key = 1;
  for (size_t i = 0; i < t->n; i++) {
    const tnode *nd = &t->v[i];
    gt_printf(&c->rules, "%s-k%zu ::=", base, i);
    int alts = 0;
    if (!nd->terminal) {
      gt_puts(&c->rules, " \"\"");
      alts++;
    }
    for (size_t k = nd->first_child; k; k = t->v[k - 1].next_sibling) {
      gt_puts(&c->rules, alts++ ? " | [" : " [");
      gt_class_char(&c->rules, t->v[k - 1].cp);
      gt_printf(&c->rules, "] %s-k%zu", base, k - 1);
    }
    gt_puts(&c->rules, alts ? " | [^" : " [^");
    for (size_t k = nd->first_child; k; k = t->v[k - 1].next_sibling)
      gt_class_char(&c->rules, t->v[k - 1].cp);
    gt_puts(&c->rules, "\\x00-\\x1F\\x22\\x5C] j-kchar*\n");
  }
}

/* A pattern ^[...]*$ or ^[...]+$ over printable ASCII (ranges, single characters, \\d,
 * \\w): its characters in set (quote and backslash left out: keys are written raw)
 * and *plus for +. 1 when pattern has that form, else 0. */
static int class_star_pattern(const char *p, unsigned char set[128], int *plus) {
  memset(set, 0, 128);
  if (p[0] != '^' || p[1] != '[' || p[2] == '^' || p[2] == ']') return 0;
  size_t i = 2;
  while (p[i] && p[i] != ']') {
    unsigned char ch = (unsigned char)p[i];
    if (ch == '\\') {
      const char *add = p[i + 1] == 'd' ? "09" : p[i + 1] == 'w' ? "09azAZ__" : NULL;
      if (!add) return 0;
      for (const char *r = add; *r; r += 2)
        for (int k = r[0]; k <= r[1]; k++) set[k] = 1;
      i += 2;
      continue;
    }
    if (ch < 0x20 || ch >= 0x7F || ch == '[') return 0;
    unsigned char hi = ch;
    if (p[i + 1] == '-' && p[i + 2] && p[i + 2] != ']') {
      hi = (unsigned char)p[i + 2];
      if (hi < ch || hi >= 0x7F || hi == '\\') return 0;
      i += 3;
    } else {
      i++;
    }
    for (int k = ch; k <= hi; k++) set[k] = 1;
  }
  if (p[i] != ']' || (p[i + 1] != '*' && p[i + 1] != '+') || strcmp(p + i + 2, "$")) return 0;
  *plus = p[i + 1] == '+';
  set['"'] = set['\\'] = 0;
  return 1;
}

static void class_of(gtext *o, const unsigned char set[128], const trie *t, const tnode *skip) {
  gt_puts(o, "[");
  for (uint32_t k = 0x20; k < 0x7F; k++) {
    int child = 0;
    for (size_t j = skip ? skip->first_child : 0; j; j = t->v[j - 1].next_sibling)
      child |= t->v[j - 1].cp == k;
    if (set[k] && !child) gt_class_char(o, k);
  }
  gt_puts(o, "]");
}

/* Rules base-pP-N: keys of the class pattern (set, plus) that are no declared name,
 * after trie node N. Class characters missing from a node's children end the
 * comparison with the names; a node whose children cover the whole class has no
 * such branch. */
static void class_key_rules(js *c, const trie *t, const char *base, int pat,
                            const unsigned char set[128], int plus) {
  for (size_t i = 0; i < t->n; i++) {
    const tnode *nd = &t->v[i];
    gt_printf(&c->rules, "%s-p%d-%zu ::=", base, pat, i);
    int alts = 0;
    if (!nd->terminal && !(plus && i == 0)) {
      gt_puts(&c->rules, " \"\"");
      alts++;
    }
    for (size_t k = nd->first_child; k; k = t->v[k - 1].next_sibling) {
      uint32_t cp = t->v[k - 1].cp;
      if (cp >= 0x7F || !set[cp]) continue;
      gt_puts(&c->rules, alts++ ? " | [" : " [");
      gt_class_char(&c->rules, cp);
      gt_printf(&c->rules, "] %s-p%d-%zu", base, pat, k - 1);
    }
    gtext cls = {0};
    class_of(&cls, set, t, nd);
    if (cls.n > 2) {
      gt_printf(&c->rules, "%s%s ", alts++ ? " | " : " ", cls.s);
      class_of(&c->rules, set, t, NULL);
      gt_puts(&c->rules, "*");
    }
    gt_free(&cls);
    if (!alts) gt_puts(&c->rules, " [^\\x00-\\U0010FFFF]");   /* nothing: a rule needs a body */
    gt_puts(&c->rules, "\n");
  }
}

/* ---- whether a key matches a patternProperties regex (a search, as in JSON Schema) ---- */

static int key_matches(js *c, const char *pattern, const char *key, const char *path) {
  gtext g = {0};
  gt_puts(&g, "root ::=");
  if (dkg_regex_search_expr(pattern, 0, "any", &g, c->err, c->errlen)) {
    c->failed = 1;
    gt_free(&g);
    return -1;
  }
  gt_puts(&g, "\n");
  gt_puts(&g, "any ::= [\\x00-\\U0010FFFF]\n");
  char msg[256];
  char *text = gt_take(&g);
  dkg_checker *k = text ? dkg_checker_new(text, strlen(text), msg, sizeof msg) : NULL;
  free(text);
  if (!k) {
    js_err(c, path, "pattern '%s' cannot be checked: %s", pattern, text ? msg : "out of memory");
    return -1;
  }
  int r = dkg_checker_run(k, key, strlen(key), NULL);
  dkg_checker_free(k);
  if (r < 0) js_err(c, path, "pattern '%s' cannot be checked", pattern);
  return r;
}

/* Whether pattern matches every key: 1, 0, or -1 on an error. A pattern that matches
 * the empty key matches at the start of any key, unless it looks past that point
 * (an end anchor, a word boundary, a lookaround); those are not decided here. */
static int universal_pattern(js *c, const char *pattern, const char *path) {
  if (strchr(pattern, '$') || strstr(pattern, "\\b") || strstr(pattern, "\\B") ||
      strstr(pattern, "(?"))
    return 0;
  return key_matches(c, pattern, "", path);
}

/* How many patterns of pats match key (-1 on an error); their schemas are appended
 * to found when it is not NULL. */
static int matching_patterns(js *c, json_t *pats, const char *key, const char *path,
                             json_t *found) {
  int n = 0;
  const char *pk;
  json_t *pv;
  json_object_foreach(pats, pk, pv) {
    int r = key_matches(c, pk, key, path);
    if (r < 0) return -1;
    if (!r) continue;
    n++;
    if (found) json_array_append(found, pv);
  }
  return n;
}

/* Whether propertyNames (when there is one) accepts name: 1, 0, or -1 on an error. */
static int name_allowed(js *c, json_t *pnames, const char *name, const char *path) {
  if (!pnames) return 1;
  json_t *kv = json_string(name);
  int ok = kv ? js_accepts(c, pnames, kv, path) : -1;
  json_decref(kv);
  return ok;
}

/* ---- objects ---- */

typedef struct member {
  const char *key;
  const char *rule;
  int required;
} member;

typedef struct objplan {
  js *c;
  const char *base;
  member *m;
  size_t n;
  const char *extra;      /* one extra "key": value, or NULL when none may appear */
  long long minp, maxp;   /* maxp < 0: no limit */
  long long cap;          /* counts are kept up to here */
  size_t *req_after;      /* required members from i on */
} objplan;

static long long cap_count(const objplan *p, long long k) { return k > p->cap ? p->cap : k; }

/* Whether some object can still be finished from member i with k written. Only
 * declared members count towards minProperties: two extra members may share a
 * name, and a reader would then see one property fewer. */
static int feasible(const objplan *p, size_t i, long long k) {
  if (p->maxp >= 0 && k + (long long)p->req_after[i] > p->maxp) return 0;
  return k + (long long)(p->n - i) >= p->minp;
}

static void put_kv(js *c, const member *m, gtext *o) {
  json_t *ks = json_string(m->key);
  char *kd = ks ? json_dumps(ks, JSON_ENCODE_ANY) : NULL;
  json_decref(ks);
  if (!kd) {
    js_oom(c);
    return;
  }
  gt_puts(o, " ");
  gt_literal(o, kd, strlen(kd));
  free(kd);
  gt_printf(o, "%s \":\"%s %s", js_W(c), js_W(c), m->rule);
}

/* The extra members after k declared ones: at most maxp - k of them (minProperties
 * is already met by the declared ones). */
static void put_extras(const objplan *p, long long k, gtext *o) {
  js *c = p->c;
  long long hi = p->maxp < 0 ? -1 : p->maxp - k;
  if (!p->extra || hi == 0) {
    gt_puts(o, " \"\"");
    return;
  }
  const char *W = js_W(c);
  if (k > 0) {
    gt_printf(o, " (%s \",\"%s ( %s ) )", W, W, p->extra);
    if (hi < 0) gt_puts(o, "*");
    else gt_printf(o, "{0,%lld}", hi);
    return;
  }
  gt_printf(o, " ( ( %s ) (%s \",\"%s ( %s ) )", p->extra, W, W, p->extra);
  if (hi < 0) gt_puts(o, "*");
  else gt_printf(o, "{0,%lld}", hi - 1);
  gt_puts(o, " )?");
}

/* Declared order: rule base-I-K writes members I.. with K written so far. */
static void declared_order(const objplan *p) {
  js *c = p->c;
  const char *W = js_W(c);
  for (size_t i = p->n + 1; i-- > 0;)
    for (long long k = 0; k <= p->cap; k++) {
      if (!feasible(p, i, k)) continue;
      gtext *r = &c->rules;
      gt_printf(r, "%s-%zu-%lld ::=", p->base, i, k);
      if (i == p->n) {
        put_extras(p, k, r);
        gt_puts(r, "\n");
        continue;
      }
      int alts = 0;
      long long k2 = cap_count(p, k + 1);
      if ((p->maxp < 0 || k + 1 <= p->maxp) && feasible(p, i + 1, k2)) {
        if (k) gt_printf(r, "%s \",\"%s", W, W);
        put_kv(c, &p->m[i], r);
        gt_printf(r, " %s-%zu-%lld", p->base, i + 1, k2);
        alts++;
      }
      if (!p->m[i].required && feasible(p, i + 1, k)) {
        gt_printf(r, "%s %s-%zu-%lld", alts++ ? " |" : "", p->base, i + 1, k);
      }
      if (!alts) {
        gt_puts(r, " j-never");
        c->need_never = 1;
      }
      gt_puts(r, "\n");
    }
}

/* Any order: rule base-sS writes the members not in the set S (a bit mask). */
static void any_order(const objplan *p) {
  js *c = p->c;
  const char *W = js_W(c);
  size_t n = p->n;
  for (unsigned long s = 0; s < (1ul << n); s++) {
    long long k = __builtin_popcountl(s);
    int req_done = 1;
    for (size_t j = 0; j < n; j++)
      if (p->m[j].required && !(s >> j & 1)) req_done = 0;
    gtext *r = &c->rules;
    gt_printf(r, "%s-s%lx ::=", p->base, s);
    int alts = 0;
    for (size_t j = 0; j < n; j++) {
      if (s >> j & 1 || (p->maxp >= 0 && k + 1 > p->maxp)) continue;
      gt_puts(r, alts++ ? " |" : "");
      if (k) gt_printf(r, "%s \",\"%s", W, W);
      put_kv(c, &p->m[j], r);
      gt_printf(r, " %s-s%lx", p->base, s | (1ul << j));
    }
    if (req_done && k >= p->minp) {
      gt_puts(r, alts++ ? " |" : "");
      put_extras(p, k, r);
    }
    if (!alts) {
      gt_puts(r, " j-never");
      c->need_never = 1;
    }
    gt_puts(r, "\n");
  }
}

/* Properties any order is offered up to this many members (2^n rules). */
#define ANY_ORDER_MAX 10

void js_object(js *c, json_t *s, const char *path, gtext *o) {
  json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
  json_t *add = json_object_get(s, "additionalProperties");
  json_t *pats = json_object_get(s, "patternProperties");
  if ((props && !json_is_object(props)) || (req && !json_is_array(req)) ||
      (add && !json_is_boolean(add) && !json_is_object(add)) || (pats && !json_is_object(pats))) {
    js_err(c, path, "malformed properties/required/additionalProperties/patternProperties");
    return;
  }
  if (json_is_object(add)) {
    /* an intersection (allOf, or a branch with its siblings) can leave a schema that
     * matches nothing: no additional property, as false says */
    int never = js_never(c, add, path);
    if (never < 0) return;
    if (never) add = json_false();
  }
  long long minp = 0, maxp = -1;
  json_t *jmin = json_object_get(s, "minProperties"), *jmax = json_object_get(s, "maxProperties");
  if ((jmin && (!json_is_number(jmin) || json_number_value(jmin) < 0)) ||
      (jmax && (!json_is_number(jmax) || json_number_value(jmax) < 0))) {
    js_err(c, path, "minProperties/maxProperties must be non-negative integers");
    return;
  }
  if (jmin) minp = (long long)ceil(json_number_value(jmin));
  if (jmax) maxp = (long long)floor(json_number_value(jmax));
  if (maxp >= 0 && maxp < minp) {
    js_err(c, path, "maxProperties is below minProperties");
    return;
  }
  size_t np = props ? json_object_size(props) : 0, nr = req ? json_array_size(req) : 0;
  member *m = calloc(np + nr + 1, sizeof *m);
  size_t *req_after = calloc(np + nr + 2, sizeof *req_after);
  trie t = {0};
  json_t *pat_all = NULL;
  if (!m || !req_after || !trie_add_node(&t, 0)) {
    js_oom(c);
    goto out;
  }
  char sub[512];
  const char *key;
  json_t *val;
  int has_pats = pats && json_object_size(pats) > 0;
  int pats_off = 0;   /* pattern keys are not written */
  /* one value schema for pattern keys: all patterns' schemas at once, since a key
   * may match several */
  if (has_pats) {
    pat_all = json_array();
    json_object_foreach(pats, key, val) json_array_append(pat_all, val);
  }
  /* propertyNames: declared names it refuses are never written, and no extra name
   * is written at all (the key grammar would need its intersection) */
  json_t *pnames = json_object_get(s, "propertyNames");
  size_t n = 0;
  json_object_foreach(props, key, val) {
    snprintf(sub, sizeof sub, "%s/properties/%s", path, key);
    int ok = name_allowed(c, pnames, key, sub);
    if (ok < 0) goto out;
    if (!ok) {
      if (trie_insert(&t, key)) js_oom(c);
      for (size_t i = 0; i < nr; i++)
        if (json_is_string(json_array_get(req, i)) &&
            !strcmp(json_string_value(json_array_get(req, i)), key)) {
          js_err(c, path, "required property '%s' is refused by propertyNames", key);
          goto out;
        }
      continue;
    }
    json_t *eff = val;
    json_t *parts = NULL;
    if (has_pats) {
      /* a declared name matched by a pattern obeys both schemas */
      parts = json_pack("[O]", val);
      int r = parts ? matching_patterns(c, pats, key, sub, parts) : -1;
      if (r <= 0) {
        json_decref(parts);
        parts = NULL;
      }
      if (r < 0) goto out;
    }
    if (parts) {
      eff = json_pack("{s:o}", "allOf", parts);
      if (!eff) {
        js_oom(c);
        goto out;
      }
    }
    if (trie_insert(&t, key)) js_oom(c);
    int never = js_never(c, eff, sub);
    if (never) {
      /* a property that can have no value must be absent (its name stays excluded
       * from extra keys) */
      if (parts) json_decref(eff);
      if (never < 0) goto out;
      for (size_t i = 0; i < nr; i++)
        if (json_is_string(json_array_get(req, i)) &&
            !strcmp(json_string_value(json_array_get(req, i)), key)) {
          js_err(c, path, "required property '%s' can have no value", key);
          goto out;
        }
      continue;
    }
    m[n].key = key;
    m[n].rule = js_rule(c, eff, key, sub);
    if (parts) json_decref(eff);
    n++;
  }
  /* without declared properties, an absent additionalProperties allows any (the
   * narrowing to declared properties only applies when there are some) */
  int extra_any = add ? !json_is_false(add) : !props && !has_pats && !nr;
  if (pnames) {
    extra_any = 0;
    pats_off = 1;
  }
  if (has_pats && add && !json_is_false(add) && !pnames) {
    js_err(c, path, "additionalProperties other than false next to patternProperties is not "
                    "supported");
    goto out;
  }
  for (size_t i = 0; i < nr && !c->failed; i++) {
    const char *r = json_string_value(json_array_get(req, i));
    if (!r) {
      js_err(c, path, "'required' must list strings");
      goto out;
    }
    size_t k = 0;
    while (k < n && strcmp(m[k].key, r)) k++;
    if (k == n) {
      /* required but undeclared: its value follows patternProperties or
       * additionalProperties */
      int ok = name_allowed(c, pnames, r, path);
      if (ok <= 0) {
        if (!ok) js_err(c, path, "required property '%s' is refused by propertyNames", r);
        goto out;
      }
      json_t *vs = NULL;
      if (has_pats) {
        int mr = matching_patterns(c, pats, r, path, NULL);
        if (mr < 0) goto out;
        if (mr) vs = pat_all;
      }
      if (!vs && add && json_is_false(add)) {
        js_err(c, path, "required property '%s' is not allowed by additionalProperties: false", r);
        goto out;
      }
      if (!vs && has_pats) {
        js_err(c, path, "required property '%s' matches no patternProperties", r);
        goto out;
      }
      snprintf(sub, sizeof sub, "%s/required/%s", path, r);
      json_t *tmp = vs == pat_all ? json_pack("{s:O}", "allOf", pat_all) : NULL;
      m[n].key = r;
      m[n].rule = js_rule(c, tmp ? tmp : add && json_is_object(add) ? add : json_true(), r, sub);
      json_decref(tmp);
      if (trie_insert(&t, r)) js_oom(c);
      n++;
    }
    m[k].required = 1;
  }
  if (c->failed) goto out;
  const char *base = js_name(c, path[0] ? path : "object");
  /* the extra members: pattern keys, or keys that are not declared names */
  gtext extra = {0};
  json_t *all_pats = has_pats ? json_pack("{s:O}", "allOf", pat_all) : NULL;
  int pats_never = has_pats ? js_never(c, all_pats, path) : 0;
  json_decref(all_pats);
  if (pats_never < 0) goto out;
  /* a key may match several patterns, so pattern keys take every pattern's schema;
   * when no value can satisfy them all, no pattern key is written */
  if (has_pats && !pats_never && !pats_off) {
    snprintf(sub, sizeof sub, "%s/patternProperties", path);
    json_t *all = json_pack("{s:O}", "allOf", pat_all);
    const char *vr = all ? js_rule(c, all, "pattern-value", sub) : NULL;
    json_decref(all);
    if (!vr) {
      js_oom(c);
      goto out;
    }
    int first = 1, keys_made = 0, n_cls = 0;
    const char *pk;
    json_t *pv;
    json_object_foreach(pats, pk, pv) {
      /* a pattern key must not repeat a declared name: a pattern that matches every
       * key writes the keys that are not declared names, any other one must miss
       * them all */
      int univ = 0, cls = 0, plus = 0;
      unsigned char set[128];
      for (size_t i = 0; i < n && !univ && !cls; i++) {
        int r = key_matches(c, pk, m[i].key, sub);
        if (r > 0) {
          int u = universal_pattern(c, pk, sub);
          r = u < 0 ? -1 : u ? 1 : class_star_pattern(pk, set, &plus) ? 2 : -2;
          univ = r == 1;
          cls = r == 2;
        }
        if (r == -1 || c->failed) goto out_extra;
        if (r == -2) {
          js_err(c, path, "patternProperties '%s' matches the declared property '%s'; "
                          "supported only for patterns that match every name",
                 pk, m[i].key);
          goto out_extra;
        }
      }
      if (univ) {
        if (!keys_made) key_rules(c, &t, base);
        keys_made = 1;
        gt_printf(&extra, "%s\"\\\"\" %s-k0 \"\\\"\"%s \":\"%s %s", first ? "" : " | ", base,
                  js_W(c), js_W(c), vr);
        first = 0;
        continue;
      }
      if (cls) {
        class_key_rules(c, &t, base, n_cls, set, plus);
        gt_printf(&extra, "%s\"\\\"\" %s-p%d-0 \"\\\"\"%s \":\"%s %s", first ? "" : " | ", base,
                  n_cls++, js_W(c), js_W(c), vr);
        first = 0;
        continue;
      }
      gt_puts(&extra, first ? "\"\\\"\"" : " | \"\\\"\"");
      first = 0;
      c->need_char = 1;
      if (dkg_regex_search_expr(pk, 1, "j-char", &extra, c->err, c->errlen)) {
        c->failed = 1;
        goto out_extra;
      }
      gt_printf(&extra, " \"\\\"\"%s \":\"%s %s", js_W(c), js_W(c), vr);
    }
  } else if (extra_any) {
    const char *vr = "j-value";
    if (json_is_object(add)) {
      snprintf(sub, sizeof sub, "%s/additionalProperties", path);
      vr = js_rule(c, add, "additional", sub);
    } else {
      c->need_value = 1;
    }
    key_rules(c, &t, base);
    gt_printf(&extra, "\"\\\"\" %s-k0 \"\\\"\"%s \":\"%s %s", base, js_W(c), js_W(c), vr);
  }
  if (c->failed) goto out_extra;
  for (size_t i = n + 1; i-- > 0;)
    req_after[i] = (i < n ? req_after[i + 1] + (size_t)m[i].required : 0);
  objplan p = {c, base, m, n, extra.n ? extra.s : NULL, minp, maxp, 0, req_after};
  p.cap = maxp >= 0 ? maxp : minp > 1 ? minp : 1;
  if (p.extra && minp > (long long)n) {
    js_err(c, path, "minProperties beyond the declared properties is not supported (extra "
                    "property names could repeat)");
    goto out_extra;
  }
  if (!feasible(&p, 0, 0)) {
    js_err(c, path, "no object satisfies required, minProperties and maxProperties together");
    goto out_extra;
  }
  if (c->any_order && n <= ANY_ORDER_MAX) {
    any_order(&p);
    gt_printf(o, " \"{\"%s %s-s0%s \"}\"", js_W(c), base, js_W(c));
  } else {
    if ((double)(n + 1) * (double)(p.cap + 1) > 200000) {
      js_err(c, path, "minProperties/maxProperties are too large for %zu properties", n);
      goto out_extra;
    }
    declared_order(&p);
    gt_printf(o, " \"{\"%s %s-0-0%s \"}\"", js_W(c), base, js_W(c));
  }
out_extra:
  gt_free(&extra);
out:
  json_decref(pat_all);
  free(t.v);
  free(m);
  free(req_after);
}

/* ---- arrays ---- */

/* uniqueItems over a set of constants: rule base-uS has written the constants in the
 * bit set S, so none comes twice (2^n rules). */
#define UNIQUE_MAX 8

static int unique_array(js *c, json_t *items, long long lo, long long hi, const char *path,
                        gtext *o) {
  json_t *n = js_normalize(c, items, path), *tmp = NULL;
  json_t *lits = n && json_is_object(n) ? js_literals(n, &tmp) : NULL;
  json_t *ty = n && json_is_object(n) ? json_object_get(n, "type") : NULL;
  if (!lits && json_is_string(ty) && !strcmp(json_string_value(ty), "boolean"))
    lits = tmp = json_pack("[b,b]", 1, 0);   /* booleans are two constants */
  int rc = 0;
  json_t *keep = json_array(), *rest = NULL;
  if (!lits) goto out;
  rest = json_copy(n);
  json_object_del(rest, "enum");
  json_object_del(rest, "const");
  size_t i;
  json_t *x;
  json_array_foreach(lits, i, x) {
    int dup = 0;
    size_t j;
    json_t *y;
    json_array_foreach(keep, j, y) dup |= json_equal(x, y);
    if (dup) continue;
    int ok = json_object_size(rest) ? js_accepts(c, rest, x, path) : 1;
    if (ok < 0) {
      rc = -1;
      goto out;
    }
    if (ok) json_array_append(keep, x);
  }
  size_t m = json_array_size(keep);
  if (m > UNIQUE_MAX) goto out;
  if ((long long)m < lo) {
    js_err(c, path, "minItems exceeds the %zu distinct values uniqueItems allows", m);
    rc = -1;
    goto out;
  }
  const char *W = js_W(c), *base = js_name(c, path[0] ? path : "array");
  for (unsigned long set = 0; set < (1ul << m); set++) {
    long long k = __builtin_popcountl(set);
    gt_printf(&c->rules, "%s-u%lx ::=", base, set);
    int alts = 0;
    if (k >= lo) {
      gt_puts(&c->rules, " \"\"");
      alts++;
    }
    for (size_t j = 0; j < m && (hi < 0 || k < hi); j++) {
      if (set >> j & 1) continue;
      gt_puts(&c->rules, alts++ ? " |" : "");
      if (k) gt_printf(&c->rules, "%s \",\"%s", W, W);
      js_literal(c, json_array_get(keep, j), path, &c->rules);
      gt_printf(&c->rules, " %s-u%lx", base, set | (1ul << j));
    }
    if (!alts) {
      gt_puts(&c->rules, " j-never");
      c->need_never = 1;
    }
    gt_puts(&c->rules, "\n");
  }
  gt_printf(o, " \"[\"%s %s-u0%s \"]\"", W, base, W);
  rc = 1;
out:
  json_decref(rest);
  json_decref(keep);
  json_decref(tmp);
  json_decref(n);
  return rc;
}

void js_array(js *c, json_t *s, const char *path, gtext *o) {
  json_t *pre = json_object_get(s, "prefixItems"), *items = json_object_get(s, "items");
  json_t *mn = json_object_get(s, "minItems"), *mx = json_object_get(s, "maxItems");
  json_t *uniq = json_object_get(s, "uniqueItems");
  if ((pre && !json_is_array(pre)) || (mn && (!json_is_number(mn) || json_number_value(mn) < 0)) ||
      (mx && (!json_is_number(mx) || json_number_value(mx) < 0)) ||
      (items && !json_is_object(items) && !json_is_boolean(items))) {
    js_err(c, path, "malformed prefixItems/items/minItems/maxItems");
    return;
  }
  long long lo = mn ? (long long)ceil(json_number_value(mn)) : 0;
  long long hi = mx ? (long long)floor(json_number_value(mx)) : -1;
  size_t np = pre ? json_array_size(pre) : 0;
  if (items && json_is_false(items) && (hi < 0 || hi > (long long)np)) hi = (long long)np;
  if (hi >= 0 && hi < lo) {
    js_err(c, path, "maxItems is below minItems");
    return;
  }
  if (lo > (long long)DKG_MAX_REPEAT || hi > (long long)DKG_MAX_REPEAT) {
    js_err(c, path, "minItems/maxItems above %u are not supported", (unsigned)DKG_MAX_REPEAT);
    return;
  }
  if (uniq && json_is_true(uniq) && (hi < 0 || hi > 1)) {
    if (np || !items || !json_is_object(items) || unique_array(c, items, lo, hi, path, o) <= 0) {
      if (!c->failed)
        js_err(c, path, "uniqueItems is supported only with maxItems 1 or less, or for items "
                        "that are one of at most %d constants", UNIQUE_MAX);
    }
    return;
  }
  for (size_t k = 0; k < np; k++) {
    /* a prefix item no value satisfies ends the array before it */
    int never = js_never(c, json_array_get(pre, k), path);
    if (never < 0) return;
    if (never) {
      if ((long long)k < lo) {
        js_err(c, path, "prefixItems %zu matches nothing but minItems needs it", k);
        return;
      }
      if (hi < 0 || hi > (long long)k) hi = (long long)k;
      break;
    }
  }
  if (hi >= 0 && (long long)np > hi) np = (size_t)hi;   /* later prefix items never appear */
  const char *ir = NULL;
  char sub[512];
  if (!items || json_is_true(items)) {
    c->need_value = 1;
    ir = "j-value";
  } else if (!json_is_false(items)) {
    snprintf(sub, sizeof sub, "%s/items", path);
    ir = js_rule(c, items, "item", sub);
  }
  if (!ir && lo > (long long)np) {
    js_err(c, path, "minItems exceeds the number of prefixItems while items is false");
    return;
  }
  const char *W = js_W(c);
  const char *base = js_name(c, path[0] ? path : "array");
  /* base-aK: the elements from K on, K written; the prefix is a chain of rules, not
   * nested groups, so thousands of prefixItems nest nothing */
  for (size_t k = 0; k <= np && !c->failed; k++) {
    snprintf(sub, sizeof sub, "%s/prefixItems/%zu", path, k);
    const char *er = k < np ? js_rule(c, json_array_get(pre, k), "item", sub) : NULL;
    gtext *r = &c->rules;
    gt_printf(r, "%s-a%zu ::=", base, k);
    const char *sep = k ? "\",\"" : "";
    if (k < np) {
      int optional = (long long)k >= lo;
      gt_printf(r, "%s%s%s%s%s %s %s-a%zu%s\n", optional ? " (" : "", k ? W : "", k ? " " : "",
                sep, k ? W : "", er, base, k + 1, optional ? " )?" : "");
      continue;
    }
    long long need = lo > (long long)k ? lo - (long long)k : 0;
    if (!ir || (hi >= 0 && (long long)k >= hi)) {
      gt_puts(r, " \"\"\n");
    } else if (k == 0) {
      /* the first element has no comma: x ("," x){n-1,m-1}, optional when need is 0 */
      gt_printf(r, " %s%s (%s \",\"%s %s )", need ? "" : "( ", ir, W, W, ir);
      long long rmin = need ? need - 1 : 0;
      if (hi < 0) gt_printf(r, "{%lld,}", rmin);
      else gt_printf(r, "{%lld,%lld}", rmin, hi - 1);
      gt_puts(r, need ? "\n" : " )?\n");
    } else {
      gt_printf(r, " (%s \",\"%s %s )", W, W, ir);
      if (hi < 0) gt_printf(r, "{%lld,}\n", need);
      else gt_printf(r, "{%lld,%lld}\n", need, hi - (long long)k);
    }
  }
  gt_printf(o, " \"[\"%s %s-a0%s \"]\"", W, base, W);
}
