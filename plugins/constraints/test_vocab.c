/* test_vocab.c -- test vocabularies for the grammar engine: a GGUF token list or a synthetic one */
#include "test_vocab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tvocab_models_dir(void) {
  const char *d = getenv("DECOKIT_TEST_MODELS");
  return d && *d ? d : "../shared/models";
}

void tvocab_free(tvocab *v) {
  if (!v) return;
  for (int32_t i = 0; i < v->n; i++) free(v->piece[i]);
  free(v->piece);
  free(v->len);
  free(v->special);
  free(v);
}

static tvocab *tvocab_alloc(int32_t n) {
  tvocab *v = calloc(1, sizeof *v);
  if (!v) return NULL;
  v->n = n;
  v->eos = -1;
  v->piece = calloc((size_t)n, sizeof *v->piece);
  v->len = calloc((size_t)n, sizeof *v->len);
  v->special = calloc((size_t)n, 1);
  if (!v->piece || !v->len || !v->special) {
    tvocab_free(v);
    return NULL;
  }
  return v;
}

typedef struct rd {
  const uint8_t *p, *end;
  int bad;
} rd;

static uint64_t rd_u(rd *r, int n) {
  if (r->end - r->p < n) {
    r->bad = 1;
    return 0;
  }
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v |= (uint64_t)r->p[i] << (8 * i);
  r->p += n;
  return v;
}

static const uint8_t *rd_str(rd *r, uint64_t *len) {
  *len = rd_u(r, 8);
  if (r->bad || (uint64_t)(r->end - r->p) < *len) {
    r->bad = 1;
    return NULL;
  }
  const uint8_t *s = r->p;
  r->p += *len;
  return s;
}

static int scalar_size(uint32_t t) {
  static const int sz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
  return t < 13 ? sz[t] : -1;
}

static void rd_skip(rd *r, uint32_t t) {
  uint64_t len;
  if (t == 8) {
    rd_str(r, &len);
  } else if (t == 9) {
    uint32_t et = (uint32_t)rd_u(r, 4);
    uint64_t n = rd_u(r, 8);
    for (uint64_t i = 0; i < n && !r->bad; i++) rd_skip(r, et);
  } else {
    int s = scalar_size(t);
    if (s <= 0 || r->end - r->p < s) r->bad = 1;
    else r->p += s;
  }
}

static uint32_t decode_piece(const uint8_t *s, uint64_t n, int type, char *out) {
  uint32_t k = 0;
  if (type == 6 && n == 6 && s[0] == '<' && s[1] == '0' && s[2] == 'x' && s[5] == '>') {
    unsigned v;
    if (sscanf((const char *)s + 3, "%2x", &v) == 1) {
      out[0] = (char)v;
      return 1;
    }
  }
  for (uint64_t i = 0; i < n;) {
    if (i + 2 < n && s[i] == 0xE2 && s[i + 1] == 0x96 && s[i + 2] == 0x81) {
      out[k++] = ' ';
      i += 3;
    } else {
      out[k++] = (char)s[i++];
    }
  }
  return k;
}

static int key_is(const uint8_t *k, uint64_t kl, const char *name) {
  return kl == strlen(name) && !memcmp(k, name, kl);
}

