/* gbnf_parse.c -- GBNF (llama.cpp dialect) parser and printer for the source-level grammar */
#include "gbnf_text.h"
#include "grammar.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct evec {
  dkg_elem *v;
  size_t n, cap;
} evec;

typedef struct prule {
  char *name;
  evec body;
  int defined;
  size_t first_ref;   /* source offset of the first reference, for "undefined" errors */
  uint32_t next_gen;  /* next suffix to try for rules generated from this one */
} prule;

typedef struct parser {
  const char *src;
  size_t len, pos;
  prule *rules;
  size_t n_rules, cap_rules;
  dkg_tokref *toks;   /* token references, in order of appearance */
  uint32_t n_toks, cap_toks;
  uint32_t *tab;      /* open addressing over rule names, rule index + 1 */
  size_t tab_cap;
  int depth;          /* group nesting */
  char *err;
  size_t errlen;
  int failed;
  int nomem;
} parser;

static void perr_at(parser *p, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void perr_at(parser *p, size_t at, const char *fmt, ...) {
  if (p->failed) return;
  p->failed = 1;
  size_t line = 1, col = 1;
  for (size_t i = 0; i < at && i < p->len; i++) {
    if (p->src[i] == '\n') {
      line++;
      col = 1;
    } else if (((unsigned char)p->src[i] & 0xC0) != 0x80) {
      col++;   /* columns count characters, not bytes */
    }
  }
  if (!p->err || !p->errlen) return;
  int k = snprintf(p->err, p->errlen, "%zu:%zu: ", line, col);
  if (k < 0 || (size_t)k >= p->errlen) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->err + k, p->errlen - (size_t)k, fmt, ap);
  va_end(ap);
}

static int evec_push(parser *p, evec *e, uint32_t type, uint32_t value) {
  if (e->n == e->cap) {
    size_t nc = e->cap ? e->cap * 2 : 16;
    dkg_elem *nv = realloc(e->v, nc * sizeof *nv);
    if (!nv) {
      p->nomem = 1;
      perr_at(p, p->pos, "out of memory");
      return -1;
    }
    e->v = nv;
    e->cap = nc;
  }
  e->v[e->n].type = type;
  e->v[e->n].value = value;
  e->n++;
  return 0;
}

static int evec_append(parser *p, evec *e, const dkg_elem *src, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (evec_push(p, e, src[i].type, src[i].value)) return -1;
  return 0;
}

static uint64_t name_hash(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
  return h;
}

/* Rule names are looked up in a hash table: generated names are probed one suffix
 * after another, and a linear search made large grammars quadratic. */
static int32_t find_rule(const parser *p, const char *name, size_t n) {
  if (!p->tab_cap) return -1;
  size_t mask = p->tab_cap - 1;
  for (size_t h = (size_t)name_hash(name, n) & mask; p->tab[h]; h = (h + 1) & mask) {
    const char *r = p->rules[p->tab[h] - 1].name;
    if (strlen(r) == n && !memcmp(r, name, n)) return (int32_t)(p->tab[h] - 1);
  }
  return -1;
}

static int tab_insert(parser *p, uint32_t id) {
  if ((p->n_rules + 1) * 2 > p->tab_cap) {
    size_t nc = p->tab_cap ? p->tab_cap * 2 : 64;
    uint32_t *t = calloc(nc, sizeof *t);
    if (!t) return -1;
    for (size_t i = 0; i < p->tab_cap; i++)
      if (p->tab[i]) {
        const char *r = p->rules[p->tab[i] - 1].name;
        size_t h = (size_t)name_hash(r, strlen(r)) & (nc - 1);
        while (t[h]) h = (h + 1) & (nc - 1);
        t[h] = p->tab[i];
      }
    free(p->tab);
    p->tab = t;
    p->tab_cap = nc;
  }
  const char *r = p->rules[id].name;
  size_t h = (size_t)name_hash(r, strlen(r)) & (p->tab_cap - 1);
  while (p->tab[h]) h = (h + 1) & (p->tab_cap - 1);
  p->tab[h] = id + 1;
  return 0;
}

