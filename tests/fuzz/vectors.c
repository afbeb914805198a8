/* vectors.c -- reads the reference tokenizer vectors (.inp strings, .out ids) for the tokenizer fuzz target. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "vectors.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 16, n = 0, got;
  char *buf = malloc(cap + 1);
  while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      char *t = realloc(buf, (cap *= 2) + 1);
      if (!t) free(buf);
      buf = t;
    }
  }
  fclose(f);
  if (buf) buf[n] = '\0';
  *len = n;
  return buf;
}

static int grow(ref_vectors *rv, size_t *cap) {
  if (rv->n < *cap) return 0;
  size_t c = *cap ? *cap * 2 : 64;
  ref_case *t = realloc(rv->cases, c * sizeof *t);
  if (!t) return -1;
  rv->cases = t;
  *cap = c;
  return 0;
}

int ref_vectors_load(ref_vectors *rv, const char *base, char *err, size_t errlen) {
  static const char sep[] = "\n__ggml_vocab_test__\n";
  char path[4096];
  size_t il = 0, ol = 0, cap = 0;
  *rv = (ref_vectors){0};
  snprintf(path, sizeof path, "%s.inp", base);
  rv->inp = slurp(path, &il);
  snprintf(path, sizeof path, "%s.out", base);
  char *out = slurp(path, &ol);
  if (!rv->inp || !out) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    goto fail;
  }
  char *s = rv->inp, *o = out, *end = rv->inp + il;
  /* each string ends at a separator; text after the last one is not a case */
  for (char *e; (e = memmem(s, (size_t)(end - s), sep, sizeof sep - 1)); s = e + sizeof sep - 1) {
    char *oe = strchr(o, '\n');
    if (!oe) {
      snprintf(err, errlen, "%s: fewer lines than the .inp has strings", path);
      goto fail;
    }
    if (grow(rv, &cap)) goto oom;
    ref_case *c = &rv->cases[rv->n];
    *c = (ref_case){.text = s, .len = (size_t)(e - s)};
    c->ids = malloc(((size_t)(oe - o) / 2 + 1) * sizeof *c->ids); /* ids are at least 1 digit + 1 space */
    if (!c->ids) goto oom;
    rv->n++;
    for (char *q = o; q < oe;) {
      char *next;
      long x = strtol(q, &next, 10);
      if (next == q) break;
      c->ids[c->n_ids++] = (int32_t)x;
      q = next;
    }
    o = oe + 1;
  }
  free(out);
  if (rv->n == 0) {
    snprintf(err, errlen, "%s.inp: no test strings", base);
    ref_vectors_free(rv);
    return -1;
  }
  return 0;
oom:
  snprintf(err, errlen, "out of memory");
fail:
  free(out);
  ref_vectors_free(rv);
  return -1;
}

void ref_vectors_free(ref_vectors *rv) {
  for (size_t i = 0; i < rv->n; i++) free(rv->cases[i].ids);
  free(rv->cases);
  free(rv->inp);
  *rv = (ref_vectors){0};
}

const ref_case *ref_vectors_find(const ref_vectors *rv, const char *s, size_t len) {
  for (size_t i = 0; i < rv->n; i++)
    if (rv->cases[i].len == len && memcmp(rv->cases[i].text, s, len) == 0) return &rv->cases[i];
  return NULL;
}
