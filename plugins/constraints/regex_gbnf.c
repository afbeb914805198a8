/* regex_gbnf.c -- a practical regular-expression subset translated to GBNF */
#include "gbnf_text.h"
#include "grammar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rrange {
  uint32_t lo, hi;
} rrange;

typedef struct rx {
  const char *s;
  size_t i, n;
  int json;   /* the match is the content of a JSON string: emit escaped text */
  gtext *o;
  char *err;
  size_t errlen;
  int failed;
  int depth;
} rx;

static void rx_err(rx *r, const char *msg) {
  if (r->failed) return;
  r->failed = 1;
  snprintf(r->err, r->errlen, "regex at offset %zu: %s", r->i, msg);
}

static uint32_t rx_utf8(rx *r) {
  uint32_t v = 0;
  int n = dkg_utf8_decode(r->s + r->i, r->n - r->i, &v);
  if (!n) {
    rx_err(r, "invalid UTF-8");
    return 0;
  }
  r->i += (size_t)n;
  return v;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static uint32_t rx_hex(rx *r, int n) {
  uint32_t v = 0;
  for (int k = 0; k < n; k++) {
    int d = r->i < r->n ? hexval(r->s[r->i]) : -1;
    if (d < 0) {
      rx_err(r, "bad hexadecimal escape");
      return 0;
    }
    v = v * 16 + (uint32_t)d;
    r->i++;
  }
  return v;
}

/* After \u: four hex digits, joined with a following \uDC00..\uDFFF when they
 * are a high surrogate, as JSON and ECMAScript spell characters past U+FFFF.  A lone
 * surrogate is no character and has no UTF-8 form, so it is refused. */
static uint32_t rx_u_escape(rx *r) {
  size_t at = r->i - 2; /* the backslash, for the error's offset */
  uint32_t v = rx_hex(r, 4);
  if (r->failed || v < 0xD800 || v > 0xDFFF) return v;
  if (v <= 0xDBFF && r->i + 6 <= r->n && r->s[r->i] == '\\' && r->s[r->i + 1] == 'u') {
    size_t save = r->i;
    r->i += 2;
    uint32_t lo = rx_hex(r, 4);
    if (r->failed) return 0;
    if (lo >= 0xDC00 && lo <= 0xDFFF) return 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
    r->i = save;
  }
  r->i = at;
  rx_err(r, v <= 0xDBFF ? "\\u escape of a high surrogate not followed by a low one"
                        : "\\u escape of a low surrogate without a high one before it");
  return 0;
}

/* Classes for \d \w \s (and, with negate, \D \W \S). */
static int shorthand(char c, rrange *out, int *neg) {
  *neg = c == 'D' || c == 'W' || c == 'S';
  switch (c) {
    case 'd': case 'D':
      out[0] = (rrange){'0', '9'};
      return 1;
    case 'w': case 'W':
      out[0] = (rrange){'0', '9'};
      out[1] = (rrange){'A', 'Z'};
      out[2] = (rrange){'_', '_'};
      out[3] = (rrange){'a', 'z'};
      return 4;
    case 's': case 'S':
      out[0] = (rrange){'\t', '\r'};
      out[1] = (rrange){' ', ' '};
      return 2;
    default:
      return 0;
  }
}

/* A single-character escape (after the backslash); -1 when c is not one. */
static int64_t simple_escape(rx *r, char c) {
  switch (c) {
    case 'n': return '\n';
    case 't': return '\t';
    case 'r': return '\r';
    case 'f': return '\f';
    case 'v': return '\v';
    case '0': return 0;
    case 'x': return rx_hex(r, 2);
    case 'u': return rx_u_escape(r);
    default:
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return -1;
      return (unsigned char)c;
  }
}

/* Characters a JSON string can carry only escaped; this subset leaves them out
 * of classes rather than spell their escapes. */
static int json_raw_ok(uint32_t cp) { return cp >= 0x20 && cp != '"' && cp != '\\'; }

static void emit_char(rx *r, uint32_t cp) {
  gt_puts(r->o, " ");
  if (r->json && !json_raw_ok(cp)) {
    char esc[16];
    switch (cp) {
      case '"': snprintf(esc, sizeof esc, "\\\""); break;
      case '\\': snprintf(esc, sizeof esc, "\\\\"); break;
      case '\n': snprintf(esc, sizeof esc, "\\n"); break;
      case '\t': snprintf(esc, sizeof esc, "\\t"); break;
      case '\r': snprintf(esc, sizeof esc, "\\r"); break;
      case '\b': snprintf(esc, sizeof esc, "\\b"); break;
      case '\f': snprintf(esc, sizeof esc, "\\f"); break;
      default: snprintf(esc, sizeof esc, "\\u%04x", (unsigned)cp);
    }
    gt_literal(r->o, esc, strlen(esc));
    return;
  }
  char u[4];
  size_t n;
  if (cp < 0x80) {
    u[0] = (char)cp;
    n = 1;
  } else if (cp < 0x800) {
    u[0] = (char)(0xC0 | (cp >> 6));
    u[1] = (char)(0x80 | (cp & 0x3F));
    n = 2;
  } else if (cp < 0x10000) {
    u[0] = (char)(0xE0 | (cp >> 12));
    u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    u[2] = (char)(0x80 | (cp & 0x3F));
    n = 3;
  } else {
    u[0] = (char)(0xF0 | (cp >> 18));
    u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    u[3] = (char)(0x80 | (cp & 0x3F));
    n = 4;
  }
  gt_literal(r->o, u, n);
}

static void emit_class(rx *r, const rrange *rg, size_t n, int negate) {
  gtext *o = r->o;
  size_t mark = o->n;
  gt_puts(o, negate ? " [^" : " [");
  int any = 0;
  for (size_t k = 0; k < n; k++) {
    uint32_t lo = rg[k].lo, hi = rg[k].hi;
    if (r->json && !negate) {
      /* split the range around the characters a JSON string cannot hold raw */
      for (uint32_t a = lo; a <= hi;) {
        while (a <= hi && !json_raw_ok(a)) a++;
        if (a > hi) break;
        uint32_t b = a;
        while (b < hi && json_raw_ok(b + 1)) b++;
        gt_class_char(o, a);
        if (b > a) {
          gt_puts(o, "-");
          gt_class_char(o, b);
        }
        any = 1;
        if (b == 0xFFFFFFFFu) break;
        a = b + 1;
      }
      continue;
    }
    gt_class_char(o, lo);
    if (hi > lo) {
      gt_puts(o, "-");
      gt_class_char(o, hi);
    }
    any = 1;
  }
  if (r->json && negate) {
    gt_puts(o, "\\x00-\\x1F\\x22\\x5C");
    any = 1;
  }
  if (!any) {
    o->n = mark;
    rx_err(r, "character class matches nothing a JSON string can hold unescaped");
    return;
  }
  gt_puts(o, "]");
}

static void parse_class(rx *r) {
  r->i++;   /* '[' */
  int negate = 0;
  if (r->i < r->n && r->s[r->i] == '^') {
    negate = 1;
    r->i++;
  }
  rrange *rg = NULL;
  size_t n = 0, cap = 0;
  int first = 1;
  while (!r->failed) {
    if (r->i >= r->n) {
      rx_err(r, "unterminated character class");
      break;
    }
    char c = r->s[r->i];
    if (c == ']' && !first) {
      r->i++;
      break;
    }
    first = 0;
    if (n + 4 > cap) {
      cap = cap ? cap * 2 : 16;
      rrange *nr = realloc(rg, cap * sizeof *nr);
      if (!nr) {
        rx_err(r, "out of memory");
        break;
      }
      rg = nr;
    }
    uint32_t lo;
    if (c == '\\') {
      r->i++;
      if (r->i >= r->n) {
        rx_err(r, "trailing backslash");
        break;
      }
      char e = r->s[r->i++];
      int neg;
      int k = shorthand(e, rg + n, &neg);
      if (k) {
        if (neg) {
          rx_err(r, "negated shorthand classes inside [...] are not supported");
          break;
        }
        n += (size_t)k;
        continue;
      }
      int64_t v = e == 'b' ? '\b' : simple_escape(r, e);
      if (v < 0) {
        rx_err(r, "unsupported escape in a character class");
        break;
      }
      lo = (uint32_t)v;
    } else {
      lo = rx_utf8(r);
    }
    uint32_t hi = lo;
    if (r->i + 1 < r->n && r->s[r->i] == '-' && r->s[r->i + 1] != ']') {
      r->i++;
      if (r->s[r->i] == '\\') {
        r->i++;
        int64_t v = r->i < r->n ? simple_escape(r, r->s[r->i++]) : -1;
        if (v < 0) {
          rx_err(r, "bad range end in a character class");
          break;
        }
        hi = (uint32_t)v;
      } else {
        hi = rx_utf8(r);
      }
      if (hi < lo) {
        rx_err(r, "character range is reversed");
        break;
      }
    }
    rg[n++] = (rrange){lo, hi};
  }
  if (!r->failed) emit_class(r, rg, n, negate);
  free(rg);
}

static void parse_alt(rx *r, int top);

static int parse_count(rx *r, uint32_t *out) {
  uint32_t v = 0;
  int any = 0;
  while (r->i < r->n && r->s[r->i] >= '0' && r->s[r->i] <= '9') {
    v = v * 10 + (uint32_t)(r->s[r->i++] - '0');
    if (v > 10000) {
      rx_err(r, "repetition count too large");
      return 0;
    }
    any = 1;
  }
  *out = v;
  return any;
}

/* Reads a quantifier if one follows and emits it; lazy forms match the same language. */
static void parse_quant(rx *r) {
  if (r->i >= r->n) return;
  char c = r->s[r->i];
  if (c == '*' || c == '+' || c == '?') {
    r->i++;
    gt_printf(r->o, "%c", c);
  } else if (c == '{') {
    size_t save = r->i;
    r->i++;
    uint32_t lo = 0, hi = 0;
    int has_lo = parse_count(r, &lo), has_hi = 0, comma = 0;
    if (r->i < r->n && r->s[r->i] == ',') {
      comma = 1;
      r->i++;
      has_hi = parse_count(r, &hi);
    }
    if (r->failed) return;
    if (r->i >= r->n || r->s[r->i] != '}' || (!has_lo && !has_hi)) {
      r->i = save;   /* not a quantifier: a literal brace, as most engines read it */
      return;
    }
    r->i++;
    if (has_hi && hi < lo) {
      rx_err(r, "repetition maximum is below its minimum");
      return;
    }
    if (!comma) gt_printf(r->o, "{%u}", lo);
    else if (!has_hi) gt_printf(r->o, "{%u,}", lo);
    else gt_printf(r->o, "{%u,%u}", lo, hi);
  } else {
    return;
  }
  if (r->i < r->n && r->s[r->i] == '?') r->i++;
  else if (r->i < r->n && r->s[r->i] == '+') rx_err(r, "possessive quantifiers are not supported");
  if (r->i < r->n && (r->s[r->i] == '*' || r->s[r->i] == '+' || r->s[r->i] == '?'))
    rx_err(r, "a quantifier cannot follow a quantifier");
}

static void parse_atom(rx *r) {
  char c = r->s[r->i];
  if (c == '(') {
    r->i++;
    if (r->i < r->n && r->s[r->i] == '?') {
      if (r->i + 1 < r->n && r->s[r->i + 1] == ':') {
        r->i += 2;
      } else if (r->i + 2 < r->n && (r->s[r->i + 1] == '<' || r->s[r->i + 1] == 'P') &&
                 r->s[r->i + 2] != '=' && r->s[r->i + 2] != '!') {
        size_t close = r->i;
        while (close < r->n && r->s[close] != '>') close++;
        if (close >= r->n) {
          rx_err(r, "unterminated group name");
          return;
        }
        r->i = close + 1;
      } else {
        rx_err(r, "lookaround, inline flags and other (?...) groups are not supported");
        return;
      }
    }
    if (++r->depth > 200) {
      rx_err(r, "groups nested too deeply");
      return;
    }
    gt_puts(r->o, " ");
    parse_alt(r, 0);
    r->depth--;
    if (r->failed) return;
    if (r->i >= r->n || r->s[r->i] != ')') {
      rx_err(r, "missing ')'");
      return;
    }
    r->i++;
  } else if (c == '[') {
    parse_class(r);
  } else if (c == '.') {
    r->i++;
    gt_puts(r->o, r->json ? " [^\\x00-\\x1F\\x22\\x5C]" : " [^\\n]");
  } else if (c == '\\') {
    r->i++;
    if (r->i >= r->n) {
      rx_err(r, "trailing backslash");
      return;
    }
    char e = r->s[r->i++];
    rrange rg[4];
    int neg, k = shorthand(e, rg, &neg);
    if (k) {
      emit_class(r, rg, (size_t)k, neg);
      return;
    }
    if (e == 'b' || e == 'B') {
      rx_err(r, "word boundaries are not supported");
      return;
    }
    if (e >= '1' && e <= '9') {
      rx_err(r, "backreferences are not supported");
      return;
    }
    int64_t v = simple_escape(r, e);
    if (v < 0) {
      rx_err(r, "unsupported escape");
      return;
    }
    emit_char(r, (uint32_t)v);
  } else if (c == '*' || c == '+' || c == '?') {
    rx_err(r, "nothing to repeat");
  } else {
    emit_char(r, rx_utf8(r));
  }
}

static void parse_concat(rx *r, int top) {
  if (top && r->i < r->n && r->s[r->i] == '^') r->i++;
  while (!r->failed && r->i < r->n && r->s[r->i] != '|' && r->s[r->i] != ')') {
    if (r->s[r->i] == '$') {
      if (top && (r->i + 1 == r->n || r->s[r->i + 1] == '|')) {
        r->i++;
        continue;
      }
      rx_err(r, "'$' is only supported at the end of the pattern");
      return;
    }
    if (r->s[r->i] == '^') {
      rx_err(r, "'^' is only supported at the start of the pattern");
      return;
    }
    parse_atom(r);
    if (!r->failed) parse_quant(r);
  }
}

static void parse_alt(rx *r, int top) {
  gt_puts(r->o, "(");
  parse_concat(r, top);
  while (!r->failed && r->i < r->n && r->s[r->i] == '|') {
    r->i++;
    gt_puts(r->o, " |");
    parse_concat(r, top);
  }
  gt_puts(r->o, " )");
}

int dkg_regex_expr(const char *pattern, int json_string, int *anchored_start,
                   int *anchored_end, gtext *out, char *err, size_t errlen) {
  rx r = {.s = pattern, .n = strlen(pattern), .json = json_string, .o = out,
          .err = err, .errlen = errlen};
  if (anchored_start) *anchored_start = r.n > 0 && pattern[0] == '^';
  if (anchored_end)
    *anchored_end = r.n > 0 && pattern[r.n - 1] == '$' && (r.n < 2 || pattern[r.n - 2] != '\\');
  parse_alt(&r, 1);
  if (!r.failed && r.i < r.n) {
    r.failed = 1;
    snprintf(err, errlen, "regex at offset %zu: unmatched ')'", r.i);
  }
  if (!r.failed && out->oom) {
    r.failed = 1;
    snprintf(err, errlen, "out of memory");
  }
  return r.failed ? -1 : 0;
}

int dkg_regex_search_expr(const char *pattern, int json_string, const char *any, gtext *out,
                          char *err, size_t errlen) {
  int as, ae;
  size_t mark = out->n;
  gt_puts(out, " ");
  if (dkg_regex_expr(pattern, json_string, &as, &ae, out, err, errlen)) return -1;
  if (!as) {   /* unanchored at the start: anything may come first */
    gtext t = {0};
    gt_printf(&t, " %s*", any);
    gt_putn(&t, out->s + mark, out->n - mark);
    out->n = mark;
    gt_putn(out, t.s, t.n);
    gt_free(&t);
    if (t.oom) out->oom = 1;
  }
  if (!ae) gt_printf(out, " %s*", any);
  if (out->oom) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  return 0;
}

char *dkg_regex_to_gbnf(const char *pattern, char *err, size_t errlen) {
  gtext b = {0};
  gt_puts(&b, "root ::= ");
  if (dkg_regex_expr(pattern, 0, NULL, NULL, &b, err, errlen)) {
    gt_free(&b);
    return NULL;
  }
  gt_puts(&b, "\n");
  char *s = gt_take(&b);
  if (!s) snprintf(err, errlen, "out of memory");
  return s;
}