static int32_t add_rule(parser *p, const char *name, size_t n) {
  if (p->n_rules >= DKG_MAX_RULES) {
    perr_at(p, p->pos, "the grammar has more than %u rules", (unsigned)DKG_MAX_RULES);
    return -1;
  }
  if (p->n_rules == p->cap_rules) {
    size_t nc = p->cap_rules ? p->cap_rules * 2 : 16;
    prule *nr = realloc(p->rules, nc * sizeof *nr);
    if (!nr) goto oom;
    p->rules = nr;
    p->cap_rules = nc;
  }
  prule *r = &p->rules[p->n_rules];
  memset(r, 0, sizeof *r);
  r->name = malloc(n + 1);
  if (!r->name) goto oom;
  memcpy(r->name, name, n);
  r->name[n] = 0;
  r->first_ref = (size_t)-1;
  r->next_gen = 1;
  if (tab_insert(p, (uint32_t)p->n_rules)) {
    free(r->name);
    goto oom;
  }
  return (int32_t)p->n_rules++;
oom:
  p->nomem = 1;
  perr_at(p, p->pos, "out of memory");
  return -1;
}

static int32_t symbol_id(parser *p, const char *name, size_t n) {
  int32_t id = find_rule(p, name, n);
  return id >= 0 ? id : add_rule(p, name, n);
}

/* Generated rules are named base_N like llama.cpp does, skipping names in use; each
 * base remembers its next N, so making a rule costs O(1). */
static int32_t generate_rule(parser *p, uint32_t base) {
  char buf[256];
  for (;;) {
    uint32_t k = p->rules[base].next_gen++;
    int w = snprintf(buf, sizeof buf, "%.200s_%u", p->rules[base].name, (unsigned)k);
    if (w < 0) return -1;
    if (find_rule(p, buf, (size_t)w) < 0) {
      int32_t id = add_rule(p, buf, (size_t)w);
      if (id >= 0) p->rules[id].defined = 1;
      return id;
    }
  }
}

static int is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '_';
}

static char peek(const parser *p, size_t off) {
  return p->pos + off < p->len ? p->src[p->pos + off] : 0;
}

static void skip_space(parser *p, int newline_ok) {
  while (p->pos < p->len) {
    char c = p->src[p->pos];
    if (c == ' ' || c == '\t') {
      p->pos++;
    } else if (c == '#') {
      while (p->pos < p->len && p->src[p->pos] != '\n' && p->src[p->pos] != '\r') p->pos++;
    } else if (newline_ok && (c == '\n' || c == '\r')) {
      p->pos++;
    } else {
      break;
    }
  }
}

static int hex_digits(parser *p, size_t at, int n, uint32_t *out) {
  uint32_t v = 0;
  for (int i = 0; i < n; i++) {
    if (p->pos >= p->len) {
      perr_at(p, at, "expected %d hex digits", n);
      return -1;
    }
    char c = p->src[p->pos];
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else {
      perr_at(p, at, "expected %d hex digits", n);
      return -1;
    }
    v = v * 16 + (uint32_t)d;
    p->pos++;
  }
  if (v > 0x10FFFF) {
    perr_at(p, at, "code point out of range");
    return -1;
  }
  *out = v;
  return 0;
}

/* One character of a literal or class: an escape or a UTF-8 encoded code point. */
static int parse_char(parser *p, uint32_t *out) {
  size_t at = p->pos;
  unsigned char c = (unsigned char)p->src[p->pos];
  if (c == '\\') {
    p->pos++;
    char e = peek(p, 0);
    p->pos++;
    switch (e) {
      case 'x': return hex_digits(p, at, 2, out);
      case 'u': return hex_digits(p, at, 4, out);
      case 'U': return hex_digits(p, at, 8, out);
      case 't': *out = '\t'; return 0;
      case 'r': *out = '\r'; return 0;
      case 'n': *out = '\n'; return 0;
      case '\\': case '"': case '[': case ']': *out = (uint32_t)e; return 0;
      case 0: p->pos--; perr_at(p, at, "unexpected end of input after '\\'"); return -1;
      default: perr_at(p, at, "unknown escape '\\%c'", e); return -1;
    }
  }
  uint32_t v;
  int n = dkg_utf8_decode(p->src + p->pos, p->len - p->pos, &v);
  if (!n) {
    perr_at(p, at, "invalid UTF-8");
    return -1;
  }
  p->pos += (size_t)n;
  *out = v;
  return 0;
}

