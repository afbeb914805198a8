/* check_grammar_props.c -- grammar masks against a brute-force Earley checker, random walks, rollback/fork on a 32k vocabulary */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar.h"
#include "test_vocab.h"

/* ---- the brute-force checker: Earley over code points, independent of the
 * byte-level matcher under test ---- */

typedef struct eitem {
  uint32_t r, p, origin;
} eitem;

typedef struct eset {
  eitem *v;
  uint32_t n, cap;
  uint32_t *tab;   /* item index + 1, open addressing */
  uint32_t tcap;
} eset;

typedef struct earley {
  const dkg_grammar *g;
  dkg_grammar *own;   /* g with counted repeats written out */
  uint8_t *nullable;
  eset *sets;
  uint32_t n_sets, cap_sets;
  uint8_t pending[4];   /* bytes of an unfinished character at the end */
  int n_pending;
  int dead;
} earley;

static int is_end(uint32_t t) { return t == DKG_END || t == DKG_ALT; }
static int is_cont(uint32_t t) { return t == DKG_CHAR_ALT || t == DKG_RNG_UPPER; }

static void eset_reset(eset *s) {
  s->n = 0;
  if (s->tab) memset(s->tab, 0, s->tcap * sizeof *s->tab);
}

static uint32_t ehash(eitem it) {
  uint64_t k = ((uint64_t)it.r * 0x9E3779B1u) ^ ((uint64_t)it.p << 20) ^ ((uint64_t)it.origin << 40);
  k ^= k >> 29;
  k *= 0xBF58476D1CE4E5B9ull;
  return (uint32_t)(k ^ (k >> 32));
}

static void eset_add(eset *s, eitem it) {
  if ((s->n + 1) * 2 > s->tcap) {
    uint32_t nc = s->tcap ? s->tcap * 2 : 256;
    uint32_t *t = calloc(nc, sizeof *t);
    ck_assert_ptr_nonnull(t);
    for (uint32_t i = 0; i < s->n; i++) {
      uint32_t h = ehash(s->v[i]) & (nc - 1);
      while (t[h]) h = (h + 1) & (nc - 1);
      t[h] = i + 1;
    }
    free(s->tab);
    s->tab = t;
    s->tcap = nc;
  }
  uint32_t h = ehash(it) & (s->tcap - 1);
  for (; s->tab[h]; h = (h + 1) & (s->tcap - 1)) {
    eitem o = s->v[s->tab[h] - 1];
    if (o.r == it.r && o.p == it.p && o.origin == it.origin) return;
  }
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 64;
    s->v = realloc(s->v, s->cap * sizeof *s->v);
    ck_assert_ptr_nonnull(s->v);
  }
  s->v[s->n] = it;
  s->tab[h] = ++s->n;
}

static void earley_closure(earley *E, uint32_t i) {
  const dkg_grammar *g = E->g;
  for (uint32_t k = 0; k < E->sets[i].n; k++) {
    eitem it = E->sets[i].v[k];
    const dkg_elem *e = &g->rules[it.r][it.p];
    if (is_end(e->type)) {
      eset *o = &E->sets[it.origin];
      for (uint32_t j = 0; j < o->n; j++) {
        eitem x = o->v[j];
        const dkg_elem *xe = &g->rules[x.r][x.p];
        if (xe->type == DKG_REF && xe->value == it.r)
          eset_add(&E->sets[i], (eitem){x.r, x.p + 1, x.origin});
      }
    } else if (e->type == DKG_REF) {
      uint32_t s = e->value;
      eset_add(&E->sets[i], (eitem){s, 0, i});
      for (uint32_t q = 0; q < g->rule_len[s]; q++)
        if (g->rules[s][q].type == DKG_ALT) eset_add(&E->sets[i], (eitem){s, q + 1, i});
      if (E->nullable[s]) eset_add(&E->sets[i], (eitem){it.r, it.p + 1, it.origin});
    }
  }
}

/* The checker reads counted repeats as their definition, x{m,n} = m copies of x then
 * n - m nested optional ones (x_k ::= x x_k | for no limit), independently of the
 * engine's counters. */
static dkg_elem *push_elem(dkg_elem *v, uint32_t *n, uint32_t *cap, uint32_t type, uint32_t val) {
  if (*n == *cap) {
    *cap = *cap ? *cap * 2 : 16;
    v = realloc(v, *cap * sizeof *v);
    ck_assert_ptr_nonnull(v);
  }
  v[*n].type = type;
  v[(*n)++].value = val;
  return v;
}

static uint32_t add_rule_of(dkg_grammar *x, uint32_t *cap, dkg_elem *body, uint32_t len) {
  if (x->n_rules == *cap) {
    *cap *= 2;
    x->rules = realloc(x->rules, *cap * sizeof *x->rules);
    x->rule_len = realloc(x->rule_len, *cap * sizeof *x->rule_len);
    x->names = realloc(x->names, *cap * sizeof *x->names);
    ck_assert(x->rules && x->rule_len && x->names);
  }
  x->rules[x->n_rules] = body;
  x->rule_len[x->n_rules] = len;
  x->names[x->n_rules] = strdup("expanded");
  return x->n_rules++;
}

