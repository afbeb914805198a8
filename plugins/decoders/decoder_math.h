/* decoder_math.h -- log-sum-exp of a raw logits row and of a candidate list, shared by the search decoders (each .so gets its own copy). */
#ifndef DK_DECODER_MATH_H
#define DK_DECODER_MATH_H

#include <decokit/plugin.h>

#include <math.h>
#include <stddef.h>

/* log sum exp(row[v]) over a full row, in double. */
static inline double dkd_row_lse(const float *row, size_t nv) {
  double max = -INFINITY, sum = 0;
  for (size_t v = 0; v < nv; v++)
    if (row[v] > max) max = row[v];
  for (size_t v = 0; v < nv; v++) sum += exp((double)row[v] - max);
  return max + log(sum);
}

/* The same over the candidates' logits; -INFINITY when every one is removed. */
static inline double dkd_cand_lse(const dk_candidates *c) {
  double max = -INFINITY, sum = 0;
  for (size_t i = 0; i < c->n; i++)
    if (c->data[i].logit > max) max = c->data[i].logit;
  if (max == -INFINITY) return -INFINITY;
  for (size_t i = 0; i < c->n; i++) sum += exp((double)c->data[i].logit - max);
  return max + log(sum);
}

#endif