static int parse_uint_limit(parser *p, uint32_t *out, uint32_t limit) {
  size_t at = p->pos;
  uint64_t v = 0;
  int any = 0;
  while (p->pos < p->len && p->src[p->pos] >= '0' && p->src[p->pos] <= '9') {
    v = v * 10 + (uint64_t)(p->src[p->pos] - '0');
    if (v > limit) {
      if (limit == DKG_MAX_REPEAT)
        perr_at(p, at, "repetition count above %u", (unsigned)DKG_MAX_REPEAT);
      else
        perr_at(p, at, "number too large");
      return -1;
    }
    p->pos++;
    any = 1;
  }
  if (!any) {
    perr_at(p, at, "expected a number");
    return -1;
  }
  *out = (uint32_t)v;
  return 0;
}

static int parse_uint(parser *p, uint32_t *out) { return parse_uint_limit(p, out, DKG_MAX_REPEAT); }

#define REP_INF DKG_REPEAT_INF

/* Replaces the last item of seq (from item_start) by its repetition {min,max}.
 * x* and x+ use a right-recursive helper (x_k ::= x x_k | ), x? an optional one;
 * any other bound is one counted repeat of the item's rule, so that x{0,10000}
 * costs no more to build or compile than x{0,3}. */
static int repeat_item(parser *p, evec *seq, size_t item_start, uint32_t min, uint32_t max,
                       uint32_t owner) {
  size_t n = seq->n - item_start;
  dkg_elem *item = malloc(n * sizeof *item);
  if (!item) {
    p->nomem = 1;
    perr_at(p, p->pos, "out of memory");
    return -1;
  }
  memcpy(item, seq->v + item_start, n * sizeof *item);
  seq->n = item_start;
  int rc = 0;
  if (max == 0) {
    /* x{0}: nothing */
  } else if (min == 1 && max == 1) {
    rc = evec_append(p, seq, item, n);
  } else if (max == REP_INF && min <= 1) {
    int32_t aux = generate_rule(p, owner);
    if (aux < 0) rc = -1;
    else {
      evec *b = &p->rules[aux].body;
      rc = (min && evec_append(p, seq, item, n)) || evec_append(p, b, item, n) ||
           evec_push(p, b, DKG_REF, (uint32_t)aux) || evec_push(p, b, DKG_ALT, 0) ||
           evec_push(p, b, DKG_END, 0) || evec_push(p, seq, DKG_REF, (uint32_t)aux);
    }
  } else if (min == 0 && max == 1) {
    int32_t aux = generate_rule(p, owner);
    if (aux < 0) rc = -1;
    else {
      evec *b = &p->rules[aux].body;
      rc = evec_append(p, b, item, n) || evec_push(p, b, DKG_ALT, 0) ||
           evec_push(p, b, DKG_END, 0) || evec_push(p, seq, DKG_REF, (uint32_t)aux);
    }
  } else {
    int32_t sub;
    if (n == 1 && item[0].type == DKG_REF) {
      sub = (int32_t)item[0].value;
    } else {
      sub = generate_rule(p, owner);
      if (sub >= 0) {
        evec *b = &p->rules[sub].body;
        rc = evec_append(p, b, item, n) || evec_push(p, b, DKG_END, 0);
      }
    }
    if (sub < 0) rc = -1;
    if (!rc)
      rc = evec_push(p, seq, DKG_REPEAT, (uint32_t)sub) || evec_push(p, seq, DKG_REPEAT_MIN, min) ||
           evec_push(p, seq, DKG_REPEAT_MAX, max);
  }
  free(item);
  return rc;
}

static int parse_alternates(parser *p, uint32_t rule, evec *out, int nested);

/* llama.cpp's token references: <[123]> is token 123, <|name|> (any text between
 * angle brackets) the token with that text, and a leading ! any token but that one. */