static dkg_grammar *expand_repeats(const dkg_grammar *g) {
  dkg_grammar *x = calloc(1, sizeof *x);
  uint32_t cap = g->n_rules + 16;
  x->rules = calloc(cap, sizeof *x->rules);
  x->rule_len = calloc(cap, sizeof *x->rule_len);
  x->names = calloc(cap, sizeof *x->names);
  x->root = g->root;
  for (uint32_t r = 0; r < g->n_rules; r++) add_rule_of(x, &cap, NULL, 0);
  for (uint32_t r = 0; r < g->n_rules; r++) {
    dkg_elem *v = NULL;
    uint32_t n = 0, vc = 0;
    for (uint32_t q = 0; q < g->rule_len[r]; q++) {
      dkg_elem e = g->rules[r][q];
      if (e.type != DKG_REPEAT) {
        v = push_elem(v, &n, &vc, e.type, e.value);
        continue;
      }
      uint32_t min = g->rules[r][q + 1].value, max = g->rules[r][q + 2].value;
      q += 2;
      for (uint32_t k = 0; k < min; k++) v = push_elem(v, &n, &vc, DKG_REF, e.value);
      if (max == DKG_REPEAT_INF) {
        uint32_t self = x->n_rules, bn = 0, bc = 0;
        dkg_elem *b = push_elem(NULL, &bn, &bc, DKG_REF, e.value);
        b = push_elem(b, &bn, &bc, DKG_REF, self);
        b = push_elem(b, &bn, &bc, DKG_ALT, 0);
        b = push_elem(b, &bn, &bc, DKG_END, 0);
        add_rule_of(x, &cap, b, bn);
        v = push_elem(v, &n, &vc, DKG_REF, self);
      } else if (max > min) {
        uint32_t prev = UINT32_MAX;
        for (uint32_t k = 0; k < max - min; k++) {
          uint32_t bn = 0, bc = 0;
          dkg_elem *b = push_elem(NULL, &bn, &bc, DKG_REF, e.value);
          if (prev != UINT32_MAX) b = push_elem(b, &bn, &bc, DKG_REF, prev);
          b = push_elem(b, &bn, &bc, DKG_ALT, 0);
          b = push_elem(b, &bn, &bc, DKG_END, 0);
          prev = add_rule_of(x, &cap, b, bn);
        }
        v = push_elem(v, &n, &vc, DKG_REF, prev);
      }
    }
    x->rules[r] = v;
    x->rule_len[r] = n;
    free(x->names[r]);
    x->names[r] = strdup(g->names[r]);
  }
  return x;
}

static void earley_init(earley *E, const dkg_grammar *g0) {
  memset(E, 0, sizeof *E);
  E->own = expand_repeats(g0);
  const dkg_grammar *g = E->own;
  E->g = g;
  E->nullable = calloc(g->n_rules, 1);
  for (int changed = 1; changed;) {
    changed = 0;
    for (uint32_t r = 0; r < g->n_rules; r++) {
      if (E->nullable[r]) continue;
      int ok = 1, any = 0;
      for (uint32_t q = 0; q < g->rule_len[r] && !any; q++) {
        uint32_t t = g->rules[r][q].type;
        if (is_end(t)) {
          any = ok;   /* this alternative derives the empty string */
          ok = 1;
          continue;
        }
        if (t != DKG_REF || !E->nullable[g->rules[r][q].value]) ok = 0;
      }
      if (any) {
        E->nullable[r] = 1;
        changed = 1;
      }
    }
  }
  E->cap_sets = 1024;
  E->sets = calloc(E->cap_sets, sizeof *E->sets);
  E->n_sets = 1;
  eset_add(&E->sets[0], (eitem){g->root, 0, 0});
  for (uint32_t q = 0; q < g->rule_len[g->root]; q++)
    if (g->rules[g->root][q].type == DKG_ALT) eset_add(&E->sets[0], (eitem){g->root, q + 1, 0});
  earley_closure(E, 0);
}

static void earley_free(earley *E) {
  dkg_grammar_free(E->own);
  for (uint32_t i = 0; i < E->cap_sets; i++) {
    free(E->sets[i].v);
    free(E->sets[i].tab);
  }
  free(E->sets);
  free(E->nullable);
}

