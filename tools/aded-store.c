/* aded-store.c -- write the aded drafter's tri-gram store from token ids (decokit tokenize --ids output). */
/*
 * Usage: decokit tokenize --ids --no-bos -m MODEL - < CORPUS | aded-store [-k TOP] > STORE
 * Counts every tri-gram of the id stream, turns each pair's counts into
 * probabilities and keeps the TOP most frequent successors (12 by default,
 * as ADED prunes its store).  Output: "decokit-trigrams 1", then one line
 * "T1 T2 T3 P" per kept tri-gram, pairs in id order, successors by count.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_BITS 21 /* three ids packed in one 64-bit word */
#define ID_MASK ((UINT64_C(1) << ID_BITS) - 1)

static int by_value(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

typedef struct succ {
  uint32_t tok;
  uint64_t count;
} succ;

static int by_count(const void *a, const void *b) {
  const succ *x = a, *y = b;
  if (x->count != y->count) return (x->count < y->count) - (x->count > y->count);
  return (x->tok > y->tok) - (x->tok < y->tok);
}

int main(int argc, char **argv) {
  size_t top = 12;
  for (int i = 1; i < argc; i++) {
    char *end;
    if (!strcmp(argv[i], "-k") && i + 1 < argc && (top = strtoul(argv[i + 1], &end, 10)) > 0 && !*end) {
      i++;
    } else {
      fprintf(stderr, "usage: aded-store [-k TOP] < IDS > STORE\n");
      return 2;
    }
  }
  uint64_t *tri = NULL;
  size_t n = 0, cap = 0;
  uint64_t prev[2] = {0, 0};
  size_t seen = 0;
  long v;
  int c;
  while ((c = scanf("%ld", &v)) == 1) {
    if (v < 0 || (uint64_t)v > ID_MASK) {
      fprintf(stderr, "aded-store: token id %ld out of range\n", v);
      return 1;
    }
    if (++seen >= 3) {
      if (n == cap) {
        cap = cap ? 2 * cap : 1 << 16;
        uint64_t *t = realloc(tri, cap * sizeof *t);
        if (!t) {
          fprintf(stderr, "aded-store: out of memory\n");
          return 1;
        }
        tri = t;
      }
      tri[n++] = prev[0] << (2 * ID_BITS) | prev[1] << ID_BITS | (uint64_t)v;
    }
    prev[0] = prev[1];
    prev[1] = (uint64_t)v;
  }
  if (c != EOF || ferror(stdin)) {
    fprintf(stderr, "aded-store: the input must be decimal token ids\n");
    return 1;
  }
  qsort(tri, n, sizeof *tri, by_value);
  succ *s = NULL;
  size_t cap_s = 0;
  printf("decokit-trigrams 1\n");
  for (size_t i = 0; i < n;) {
    uint64_t pair = tri[i] >> ID_BITS;
    size_t ns = 0;
    uint64_t total = 0;
    while (i < n && tri[i] >> ID_BITS == pair) {
      size_t j = i;
      while (j < n && tri[j] == tri[i]) j++;
      if (ns == cap_s) {
        cap_s = cap_s ? 2 * cap_s : 64;
        succ *t = realloc(s, cap_s * sizeof *t);
        if (!t) {
          fprintf(stderr, "aded-store: out of memory\n");
          return 1;
        }
        s = t;
      }
      s[ns++] = (succ){(uint32_t)(tri[i] & ID_MASK), j - i};
      total += j - i;
      i = j;
    }
    qsort(s, ns, sizeof *s, by_count);
    for (size_t k = 0; k < ns && k < top; k++)
      printf("%u %u %u %.6g\n", (unsigned)(pair >> ID_BITS), (unsigned)(pair & ID_MASK), s[k].tok,
             (double)s[k].count / (double)total);
  }
  free(s);
  free(tri);
  if (fflush(stdout) || ferror(stdout)) {
    fprintf(stderr, "aded-store: write error: %s\n", strerror(errno));
    return 1;
  }
  return 0;
}
