/* drafter_merge.h -- a list of drafters seen by decoders as one drafter whose proposal is the merged tree. */
#ifndef DK_CORE_DRAFTER_MERGE_H
#define DK_CORE_DRAFTER_MERGE_H

#include "plugin_proxy.h"

typedef struct dk_drafter_merge {
  struct dk_drafter_iface iface; /* ops present only where the members make them meaningful */
  dk_drafter_proxy *members;     /* (not owned) checking proxies, in pipeline order */
  size_t n;
  const dk_drafter_proxy *dist;  /* the one member with propose_dist, or NULL */
  /* scratch, grown to the caller's capacity: one member's draft, and the
   * merged tree before it is cut to capacity (room for two drafts) */
  dk_token *m_tok;
  int32_t *m_par, *map;
  dk_token *w_tok;
  int32_t *w_par, *w_depth, *w_new;
  size_t cap;
  dk_drafter_ref ref; /* what decoders see: {&iface, this} */
} dk_drafter_merge;

/* members must outlive m.  Never fails: scratch is allocated on first use. */
void dk_drafter_merge_init(dk_drafter_merge *m, dk_drafter_proxy *members, size_t n);
void dk_drafter_merge_free(dk_drafter_merge *m);

/* Merge draft (tok, par, n) into the tree w[0..*wn) of capacity cap: a node
 * with the token path of an existing node becomes that node; when the new
 * nodes do not fit, the deepest of them (the latest at equal depth) are
 * left out.  Scratch: map n entries, w_depth and w_new 2*cap.  The tree
 * keeps parents before children.  Exposed for tests. */
void dk_draft_merge_into(dk_token *w_tok, int32_t *w_par, int32_t *w_depth, int32_t *w_new,
                         size_t *wn, size_t cap, const dk_token *tok, const int32_t *par,
                         size_t n, int32_t *map);

#endif
