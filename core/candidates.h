/* candidates.h -- sort, partial top-k and softmax of candidate lists, shared by all samplers. */
#ifndef DK_CORE_CANDIDATES_H
#define DK_CORE_CANDIDATES_H

#include <decokit/plugin.h>

void dk_cand_sort(dk_candidates *cand);
void dk_cand_top(dk_candidates *cand, size_t k);
void dk_cand_softmax(dk_candidates *cand);
/* Fill cand (capacity n) from a row of logits: ids 0..n-1, unsorted. */
void dk_cand_from_logits(dk_candidates *cand, const float *logits, size_t n);

#endif