static int parse_token_ref(parser *p, evec *seq) {
  size_t at = p->pos;
  int neg = p->src[p->pos] == '!';
  if (neg) p->pos++;
  dkg_tokref t = {-1, NULL};
  if (peek(p, 1) == '[') {
    p->pos += 2;
    uint32_t id;
    if (parse_uint_limit(p, &id, INT32_MAX)) return -1;
    if (peek(p, 0) != ']' || peek(p, 1) != '>') {
      perr_at(p, at, "expected ']>' to close the token id");
      return -1;
    }
    p->pos += 2;
    t.id = (int32_t)id;
  } else {
    size_t s = p->pos;
    while (p->pos < p->len && p->src[p->pos] != '>' && p->src[p->pos] != '\n') p->pos++;
    if (peek(p, 0) != '>' || p->pos == s + 1) {
      perr_at(p, at, "unterminated token reference");
      return -1;
    }
    p->pos++;
    t.text = malloc(p->pos - s + 1);
    if (!t.text) goto oom;
    memcpy(t.text, p->src + s, p->pos - s);
    t.text[p->pos - s] = 0;
  }
  if (p->n_toks == p->cap_toks) {
    uint32_t nc = p->cap_toks ? p->cap_toks * 2 : 8;
    dkg_tokref *nt = realloc(p->toks, nc * sizeof *nt);
    if (!nt) {
      free(t.text);
      goto oom;
    }
    p->toks = nt;
    p->cap_toks = nc;
  }
  p->toks[p->n_toks] = t;
  return evec_push(p, seq, neg ? DKG_TOKEN_NOT : DKG_TOKEN, p->n_toks++);
oom:
  p->nomem = 1;
  perr_at(p, at, "out of memory");
  return -1;
}

static int parse_sequence(parser *p, uint32_t rule, evec *seq, int nested) {
  size_t item_start = (size_t)-1;
  while (p->pos < p->len && !p->failed) {
    char c = p->src[p->pos];
    size_t at = p->pos;
    if (c == '"') {
      p->pos++;
      item_start = seq->n;
      while (1) {
        if (p->pos >= p->len || p->src[p->pos] == '\n') {
          perr_at(p, at, "unterminated string literal");
          return -1;
        }
        if (p->src[p->pos] == '"') break;
        uint32_t cp;
        if (parse_char(p, &cp) || evec_push(p, seq, DKG_CHAR, cp)) return -1;
      }
      p->pos++;
      skip_space(p, nested);
    } else if (c == '[') {
      p->pos++;
      item_start = seq->n;
      uint32_t start_type = DKG_CHAR;
      if (peek(p, 0) == '^') {
        p->pos++;
        start_type = DKG_CHAR_NOT;
      }
      int first = 1;
      while (1) {
        if (p->pos >= p->len || p->src[p->pos] == '\n') {
          perr_at(p, at, "unterminated character class");
          return -1;
        }
        if (p->src[p->pos] == ']') {
          if (first) {
            perr_at(p, at, "empty character class");
            return -1;
          }
          break;
        }
        uint32_t lo, hi;
        if (parse_char(p, &lo)) return -1;
        if (evec_push(p, seq, first ? start_type : DKG_CHAR_ALT, lo)) return -1;
        first = 0;
        if (peek(p, 0) == '-' && peek(p, 1) && peek(p, 1) != ']') {
          size_t rat = p->pos;
          p->pos++;
          if (parse_char(p, &hi)) return -1;
          if (hi < lo) {
            perr_at(p, rat, "character range is reversed");
            return -1;
          }
          if (evec_push(p, seq, DKG_RNG_UPPER, hi)) return -1;
        }
      }
      p->pos++;
      skip_space(p, nested);
    } else if (is_word_char(c)) {
      size_t s = p->pos;
      while (p->pos < p->len && is_word_char(p->src[p->pos])) p->pos++;
      int32_t id = symbol_id(p, p->src + s, p->pos - s);
      if (id < 0) return -1;
      if (p->rules[id].first_ref == (size_t)-1) p->rules[id].first_ref = s;
      item_start = seq->n;
      if (evec_push(p, seq, DKG_REF, (uint32_t)id)) return -1;
      skip_space(p, nested);
    } else if (c == '(') {
      if (p->depth >= DKG_MAX_NESTING) {
        perr_at(p, at, "groups nested deeper than %d", DKG_MAX_NESTING);
        return -1;
      }
      p->pos++;
      skip_space(p, 1);
      int32_t sub = generate_rule(p, rule);
      if (sub < 0) return -1;
      evec body = {0};
      p->depth++;
      int rc = parse_alternates(p, rule, &body, 1);
      p->depth--;
      p->rules[sub].body = body;
      if (rc) return -1;
      if (peek(p, 0) != ')') {
        perr_at(p, at, "expected ')' to close this group");
        return -1;
      }
      p->pos++;
      item_start = seq->n;
      if (evec_push(p, seq, DKG_REF, (uint32_t)sub)) return -1;
      skip_space(p, nested);
    } else if (c == '.') {
      p->pos++;
      item_start = seq->n;
      if (evec_push(p, seq, DKG_ANY, 0)) return -1;
      skip_space(p, nested);
    } else if (c == '<' || (c == '!' && peek(p, 1) == '<')) {
      item_start = seq->n;
      if (parse_token_ref(p, seq)) return -1;
      skip_space(p, nested);
    } else if (c == '*' || c == '+' || c == '?' || c == '{') {
      if (item_start == (size_t)-1 || item_start == seq->n) {
        perr_at(p, at, "'%c' has no item to repeat", c);
        return -1;
      }
      uint32_t min = 0, max = REP_INF;
      p->pos++;
      if (c == '+') min = 1;
      else if (c == '?') max = 1;
      else if (c == '{') {
        skip_space(p, nested);
        if (peek(p, 0) == ',') min = 0;
        else if (parse_uint(p, &min)) return -1;
        skip_space(p, nested);
        if (peek(p, 0) == ',') {
          p->pos++;
          skip_space(p, nested);
          if (peek(p, 0) != '}' && parse_uint(p, &max)) return -1;
          skip_space(p, nested);
        } else {
          max = min;
        }
        if (peek(p, 0) != '}') {
          perr_at(p, at, "expected '}' to close the repetition");
          return -1;
        }
        p->pos++;
        if (max < min) {
          perr_at(p, at, "repetition maximum is below its minimum");
          return -1;
        }
      }
      if (repeat_item(p, seq, item_start, min, max, rule)) return -1;
      item_start = (size_t)-1;   /* x** would repeat an already expanded item */
      skip_space(p, nested);
    } else {
      break;
    }
  }
  return p->failed ? -1 : 0;
}

