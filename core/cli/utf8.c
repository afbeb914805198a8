/* utf8.c -- UTF-8 validity and the one replacement policy for model text shown on stdout and in JSON. */
#include "cli.h"

#include <string.h>

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
size_t dk_utf8_seq(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (!len || len > n) return 0;
  for (size_t i = 1; i < len; i++)
    if ((s[i] & 0xC0) != 0x80) return 0;
  /* Overlong forms, surrogates and values past U+10FFFF are invalid too. */
  uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
  for (size_t i = 1; i < len; i++) cp = (cp << 6) | (s[i] & 0x3F);
  static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

size_t dk_utf8_sanitize(const char *in, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    size_t l = dk_utf8_seq((const unsigned char *)in + i, n - i);
    if (l) {
      memcpy(out + o, in + i, l);
      o += l;
      i += l;
    } else {
      memcpy(out + o, "\xEF\xBF\xBD", 3);
      o += 3;
      i++;
    }
  }
  return o;
}

void dk_cli_write_text(FILE *f, const char *bytes, size_t len) {
  char buf[3 * 256];
  while (len) {
    /* Slices end before a continuation byte, so no valid sequence is split
     * (a sequence is at most 4 bytes). */
    size_t k = len < 256 ? len : 256;
    while (k < len && k > 252 && ((unsigned char)bytes[k] & 0xC0) == 0x80) k--;
    fwrite(buf, 1, dk_utf8_sanitize(bytes, k, buf), f);
    bytes += k;
    len -= k;
  }
}