/* Does the class starting at e contain a character in [lo, hi] (surrogates excluded)? */
static int class_hits(const dkg_elem *e, uint32_t lo, uint32_t hi) {
  uint32_t a[64][2];
  int n = 0, neg = e->type == DKG_CHAR_NOT;
  if (e->type == DKG_ANY) {
    a[n][0] = 0;
    a[n++][1] = 0x10FFFF;
  } else {
    a[n][0] = a[n][1] = e->value;
    n++;
    for (const dkg_elem *x = e + 1; is_cont(x->type) && n < 64; x++) {
      if (x->type == DKG_RNG_UPPER) a[n - 1][1] = x->value;
      else {
        a[n][0] = a[n][1] = x->value;
        n++;
      }
    }
  }
  for (uint32_t x = lo; x <= hi && x <= 0x10FFFF;) {
    if (x >= 0xD800 && x <= 0xDFFF) {
      x = 0xE000;
      continue;
    }
    int cover = -1;
    for (int k = 0; k < n; k++)
      if (a[k][0] <= x && x <= a[k][1]) cover = k;
    if (!neg && cover >= 0) return 1;
    if (neg && cover < 0) return 1;
    if (cover >= 0) x = a[cover][1] + 1;
    else {
      /* next covered point, for the positive case */
      uint32_t nx = 0xFFFFFFFFu;
      for (int k = 0; k < n; k++)
        if (a[k][0] > x && a[k][0] < nx) nx = a[k][0];
      if (nx == 0xFFFFFFFFu) return 0;
      x = nx;
    }
  }
  return 0;
}

static uint32_t class_next(const dkg_elem *rule, uint32_t p) {
  p++;
  while (is_cont(rule[p].type)) p++;
  return p;
}

/* Scans one character into a new set; 0 when nothing matched. */
static int earley_scan(earley *E, uint32_t cp) {
  uint32_t i = E->n_sets - 1;
  if (E->n_sets == E->cap_sets) {
    uint32_t nc = E->cap_sets * 2;
    E->sets = realloc(E->sets, nc * sizeof *E->sets);
    memset(E->sets + E->cap_sets, 0, (nc - E->cap_sets) * sizeof *E->sets);
    E->cap_sets = nc;
  }
  eset *ns = &E->sets[i + 1];
  eset_reset(ns);
  const eset *cs = &E->sets[i];
  for (uint32_t k = 0; k < cs->n; k++) {
    eitem it = cs->v[k];
    const dkg_elem *rule = E->g->rules[it.r];
    uint32_t t = rule[it.p].type;
    if (t == DKG_CHAR || t == DKG_CHAR_NOT || t == DKG_ANY)
      if (class_hits(&rule[it.p], cp, cp)) eset_add(ns, (eitem){it.r, class_next(rule, it.p), it.origin});
  }
  if (!ns->n) return 0;
  E->n_sets++;
  earley_closure(E, i + 1);
  return 1;
}

static int utf8_need(uint8_t b) {
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return 2;
  if (b >= 0xE0 && b <= 0xEF) return 3;
  if (b >= 0xF0 && b <= 0xF4) return 4;
  return 0;
}

/* Code points that a started sequence could still become. */
static int partial_range(const uint8_t *b, int k, uint32_t *lo, uint32_t *hi) {
  int n = utf8_need(b[0]);
  if (!n || k >= n) return 0;
  uint32_t vlo = b[0] & (0x7Fu >> n), vhi = vlo;
  for (int i = 1; i < n; i++) {
    if (i < k && (b[i] & 0xC0) != 0x80) return 0;
    uint8_t clo = i < k ? b[i] : 0x80, chi = i < k ? b[i] : 0xBF;
    vlo = (vlo << 6) | (clo & 0x3Fu);
    vhi = (vhi << 6) | (chi & 0x3Fu);
  }
  static const uint32_t minv[5] = {0, 0, 0x80, 0x800, 0x10000};
  static const uint32_t maxv[5] = {0, 0x7F, 0x7FF, 0xFFFF, 0x10FFFF};
  if (vlo < minv[n]) vlo = minv[n];
  if (vhi > maxv[n]) vhi = maxv[n];
  if (vlo > vhi) return 0;
  *lo = vlo;
  *hi = vhi;
  return 1;
}

/* Feeds bytes; returns 0 as soon as the text stops being a viable prefix. */
static int earley_feed(earley *E, const uint8_t *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    E->pending[E->n_pending++] = s[i];
    int need = utf8_need(E->pending[0]);
    if (!need) return 0;
    if (E->n_pending < need) {
      if ((E->pending[E->n_pending - 1] & 0xC0) != 0x80 && E->n_pending > 1) return 0;
      continue;
    }
    uint32_t cp = need == 1 ? E->pending[0] : E->pending[0] & (0x7Fu >> need);
    for (int k = 1; k < need; k++) {
      if ((E->pending[k] & 0xC0) != 0x80) return 0;
      cp = (cp << 6) | (E->pending[k] & 0x3Fu);
    }
    static const uint32_t minv[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < minv[need] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    E->n_pending = 0;
    if (!earley_scan(E, cp)) return 0;
  }
  if (E->n_pending) {
    uint32_t lo, hi;
    if (!partial_range(E->pending, E->n_pending, &lo, &hi)) return 0;
    const eset *cs = &E->sets[E->n_sets - 1];
    for (uint32_t k = 0; k < cs->n; k++) {
      const dkg_elem *rule = E->g->rules[cs->v[k].r];
      uint32_t t = rule[cs->v[k].p].type;
      if ((t == DKG_CHAR || t == DKG_CHAR_NOT || t == DKG_ANY) &&
          class_hits(&rule[cs->v[k].p], lo, hi))
        return 1;
    }
    return 0;
  }
  return 1;
}

