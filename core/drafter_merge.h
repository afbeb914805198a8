/* drafter_merge.h -- a list of drafters seen by decoders as one drafter whose proposal is the merged tree. */
#ifndef DK_CORE_DRAFTER_MERGE_H
#define DK_CORE_DRAFTER_MERGE_H

#include "plugin_proxy.h"

typedef struct dk_drafter_merge {
  struct dk_drafter_iface iface; /* ops present only where the members make them meaningful */
  dk_drafter_proxy *members;     /* (not owned) checking proxies, in pipeline order */
  size_t n;
  /* scratch, grown to the caller's capacity: one member's draft and rows,
   * and the merged tree before it is cut to capacity (room for two drafts) */
  dk_token *m_tok;
  int32_t *m_par, *map, *src;
  float *q_probs;
  dk_token *q_ids;
  dk_token *w_tok;
  int32_t *w_par, *w_depth, *w_new;
  size_t cap, cap_q;
  dk_drafter_ref ref; /* what decoders see: {&iface, this} */
} dk_drafter_merge;

/* members must outlive m.  Never fails: scratch is allocated on first use. */
void dk_drafter_merge_init(dk_drafter_merge *m, dk_drafter_proxy *members, size_t n);
void dk_drafter_merge_free(dk_drafter_merge *m);

#endif
