/* speculative_core.h -- the verifier shared by the speculative and lookahead decoders. */
#ifndef DKS_SPECULATIVE_CORE_H
#define DKS_SPECULATIVE_CORE_H

#include <decokit/plugin.h>

#include <stddef.h>

#define DKS_MAX_DRAFT 256
#define DKS_MAX_PEND 32 /* forced tokens committed before the next target call */

/* The `verify` parameter, the same in every decoder that verifies drafts. */
#define DKS_VERIFY_PARAM                                                                          \
  {"verify", DK_PARAM_STRING, 0, "match", 0, 0,                                                   \
   "match: follow the draft while it agrees with the token the sampler chain chooses at each "   \
   "node; the output equals the sample decoder's (greedy or seeded sampling) token for token. "  \
   "reject: rejection sampling against the drafter's distribution q (needs a drafter with "      \
   "draft distributions); the output has the target's processed distribution and accepts more "  \
   "drafts when sampling, but differs from sample's draws. With reject the chain must end in a " \
   "draw (dist) or have no selector: a greedy selector is not a distribution."}

/* The `jump_forward` parameter. */
#define DKS_JUMP_PARAM                                                                             \
  {"jump_forward", DK_PARAM_BOOL, 0, "true", 0, 0,                                                 \
   "With a constraint, commit a token the grammar allows alone without a model call (it is "      \
   "evaluated with the next verification); the sampler chain still chooses it, so the output is " \
   "unchanged. Such tokens report no raw log-probability."}

typedef struct dks_spec dks_spec;

/* A verifier for drafts of at most cap nodes (<= DKS_MAX_DRAFT) that
 * reports the target's top fk tokens to drafters learning from it; reads
 * `verify` and `jump_forward` from ci's config. */
int dks_create(const dk_host *h, const dk_create_info *ci, size_t cap, size_t fk, void **inst, dk_error *err);
void dks_destroy(void *inst);
const dk_host *dks_host(const void *inst);
/* Start a completion whose drafts come from dr (kept until dks_end). */
int dks_begin(void *inst, dk_session *s, const dk_drafter_ref *dr, dk_error *err);
/* One round: draft, verify in one target call, commit the accepted path
 * and the target's own next token. */
int dks_step(void *inst, dk_session *s, dk_error *err);
/* Frees the completion's branch and reports the means as metrics. */
void dks_end(void *inst, dk_session *s);

#endif
