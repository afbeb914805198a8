/* gbnf_text.c -- growing text buffer and GBNF literal quoting for the grammar generators */
#include "gbnf_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gt_putn(gtext *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->n + n + 1 > b->cap) {
    size_t nc = b->cap ? b->cap : 256;
    while (nc < b->n + n + 1) nc *= 2;
    char *ns = realloc(b->s, nc);
    if (!ns) {
      b->oom = 1;
      return;
    }
    b->s = ns;
    b->cap = nc;
  }
  memcpy(b->s + b->n, s, n);
  b->n += n;
  b->s[b->n] = 0;
}

void gt_puts(gtext *b, const char *s) { gt_putn(b, s, strlen(s)); }

void gt_printf(gtext *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->oom = 1;
    return;
  }
  if ((size_t)n < sizeof tmp) {
    gt_putn(b, tmp, (size_t)n);
    return;
  }
  char *big = malloc((size_t)n + 1);
  if (!big) {
    b->oom = 1;
    return;
  }
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  gt_putn(b, big, (size_t)n);
  free(big);
}

void gt_literal(gtext *b, const char *s, size_t n) {
  gt_puts(b, "\"");
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      gt_putn(b, e, 2);
    } else if (c == '\n') {
      gt_puts(b, "\\n");
    } else if (c < 0x20 || c == 0x7F) {
      gt_printf(b, "\\x%02X", c);
    } else {
      gt_putn(b, (const char *)&c, 1);
    }
  }
  gt_puts(b, "\"");
}

void gt_class_char(gtext *b, uint32_t cp) {
  if (cp < 0x20 || cp == 0x7F || cp == '"' || cp == '\\' || cp == '[' || cp == ']' ||
      cp == '-' || cp == '^')
    gt_printf(b, "\\x%02X", (unsigned)cp);
  else if (cp < 0x80)
    gt_printf(b, "%c", (char)cp);
  else if (cp <= 0xFFFF)
    gt_printf(b, "\\u%04X", (unsigned)cp);
  else
    gt_printf(b, "\\U%08X", (unsigned)cp);
}

char *gt_take(gtext *b) {
  if (b->oom) {
    free(b->s);
    b->s = NULL;
    return NULL;
  }
  if (!b->s) gt_puts(b, "");
  char *s = b->s;
  b->s = NULL;
  b->n = b->cap = 0;
  return s;
}

void gt_free(gtext *b) {
  free(b->s);
  b->s = NULL;
  b->n = b->cap = 0;
}

int dkg_utf8_decode(const char *s, size_t len, uint32_t *cp) {
  static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (!len) return 0;
  unsigned char c = (unsigned char)s[0];
  int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (!n || (size_t)n > len) return 0;
  uint32_t v = n == 1 ? c : n == 2 ? (c & 0x1Fu) : n == 3 ? (c & 0x0Fu) : (c & 0x07u);
  for (int i = 1; i < n; i++) {
    unsigned char cc = (unsigned char)s[i];
    if ((cc & 0xC0) != 0x80) return 0;
    v = (v << 6) | (cc & 0x3Fu);
  }
  if (v < least[n] || (v >= 0xD800 && v <= 0xDFFF) || v > 0x10FFFF) return 0;
  *cp = v;
  return n;
}
