/* json_schema_scalar.c -- JSON Schema numbers, integers and strings (formats, patterns, lengths) as GBNF */
#include "json_schema_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- integers in ranges ---- */

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

/* Integers are written with at most this many digits, so that every bound below
 * 10^MAX_DIGITS in magnitude is exact in a long long. */
#define MAX_DIGITS 17
#define BIG_BOUND 1e17

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

static int get_bound(js *c, json_t *s, const char *key, const char *path, double *out) {
  json_t *v = json_object_get(s, key);
  if (!v) return 0;
  if (!json_is_number(v)) {
    js_err(c, path, "'%s' must be a number", key);
    return -1;
  }
  *out = json_number_value(v);
  return 1;
}

int js_int_bounds(js *c, json_t *s, const char *path, int *has_lo, long long *lo, int *has_hi,
                  long long *hi) {
  static const char *const keys[4] = {"minimum", "exclusiveMinimum", "maximum",
                                      "exclusiveMaximum"};
  *has_lo = *has_hi = 0;
  *lo = *hi = 0;
  for (int k = 0; k < 4; k++) {
    double d;
    int r = get_bound(c, s, keys[k], path, &d);
    if (r < 0) return -1;
    if (!r) continue;
    int is_min = k < 2;
    /* bounds past the largest written integer constrain nothing on their side */
    if (is_min ? d <= -BIG_BOUND : d >= BIG_BOUND) continue;
    if (is_min ? d >= BIG_BOUND : d <= -BIG_BOUND) {
      js_err(c, path, "'%s' is beyond the %d-digit numbers this engine writes", keys[k],
             MAX_DIGITS);
      return -1;
    }
    long long v;
    if (k == 0) v = (long long)ceil(d);
    else if (k == 1) v = (long long)floor(d) + 1;
    else if (k == 2) v = (long long)floor(d);
    else v = (long long)ceil(d) - 1;
    if (is_min && (!*has_lo || v > *lo)) *lo = v, *has_lo = 1;
    if (!is_min && (!*has_hi || v < *hi)) *hi = v, *has_hi = 1;
  }
  return 0;
}

/* Multiples of k, as the remainders of a division read digit by digit: rule
 * base-R-L has read L digits leaving remainder R. At most 15 digits, so that a
 * reader's double keeps the value (and its divisibility) exact. */
#define MULTIPLE_DIGITS 15

static void multiples_of(js *c, long long k, gtext *o) {
  const char *base = js_name(c, "multiple");
  gtext *r = &c->rules;
  for (int len = MULTIPLE_DIGITS; len >= 1; len--)
    for (long long rem = 0; rem < k; rem++) {
      gt_printf(r, "%s-%lld-%d ::=", base, rem, len);
      int alts = 0;
      if (rem == 0) {
        gt_puts(r, " \"\"");
        alts++;
      }
      if (len < MULTIPLE_DIGITS)
        for (int d = 0; d <= 9; d++)
          gt_printf(r, "%s \"%d\" %s-%lld-%d", alts++ ? " |" : "", d, base, (rem * 10 + d) % k,
                    len + 1);
      if (!alts) {
        gt_puts(r, " j-never");
        c->need_never = 1;
      }
      gt_puts(r, "\n");
    }
  gt_puts(o, " ( \"0\" | \"-\"? (");
  for (int d = 1; d <= 9; d++) gt_printf(o, "%s \"%d\" %s-%lld-1", d > 1 ? " |" : "", d, base, d % k);
  gt_puts(o, " ) )");
}

/* multipleOf on an integer: 1 constrains nothing, a larger integer k compiles
 * without bounds; returns 1 when it wrote the grammar, -1 on an error. */
static int integer_multiple(js *c, json_t *s, const char *path, gtext *o) {
  json_t *m = json_object_get(s, "multipleOf");
  if (!m) return 0;
  double k = json_is_number(m) ? json_number_value(m) : -1;
  if (k <= 0) {
    js_err(c, path, "'multipleOf' must be a number above 0");
    return -1;
  }
  if (k != floor(k) || k > 1000) {
    js_err(c, path, "multipleOf is supported only as a whole number up to 1000, not %g", k);
    return -1;
  }
  if (k == 1) return 0;
  if (json_object_get(s, "minimum") || json_object_get(s, "maximum") ||
      json_object_get(s, "exclusiveMinimum") || json_object_get(s, "exclusiveMaximum")) {
    js_err(c, path, "multipleOf together with minimum/maximum is not supported");
    return -1;
  }
  multiples_of(c, (long long)k, o);
  return 1;
}