tvocab *tvocab_load_gguf(const char *path, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "%s: cannot open", path);
    return NULL;
  }
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = sz > 0 ? malloc((size_t)sz) : NULL;
  if (!buf || fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
    fclose(f);
    free(buf);
    snprintf(err, errlen, "%s: cannot read", path);
    return NULL;
  }
  fclose(f);
  rd r = {buf, buf + sz, 0};
  tvocab *v = NULL;
  if (rd_u(&r, 4) != 0x46554747u) goto bad;   /* "GGUF" */
  rd_u(&r, 4);
  rd_u(&r, 8);
  uint64_t n_kv = rd_u(&r, 8);
  const uint8_t *tok_at = NULL, *type_at = NULL;
  uint32_t type_et = 0;
  uint64_t n_tok = 0;
  int64_t eos = -1;
  for (uint64_t i = 0; i < n_kv && !r.bad; i++) {
    uint64_t kl;
    const uint8_t *k = rd_str(&r, &kl);
    uint32_t t = (uint32_t)rd_u(&r, 4);
    if (r.bad) break;
    if (key_is(k, kl, "tokenizer.ggml.tokens") && t == 9) {
      tok_at = r.p;
    } else if (key_is(k, kl, "tokenizer.ggml.token_type") && t == 9) {
      type_at = r.p;
    } else if (key_is(k, kl, "tokenizer.ggml.eos_token_id") && t >= 4 && t <= 5) {
      const uint8_t *save = r.p;
      eos = (int64_t)rd_u(&r, 4);
      r.p = save;
    }
    rd_skip(&r, t);
  }
  if (r.bad || !tok_at) goto bad;
  rd tr = {tok_at, buf + sz, 0};
  if (rd_u(&tr, 4) != 8) goto bad;
  n_tok = rd_u(&tr, 8);
  if (tr.bad || n_tok == 0 || n_tok > (1u << 24)) goto bad;
  v = tvocab_alloc((int32_t)n_tok);
  if (!v) goto bad;
  int32_t *types = calloc(n_tok, sizeof *types);
  if (!types) goto bad;
  if (type_at) {
    rd yr = {type_at, buf + sz, 0};
    type_et = (uint32_t)rd_u(&yr, 4);
    uint64_t nt = rd_u(&yr, 8);
    for (uint64_t i = 0; i < nt && i < n_tok && !yr.bad && scalar_size(type_et) == 4; i++)
      types[i] = (int32_t)rd_u(&yr, 4);
  }
  for (uint64_t i = 0; i < n_tok && !tr.bad; i++) {
    uint64_t l;
    const uint8_t *s = rd_str(&tr, &l);
    if (tr.bad) break;
    v->piece[i] = malloc(l + 1);
    if (!v->piece[i]) {
      tr.bad = 1;
      break;
    }
    v->len[i] = decode_piece(s, l, types[i], v->piece[i]);
    /* unknown (2), control (3) and unused (5) tokens are never grammar output */
    v->special[i] = types[i] == 2 || types[i] == 3 || types[i] == 5;
  }
  free(types);
  if (tr.bad) goto bad;
  v->eos = (int32_t)eos;
  free(buf);
  return v;
bad:
  snprintf(err, errlen, "%s: not a GGUF file with a token list", path);
  tvocab_free(v);
  free(buf);
  return NULL;
}

static uint64_t xs(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static int add_piece(tvocab *v, int32_t *k, const char *s, uint32_t n) {
  if (*k >= v->n) return 0;
  v->piece[*k] = malloc(n ? n : 1);
  if (!v->piece[*k]) return 0;
  memcpy(v->piece[*k], s, n);
  v->len[*k] = n;
  (*k)++;
  return 1;
}

tvocab *tvocab_synthetic(int32_t n, uint64_t seed) {
  static const char *frag[] = {
      "{", "}", "[", "]", ",", ":", "\"", "\\", " ", "\n", "  ", "\t", "\":", "\",", "\"}",
      "{\"", "[\"", "\"]", "},", "],", "true", "false", "null", "0", "1", "-", ".", "e", "E",
      "+", "12", "3.", ".5", "e-", "\\n", "\\\"", "\\u", "00", "ab", "name", "age", "id",
      "é", "\xc3", "\xa9", "日本", "\xe6\x97", "\xa5", "😀", "\xf0\x9f", "\x98\x80", "\\u00"};
  if (n < 600) n = 600;
  tvocab *v = tvocab_alloc(n);
  if (!v) return NULL;
  int32_t k = 0;
  char tmp[64];
  v->piece[k] = malloc(5);
  memcpy(v->piece[k], "</s>", 4);
  v->len[k] = 4;
  v->special[k] = 1;
  v->eos = k++;
  for (int b = 0; b < 256; b++) {
    tmp[0] = (char)b;
    add_piece(v, &k, tmp, 1);
  }
  for (size_t i = 0; i < sizeof frag / sizeof *frag; i++)
    add_piece(v, &k, frag[i], (uint32_t)strlen(frag[i]));
  uint64_t s = seed | 1;
  static const char alpha[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;-_\"{}[]";
  while (k < n) {
    uint32_t len = 2 + (uint32_t)(xs(&s) % 9), m = 0;
    if (xs(&s) % 3 == 0) tmp[m++] = ' ';
    while (m < len) {
      uint64_t r = xs(&s) % 100;
      if (r < 85) tmp[m++] = alpha[xs(&s) % 52];
      else if (r < 95) tmp[m++] = alpha[xs(&s) % (sizeof alpha - 1)];
      else if (m + 2 <= sizeof tmp - 1) {
        tmp[m++] = (char)0xC3;   /* Latin-1 letters, sometimes cut after the lead byte */
        if (xs(&s) % 4) tmp[m++] = (char)(0xA0 + xs(&s) % 0x20);
      }
    }
    if (!add_piece(v, &k, tmp, m)) break;
  }
  v->n = k;
  return v;
}

char *tvocab_slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
    free(s);
    s = NULL;
  }
  if (s) s[n] = 0;
  fclose(f);
  return s;
}
