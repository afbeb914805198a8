/* decoder_math.h -- log-sum-exp of a raw logits row and of a candidate list, shared by the search decoders (each .so gets its own copy). */
#ifndef DK_DECODER_MATH_H
#define DK_DECODER_MATH_H

#include <decokit/plugin.h>

#include <math.h>
#include <stddef.h>

/* Running maxima four at a time, so the comparisons do not wait on each other
 * (NaN ignored).  Whichever of them finds it, the maximum is the same value,
 * a zero's sign aside, which changes nothing below: x - (+0) = x - (-0) for
 * any x but a zero, and exp of either zero is 1. */
#define DKD_MAX4(n, X)                                                                 \
  do {                                                                                 \
    size_t i_ = 0;                                                                     \
    for (; i_ + 4 <= (n); i_ += 4)                                                     \
      for (size_t k_ = 0; k_ < 4; k_++)                                                \
        if (X(i_ + k_) > m_[k_]) m_[k_] = X(i_ + k_);                                  \
    for (; i_ < (n); i_++)                                                             \
      if (X(i_) > m_[0]) m_[0] = X(i_);                                                \
  } while (0)

static inline double dkd_max_of(const float m_[4]) {
  float a = m_[0] > m_[1] ? m_[0] : m_[1], b = m_[2] > m_[3] ? m_[2] : m_[3];
  return a > b ? a : b;
}

/* log sum exp(row[v]) over a full row, in double. */
static inline double dkd_row_lse(const float *row, size_t nv) {
  float m_[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
#define ROW_AT(i) row[i]
  DKD_MAX4(nv, ROW_AT);
#undef ROW_AT
  double max = dkd_max_of(m_), sum = 0;
  for (size_t v = 0; v < nv; v++) sum += exp((double)row[v] - max);
  return max + log(sum);
}

/* The same over the candidates' logits; -INFINITY when every one is removed. */
static inline double dkd_cand_lse(const dk_candidates *c) {
  float m_[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
#define CAND_AT(i) c->data[i].logit
  DKD_MAX4(c->n, CAND_AT);
#undef CAND_AT
  double max = dkd_max_of(m_), sum = 0;
  if (max == -INFINITY) return -INFINITY;
  for (size_t i = 0; i < c->n; i++) sum += exp((double)c->data[i].logit - max);
  return max + log(sum);
}

#endif