void js_integer(js *c, json_t *s, const char *path, gtext *o) {
  long long lo, hi;
  int has_lo, has_hi;
  int mul = integer_multiple(c, s, path, o);
  if (mul) return;
  if (js_int_bounds(c, s, path, &has_lo, &lo, &has_hi, &hi)) return;
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

/* Numbers within bounds are written without an exponent: an integer part chosen so
 * that every fraction after it stays in range, then an optional fraction. Bounds are
 * first rounded inwards to integers, a documented narrowing. */
void js_number(js *c, json_t *s, const char *path, gtext *o) {
  long long L, H;
  int has_lo, has_hi;
  if (json_object_get(s, "multipleOf")) {
    /* an integer multipleOf takes only integers */
    if (json_object_get(s, JS_NONINT)) {
      js_err(c, path, "multipleOf on non-integer numbers is not supported");
      return;
    }
    js_integer(c, s, path, o);
    return;
  }
  if (js_int_bounds(c, s, path, &has_lo, &L, &has_hi, &H)) return;
  int nonint = json_object_get(s, JS_NONINT) != NULL;
  /* a non-integer keeps at most 15 significant digits, so that a reader converting
   * to a double still sees a fraction (4399012065329101.044 reads as an integer) */
  const char *frac = nonint ? " \".\" [0-9]{0,5} [1-9]" : " \".\" [0-9]{1,15}";
  if (nonint) {
    const long long big = 999999999;
    if (!has_hi || H > big) H = big, has_hi = 1;
    if (!has_lo || L < -big) L = -big, has_lo = 1;
  }
  if (!has_lo && !has_hi) {
    c->need_number = 1;
    gt_puts(o, " j-number");
    return;
  }
  gt_puts(o, " (");
  int n = 0;
  if (!has_hi || H >= 0) {
    long long a = has_lo && L > 0 ? L : 0;
    if (!nonint && (!has_hi || H >= a)) { /* an empty range would make "( )": no value */
      gt_puts(o, n++ ? " |" : "");
      nonneg_range(o, a, has_hi ? H : -1);
    }
    if (!has_hi || H - 1 >= a) {
      gt_puts(o, n++ ? " |" : "");
      nonneg_range(o, a, has_hi ? H - 1 : -1);
      gt_puts(o, frac);
    }
  }
  if (!has_lo || L < 0) {
    long long klo = has_hi && H < 0 ? -H : 1, khi = has_lo ? -L : -1;
    if (!nonint && (khi < 0 || klo <= khi)) {
      gt_puts(o, n++ ? " | \"-\"" : " \"-\"");
      nonneg_range(o, klo, khi);
    }
    klo = has_hi && H < 0 ? -H : 0;
    khi = has_lo ? -L - 1 : -1;
    if (!has_lo || (khi >= 0 && klo <= khi)) {
      gt_puts(o, n++ ? " | \"-\"" : " \"-\"");
      nonneg_range(o, klo, khi);
      gt_puts(o, frac);
    }
  }
  gt_puts(o, " )");
  if (!n)
    js_err(c, path,
           "no number lies between the bounds (bounds on numbers are rounded inwards to whole "
           "numbers)");
}

/* ---- strings ---- */

#define DIGIT2_DAY "( \"0\" [1-9] | [12] [0-9] | \"3\" [01] )"
/* Years 0001-9999: readers such as Python's date reject the year 0. */
#define YEAR                                                                                    \
  "( [1-9] [0-9]{3} | \"0\" [1-9] [0-9]{2} | \"00\" [1-9] [0-9] | \"000\" [1-9] )"
/* Two digits that are a non-zero multiple of 4. */
#define MUL4 "( [02468] [48] | [2468] \"0\" | [13579] [26] )"
#define LEAP_YEAR "( [0-9] [0-9] " MUL4 " | " MUL4 " \"00\" )"
#define DATE                                                                                    \
  "( " YEAR " \"-\" ( ( \"0\" [13578] | \"1\" [02] ) \"-\" " DIGIT2_DAY                      \
  " | ( \"0\" [469] | \"11\" ) \"-\" ( \"0\" [1-9] | [12] [0-9] | \"30\" ) | \"02-\" ( \"0\" " \
  "[1-9] | \"1\" [0-9] | \"2\" [0-8] ) ) | " LEAP_YEAR " \"-02-29\" )"
#define TIME                                                                                    \
  "( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] \":\" [0-5] [0-9] ( \".\" [0-9]{1,6} )? ( "  \
  "\"Z\" | [+\\x2D] ( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] )"
#define LABEL "[a-zA-Z0-9] ( [a-zA-Z0-9\\x2D]{0,61} [a-zA-Z0-9] )?"
#define OCTET "( \"25\" [0-5] | \"2\" [0-4] [0-9] | \"1\" [0-9] [0-9] | [1-9] [0-9] | [0-9] )"
#define URI_CHAR "( [a-zA-Z0-9._~!$&'()*+,;=:@\\x2D] | \"%\" [0-9A-F] [0-9A-F] )"

/* The formats enforced, each as the string's content; every string they produce is
 * valid (RFC 3339, RFC 4122, RFC 5321 dot-atoms, RFC 1123, RFC 3986), though not every
 * valid string is produced. min/max are the content's lengths (0 = unbounded). */
static const struct {
  const char *name, *gbnf;
  unsigned min, max;
} formats[] = {
    {"date", DATE, 10, 10},
    {"time", TIME, 9, 21},
    {"date-time", DATE " \"T\" " TIME, 20, 32},
    {"uuid", "[0-9a-f]{8} \"-\" [0-9a-f]{4} \"-\" [1-8] [0-9a-f]{3} \"-\" [89ab] [0-9a-f]{3} \"-\" "
             "[0-9a-f]{12}", 36, 36},
    {"email", "[a-zA-Z0-9_%+\\x2D]+ ( \".\" [a-zA-Z0-9_%+\\x2D]+ )* \"@\" " LABEL " ( \".\" " LABEL
              " ){1,4}", 0, 0},
    {"hostname", LABEL " ( \".\" " LABEL " ){0,2}", 1, 191},
    {"ipv4", OCTET " \".\" " OCTET " \".\" " OCTET " \".\" " OCTET, 7, 15},
    {"ipv6", "[0-9a-f]{1,4} ( \":\" [0-9a-f]{1,4} ){7}", 15, 39},
    {"uri", "[a-z] [a-z0-9+.\\x2D]* \"://\" " LABEL " ( \".\" " LABEL " ){0,2} ( \"/\" " URI_CHAR
            "* )* ( \"?\" ( " URI_CHAR " | \"/\" | \"?\" )* )?", 0, 0},
};

/* The names, for messages and the manual. */
#define FORMAT_NAMES "date, time, date-time, uuid, email, hostname, ipv4, ipv6, uri"

static int find_format(const char *f) {
  for (size_t i = 0; i < sizeof formats / sizeof *formats; i++)
    if (!strcmp(formats[i].name, f)) return (int)i;
  return -1;
}

static int get_len(js *c, json_t *s, const char *key, const char *path, long long *out) {
  json_t *v = json_object_get(s, key);
  if (!v) return 0;
  double d = json_is_number(v) ? json_number_value(v) : -1;
  if (d < 0 || d != floor(d)) {
    js_err(c, path, "'%s' must be a non-negative integer", key);
    return -1;
  }
  *out = d > DKG_MAX_REPEAT ? (long long)DKG_MAX_REPEAT + 1 : (long long)d;
  return 1;
}

/* A pattern that is one anchored atom and a quantifier, ^ATOM{m,n}$: the only form
 * whose language can be cut to a length range without an automaton product. Writes
 * the atom and its bounds. */
static int single_atom(const char *p, char *atom, size_t cap, long long *qmin, long long *qmax) {
  size_t n = strlen(p), i = 0;
  if (n < 2 || p[0] != '^' || p[n - 1] != '$' || (n >= 2 && p[n - 2] == '\\')) return 0;
  i = 1;
  size_t a0 = i;
  if (p[i] == '[') {
    i++;
    if (p[i] == '^') i++;
    if (p[i] == ']') i++;
    while (i < n - 1 && p[i] != ']') i += p[i] == '\\' ? 2 : 1;
    if (i >= n - 1) return 0;
    i++;
  } else if (p[i] == '\\') {
    i += 2;
  } else if (strchr("()|*+?{}$", p[i])) {
    return 0;
  } else {
    i++;
  }
  if (i - a0 + 3 > cap || i > n - 1) return 0;
  atom[0] = '^';
  memcpy(atom + 1, p + a0, i - a0);
  atom[i - a0 + 1] = '$';
  atom[i - a0 + 2] = 0;
  *qmin = 1;
  *qmax = 1;
  if (p[i] == '*') *qmin = 0, *qmax = -1, i++;
  else if (p[i] == '+') *qmax = -1, i++;
  else if (p[i] == '?') *qmin = 0, i++;
  else if (p[i] == '{') {
    char *end;
    *qmin = strtoll(p + i + 1, &end, 10);
    if (end == p + i + 1) return 0;
    *qmax = *qmin;
    if (*end == ',') {
      const char *q = end + 1;
      *qmax = strtoll(q, &end, 10);
      if (end == q) *qmax = -1;
    }
    if (*end != '}') return 0;
    i = (size_t)(end - p) + 1;
  }
  return i == n - 1;
}

void js_string(js *c, json_t *s, const char *path, gtext *o) {
  json_t *fmt = json_object_get(s, "format"), *pat = json_object_get(s, "pattern");
  long long mn = 0, mx = -1;
  int has_mn = get_len(c, s, "minLength", path, &mn);
  int has_mx = get_len(c, s, "maxLength", path, &mx);
  if (has_mn < 0 || has_mx < 0) return;
  if (!has_mx) mx = -1;
  if (mx > (long long)DKG_MAX_REPEAT) mx = -1;   /* longer than anything written */
  if (has_mx && mx >= 0 && mx < mn) {
    js_err(c, path, "maxLength is below minLength");
    return;
  }
  int f = -1;
  if (fmt) {
    if (!json_is_string(fmt)) {
      js_err(c, path, "'format' must be a string");
      return;
    }
    f = find_format(json_string_value(fmt));
    /* formats are annotations unless enforced; an unknown one asserts nothing */
    if (f < 0 && c->strict) {
      js_err(c, path, "format '%s' is not enforced (enforced: " FORMAT_NAMES ")",
             json_string_value(fmt));
      return;
    }
  }
  if (pat && !json_is_string(pat)) {
    js_err(c, path, "'pattern' must be a string");
    return;
  }
  if (f >= 0 && pat) {
    js_err(c, path, "'format' together with 'pattern' is not supported");
    return;
  }
  if (f >= 0) {
    unsigned fmin = formats[f].min, fmax = formats[f].max;
    if (mn > (long long)fmin || (mx >= 0 && (fmax == 0 || mx < (long long)fmax))) {
      js_err(c, path, "format '%s' with these minLength/maxLength is not supported",
             formats[f].name);
      return;
    }
    gt_printf(o, " \"\\\"\" ( %s ) \"\\\"\"", formats[f].gbnf);
    return;
  }
  if (pat) {
    const char *p = json_string_value(pat);
    int as, ae;
    c->need_char = 1;
    if (mn > 0 || mx >= 0) {
      char atom[256];
      long long qmin, qmax;
      if (!single_atom(p, atom, sizeof atom, &qmin, &qmax)) {
        js_err(c, path, "'pattern' together with minLength/maxLength is supported only for "
                        "patterns of one anchored item, like ^[a-z0-9]*$");
        return;
      }
      long long lo = qmin > mn ? qmin : mn;
      long long hi = qmax < 0 ? mx : mx < 0 ? qmax : qmax < mx ? qmax : mx;
      if (hi >= 0 && hi < lo) {
        js_err(c, path, "no string matches both 'pattern' and minLength/maxLength");
        return;
      }
      gt_puts(o, " \"\\\"\" ");
      if (dkg_regex_expr(atom, 1, &as, &ae, o, c->err, c->errlen)) {
        c->failed = 1;
        return;
      }
      if (hi >= 0) gt_printf(o, "{%lld,%lld} \"\\\"\"", lo, hi);
      else gt_printf(o, "{%lld,} \"\\\"\"", lo);
      return;
    }
    gt_puts(o, " \"\\\"\"");
    /* JSON Schema patterns search anywhere in the string */
    if (dkg_regex_search_expr(p, 1, "j-char", o, c->err, c->errlen)) {
      c->failed = 1;
      return;
    }
    gt_puts(o, " \"\\\"\"");
    return;
  }
  if (mn > 0 || mx >= 0) {
    c->need_char = 1;
    if (mx >= 0) gt_printf(o, " \"\\\"\" j-char{%lld,%lld} \"\\\"\"", mn, mx);
    else gt_printf(o, " \"\\\"\" j-char{%lld,} \"\\\"\"", mn);
    return;
  }
  c->need_string = 1;
  gt_puts(o, " j-string");
}
