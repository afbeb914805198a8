/* vocab-trim.c -- write the N most frequent token ids of a token stream, the list draft_model's vocab_trim reads. */
/*
 * Usage: decokit tokenize --ids --no-bos - < CORPUS | vocab-trim [-n N] > LIST
 * Counts every id (decimal, separated by white space) and prints the N most
 * frequent (all when fewer occur), one per line, most frequent first, ties
 * to the lower id.  VocabTrim (METHODS.md 6) restricts the draft's output
 * to these; the corpus may also be the target's own generations.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ID (1L << 24)

typedef struct count {
  long id;
  uint64_t n;
} count;

static int by_count(const void *a, const void *b) {
  const count *x = a, *y = b;
  if (x->n != y->n) return (x->n < y->n) - (x->n > y->n);
  return (x->id > y->id) - (x->id < y->id);
}

int main(int argc, char **argv) {
  size_t keep = 512;
  for (int i = 1; i < argc; i++) {
    char *end;
    if (!strcmp(argv[i], "-n") && i + 1 < argc && (keep = strtoul(argv[i + 1], &end, 10)) > 0 && !*end) {
      i++;
    } else {
      fprintf(stderr, "usage: vocab-trim [-n N] < IDS > LIST\n");
      return 2;
    }
  }
  count *c = NULL;
  long cap = 0, top = 0, v;
  int r;
  while ((r = scanf("%ld", &v)) == 1) {
    if (v < 0 || v >= MAX_ID) {
      fprintf(stderr, "vocab-trim: token id %ld out of range\n", v);
      return 1;
    }
    if (v >= cap) {
      long nc = cap ? cap : 1024;
      while (nc <= v) nc *= 2;
      count *t = realloc(c, (size_t)nc * sizeof *t);
      if (!t) {
        fprintf(stderr, "vocab-trim: out of memory\n");
        return 1;
      }
      for (long k = cap; k < nc; k++) t[k] = (count){k, 0};
      c = t;
      cap = nc;
    }
    c[v].n++;
    if (v + 1 > top) top = v + 1;
  }
  if (r != EOF || ferror(stdin)) {
    fprintf(stderr, "vocab-trim: the input must be decimal token ids\n");
    return 1;
  }
  qsort(c, (size_t)top, sizeof *c, by_count);
  for (long k = 0; k < top && (size_t)k < keep && c[k].n; k++) printf("%ld\n", c[k].id);
  free(c);
  return fflush(stdout) || ferror(stdout) ? 1 : 0;
}
