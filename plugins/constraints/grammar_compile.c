/* grammar_compile.c -- lowers code-point grammars to byte-level programs and checks them */
#include "grammar_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cprange {
  uint32_t lo, hi;
} cprange;

typedef struct classcache {
  cprange *r;
  uint32_t n, rule;
} classcache;

typedef struct compiler {
  dkg_prog *p;
  classcache *cls;
  uint32_t n_cls, cap_cls;
  int oom;
} compiler;

static int grow(void **v, uint32_t *cap, uint32_t need, size_t elsz) {
  if (need <= *cap) return 0;
  uint32_t nc = *cap ? *cap : 64;
  while (nc < need) nc *= 2;
  void *nv = realloc(*v, (size_t)nc * elsz);
  if (!nv) return -1;
  *v = nv;
  *cap = nc;
  return 0;
}

static void emit(compiler *c, uint32_t op) {
  dkg_prog *p = c->p;
  if (grow((void **)&p->code, &p->cap_code, p->n_code + 1, sizeof *p->code)) {
    c->oom = 1;
    return;
  }
  p->code[p->n_code++] = op;
}

static void begin_alt(compiler *c) {
  dkg_prog *p = c->p;
  if (grow((void **)&p->alt_start, &p->cap_alts, p->n_alts + 1, sizeof *p->alt_start)) {
    c->oom = 1;
    return;
  }
  p->alt_start[p->n_alts++] = p->n_code;
}

static uint32_t intern_set(compiler *c, const dkg_byteset *s) {
  dkg_prog *p = c->p;
  for (uint32_t i = 0; i < p->n_sets; i++)
    if (!memcmp(&p->sets[i], s, sizeof *s)) return i;
  if (grow((void **)&p->sets, &p->cap_sets, p->n_sets + 1, sizeof *p->sets)) {
    c->oom = 1;
    return 0;
  }
  p->sets[p->n_sets] = *s;
  return p->n_sets++;
}

static void emit_repeat(compiler *c, uint32_t rule, uint32_t min, uint32_t max) {
  dkg_prog *p = c->p;
  if (grow((void **)&p->reps, &p->cap_reps, p->n_reps + 1, sizeof *p->reps)) {
    c->oom = 1;
    return;
  }
  p->reps[p->n_reps] = (dkg_rep){rule, min, max};
  emit(c, OP_MAKE(OP_REPEAT, p->n_reps++));
}

static void emit_token(compiler *c, int32_t id, int negated) {
  dkg_prog *p = c->p;
  dkg_ptok *nt = realloc(p->toks, ((size_t)p->n_toks + 1) * sizeof *nt);
  if (!nt) {
    c->oom = 1;
    return;
  }
  p->toks = nt;
  p->toks[p->n_toks] = (dkg_ptok){id, (uint32_t)negated};
  emit(c, OP_MAKE(OP_TOKEN, p->n_toks++));
}

static void set_range(dkg_byteset *s, unsigned lo, unsigned hi) {
  for (unsigned b = lo; b <= hi; b++) s->w[b >> 6] |= 1ull << (b & 63);
}

static void emit_byte_range(compiler *c, unsigned lo, unsigned hi) {
  dkg_byteset s = {{0}};
  set_range(&s, lo, hi);
  emit(c, OP_MAKE(OP_BYTES, intern_set(c, &s)));
}