static int parse_alternates(parser *p, uint32_t rule, evec *out, int nested) {
  if (parse_sequence(p, rule, out, nested)) return -1;
  while (peek(p, 0) == '|') {
    p->pos++;
    skip_space(p, 1);
    if (evec_push(p, out, DKG_ALT, 0) || parse_sequence(p, rule, out, nested)) return -1;
  }
  return evec_push(p, out, DKG_END, 0);
}

static int parse_rule(parser *p) {
  size_t at = p->pos;
  size_t s = p->pos;
  while (p->pos < p->len && is_word_char(p->src[p->pos])) p->pos++;
  if (p->pos == s) {
    perr_at(p, at, "expected a rule name");
    return -1;
  }
  int32_t id = symbol_id(p, p->src + s, p->pos - s);
  if (id < 0) return -1;
  if (p->rules[id].defined) {
    perr_at(p, at, "rule '%s' is defined twice", p->rules[id].name);
    return -1;
  }
  p->rules[id].defined = 1;
  skip_space(p, 0);
  if (!(peek(p, 0) == ':' && peek(p, 1) == ':' && peek(p, 2) == '=')) {
    perr_at(p, p->pos, "expected '::=' after rule name");
    return -1;
  }
  p->pos += 3;
  skip_space(p, 1);
  evec body = {0};
  int rc = parse_alternates(p, (uint32_t)id, &body, 0);
  p->rules[id].body = body;
  if (rc) return -1;
  if (peek(p, 0) == '\r') p->pos += peek(p, 1) == '\n' ? 2 : 1;
  else if (peek(p, 0) == '\n') p->pos++;
  else if (p->pos < p->len) {
    perr_at(p, p->pos, "unexpected '%c'; expected a newline or the end of input",
            p->src[p->pos]);
    return -1;
  }
  skip_space(p, 1);
  return 0;
}

