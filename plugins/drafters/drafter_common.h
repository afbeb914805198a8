/* drafter_common.h -- small static helpers shared by the drafter plugins (each .so gets its own copy). */
#ifndef DK_DRAFTER_COMMON_H
#define DK_DRAFTER_COMMON_H

#include <decokit/plugin.h>

#include <string.h>

/* Append one node to a draft; 0 when it is full. */
static inline int dkd_push(dk_draft *out, dk_token tok, int32_t parent) {
  if (out->n >= out->cap) return 0;
  out->tokens[out->n] = tok;
  out->parents[out->n] = parent;
  out->n++;
  return 1;
}

/* Node i's q row as a point mass on its own token: the rule for drafts
 * chosen deterministically (lookups, top-k), which keeps rejection sampling
 * exact whatever else the drafter believes. */
static inline void dkd_point_mass(dk_draft_dist *q, size_t i, dk_token tok) {
  if (!q) return;
  float *p = q->probs + i * q->k;
  memset(p, 0, q->k * sizeof *p);
  if (q->ids) {
    dk_token *ids = q->ids + i * q->k;
    for (size_t j = 0; j < q->k; j++) ids[j] = -1;
    ids[0] = tok;
    p[0] = 1.0f;
  } else {
    p[tok] = 1.0f;
  }
}

/* Point masses for every node of a deterministic draft. */
static inline void dkd_point_masses(dk_draft_dist *q, const dk_draft *out) {
  for (size_t i = 0; q && i < out->n; i++) dkd_point_mass(q, i, out->tokens[i]);
}

#endif
