/* session_impl.h -- the run and session internals shared by the session, commit, branch and sampling code. */
#ifndef DK_CORE_SESSION_IMPL_H
#define DK_CORE_SESSION_IMPL_H

#include "chain.h"
#include "drafter_merge.h"
#include "model_proxy.h"
#include "plugin_proxy.h"
#include "session.h"

struct dk_run {
  dk_pipeline *p;
  dk_run_opts opts;
  int threads;
  uint64_t seed;
  dk_instance *model, *draft, *decoder;
  dk_instance **drafters; /* the pipeline's drafter list, in order */
  size_t n_drafters;
  dk_instance *constraint; /* compiled once; each completion forks it */
  dk_instance **scorers;
  size_t n_scorers;
  dk_model_info info, draft_info;
  dk_vocab vocab;
  const char **pieces;
  uint32_t *piece_len;
  uint8_t *attr;
  int no_prefill; /* the decoder evaluates the prompt itself */
  dk_model_proxy model_px, draft_px; /* for commands that use the models directly */
  dk_model_meter meter0;
};

struct dk_branch {
  dk_session *s;
  dk_chain chain;          /* clones of the completion's samplers */
  dk_instance *constraint; /* a fork of the completion's constraint, or NULL */
  dk_token *toks;          /* uncommitted tokens */
  size_t n, cap;
  int stale;               /* diverged from what was committed */
  dk_branch *next, *prev;
};

struct dk_session {
  dk_run *run;
  size_t index;
  dk_seq seq;
  dk_token *toks;
  size_t n_toks, cap_toks, n_prompt;
  const float *prompt_logits;
  dk_chain chain;
  dk_instance *constraint;
  dk_rng rng;       /* the decoder's (session_rng) */
  dk_rng chain_rng; /* the chain's final draw when no sampler selects */
  dk_model_meter meter, draft_meter;
  dk_model_proxy model_px, draft_px;
  dk_drafter_proxy *drafter_px; /* one per drafter */
  dk_drafter_merge drafter_merge; /* what decoders see for two or more */
  dk_constraint_ref constraint_ref;
  dk_scorer_proxy *scorer_px;
  dk_token_data *cand_buf;  /* the chain's working candidates */
  dk_token_data *lp_buf;    /* scratch for processed logprobs */
  dk_token *ctx_buf;
  size_t cap_ctx;
  uint32_t *mask;
  dk_completion *out;
  size_t emitted, cap_text, cap_recs, cap_mask;
  int64_t max_tokens;
  int ignore_eos;
  size_t n_generated;
  size_t max_stop;
  const char **stops; /* the pipeline's stop strings */
  size_t n_stops;
  /* Numbers of the last session_sample in the committed context, for 1.0
   * commits: attached only to a commit at the same position and id. */
  dk_token_record pending;
  size_t pending_pos;
  int logprobs;
  dk_branch *branches; /* live branches, freed with the completion */
  int lost_metric;     /* metric_add ran out of memory */
};

/* Grow *p (of *cap elements of elem bytes) to hold need; 0 or -1. */
int dk_grow(void **p, size_t *cap, size_t need, size_t elem);

/* logprob.c: a token's record from what a decoder handed over; the
 * processed logprob of one candidate, the same way records compute it. */
float dk_processed_logprob(dk_session *s, const dk_candidates *dist, dk_token id);
/* log of the sum of exp over a raw logits row (for raw log-probabilities). */
double dk_row_lse(const float *logits, size_t nv);
int dk_record_fill(dk_session *s, dk_token_record *r, dk_token id, const dk_token_logprob *lp,
                   dk_error *err);
void dk_record_clear(dk_token_record *r);
/* branch.c */
typedef int (*dk_dup_fn)(const void *inst, void **out, dk_error *err);
/* A new instance from a constraint's fork or a sampler's clone. */
int dk_instance_dup(const dk_instance *orig, dk_dup_fn dup, const char *op, dk_instance **out,
                    dk_error *err);
void dk_branches_after_commit(dk_session *s, const dk_token *toks, size_t n);
/* The completion's samplers become copies of b's (after b's whole list was committed). */
int dk_chain_adopt(dk_session *s, const dk_branch *b, dk_error *err);
void dk_branches_free_all(dk_session *s);
int dk_branch_check(dk_session *s, const dk_branch *b, dk_error *err);
/* commit.c */
int dk_session_check_ids(const dk_session *s, const dk_token *toks, size_t n, const char *what,
                         dk_error *err);
/* 1 when t ends generation (EOS/EOT and ignore_eos is off). */
int dk_session_is_eos(const dk_session *s, dk_token t);
int dk_session_finish(dk_session *s, const char *reason);

#endif
