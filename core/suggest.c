/* suggest.c -- "did you mean": optimal string alignment distance over short names. */
#include "suggest.h"

#include <stdlib.h>
#include <string.h>

/* Names are short; longer ones are never suggested (and never misspelt by
 * so much that a suggestion would help). */
#define MAX_LEN 64

static size_t min3(size_t a, size_t b, size_t c) {
  size_t m = a < b ? a : b;
  return m < c ? m : c;
}

/* Edits turning a into b: insert, delete, substitute, or swap neighbours. */
static size_t distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > MAX_LEN || lb > MAX_LEN) return (size_t)-1;
  size_t d[MAX_LEN + 1][MAX_LEN + 1];
  for (size_t i = 0; i <= la; i++) d[i][0] = i;
  for (size_t j = 0; j <= lb; j++) d[0][j] = j;
  for (size_t i = 1; i <= la; i++)
    for (size_t j = 1; j <= lb; j++) {
      size_t cost = a[i - 1] != b[j - 1];
      d[i][j] = min3(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
          d[i - 2][j - 2] + 1 < d[i][j])
        d[i][j] = d[i - 2][j - 2] + 1;
    }
  return d[la][lb];
}

void dk_suggest_init(dk_suggester *s, const char *word) {
  s->word = word;
  s->best = NULL;
  /* A third of the word, at least one edit: "tpo_k" finds top_k, "x" finds nothing far. */
  size_t len = strlen(word);
  s->best_d = (len < 3 ? 1 : len / 3) + 1;
}

void dk_suggest_add(dk_suggester *s, const char *cand) {
  if (!cand || strcmp(cand, s->word) == 0) return;
  size_t d = distance(s->word, cand);
  if (d < s->best_d) {
    s->best_d = d;
    s->best = cand;
  }
}

const char *dk_suggest(const char *word, const char *const *cands, size_t n) {
  dk_suggester s;
  dk_suggest_init(&s, word);
  for (size_t i = 0; i < n; i++) dk_suggest_add(&s, cands[i]);
  return s.best;
}