static int earley_complete(const earley *E) {
  if (E->n_pending) return 0;
  const eset *cs = &E->sets[E->n_sets - 1];
  for (uint32_t k = 0; k < cs->n; k++) {
    eitem it = cs->v[k];
    if (it.r == E->g->root && it.origin == 0 && is_end(E->g->rules[it.r][it.p].type)) return 1;
  }
  return 0;
}

/* Would text-so-far + s still be a prefix of the language? Leaves E unchanged. */
static int earley_try(earley *E, const char *s, size_t n) {
  uint32_t keep = E->n_sets;
  uint8_t pend[4];
  int np = E->n_pending;
  memcpy(pend, E->pending, 4);
  int ok = earley_feed(E, (const uint8_t *)s, n);
  E->n_sets = keep;
  E->n_pending = np;
  memcpy(E->pending, pend, 4);
  return ok;
}

/* ---- fixtures ---- */

static tvocab *TV;
static dkg_vocab *V;

static int load_vocab(void) {
  char path[4096], err[256];
  snprintf(path, sizeof path, "%s/llama-2-tiny-random.gguf", tvocab_models_dir());
  TV = tvocab_load_gguf(path, err, sizeof err);
  if (!TV) TV = tvocab_synthetic(32000, 7);   /* same properties, no model needed */
  if (!TV) return -1;
  V = dkg_vocab_new((const char *const *)TV->piece, TV->len, TV->n, TV->eos, TV->special, err,
                    sizeof err);
  if (!V) fprintf(stderr, "%s\n", err);
  return V ? 0 : -1;
}

static const char *FLAT_SCHEMA =
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":12},"
    "\"age\":{\"type\":\"integer\",\"minimum\":-5,\"maximum\":150},"
    "\"email\":{\"type\":\"string\",\"format\":\"email\"},"
    "\"active\":{\"type\":\"boolean\"},\"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"a\","
    "\"b\",1]},\"minItems\":1,\"maxItems\":3}},"
    "\"required\":[\"name\",\"age\"],\"additionalProperties\":false}";

static const char *const choices[] = {"positive", "negative", "neutral", "n/a", "négatif"};

enum { G_JSON, G_SCHEMA, G_REGEX, G_CHOICE, G_UTF8, G_NESTED, G_COUNT };

static char *grammar_text(int which) {
  char err[512];
  char path[4096];
  char *s = NULL;
  switch (which) {
    case G_JSON: {
      const char *src = getenv("DECOKIT_SRCDIR");
      snprintf(path, sizeof path, "%s/config/json.gbnf", src && *src ? src : ".");
      s = tvocab_slurp(path);
      ck_assert_msg(s != NULL, "cannot read %s", path);
      break;
    }
    case G_SCHEMA:
      s = dkg_json_schema_to_gbnf(FLAT_SCHEMA, strlen(FLAT_SCHEMA), DKG_WS_FLEXIBLE, err, sizeof err);
      break;
    case G_REGEX:
      s = dkg_regex_to_gbnf("(\\+1 )?\\(?[0-9]{3}\\)?[ -][0-9]{3}-[0-9]{4}|[a-z]{1,8}@[a-z]+\\.(com|org)",
                            err, sizeof err);
      break;
    case G_CHOICE:
      s = dkg_choice_to_gbnf(choices, sizeof choices / sizeof *choices, err, sizeof err);
      break;
    case G_NESTED:
      /* counted repeats inside counted repeats, ambiguous splits, empty iterations */
      s = malloc(200);
      snprintf(s, 200, "root ::= ( ( [a-c] | \"ab\" ){0,4} \"x\"? ){1,3} ( [^x!]{0,2} ){2,5} "
                       "\"!\"\n");
      break;
    default:
      s = malloc(200);
      snprintf(s, 200, "root ::= ( [\\u03b1-\\u03c9] | [^\\x00-\\x7F] [a-z] | \"é\" | [a-z ] ){1,12} \"!\"\n");
  }
  ck_assert_msg(s != NULL, "%s", err);
  return s;
}

static dkg_grammar *grammar_of(int which) {
  char *s = grammar_text(which);
  dkg_grammar *g;
  char err[256];
  ck_assert_msg(dkg_grammar_parse(s, strlen(s), &g, err, sizeof err) == 0, "%s", err);
  free(s);
  return g;
}