static int utf8_encode(uint32_t cp, uint8_t *out) {
  if (cp < 0x80) {
    out[0] = (uint8_t)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (uint8_t)(0xC0 | (cp >> 6));
    out[1] = (uint8_t)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (uint8_t)(0xE0 | (cp >> 12));
    out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (uint8_t)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (uint8_t)(0xF0 | (cp >> 18));
  out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (uint8_t)(0x80 | (cp & 0x3F));
  return 4;
}

/* Emits one alternative per run of code points whose UTF-8 forms differ only in
 * ranges of each byte (the classic split at continuation-byte boundaries). lo and hi
 * must have the same encoded length. */
static void utf8_split(compiler *c, uint32_t lo, uint32_t hi, int nbytes) {
  for (int i = 1; i < nbytes; i++) {
    uint32_t m = (1u << (6 * i)) - 1;
    if ((lo & ~m) != (hi & ~m)) {
      if ((lo & m) != 0) {
        utf8_split(c, lo, lo | m, nbytes);
        utf8_split(c, (lo | m) + 1, hi, nbytes);
        return;
      }
      if ((hi & m) != m) {
        utf8_split(c, lo, (hi & ~m) - 1, nbytes);
        utf8_split(c, hi & ~m, hi, nbytes);
        return;
      }
    }
  }
  uint8_t a[4], b[4];
  utf8_encode(lo, a);
  utf8_encode(hi, b);
  begin_alt(c);
  for (int i = 0; i < nbytes; i++) emit_byte_range(c, a[i], b[i]);
  emit(c, OP_MAKE(OP_END, 0));
}

static int cmp_range(const void *a, const void *b) {
  const cprange *x = a, *y = b;
  return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Sorted, merged, surrogate-free ranges of a class (negated if asked). */
static uint32_t normalize(cprange *r, uint32_t n, int negate, cprange *out) {
  qsort(r, n, sizeof *r, cmp_range);
  uint32_t m = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (m && r[i].lo <= out[m - 1].hi + 1) {
      if (r[i].hi > out[m - 1].hi) out[m - 1].hi = r[i].hi;
    } else {
      out[m++] = r[i];
    }
  }
  if (negate) {
    cprange *tmp = malloc((m + 1) * sizeof *tmp);
    if (!tmp) return UINT32_MAX;
    uint32_t k = 0, next = 0;
    for (uint32_t i = 0; i < m; i++) {
      if (out[i].lo > next) tmp[k++] = (cprange){next, out[i].lo - 1};
      next = out[i].hi + 1;
    }
    if (next <= 0x10FFFF) tmp[k++] = (cprange){next, 0x10FFFF};
    memcpy(out, tmp, k * sizeof *tmp);
    free(tmp);
    m = k;
  }
  /* surrogates are not characters; UTF-8 cannot encode them */
  uint32_t k = 0;
  cprange *res = malloc((m + 1) * sizeof *res);
  if (!res) return UINT32_MAX;
  for (uint32_t i = 0; i < m; i++) {
    cprange x = out[i];
    if (x.hi > 0x10FFFF) x.hi = 0x10FFFF;
    if (x.lo > x.hi) continue;
    if (x.lo < 0xD800 && x.hi >= 0xD800) {
      res[k++] = (cprange){x.lo, 0xD7FF};
      x.lo = 0xE000;
    } else if (x.lo >= 0xD800 && x.lo <= 0xDFFF) {
      x.lo = 0xE000;
    }
    if (x.lo <= x.hi) res[k++] = x;
  }
  memcpy(out, res, k * sizeof *res);
  free(res);
  return k;
}

/* Returns the rule index of a helper rule matching exactly the code points in r. */
static uint32_t class_rule(compiler *c, const cprange *r, uint32_t n) {
  for (uint32_t i = 0; i < c->n_cls; i++)
    if (c->cls[i].n == n && !memcmp(c->cls[i].r, r, n * sizeof *r)) return c->cls[i].rule;
  dkg_prog *p = c->p;
  uint32_t rule = p->n_rules++;
  /* rule_alt is filled by the caller in rule order; helper rules append after all
   * source rules, so their alternatives are emitted into a pending list */
  if (grow((void **)&c->cls, &c->cap_cls, c->n_cls + 1, sizeof *c->cls)) {
    c->oom = 1;
    return 0;
  }
  classcache *cc = &c->cls[c->n_cls++];
  cc->r = malloc((n ? n : 1) * sizeof *r);
  if (!cc->r) {
    c->oom = 1;
    return 0;
  }
  memcpy(cc->r, r, n * sizeof *r);
  cc->n = n;
  cc->rule = rule;
  return rule;
}

static void emit_class_alts(compiler *c, const cprange *r, uint32_t n) {
  static const uint32_t bounds[4][2] = {
      {0, 0x7F}, {0x80, 0x7FF}, {0x800, 0xFFFF}, {0x10000, 0x10FFFF}};
  dkg_byteset ascii = {{0}};
  int any_ascii = 0;
  for (uint32_t i = 0; i < n; i++)
    if (r[i].lo < 0x80) {
      set_range(&ascii, r[i].lo, r[i].hi < 0x7F ? r[i].hi : 0x7F);
      any_ascii = 1;
    }
  if (any_ascii) {
    begin_alt(c);
    emit(c, OP_MAKE(OP_BYTES, intern_set(c, &ascii)));
    emit(c, OP_MAKE(OP_END, 0));
  }
  for (int len = 2; len <= 4; len++)
    for (uint32_t i = 0; i < n; i++) {
      uint32_t lo = r[i].lo > bounds[len - 1][0] ? r[i].lo : bounds[len - 1][0];
      uint32_t hi = r[i].hi < bounds[len - 1][1] ? r[i].hi : bounds[len - 1][1];
      if (lo <= hi) utf8_split(c, lo, hi, len);
    }
}

/* ---- analysis: productivity, nullability, left recursion ---- */

static int alt_ok(const dkg_prog *p, uint32_t a, const uint8_t *prod) {
  for (uint32_t i = p->alt_start[a];; i++) {
    uint32_t op = p->code[i];
    if (OP_KIND(op) == OP_END) return 1;
    if (OP_KIND(op) == OP_REF && !prod[OP_ARG(op)]) return 0;
    if (OP_KIND(op) == OP_REPEAT) {
      const dkg_rep *rp = &p->reps[OP_ARG(op)];
      if (rp->min && !prod[rp->rule]) return 0;
    }
    if (OP_KIND(op) == OP_BYTES) {
      const dkg_byteset *s = &p->sets[OP_ARG(op)];
      if (!(s->w[0] | s->w[1] | s->w[2] | s->w[3])) return 0;
    }
  }
}

static int alt_nullable(const dkg_prog *p, uint32_t a, const uint8_t *nul) {
  for (uint32_t i = p->alt_start[a];; i++) {
    uint32_t op = p->code[i];
    if (OP_KIND(op) == OP_END) return 1;
    if (OP_KIND(op) == OP_BYTES || OP_KIND(op) == OP_TOKEN) return 0;
    if (OP_KIND(op) == OP_REPEAT) {
      const dkg_rep *rp = &p->reps[OP_ARG(op)];
      if (rp->min && !nul[rp->rule]) return 0;
    } else if (!nul[OP_ARG(op)]) {
      return 0;
    }
  }
}

static uint32_t op_rule(const dkg_prog *p, uint32_t op) {
  return OP_KIND(op) == OP_REPEAT ? p->reps[OP_ARG(op)].rule : OP_ARG(op);
}

/* Least fixpoint of "rule r is flagged when one of its alternatives passes test",
 * driven by a worklist: an alternative is tested again only when a rule it refers to
 * becomes flagged, so long chains of rules cost linear time, not one pass per link. */
static int fixpoint(const dkg_prog *p, uint8_t *flag,
                    int (*test)(const dkg_prog *, uint32_t, const uint8_t *)) {
  uint32_t n = p->n_rules, na = p->n_alts;
  uint32_t *alt_rule = malloc(((size_t)na + 1) * sizeof *alt_rule);
  uint32_t *head = calloc((size_t)n + 1, sizeof *head);   /* users of rule r: index + 1 */
  uint32_t *stack = malloc(((size_t)n + 1) * sizeof *stack);
  size_t n_use = 0, cap_use = 0;
  uint32_t *use_alt = NULL, *use_next = NULL;
  int rc = -1;
  if (!alt_rule || !head || !stack) goto out;
  for (uint32_t r = 0; r < n; r++)
    for (uint32_t a = p->rule_alt[r]; a < p->rule_alt[r + 1]; a++) alt_rule[a] = r;
  for (uint32_t a = 0; a < na; a++)
    for (uint32_t i = p->alt_start[a]; OP_KIND(p->code[i]) != OP_END; i++) {
      if (OP_KIND(p->code[i]) == OP_BYTES || OP_KIND(p->code[i]) == OP_TOKEN) continue;
      if (n_use == cap_use) {
        cap_use = cap_use ? cap_use * 2 : 256;
        uint32_t *x = realloc(use_alt, cap_use * sizeof *x), *y;
        if (x) use_alt = x;
        y = x ? realloc(use_next, cap_use * sizeof *y) : NULL;
        if (!y) goto out;
        use_next = y;
      }
      uint32_t s = op_rule(p, p->code[i]);
      use_alt[n_use] = a;
      use_next[n_use] = head[s];
      head[s] = (uint32_t)++n_use;
    }
  uint32_t top = 0;
  for (uint32_t r = 0; r < n; r++) {
    if (flag[r]) continue;
    for (uint32_t a = p->rule_alt[r]; a < p->rule_alt[r + 1]; a++)
      if (test(p, a, flag)) {
        flag[r] = 1;
        stack[top++] = r;
        break;
      }
  }
  while (top) {
    uint32_t s = stack[--top];
    for (uint32_t u = head[s]; u; u = use_next[u - 1]) {
      uint32_t a = use_alt[u - 1], r = alt_rule[a];
      if (!flag[r] && test(p, a, flag)) {
        flag[r] = 1;
        stack[top++] = r;
      }
    }
  }
  rc = 0;
out:
  free(alt_rule);
  free(head);
  free(stack);
  free(use_alt);
  free(use_next);
  return rc;
}

/* A rule that reaches itself at the left of an alternative, with a continuation
 * pushed on the way, would grow the stack forever without reading input. Cycles made
 * only of tail positions are harmless: the matcher detects the repeated stack. */
static int find_left_recursion(const dkg_prog *p, const uint8_t *nul, uint32_t *bad) {
  uint32_t n = p->n_rules;
  uint8_t *seen = malloc(2 * (size_t)n);
  uint32_t *queue = malloc(2 * (size_t)n * sizeof *queue);
  if (!seen || !queue) {
    free(seen);
    free(queue);
    return -1;
  }
  int found = 0;
  for (uint32_t r0 = 0; r0 < n && !found; r0++) {
    memset(seen, 0, 2 * (size_t)n);
    uint32_t qh = 0, qt = 0;
    queue[qt++] = r0 * 2;
    seen[r0 * 2] = 1;
    while (qh < qt && !found) {
      uint32_t st = queue[qh++], r = st / 2, grew = st % 2;
      for (uint32_t a = p->rule_alt[r]; a < p->rule_alt[r + 1]; a++)
        for (uint32_t i = p->alt_start[a];; i++) {
          uint32_t op = p->code[i];
          if (OP_KIND(op) != OP_REF && OP_KIND(op) != OP_REPEAT) break;
          const dkg_rep *rp = OP_KIND(op) == OP_REPEAT ? &p->reps[OP_ARG(op)] : NULL;
          uint32_t s = rp ? rp->rule : OP_ARG(op);
          /* entering a counted repeat pushes its counter */
          uint32_t g2 = grew | (rp != NULL) | (OP_KIND(p->code[i + 1]) != OP_END);
          if (s == r0 && g2) {
            found = 1;
            *bad = r0;
            break;
          }
          if (!seen[s * 2 + g2]) {
            seen[s * 2 + g2] = 1;
            queue[qt++] = s * 2 + g2;
          }
          if (!nul[s] && !(rp && rp->min == 0)) break;
        }
    }
  }
  free(seen);
  free(queue);
  return found;
}

void dkg_prog_free(dkg_prog *p) {
  if (!p) return;
  free(p->code);
  free(p->alt_start);
  free(p->rule_alt);
  free(p->sets);
  free(p->reps);
  free(p->toks);
  if (p->names)
    for (uint32_t i = 0; i < p->n_rules; i++) free(p->names[i]);
  free(p->names);
  memset(p, 0, sizeof *p);
}

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

static int is_class_start(uint32_t t) {
  return t == DKG_CHAR || t == DKG_CHAR_NOT || t == DKG_ANY;
}

/* The token each reference names: an id within the vocabulary, or the one token
 * whose text is the reference's. */
static int resolve_tokens(const dkg_grammar *g, const dkg_vocab *v, dkg_prog *p, char *err,
                          size_t errlen) {
  if (!g->n_toks) return 0;
  p->toks = calloc(g->n_toks, sizeof *p->toks);
  if (!p->toks) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  p->n_toks = g->n_toks;
  for (uint32_t i = 0; i < g->n_toks; i++) {
    const dkg_tokref *t = &g->toks[i];
    int32_t id = t->id;
    if (t->text) {
      size_t n = strlen(t->text);
      for (int32_t k = 0; k < v->n_vocab && id < 0; k++)
        if (v->len[k] == n && !memcmp(v->bytes + v->off[k], t->text, n)) id = k;
      if (id < 0) {
        snprintf(err, errlen, "token %s is not in the vocabulary", t->text);
        return -1;
      }
    } else if (id >= v->n_vocab) {
      snprintf(err, errlen, "token <[%d]> is beyond the vocabulary of %d tokens", (int)id,
               (int)v->n_vocab);
      return -1;
    }
    p->toks[i].id = id;
  }
  return 0;
}

int dkg_prog_compile(const dkg_grammar *g, const dkg_vocab *v, dkg_prog *p, char *err,
                     size_t errlen) {
  compiler c = {.p = p};
  memset(p, 0, sizeof *p);
  p->n_rules = g->n_rules;
  p->root = g->root;
  uint32_t *src_alt_end = NULL;
  cprange *rbuf = NULL, *nbuf = NULL;
  uint32_t rcap = 0;
  uint32_t n_src = g->n_rules;
  /* pass 1: source rules; alternatives are contiguous per rule */
  uint32_t *first_alt = calloc((size_t)n_src + 1, sizeof *first_alt);
  if (!first_alt) goto oom;
  if (resolve_tokens(g, v, p, err, errlen)) goto fail;
  for (uint32_t r = 0; r < n_src && !c.oom; r++) {
    first_alt[r] = p->n_alts;
    const dkg_elem *e = g->rules[r];
    begin_alt(&c);
    for (uint32_t i = 0; i < g->rule_len[r] && !c.oom;) {
      uint32_t t = e[i].type;
      if (t == DKG_END) {
        emit(&c, OP_MAKE(OP_END, 0));
        break;
      } else if (t == DKG_ALT) {
        emit(&c, OP_MAKE(OP_END, 0));
        begin_alt(&c);
        i++;
      } else if (t == DKG_REF) {
        emit(&c, OP_MAKE(OP_REF, e[i].value));
        i++;
      } else if (t == DKG_TOKEN || t == DKG_TOKEN_NOT) {
        /* each occurrence gets its own entry: the same reference may be negated once
         * and not another time */
        emit_token(&c, p->toks[e[i].value].id, t == DKG_TOKEN_NOT);
        i++;
      } else if (t == DKG_REPEAT) {
        if (i + 2 >= g->rule_len[r] || e[i + 1].type != DKG_REPEAT_MIN ||
            e[i + 2].type != DKG_REPEAT_MAX || e[i + 2].value < e[i + 1].value) {
          snprintf(err, errlen, "rule '%s' has a malformed repetition", g->names[r]);
          goto fail;
        }
        emit_repeat(&c, e[i].value, e[i + 1].value, e[i + 2].value);
        i += 3;
      } else if (is_class_start(t)) {
        uint32_t j = i + 1;
        while (j < g->rule_len[r] &&
               (e[j].type == DKG_CHAR_ALT || e[j].type == DKG_RNG_UPPER))
          j++;
        if (t == DKG_CHAR && j == i + 1) {   /* a single character: its bytes in a row */
          uint8_t b[4];
          int nb = utf8_encode(e[i].value, b);
          for (int k = 0; k < nb; k++) emit_byte_range(&c, b[k], b[k]);
          i = j;
          continue;
        }
        if (grow((void **)&rbuf, &rcap, j - i + 2, sizeof *rbuf) ||
            !(nbuf = realloc(nbuf, (size_t)rcap * sizeof *nbuf)))
          goto oom;
        uint32_t n = 0;
        if (t == DKG_ANY) {
          rbuf[n++] = (cprange){0, 0x10FFFF};
        } else {
          for (uint32_t k = i; k < j; k++) {
            if (e[k].type == DKG_RNG_UPPER) rbuf[n - 1].hi = e[k].value;
            else rbuf[n++] = (cprange){e[k].value, e[k].value};
          }
        }
        uint32_t m = normalize(rbuf, n, t == DKG_CHAR_NOT, nbuf);
        if (m == UINT32_MAX) goto oom;
        if (m == 0 || nbuf[m - 1].hi < 0x80) {
          dkg_byteset s = {{0}};
          for (uint32_t k = 0; k < m; k++) set_range(&s, nbuf[k].lo, nbuf[k].hi);
          emit(&c, OP_MAKE(OP_BYTES, intern_set(&c, &s)));
        } else {
          emit(&c, OP_MAKE(OP_REF, class_rule(&c, nbuf, m)));
        }
        i = j;
      } else {
        i++;   /* stray class continuation: cannot come from the parser */
      }
    }
  }
  first_alt[n_src] = p->n_alts;
  /* pass 2: helper rules for multi-byte classes, appended in creation order */
  p->rule_alt = malloc(((size_t)p->n_rules + 1) * sizeof *p->rule_alt);
  if (!p->rule_alt || c.oom) goto oom;
  for (uint32_t r = 0; r <= n_src; r++) p->rule_alt[r] = first_alt[r];
  for (uint32_t k = 0; k < c.n_cls && !c.oom; k++) {
    emit_class_alts(&c, c.cls[k].r, c.cls[k].n);
    p->rule_alt[n_src + k + 1] = p->n_alts;
  }
  if (c.oom) goto oom;
  if (p->n_rules > OP_MAX_ARG || p->n_sets > OP_MAX_ARG || p->n_reps > OP_MAX_ARG ||
      p->n_toks > OP_MAX_ARG ||
      p->n_code >= (1u << 31)) {
    snprintf(err, errlen, "the grammar is too large to compile (%u rules, %u operations)",
             (unsigned)p->n_rules, (unsigned)p->n_code);
    goto fail;
  }
  p->names = calloc(p->n_rules, sizeof *p->names);
  if (!p->names) goto oom;
  for (uint32_t r = 0; r < p->n_rules; r++) {
    const char *nm = r < n_src ? g->names[r] : "<character class>";
    p->names[r] = dup_str(nm);
    if (!p->names[r]) goto oom;
  }
  /* drop alternatives that can never finish, then check what is left */
  uint8_t *flag = calloc(p->n_rules, 1);
  if (!flag) goto oom;
  if (fixpoint(p, flag, alt_ok)) {
    free(flag);
    goto oom;
  }
  if (!flag[p->root]) {
    free(flag);
    snprintf(err, errlen, "rule 'root' cannot produce any string");
    goto fail;
  }
  {
    uint32_t w = 0;
    uint32_t *new_rule_alt = malloc(((size_t)p->n_rules + 1) * sizeof *new_rule_alt);
    if (!new_rule_alt) {
      free(flag);
      goto oom;
    }
    for (uint32_t r = 0; r < p->n_rules; r++) {
      new_rule_alt[r] = w;
      for (uint32_t a = p->rule_alt[r]; a < p->rule_alt[r + 1]; a++)
        if (alt_ok(p, a, flag)) p->alt_start[w++] = p->alt_start[a];
    }
    new_rule_alt[p->n_rules] = w;
    free(p->rule_alt);
    p->rule_alt = new_rule_alt;
    p->n_alts = w;
  }
  memset(flag, 0, p->n_rules);
  if (fixpoint(p, flag, alt_nullable)) {
    free(flag);
    goto oom;
  }
  /* x{m,n} with a nullable x is x{0,n}: the empty iterations can make up any count,
   * and the matcher then never needs to count empty iterations */
  for (uint32_t k = 0; k < p->n_reps; k++)
    if (flag[p->reps[k].rule]) p->reps[k].min = 0;
  uint32_t bad = 0;
  int lr = find_left_recursion(p, flag, &bad);
  free(flag);
  if (lr < 0) goto oom;
  if (lr) {
    snprintf(err, errlen, "rule '%s' is left-recursive", p->names[bad]);
    goto fail;
  }
  free(first_alt);
  free(src_alt_end);
  free(rbuf);
  free(nbuf);
  for (uint32_t k = 0; k < c.n_cls; k++) free(c.cls[k].r);
  free(c.cls);
  return 0;
oom:
  snprintf(err, errlen, "out of memory");
fail:
  free(first_alt);
  free(src_alt_end);
  free(rbuf);
  free(nbuf);
  for (uint32_t k = 0; k < c.n_cls; k++) free(c.cls[k].r);
  free(c.cls);
  dkg_prog_free(p);
  return -1;
}
