/* session.h -- one run of a resolved pipeline: prompt, completions, streaming, stops, stats. */
#ifndef DK_CORE_SESSION_H
#define DK_CORE_SESSION_H

#include <decokit/plugin.h>

#include "instance.h"
#include "pipeline.h"

struct dk_token_record;

typedef struct dk_run_opts {
  const char *prompt; /* NULL: the pipeline's generate.prompt */
  int threads;        /* 0: the pipeline's generate.threads */
  /* Called with text as soon as it is safe to show (complete UTF-8, no
   * possible stop-string prefix).  Never called with a stop string. */
  void (*on_text)(void *user, size_t completion, const char *bytes, size_t len);
  void *user;
  int record_logprobs; /* keep per-token logprobs (for --json) */
  int logprobs;        /* alternatives per token; <0: the pipeline's generate.logprobs */
  /* Polled between steps and by the model during evaluations; nonzero ends
   * every completion with stop reason "cancelled", keeping what was made. */
  int (*should_abort)(void *user);
  int parse_special; /* tokenize special-token texts in the prompt as such (chat templates) */
  /* Called as each token becomes output, before on_text shows what it made
   * safe to show (end-of-sequence tokens are not output). */
  void (*on_token)(void *user, size_t completion, const struct dk_token_record *r);
  /* The run only serves its model (tokenize, describe): skip the check that
   * the decoder can evaluate this kind of model. */
  int model_only;
} dk_run_opts;

typedef struct dk_logprob_alt {
  dk_token id;
  float logprob;
} dk_logprob_alt;

typedef struct dk_token_record {
  dk_token id;
  int has_raw, has_proc; /* 0 when the decoder did not say (never guessed) */
  float raw_lp, proc_lp;
  dk_logprob_alt *raw_top, *proc_top; /* NULL, or n_top entries (-1 ids pad) */
  size_t n_top;
} dk_token_record;

/* A ranked hypothesis a decoder reported (n-best). */
typedef struct dk_hypothesis {
  dk_token *tokens;
  size_t n_tokens;
  char *text;
  size_t text_len;
  double score;
} dk_hypothesis;

typedef struct dk_metric {
  char *name;
  double value;
} dk_metric;

typedef struct dk_completion {
  char *text;
  size_t text_len;
  dk_token *tokens;
  dk_token_record *recs; /* parallel to tokens */
  size_t n_tokens;
  const char *stop_reason; /* "eos", "length", "stop", "context", "cancelled", "done" */
  dk_metric *metrics;
  size_t n_metrics;
  uint64_t forward_passes, model_tokens;
  double t_model, t_sample, t_constraint, t_total;
  double *mask_us;
  size_t n_mask;
  dk_hypothesis *results; /* n-best, best first */
  size_t n_results;
} dk_completion;

typedef struct dk_result {
  char fingerprint[17];
  dk_token *prompt_tokens;
  size_t n_prompt;
  double t_prompt, t_total;
  int threads;
  dk_completion *c;
  size_t n;
} dk_result;

typedef struct dk_run dk_run;

/* Instantiate a resolved pipeline: models, decoder, drafter, scorers. */
int dk_run_new(dk_pipeline *p, const dk_run_opts *opts, dk_run **out, dk_error *err);
void dk_run_free(dk_run *run);
/* The prompt of the next dk_run_generate (borrowed until then), so that a
 * conversation runs turn after turn on the loaded models. */
void dk_run_set_prompt(dk_run *run, const char *prompt);
/* Generate every completion.  On error *out may still hold what was made. */
int dk_run_generate(dk_run *run, dk_result **out, dk_error *err);
void dk_result_free(dk_result *r);
/* The loaded target model, for commands that need only the model. */
const dk_model_ref *dk_run_model(dk_run *run);
/* The target model's own info, with every capability it reported. */
const dk_model_info *dk_run_model_info(dk_run *run);
/* The pipeline's draft model, or NULL. */
const dk_model_ref *dk_run_draft_model(dk_run *run);
const dk_vocab *dk_run_vocab(dk_run *run);

/* Session services (wired into dk_host by host.c). */
const dk_model_ref *dk_session_model(dk_session *s);
const dk_model_ref *dk_session_draft_model(dk_session *s);
const dk_drafter_ref *dk_session_drafter(dk_session *s);
const dk_constraint_ref *dk_session_constraint(dk_session *s);
size_t dk_session_n_scorers(dk_session *s);
const dk_scorer_ref *dk_session_scorer(dk_session *s, size_t i);
dk_seq dk_session_seq(dk_session *s);
const float *dk_session_prompt_logits(dk_session *s);
const dk_token *dk_session_tokens(dk_session *s, size_t *n, size_t *n_prompt);
int dk_session_sample(dk_session *s, const float *logits, const dk_token *extra, size_t n_extra,
                      dk_token *out, dk_error *err);
int dk_session_distribution(dk_session *s, const float *logits, dk_candidates *cand,
                            dk_error *err);
int dk_session_commit(dk_session *s, const dk_token *toks, size_t n, dk_error *err);
int dk_session_commit_ex(dk_session *s, dk_branch *b, const dk_token *toks, size_t n,
                         const dk_token_logprob *lps, dk_error *err);
int dk_session_sample_ex(dk_session *s, dk_branch *b, const float *logits, const dk_token *extra,
                         size_t n_extra, dk_token *out, dk_token_logprob *lp, dk_error *err);
int dk_session_distribution_ex(dk_session *s, dk_branch *b, const float *logits,
                               const dk_token *extra, size_t n_extra, dk_candidates *cand,
                               dk_error *err);
int dk_branch_new(dk_session *s, dk_branch *from, dk_branch **out, dk_error *err);
void dk_branch_free(dk_session *s, dk_branch *b);
int dk_branch_extend(dk_session *s, dk_branch *b, const dk_token *toks, size_t n, dk_error *err);
const dk_token *dk_branch_tokens(dk_session *s, const dk_branch *b, size_t *n);
int dk_session_limits(dk_session *s, dk_limits *out);
size_t dk_session_would_stop(dk_session *s, const dk_token *toks, size_t n, uint32_t *reason);
int dk_session_add_result(dk_session *s, const dk_token *toks, size_t n, double score,
                          dk_error *err);
void dk_session_metric_add(dk_session *s, const char *name, double value);
dk_rng *dk_session_rng(dk_session *s);

double dk_now(void);

#endif
