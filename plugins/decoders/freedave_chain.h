/* freedave_chain.h -- FreeDave's verification rule: how many drafts a one-position-per-step decoder would really have reached. */
#ifndef DK_FREEDAVE_CHAIN_H
#define DK_FREEDAVE_CHAIN_H

#include <decokit/plugin.h>

#include <stddef.h>

/* Drafts d_1..d_k fill the k best positions of the current prediction, so
 * d_{j+1} is d_j plus the (position, token) pair add_pos[j], add_tok[j]
 * (j = 1..k-1; index 0 is d_1's own).  t_j, the static decoder's successor
 * of d_j, adds next_pos[j-1], next_tok[j-1] (known for j = 1..n_known).
 * Draft d_{j+1} is on the static path exactly when d_j is and t_j = d_{j+1};
 * d_1 always is.  Returns the last draft on the path (1..k). */
static inline size_t freedave_chain(size_t k, const size_t *add_pos, const dk_token *add_tok,
                                    size_t n_known, const size_t *next_pos, const dk_token *next_tok) {
  size_t best = 1;
  while (best < k && best <= n_known && next_pos[best - 1] == add_pos[best] &&
         next_tok[best - 1] == add_tok[best])
    best++;
  return best;
}

#endif