static void free_parser_rules(parser *p) {
  for (size_t i = 0; i < p->n_rules; i++) {
    free(p->rules[i].name);
    free(p->rules[i].body.v);
  }
  free(p->rules);
  free(p->tab);
  for (uint32_t i = 0; i < p->n_toks; i++) free(p->toks[i].text);
  free(p->toks);
}

void dkg_grammar_free(dkg_grammar *g) {
  if (!g) return;
  /* A grammar whose arrays could not be allocated has n_rules set already. */
  for (uint32_t i = 0; i < g->n_rules; i++) {
    if (g->names) free(g->names[i]);
    if (g->rules) free(g->rules[i]);
  }
  free(g->names);
  free(g->rules);
  free(g->rule_len);
  for (uint32_t i = 0; i < g->n_toks; i++) free(g->toks[i].text);
  free(g->toks);
  free(g);
}

int dkg_grammar_parse(const char *src, size_t len, dkg_grammar **out, char *err,
                      size_t errlen) {
  parser p = {.src = src, .len = len, .err = err, .errlen = errlen};
  *out = NULL;
  if (err && errlen) err[0] = 0;
  if (len > DKG_MAX_TEXT) {
    if (err && errlen)
      snprintf(err, errlen, "1:1: the grammar is longer than %u bytes", (unsigned)DKG_MAX_TEXT);
    return -1;
  }
  skip_space(&p, 1);
  while (p.pos < p.len && !p.failed)
    if (parse_rule(&p)) break;
  if (!p.failed) {
    for (size_t i = 0; i < p.n_rules; i++)
      if (!p.rules[i].defined) {
        perr_at(&p, p.rules[i].first_ref, "undefined rule '%s'", p.rules[i].name);
        break;
      }
  }
  int32_t root = p.failed ? -1 : find_rule(&p, "root", 4);
  if (!p.failed && root < 0) perr_at(&p, p.len, "the grammar has no 'root' rule");
  if (p.failed) {
    free_parser_rules(&p);
    return -1;
  }
  dkg_grammar *g = calloc(1, sizeof *g);
  if (g) {
    g->n_rules = (uint32_t)p.n_rules;
    g->root = (uint32_t)root;
    g->names = calloc(p.n_rules, sizeof *g->names);
    g->rules = calloc(p.n_rules, sizeof *g->rules);
    g->rule_len = calloc(p.n_rules, sizeof *g->rule_len);
  }
  if (!g || !g->names || !g->rules || !g->rule_len) {
    dkg_grammar_free(g);
    free_parser_rules(&p);
    if (err && errlen) snprintf(err, errlen, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < p.n_rules; i++) {
    g->names[i] = p.rules[i].name;
    g->rules[i] = p.rules[i].body.v;
    g->rule_len[i] = (uint32_t)p.rules[i].body.n;
  }
  free(p.rules);
  free(p.tab);
  g->toks = p.toks;
  g->n_toks = p.n_toks;
  *out = g;
  return 0;
}

int32_t dkg_grammar_find(const dkg_grammar *g, const char *name) {
  for (uint32_t i = 0; i < g->n_rules; i++)
    if (!strcmp(g->names[i], name)) return (int32_t)i;
  return -1;
}

/* ---- printing ---- */

static void print_cp(gtext *b, uint32_t cp, int in_class) {
  char tmp[16];
  if (cp == '\\' || (cp == '"' && !in_class) || (in_class && (cp == ']' || cp == '[' ||
                                                              cp == '-' || cp == '^'))) {
    if (cp == '-' || cp == '^') snprintf(tmp, sizeof tmp, "\\x%02X", (unsigned)cp);
    else snprintf(tmp, sizeof tmp, "\\%c", (char)cp);
  } else if (cp == '\n') snprintf(tmp, sizeof tmp, "\\n");
  else if (cp == '\t') snprintf(tmp, sizeof tmp, "\\t");
  else if (cp == '\r') snprintf(tmp, sizeof tmp, "\\r");
  else if (cp < 0x20 || cp == 0x7F) snprintf(tmp, sizeof tmp, "\\x%02X", (unsigned)cp);
  else if (cp < 0x80) snprintf(tmp, sizeof tmp, "%c", (char)cp);
  else if (cp <= 0xFFFF) snprintf(tmp, sizeof tmp, "\\u%04X", (unsigned)cp);
  else snprintf(tmp, sizeof tmp, "\\U%08X", (unsigned)cp);
  gt_puts(b, tmp);
}

static int is_class_cont(uint32_t t) { return t == DKG_CHAR_ALT || t == DKG_RNG_UPPER; }

static void print_rule(gtext *b, const dkg_grammar *g, uint32_t r) {
  const dkg_elem *e = g->rules[r];
  uint32_t n = g->rule_len[r];
  gt_puts(b, g->names[r]);
  gt_puts(b, " ::=");
  int in_lit = 0, alt_empty = 1;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t t = e[i].type;
    int single_char = t == DKG_CHAR && !(i + 1 < n && is_class_cont(e[i + 1].type));
    if (in_lit && !single_char) {
      gt_puts(b, "\"");
      in_lit = 0;
    }
    /* an empty alternative prints as "" so that a trailing '|' never swallows the
     * newline (after '|' a rule continues on the next line) */
    if ((t == DKG_END || t == DKG_ALT) && alt_empty) gt_puts(b, " \"\"");
    alt_empty = t == DKG_ALT;
    if (t == DKG_END) break;
    if (t == DKG_ALT) {
      gt_puts(b, " |");
    } else if (t == DKG_REF) {
      gt_puts(b, " ");
      gt_puts(b, g->names[e[i].value]);
    } else if (t == DKG_ANY) {
      gt_puts(b, " .");
    } else if (t == DKG_TOKEN || t == DKG_TOKEN_NOT) {
      const dkg_tokref *tr = &g->toks[e[i].value];
      gt_puts(b, t == DKG_TOKEN_NOT ? " !" : " ");
      if (tr->text) gt_puts(b, tr->text);
      else gt_printf(b, "<[%d]>", (int)tr->id);
    } else if (t == DKG_REPEAT && i + 2 < n) {
      gt_printf(b, " %s{%u,", g->names[e[i].value], (unsigned)e[i + 1].value);
      if (e[i + 2].value != DKG_REPEAT_INF) gt_printf(b, "%u", (unsigned)e[i + 2].value);
      gt_puts(b, "}");
      i += 2;
    } else if (single_char) {
      if (!in_lit) gt_puts(b, " \"");
      in_lit = 1;
      print_cp(b, e[i].value, 0);
    } else if (t == DKG_CHAR || t == DKG_CHAR_NOT) {
      gt_puts(b, t == DKG_CHAR_NOT ? " [^" : " [");
      print_cp(b, e[i].value, 1);
      while (i + 1 < n && is_class_cont(e[i + 1].type)) {
        i++;
        if (e[i].type == DKG_RNG_UPPER) gt_puts(b, "-");
        print_cp(b, e[i].value, 1);
      }
      gt_puts(b, "]");
    }
  }
  gt_puts(b, "\n");
}