static uint64_t rnd(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static int32_t pick(const uint32_t *bits, uint64_t *seed, int32_t *buf) {
  int32_t n = 0;
  for (int32_t w = 0; w < (TV->n + 31) / 32; w++)
    for (uint32_t x = bits[w]; x; x &= x - 1) buf[n++] = w * 32 + __builtin_ctz(x);
  return n ? buf[rnd(seed) % (uint64_t)n] : -1;
}

/* ---- property: mask == brute force ---- */

START_TEST(test_mask_matches_bruteforce) {
  int which = _i;
  dkg_grammar *g = grammar_of(which);
  char err[256];
  dkg_engine *e = dkg_engine_new(g, V, err, sizeof err);
  ck_assert_msg(e != NULL, "%s", err);
  size_t words = ((size_t)TV->n + 31) / 32;
  uint32_t *bits = malloc(words * 4);
  int32_t *buf = malloc((size_t)TV->n * sizeof *buf);
  uint64_t seed = 1000 + (uint64_t)which;
  static const int checkpoints[] = {0, 1, 2, 3, 5, 8, 13};
  for (int walk = 0; walk < 2; walk++) {
    dkg_matcher *m = dkg_matcher_new(e);
    earley E;
    earley_init(&E, g);
    int cp = 0;
    for (int step = 0; step <= 13; step++) {
      ck_assert_int_eq(dkg_matcher_mask(m, bits), 0);
      if (step == checkpoints[cp]) {
        cp++;
        for (int32_t t = 0; t < TV->n; t++) {
          int got = (bits[t >> 5] >> (t & 31)) & 1;
          int want;
          if (t == TV->eos) want = earley_complete(&E);
          else if (TV->special[t] || TV->len[t] == 0) want = 0;
          else want = earley_try(&E, TV->piece[t], TV->len[t]);
          ck_assert_msg(got == want, "grammar %d walk %d step %d token %d '%.*s': mask %d, brute force %d",
                        which, walk, step, t, (int)TV->len[t], TV->piece[t], got, want);
        }
      }
      /* walk on a token other than EOS when there is one */
      if (TV->eos >= 0) bits[TV->eos >> 5] &= ~(1u << (TV->eos & 31));
      int32_t t = pick(bits, &seed, buf);
      if (t < 0) break;
      ck_assert_int_eq(dkg_matcher_advance(m, t), 0);
      ck_assert_int_eq(earley_feed(&E, (const uint8_t *)TV->piece[t], TV->len[t]), 1);
    }
    earley_free(&E);
    dkg_matcher_free(m);
  }
  free(bits);
  free(buf);
  dkg_engine_release(e);
  dkg_grammar_free(g);
}
END_TEST

/* ---- property: random constrained walks produce sentences ---- */

static size_t utf8_chars(const char *s) {
  size_t n = 0;
  for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

static int simple_email(const char *s) {
  const char *at = strchr(s, '@');
  if (!at || at == s || strchr(at + 1, '@')) return 0;
  const char *dot = strrchr(at, '.');
  return dot && dot > at + 1 && dot[1];
}

/* Checks a generated document against FLAT_SCHEMA by hand. */
static void check_flat(const char *text) {
  json_error_t je;
  json_t *j = json_loads(text, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
  ck_assert_msg(j != NULL, "invalid JSON (%s): %s", je.text, text);
  ck_assert(json_is_object(j));
  json_t *name = json_object_get(j, "name"), *age = json_object_get(j, "age");
  ck_assert_msg(json_is_string(name) && utf8_chars(json_string_value(name)) <= 12, "%s", text);
  ck_assert_msg(json_is_integer(age) && json_integer_value(age) >= -5 &&
                    json_integer_value(age) <= 150, "%s", text);
  const char *k;
  json_t *v;
  json_object_foreach(j, k, v) {
    if (!strcmp(k, "email")) ck_assert_msg(json_is_string(v) && simple_email(json_string_value(v)), "%s", text);
    else if (!strcmp(k, "active")) ck_assert(json_is_boolean(v));
    else if (!strcmp(k, "tags")) {
      ck_assert(json_is_array(v));
      ck_assert(json_array_size(v) >= 1 && json_array_size(v) <= 3);
      size_t i;
      json_t *x;
      json_array_foreach(v, i, x) ck_assert(json_is_string(x) || json_integer_value(x) == 1);
    } else ck_assert_msg(!strcmp(k, "name") || !strcmp(k, "age"), "extra key %s in %s", k, text);
  }
  json_decref(j);
}

START_TEST(test_random_walks) {
  int which = _i;
  dkg_grammar *g = grammar_of(which);
  char err[256];
  dkg_engine *e = dkg_engine_new(g, V, err, sizeof err);
  ck_assert_msg(e != NULL, "%s", err);
  size_t words = ((size_t)TV->n + 31) / 32;
  uint32_t *bits = malloc(words * 4);
  int32_t *buf = malloc((size_t)TV->n * sizeof *buf);
  size_t cap = 1 << 16;
  char *text = malloc(cap);
  uint64_t seed = 77 + (uint64_t)which;
  int walks = 200, done = 0;
  int32_t *short_toks = malloc((size_t)TV->n * sizeof *short_toks), n_short = 0;
  for (int32_t u = 0; u < TV->n; u++)
    if (TV->len[u] == 1 || u == TV->eos) short_toks[n_short++] = u;
  for (int w = 0; w < walks; w++) {
    dkg_matcher *m = dkg_matcher_new(e);
    size_t n = 0;
    for (int step = 0; step < 600; step++) {
      ck_assert_int_eq(dkg_matcher_mask(m, bits), 0);
      int32_t t = pick(bits, &seed, buf);
      /* long walks lean on single-byte tokens half of the time, so that closing
       * characters (quotes, brackets, dots) come up often enough to finish */
      if (step > 100 && rnd(&seed) % 2 == 0) {
        int32_t k = 0;
        for (int32_t i = 0; i < n_short; i++) {
          int32_t u = short_toks[i];
          if (bits[u >> 5] >> (u & 31) & 1u) buf[k++] = u;
        }
        if (k) t = buf[rnd(&seed) % (uint64_t)k];
      }
      ck_assert_msg(t >= 0, "no token allowed before the end");
      ck_assert_int_eq(dkg_matcher_advance(m, t), 0);
      if (t == TV->eos) {
        done++;
        break;
      }
      ck_assert(n + TV->len[t] < cap);
      memcpy(text + n, TV->piece[t], TV->len[t]);
      n += TV->len[t];
    }
    if (dkg_matcher_is_finished(m)) {
      text[n] = 0;
      if (getenv("GRAMMAR_WALK_TRACE")) fprintf(stderr, "%d: %zu bytes\n", which, n);
      if (n < 1500) {   /* the cubic checker stays on short outputs; JSON is also parsed below */
        earley E;
        earley_init(&E, g);
        ck_assert_msg(earley_feed(&E, (const uint8_t *)text, n) && earley_complete(&E),
                      "walk output not in the language: %s", text);
        earley_free(&E);
      }
      if (which == G_SCHEMA) check_flat(text);
      if (which == G_JSON) {
        json_error_t je;
        json_t *j = json_loads(text, JSON_ALLOW_NUL, &je);
        /* lone surrogate escapes are JSON syntax that jansson refuses as text */
        ck_assert_msg(j != NULL || strstr(text, "\\u") != NULL, "invalid JSON (%s): %s", je.text, text);
        json_decref(j);
      }
      if (which == G_CHOICE) {
        int hit = 0;
        for (size_t i = 0; i < sizeof choices / sizeof *choices; i++) hit |= !strcmp(text, choices[i]);
        ck_assert_msg(hit, "not an option: %s", text);
      }
    }
    dkg_matcher_free(m);
  }
  /* uniform choices end a walk with high probability; almost all must finish */
  ck_assert_msg(done >= walks / 2, "only %d of %d walks finished", done, walks);
  free(short_toks);
  free(text);
  free(bits);
  free(buf);
  dkg_engine_release(e);
  dkg_grammar_free(g);
}
END_TEST

/* ---- rollback and fork ---- */

START_TEST(test_rollback_fork) {
  int which = _i;
  dkg_grammar *g = grammar_of(which);
  char err[256];
  dkg_engine *e = dkg_engine_new(g, V, err, sizeof err);
  ck_assert_msg(e != NULL, "%s", err);
  size_t words = ((size_t)TV->n + 31) / 32;
  enum { K = 24 };
  uint32_t *masks = malloc((K + 1) * words * 4), *now = malloc(words * 4);
  int32_t *buf = malloc((size_t)TV->n * sizeof *buf);
  uint64_t seed = 5 + (uint64_t)which;
  dkg_matcher *m = dkg_matcher_new(e);
  int steps = 0;
  for (; steps < K; steps++) {
    uint32_t *mk = masks + (size_t)steps * words;
    ck_assert_int_eq(dkg_matcher_mask(m, mk), 0);
    memcpy(now, mk, words * 4);
    if (TV->eos >= 0) now[TV->eos >> 5] &= ~(1u << (TV->eos & 31));
    int32_t t = pick(now, &seed, buf);
    if (t < 0) break;
    ck_assert_int_eq(dkg_matcher_advance(m, t), 0);
  }
  ck_assert_int_eq(dkg_matcher_mask(m, masks + (size_t)steps * words), 0);
  /* fork in the middle, move the fork elsewhere, the original must not notice */
  dkg_matcher *f = dkg_matcher_fork(m);
  ck_assert_int_eq(dkg_matcher_rollback(f, (size_t)steps / 2), 0);
  for (int i = 0; i < 5; i++) {
    ck_assert_int_eq(dkg_matcher_mask(f, now), 0);
    if (TV->eos >= 0) now[TV->eos >> 5] &= ~(1u << (TV->eos & 31));
    int32_t t = pick(now, &seed, buf);
    if (t < 0) break;
    ck_assert_int_eq(dkg_matcher_advance(f, t), 0);
  }
  ck_assert_int_eq(dkg_matcher_mask(m, now), 0);
  ck_assert_int_eq(memcmp(now, masks + (size_t)steps * words, words * 4), 0);
  dkg_matcher_free(f);
  /* advance(k); rollback(k) gives back the masks before, for every k */
  for (int k = steps; k > 0; k--) {
    ck_assert_int_eq(dkg_matcher_rollback(m, 1), 0);
    ck_assert_int_eq(dkg_matcher_mask(m, now), 0);
    ck_assert_msg(!memcmp(now, masks + (size_t)(k - 1) * words, words * 4), "mask differs after rollback to %d", k - 1);
  }
  ck_assert_int_eq(dkg_matcher_rollback(m, 1), -1);
  dkg_matcher_free(m);
  free(masks);
  free(now);
  free(buf);
  dkg_engine_release(e);
  dkg_grammar_free(g);
}
END_TEST

/* ---- property: counters near their bounds ----
 * Masks there take short tokens from the state far from the bound and walk only the
 * long ones; at every step of these walks the whole mask must equal brute force. */

static const char *const near_bound_grammars[] = {
    "root ::= \"\\\"\" [^\"\\\\]{0,45} \"\\\"\" [a-z]{0,5} \".\"\n",   /* a string of at most 45 */
    "root ::= [a-z ]{35,60} \".\"\n",                           /* at least 35: the lower bound */
    "root ::= ( \"ab\" | [a-z] ){0,40} ( [0-9 ]{0,40} \"x\" ){1,2}\n",
};

START_TEST(test_counted_near_bounds) {
  const char *src = near_bound_grammars[_i];
  dkg_grammar *g;
  char err[256];
  ck_assert_msg(dkg_grammar_parse(src, strlen(src), &g, err, sizeof err) == 0, "%s", err);
  dkg_engine *e = dkg_engine_new(g, V, err, sizeof err);
  ck_assert_msg(e != NULL, "%s", err);
  size_t words = ((size_t)TV->n + 31) / 32;
  uint32_t *bits = malloc(words * 4);
  int32_t *buf = malloc((size_t)TV->n * sizeof *buf);
  uint64_t seed = 4242 + (uint64_t)_i;
  for (int walk = 0; walk < 1; walk++) {
    dkg_matcher *m = dkg_matcher_new(e);
    earley E;
    earley_init(&E, g);
    for (int step = 0; step < 70; step++) {
      ck_assert_int_eq(dkg_matcher_mask(m, bits), 0);
      for (int32_t t = 0; t < TV->n; t++) {
        int got = (bits[t >> 5] >> (t & 31)) & 1;
        int want;
        if (t == TV->eos) want = earley_complete(&E);
        else if (TV->special[t] || TV->len[t] == 0) want = 0;
        else want = earley_try(&E, TV->piece[t], TV->len[t]);
        ck_assert_msg(got == want, "grammar %d walk %d step %d token %d '%.*s': mask %d, brute force %d",
                      _i, walk, step, t, (int)TV->len[t], TV->piece[t], got, want);
      }
      if (TV->eos >= 0) bits[TV->eos >> 5] &= ~(1u << (TV->eos & 31));
      /* tokens that do not end the repeats (no quote, dot or x), mostly of one or two
       * bytes, so the counters pass every value up to the bounds */
      int32_t t = -1;
      {
        uint32_t maxlen = rnd(&seed) % 8 ? 2 : UINT32_MAX;
        int32_t k = 0;
        for (int32_t u = 0; u < TV->n; u++)
          if (TV->len[u] <= maxlen && (bits[u >> 5] >> (u & 31) & 1u) &&
              !memchr(TV->piece[u], '"', TV->len[u]) && !memchr(TV->piece[u], '.', TV->len[u]) &&
              !memchr(TV->piece[u], 'x', TV->len[u]))
            buf[k++] = u;
        if (k) t = buf[rnd(&seed) % (uint64_t)k];
      }
      if (t < 0) t = pick(bits, &seed, buf);
      if (t < 0) break;
      ck_assert_int_eq(dkg_matcher_advance(m, t), 0);
      ck_assert_int_eq(earley_feed(&E, (const uint8_t *)TV->piece[t], TV->len[t]), 1);
    }
    earley_free(&E);
    dkg_matcher_free(m);
  }
  dkg_engine_stats st;
  dkg_engine_get_stats(e, &st);
  ck_assert_msg(st.ctx_far > 0, "no mask came from a state far from the bound");
  free(bits);
  free(buf);
  dkg_engine_release(e);
  dkg_grammar_free(g);
}
END_TEST

/* ---- property: the mask shortcuts change nothing ----
 * Canonical counts and tokens taken from the far state must give, at every step, the
 * mask a plain walk of the state itself gives; strings of multibyte characters make
 * token widths differ from their bytes. */

static const char *const shortcut_grammars[] = {
    "root ::= \"\\\"\" ( [^\"\\\\\\x00-\\x1F] | \"\\\\\" [\"\\\\nt] ){0,40} \"\\\"\" [a-z]{0,5} \".\"\n",
    "root ::= ( [\\u03b1-\\u03c9] | [^\\x00-\\x7F] | [a-z ] ){20,45} \"!\"\n",
    "root ::= ( \"é\" | [a-z0-9 ] ){0,30} \"x\" ( [^x]{1,12} \"x\" ){0,3}\n",
    NULL,   /* the flat object of tools/bench-grammar */
};

static char *shortcut_grammar_text(int which) {
  const char *src = shortcut_grammars[which];
  if (src) {
    char *s = malloc(strlen(src) + 1);
    ck_assert_ptr_nonnull(s);
    return strcpy(s, src);
  }
  static const char schema[] =
      "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":40},"
      "\"age\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":150},"
      "\"email\":{\"type\":\"string\",\"format\":\"email\"},"
      "\"active\":{\"type\":\"boolean\"}},\"required\":[\"name\",\"age\"]}";
  char err[256];
  char *s = dkg_json_schema_to_gbnf(schema, strlen(schema), DKG_WS_FLEXIBLE, err, sizeof err);
  ck_assert_msg(s != NULL, "%s", err);
  return s;
}

START_TEST(test_shortcuts_match_plain_walks) {
  char *src = shortcut_grammar_text(_i), err[256];
  dkg_grammar *g;
  ck_assert_msg(dkg_grammar_parse(src, strlen(src), &g, err, sizeof err) == 0, "%s", err);
  dkg_engine *fast = dkg_engine_new(g, V, err, sizeof err);
  ck_assert_msg(fast != NULL, "%s", err);
  dkg_engine *plain = dkg_engine_new(g, V, err, sizeof err);
  ck_assert_msg(plain != NULL, "%s", err);
  dkg_engine_set_plain_walks(plain, 1);
  size_t words = ((size_t)TV->n + 31) / 32;
  uint32_t *bits = malloc(words * 4), *ref = malloc(words * 4);
  int32_t *buf = malloc((size_t)TV->n * sizeof *buf);
  uint64_t seed = 777 + (uint64_t)_i;
  int compared = 0;
  for (int walk = 0; walk < 4; walk++) {
    dkg_matcher *mf = dkg_matcher_new(fast), *mp = dkg_matcher_new(plain);
    for (int step = 0; step < 60; step++) {
      ck_assert_int_eq(dkg_matcher_mask(mf, bits), 0);
      ck_assert_int_eq(dkg_matcher_mask(mp, ref), 0);
      for (size_t k = 0; k < words; k++)
        if (bits[k] != ref[k]) {
          int32_t t = (int32_t)(k * 32) + __builtin_ctz(bits[k] ^ ref[k]);
          ck_abort_msg("grammar %d walk %d step %d token %d '%.*s': shortcut %u, plain walk %u",
                       _i, walk, step, t, (int)TV->len[t], TV->piece[t],
                       (unsigned)(bits[k] >> (t & 31) & 1u), (unsigned)(ref[k] >> (t & 31) & 1u));
        }
      compared++;
      if (TV->eos >= 0) bits[TV->eos >> 5] &= ~(1u << (TV->eos & 31));
      /* mostly short tokens, so the counters pass through every value near the bounds */
      int32_t t = -1, k = 0;
      uint32_t maxlen = rnd(&seed) % 6 ? 4 : UINT32_MAX;
      for (int32_t u = 0; u < TV->n; u++)
        if (TV->len[u] <= maxlen && (bits[u >> 5] >> (u & 31) & 1u)) buf[k++] = u;
      if (k) t = buf[rnd(&seed) % (uint64_t)k];
      if (t < 0) break;
      ck_assert_int_eq(dkg_matcher_advance(mf, t), 0);
      ck_assert_int_eq(dkg_matcher_advance(mp, t), 0);
    }
    dkg_matcher_free(mf);
    dkg_matcher_free(mp);
  }
  ck_assert_int_ge(compared, 60);
  dkg_engine_stats st;
  dkg_engine_get_stats(plain, &st);
  ck_assert_msg(st.ctx_far == 0, "the plain engine took tokens from a far state");
  free(bits);
  free(ref);
  free(buf);
  dkg_engine_release(fast);
  dkg_engine_release(plain);
  dkg_grammar_free(g);
  free(src);
}
END_TEST

static Suite *props_suite(void) {
  Suite *s = suite_create("grammar-props");
  TCase *tc = tcase_create("bruteforce");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, test_mask_matches_bruteforce, 0, G_COUNT);
  suite_add_tcase(s, tc);
  tc = tcase_create("walks");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, test_random_walks, 0, G_COUNT);
  suite_add_tcase(s, tc);
  tc = tcase_create("near-bounds");
  tcase_set_timeout(tc, 300);
  tcase_add_loop_test(tc, test_counted_near_bounds, 0,
                      (int)(sizeof near_bound_grammars / sizeof *near_bound_grammars));
  suite_add_tcase(s, tc);
  tc = tcase_create("shortcuts");
  tcase_set_timeout(tc, 300);
  tcase_add_loop_test(tc, test_shortcuts_match_plain_walks, 0,
                      (int)(sizeof shortcut_grammars / sizeof *shortcut_grammars));
  suite_add_tcase(s, tc);
  tc = tcase_create("rollback");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, test_rollback_fork, 0, G_COUNT);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  if (load_vocab()) return 1;
  SRunner *sr = srunner_create(props_suite());
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  dkg_vocab_free(V);
  tvocab_free(TV);
  return failed ? 1 : 0;
}
