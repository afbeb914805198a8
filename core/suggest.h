/* suggest.h -- "did you mean": the closest known name to a misspelt one. */
#ifndef DK_CORE_SUGGEST_H
#define DK_CORE_SUGGEST_H

#include <stddef.h>

/* The candidate nearest to word by edit distance (a swap of two neighbours
 * counts as one edit), or NULL when none is close enough to be a likely
 * typo: at most 1 edit for short words, about a third of the length for
 * longer ones.  Ties go to the earlier candidate. */
const char *dk_suggest(const char *word, const char *const *cands, size_t n);

/* The same over a growing set: feed candidates one by one, read best. */
typedef struct dk_suggester {
  const char *word;
  const char *best;
  size_t best_d;
} dk_suggester;
void dk_suggest_init(dk_suggester *s, const char *word);
void dk_suggest_add(dk_suggester *s, const char *cand);

#endif