/* Rules print in breadth-first order from root, so printing is stable under
 * re-parsing (which renumbers rules by first appearance). */
char *dkg_grammar_print(const dkg_grammar *g) {
  gtext b = {0};
  uint32_t *order = malloc((g->n_rules + 1) * sizeof *order);
  uint8_t *seen = calloc(g->n_rules + 1, 1);
  if (!order || !seen) {
    free(order);
    free(seen);
    return NULL;
  }
  uint32_t head = 0, tail = 0;
  for (uint32_t k = 0; k <= g->n_rules; k++) {
    /* root first; unreachable rules follow in definition order */
    uint32_t start = k == 0 ? g->root : k - 1;
    if (seen[start]) continue;
    seen[start] = 1;
    order[tail++] = start;
    while (head < tail) {
      uint32_t r = order[head++];
      for (uint32_t i = 0; i < g->rule_len[r]; i++)
        if ((g->rules[r][i].type == DKG_REF || g->rules[r][i].type == DKG_REPEAT) &&
            !seen[g->rules[r][i].value]) {
          seen[g->rules[r][i].value] = 1;
          order[tail++] = g->rules[r][i].value;
        }
    }
  }
  for (uint32_t i = 0; i < tail; i++) print_rule(&b, g, order[i]);
  free(order);
  free(seen);
  return gt_take(&b);
}
