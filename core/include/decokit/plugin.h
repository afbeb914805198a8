/* plugin.h -- the one public header: decokit's stable plugin ABI. */
/* SPDX-License-Identifier: MIT */
/*
 * ABI changelog (append a line for every minor bump):
 *   ABI 1.0: first release: six kinds (model, decoder, drafter, constraint,
 *            sampler, scorer), dk_host services table, parameter schemas.
 *   ABI 1.1: branches, commits with logprobs, limits, n-best results and
 *            distribution with extra tokens (dk_host); ragged batches,
 *            output-row subsets, cached masked evaluation, abort and shared
 *            weights (model); draft distributions, verification feedback and
 *            per-completion begin/end (drafter); batch and next-token
 *            scoring (scorer); DK_ERR_CANCELLED; model attention and logit
 *            shift; the decoder capability DK_CAP_DECODER_NO_PREFILL.
 *   ABI 1.2: decoders declare the pipeline sections they use
 *            (DK_CAP_DECODER_USES_DRAFTER, _USES_DRAFT_MODEL, _USES_SCORERS)
 *            and drafters that they need a draft model
 *            (DK_CAP_DRAFTER_NEEDS_DRAFT_MODEL), so a section nothing
 *            reads is an error instead of being silently ignored; scorers
 *            that they may read the draft model
 *            (DK_CAP_SCORER_USES_DRAFT_MODEL); what a plugin cannot work
 *            without is refused before any run (DK_CAP_DECODER_NEEDS_SCORERS,
 *            DK_CAP_NEEDS_HIDDEN).
 *   ABI 1.3: batched masked evaluation (dk_masked_batch, eval_masked_batch,
 *            DK_MODEL_CAP_MASKED_BATCH): several alternative canvases
 *            after one sequence's cached prefix in one call, for
 *            draft-and-verify diffusion decoders.
 *
 * Rules (see decokit-plugins(7) for the reasoning):
 *  - Every extensible struct starts with `uint32_t struct_size`.  A reader
 *    that knows a smaller struct zero-fills the missing tail; a struct that is
 *    larger than the reader knows is accepted only if the unknown tail is zero.
 *  - Fields are only ever appended, at a struct's "ABI 1.x and later" marker;
 *    each appended member says which minor added it ("since 1.1").
 *  - Ownership annotations: (static) lives as long as the loaded plugin;
 *    (transfer none) borrowed for the call only; (transfer full) the receiver
 *    owns it and frees it with the named destructor; (nullable) may be NULL.
 *  - Threading classes: Discovery (dk_plugin_entry, init, fini) never runs
 *    concurrently with anything else in the same .so; Instantiation (create,
 *    destroy, clone/fork, reset) never concurrently with another call on the
 *    same instance; Decode (everything else) is serialized per instance, and
 *    different instances may run concurrently on different threads.
 *  - Plugins never print, never exit(), keep no global mutable state and
 *    report failures as a negative dk_status plus host->set_error().
 *
 * This header includes only <stddef.h> and <stdint.h>; it is C99-pedantic
 * and C++ clean.
 */
#ifndef DECOKIT_PLUGIN_H
#define DECOKIT_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- versions ------------------------------------------------------- */

/** Removing, reordering or retyping anything bumps the major: hosts refuse
 *  plugins of another major. */
#define DK_ABI_MAJOR 1
/** Appending fields bumps the minor; sizes, not the minor, decide what a
 *  reader may use. */
#define DK_ABI_MINOR 3

/* ---- attributes ----------------------------------------------------- */

#if defined(_WIN32)
#define DK_EXPORT __declspec(dllexport)
#elif defined(__GNUC__)
#define DK_EXPORT __attribute__((visibility("default")))
#else
#define DK_EXPORT
#endif

#if defined(__GNUC__)
#define DK_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define DK_PRINTF(fmt, args)
#endif

/** True when the struct pointed to by P (whose first member is struct_size)
 *  is large enough to hold FIELD of TYPE.  Check before using any member
 *  added after ABI 1.0, e.g. DK_HAS(host, dk_host, metric_add). */
#define DK_HAS(p, type, field)                                               \
  ((p) != NULL && (p)->struct_size >= offsetof(type, field) + sizeof(((type *)0)->field))

/* ---- status codes --------------------------------------------------- */

/** Every fallible call returns one of these.  DK_OK is zero; errors are
 *  negative; DK_DONE is a positive "finished" signal for decoders and for
 *  dk_host.commit. */
typedef enum dk_status {
  DK_OK = 0,
  DK_DONE = 1,              /**< generation finished (not an error) */
  DK_ERR_INVALID = -1,      /**< bad argument, parameter or input */
  DK_ERR_NOMEM = -2,        /**< allocation failed */
  DK_ERR_UNSUPPORTED = -3,  /**< optional capability missing */
  DK_ERR_STATE = -4,        /**< call not valid in the current state */
  DK_ERR_ABI = -5,          /**< version or struct mismatch */
  DK_ERR_INTERNAL = -6,     /**< a bug */
  DK_ERR_IO = -7,           /**< file could not be read */
  DK_ERR_FORMAT = -8,       /**< file is malformed */
  DK_ERR_RANGE = -9,        /**< output buffer too small or value out of range */
  DK_ERR_CANCELLED = -10    /**< since 1.1: the caller's abort callback asked to stop */
} dk_status;

/* ---- kinds ---------------------------------------------------------- */

typedef enum dk_kind {
  DK_KIND_MODEL = 1,
  DK_KIND_DECODER = 2,
  DK_KIND_DRAFTER = 3,
  DK_KIND_CONSTRAINT = 4,
  DK_KIND_SAMPLER = 5,
  DK_KIND_SCORER = 6
} dk_kind;
#define DK_KIND_COUNT 6

/* ---- plain data exchanged per call (frozen for a major version) ----- */

typedef int32_t dk_token;  /**< a vocabulary index; -1 means "none" */
typedef int32_t dk_seq;    /**< a sequence (KV cache) of a model instance */

/** One candidate token. */
typedef struct dk_token_data {
  dk_token id;
  float logit;  /**< unnormalised score; -INFINITY = removed */
  float p;      /**< probability; valid only when DK_CAND_SOFTMAXED is set */
} dk_token_data;

#define DK_CAND_SORTED 1u     /**< data[] is sorted by logit, descending */
#define DK_CAND_SOFTMAXED 2u  /**< p holds softmax(logit) over data[0..n) */

/** A candidate list.  Samplers may reorder data[] and shrink n; they must
 *  never reallocate data.  A sampler that changes logits or n must clear the
 *  flags it invalidates.  Flags are facts to check, not promises to trust
 *  blindly: a sampler needing order calls host->cand_sort(). */
typedef struct dk_candidates {
  dk_token_data *data;  /**< (transfer none) */
  size_t n;
  int64_t selected;     /**< index into data chosen by a selector, or -1 */
  uint32_t flags;       /**< DK_CAND_* */
} dk_candidates;

/** A draft proposed by a drafter: a chain or a tree.  parents[i] is the
 *  index of node i's parent in this draft, or -1 when node i follows the
 *  last committed token.  Parents always precede children.  The buffers are
 *  owned by the caller; cap is their capacity. */
typedef struct dk_draft {
  dk_token *tokens;    /**< (transfer none) */
  int32_t *parents;    /**< (transfer none) */
  size_t n;            /**< nodes written by the drafter */
  size_t cap;          /**< capacity of tokens and parents */
} dk_draft;

/** Since 1.1: the distribution q each draft node's token was drawn from,
 *  for stochastic verification (dk_drafter_iface.propose_dist).  The caller
 *  owns the buffers and sets k; the drafter writes node i's entries at
 *  [i*k, i*k + k).  With ids == NULL the rows are dense (k == n_vocab, entry
 *  v is token v); otherwise ids lists each row's tokens, unused entries -1
 *  with probability 0, and every unlisted token has q = 0.  Rows sum to 1
 *  and node i's own token has q > 0: the verifier relies on q being exactly
 *  what was sampled from.  Siblings drawn without replacement carry the
 *  renormalised row they were actually drawn from. */
typedef struct dk_draft_dist {
  uint32_t struct_size;
  size_t k;          /**< entries per node, set by the caller */
  dk_token *ids;     /**< (transfer none, nullable) cap*k ids, or NULL for dense rows */
  float *probs;      /**< (transfer none) cap*k probabilities */
} dk_draft_dist;

/** Since 1.1: what a verifier tells a drafter after one verification
 *  (dk_drafter_iface.observe_verified).  All arrays are (transfer none),
 *  valid for the call only. */
typedef struct dk_verify_feedback {
  uint32_t struct_size;
  const dk_token *accepted;  /**< draft tokens accepted, in order */
  size_t n_accepted;
  size_t n_proposed;         /**< nodes in the proposal */
  /** Target predictions seen during verification: at position j the token
   *  pos_tokens[j] was followed, in the target's view, by top_ids[j*top_k
   *  ..] (best first, -1 padding) with logits top_logits[j*top_k ..].
   *  Positions cover every evaluated node (accepted or not), so successor
   *  tables (Token Recycling) learn from rejected branches too. */
  size_t n_positions;
  size_t top_k;
  const dk_token *pos_tokens;
  const dk_token *top_ids;
  const float *top_logits;
} dk_verify_feedback;

/* ---- opaque host-owned handles -------------------------------------- */

typedef struct dk_error dk_error;      /**< error sink; fill with set_error */
typedef struct dk_config dk_config;    /**< validated component parameters */
typedef struct dk_rng dk_rng;          /**< a per-instance random stream */
typedef struct dk_session dk_session;  /**< one generation, for decoders */
/** Since 1.1: one hypothesis of a completion: its own constraint state,
 *  sampler-chain state and uncommitted tokens (see dk_host.branch_new). */
typedef struct dk_branch dk_branch;

/* ---- parameter schemas ---------------------------------------------- */

typedef enum dk_param_type {
  DK_PARAM_INT = 1,      /**< int64 */
  DK_PARAM_DOUBLE = 2,   /**< double */
  DK_PARAM_BOOL = 3,     /**< YAML true/false only */
  DK_PARAM_STRING = 4,   /**< UTF-8 string */
  DK_PARAM_PATH = 5,     /**< string; relative paths resolve against the pipeline's folder */
  DK_PARAM_LIST = 6      /**< list of strings (YAML sequence of scalars) */
} dk_param_type;

#define DK_PARAM_REQUIRED 1u  /**< the pipeline must set it */
#define DK_PARAM_MIN 2u       /**< min is a bound (inclusive) */
#define DK_PARAM_MAX 4u       /**< max is a bound (inclusive) */

/** One declared parameter.  Arrays of specs end with an entry whose name is
 *  NULL and are walked with the stride given in the iface header, so that
 *  the struct can grow. */
typedef struct dk_param_spec {
  const char *name;  /**< (static) [a-z0-9_]+ */
  uint32_t type;     /**< dk_param_type */
  uint32_t flags;    /**< DK_PARAM_* */
  const char *def;   /**< (static, nullable) default, written as in YAML */
  double min, max;   /**< bounds for INT and DOUBLE when flagged */
  const char *doc;   /**< (static) one or two sentences for the man page */
} dk_param_spec;

/* ---- vocabulary view handed to non-model components ----------------- */

#define DK_TOKEN_CONTROL 1u  /**< control/special token (BOS, EOS, ...) */
#define DK_TOKEN_BYTE 2u     /**< a byte-fallback token */

/** The model's vocabulary as plain arrays.  Owned by the host; valid for
 *  the lifetime of the component instance. */
typedef struct dk_vocab {
  uint32_t struct_size;
  int32_t n_vocab;
  dk_token bos, eos, eot;        /**< -1 when the model has none */
  const char *const *piece;      /**< decoded bytes of each token (not NUL-terminated) */
  const uint32_t *piece_len;     /**< byte length of each piece */
  const uint8_t *attr;           /**< DK_TOKEN_* bits of each token */
  /* ABI 1.2 and later: append here. */
} dk_vocab;

/** What the host gives every create().  Borrowed during create() except
 *  where noted. */
typedef struct dk_create_info {
  uint32_t struct_size;
  const dk_config *config;  /**< (transfer none) valid only during create() */
  dk_rng *rng;              /**< (transfer none) the instance's own stream, valid for its lifetime */
  uint64_t seed;            /**< the seed the stream was made from */
  const dk_vocab *vocab;    /**< (nullable) NULL when creating a model; valid for the instance's lifetime */
  int32_t n_threads;        /**< threads the component may use (models) */
  /* ABI 1.2 and later: append here. */
} dk_create_info;

/* ---- host services -------------------------------------------------- */

typedef struct dk_model_info dk_model_info;
typedef struct dk_model_iface dk_model_iface;
typedef struct dk_drafter_iface dk_drafter_iface;
typedef struct dk_constraint_iface dk_constraint_iface;
typedef struct dk_scorer_iface dk_scorer_iface;

/** A component instance as seen by a decoder: its vtable and its instance.
 *  Call through it as ref->iface->op(ref->inst, ...).  The host may hand out
 *  a metering proxy; the decoder cannot tell and must not care. */
typedef struct dk_model_ref {
  const dk_model_iface *iface;
  void *inst;
  const dk_model_info *info;
} dk_model_ref;
typedef struct dk_drafter_ref {
  const dk_drafter_iface *iface;
  void *inst;
} dk_drafter_ref;
typedef struct dk_constraint_ref {
  const dk_constraint_iface *iface;
  void *inst;
} dk_constraint_ref;
typedef struct dk_scorer_ref {
  const dk_scorer_iface *iface;
  void *inst;
} dk_scorer_ref;

/** Since 1.1: why generation would stop (dk_host.session_would_stop). */
typedef enum dk_stop_reason {
  DK_STOP_NONE = 0,
  DK_STOP_EOS = 1,      /**< EOS/EOT committed (and ignore_eos is off) */
  DK_STOP_LENGTH = 2,   /**< max_tokens reached */
  DK_STOP_STRING = 3,   /**< a stop string completed */
  DK_STOP_CONTEXT = 4   /**< the model's context is full */
} dk_stop_reason;

/** Since 1.1: the completion's limits as they stand now
 *  (dk_host.session_limits). */
typedef struct dk_limits {
  uint32_t struct_size;
  int64_t max_tokens_left;  /**< tokens that may still be committed */
  int64_t context_left;     /**< positions left in the model's context; -1 = unbounded */
  int32_t ignore_eos;       /**< 1 when EOS/EOT do not end generation */
  dk_token eos, eot;        /**< -1 when the model has none */
  size_t n_stop;            /**< stop strings */
  const char *const *stop;  /**< (transfer none) valid for the completion */
} dk_limits;

/** Since 1.1: the numbers of one committed token (dk_host.commit_ex).  A
 *  decoder fills what it knows; NAN means unknown.  When logits is given
 *  the host computes raw and the top-N raw alternatives from it; when dist
 *  is given, processed and the processed alternatives.  The host never
 *  guesses: a token whose numbers are unknown is reported without them. */
typedef struct dk_token_logprob {
  uint32_t struct_size;
  float raw;                   /**< log softmax of the model's logits */
  float processed;             /**< log p after the constraint and sampler chain */
  const float *logits;         /**< (transfer none, nullable) the raw row (n_vocab) the token was chosen from */
  const dk_candidates *dist;   /**< (transfer none, nullable) the processed, softmaxed candidates */
} dk_token_logprob;

typedef enum dk_log_level {
  DK_LOG_ERROR = 0,
  DK_LOG_WARN = 1,
  DK_LOG_INFO = 2,
  DK_LOG_DEBUG = 3
} dk_log_level;

/** Services the host offers.  One table per loaded library, so the host
 *  knows who is calling.  Append-only: test DK_HAS() before using a member
 *  added after 1.0.  All functions are safe from any thread unless a
 *  session is involved, in which case they follow the decoder's class. */
typedef struct dk_host {
  uint32_t struct_size;
  uint16_t abi_major, abi_minor;

  /** Log a message; the host prefixes the plugin name.  Any thread. */
  void (*log)(const struct dk_host *host, int level, const char *fmt, ...) DK_PRINTF(3, 4);
  /** Record an error in a host-owned sink and return code (so plugins can
   *  write `return host->set_error(err, DK_ERR_INVALID, "...")`). */
  int (*set_error)(dk_error *err, int code, const char *fmt, ...) DK_PRINTF(3, 4);

  /* Typed parameter getters; valid during create() only.  The host has
   * already checked presence, type and bounds against the schema and filled
   * in defaults, so these cannot fail for declared parameters.  Strings are
   * (transfer none): copy what you keep. */
  int64_t (*cfg_int)(const dk_config *cfg, const char *key);
  double (*cfg_double)(const dk_config *cfg, const char *key);
  int (*cfg_bool)(const dk_config *cfg, const char *key);
  const char *(*cfg_string)(const dk_config *cfg, const char *key);  /**< (nullable) NULL when unset without default */
  size_t (*cfg_list_len)(const dk_config *cfg, const char *key);
  const char *(*cfg_list_item)(const dk_config *cfg, const char *key, size_t i);
  int (*cfg_is_set)(const dk_config *cfg, const char *key);  /**< 1 if the pipeline set it explicitly */

  /* Random numbers from an instance's own stream (xoshiro256**). */
  uint64_t (*rng_u64)(dk_rng *rng);
  double (*rng_uniform)(dk_rng *rng);  /**< in [0, 1) */

  /* Candidate helpers shared by all samplers, so every plugin sorts and
   * normalises the same way (ties broken by lower token id). */
  void (*cand_sort)(dk_candidates *cand);     /**< full sort, sets DK_CAND_SORTED */
  void (*cand_top)(dk_candidates *cand, size_t k);  /**< keep the k best, sorted (partial selection) */
  void (*cand_softmax)(dk_candidates *cand);  /**< fills p, sets DK_CAND_SOFTMAXED */

  /* Session services (decoders, and drafters/scorers given a session). */
  /** The target model; never NULL. */
  const dk_model_ref *(*session_model)(dk_session *s);
  /** The draft model of the pipeline's `draft:` block, or NULL. */
  const dk_model_ref *(*session_draft_model)(dk_session *s);
  /** The drafter, the constraint, or scorer i; NULL when the pipeline has none. */
  const dk_drafter_ref *(*session_drafter)(dk_session *s);
  const dk_constraint_ref *(*session_constraint)(dk_session *s);
  size_t (*session_n_scorers)(dk_session *s);
  const dk_scorer_ref *(*session_scorer)(dk_session *s, size_t i);
  /** The sequence that holds this completion's context: the prompt has been
   *  evaluated into it (all but nothing: every prompt token is in the cache). */
  dk_seq (*session_seq)(dk_session *s);
  /** Logits (n_vocab floats) after the last prompt token.  (transfer none) */
  const float *(*session_prompt_logits)(dk_session *s);
  /** The tokens so far: the prompt then every committed token.  (transfer none),
   *  valid until the next commit. */
  const dk_token *(*session_tokens)(dk_session *s, size_t *n, size_t *n_prompt);
  /** Run the pipeline's constraint mask (if any) and sampler chain over one
   *  row of logits for the current context (plus `extra` tokens the decoder
   *  has not committed yet, e.g. inside a draft) and return the chosen
   *  token.  Does not commit.  Uses the completion's own sampler chain. */
  int (*session_sample)(dk_session *s, const float *logits, const dk_token *extra, size_t n_extra,
                        dk_token *out, dk_error *err);
  /** Run the chain without selecting: fill `cand` (capacity n_vocab) with
   *  the processed candidates (for speculative sampling), softmaxed. */
  int (*session_distribution)(dk_session *s, const float *logits, dk_candidates *cand, dk_error *err);
  /** Commit tokens: they become output (streamed), samplers and the
   *  constraint accept them.  Returns DK_OK, or DK_DONE when a stop
   *  condition fired (EOS, max_tokens, stop string); tokens after the stop
   *  are discarded.  Errors are negative (e.g. a constraint refusal). */
  int (*commit)(dk_session *s, const dk_token *toks, size_t n, dk_error *err);
  /** Add to a named counter reported with the result ("drafted", ...). */
  void (*metric_add)(dk_session *s, const char *name, double value);
  /** The session's RNG for the decoder (its own stream). */
  dk_rng *(*session_rng)(dk_session *s);

  /** Optional services by name (NULL when absent). */
  void *(*get_proc)(const struct dk_host *host, const char *name);

  /* ---- since 1.1 ------------------------------------------------------ */
  /** Like session_sample, in branch b's context (b NULL = the completion's
   *  own), with b's constraint and sampler states.  When lp is non-NULL the
   *  chosen token's raw and processed log-probabilities are written there
   *  (logits/dist left NULL), ready to hand to commit_ex. */
  int (*session_sample_ex)(dk_session *s, dk_branch *b, const float *logits, const dk_token *extra,
                           size_t n_extra, dk_token *out, dk_token_logprob *lp, dk_error *err);
  /** Like session_distribution, in branch b's context plus extra tokens.
   *  cand->data must hold n_vocab entries. */
  int (*session_distribution_ex)(dk_session *s, dk_branch *b, const float *logits,
                                 const dk_token *extra, size_t n_extra, dk_candidates *cand,
                                 dk_error *err);
  /** Commit with numbers: lps (nullable) has n entries walked with stride
   *  lps[0].struct_size.  With b non-NULL, toks must be the first n of b's
   *  uncommitted tokens; when they are all of them, the completion's
   *  samplers continue from b's (their random streams included, so a fresh
   *  branch per step does not redraw the same numbers).  After any commit every live branch whose tokens
   *  start with the committed ones keeps the rest; any other branch becomes
   *  stale (its calls fail with DK_ERR_STATE).  Same returns as commit. */
  int (*commit_ex)(dk_session *s, dk_branch *b, const dk_token *toks, size_t n,
                   const dk_token_logprob *lps, dk_error *err);
  /** A new branch: a copy of `from`, or of the completion's current state
   *  when from is NULL.  Constraint states fork in O(1) (shared stacks);
   *  samplers are cloned (a sampler without clone gets a fresh instance
   *  that is replayed every generated and branch token).  (transfer full) free with
   *  branch_free; branches left at the end of a completion are freed. */
  int (*branch_new)(dk_session *s, dk_branch *from, dk_branch **out, dk_error *err);
  void (*branch_free)(dk_session *s, dk_branch *b);
  /** Append uncommitted tokens to a branch: its constraint advances and its
   *  samplers accept them.  On a constraint refusal the branch is unchanged
   *  (DK_ERR_INVALID). */
  int (*branch_extend)(dk_session *s, dk_branch *b, const dk_token *toks, size_t n,
                       dk_error *err);
  /** The branch's uncommitted tokens; (transfer none) valid until the
   *  branch changes. */
  const dk_token *(*branch_tokens)(dk_session *s, const dk_branch *b, size_t *n);
  /** The completion's limits now. */
  int (*session_limits)(dk_session *s, dk_limits *out);
  /** Would committing toks[0..n) next stop generation?  Returns how many
   *  of them would be committed (n when none stops) and sets *reason
   *  (nullable) to a dk_stop_reason.  Stop strings are matched across the
   *  committed text and the tokens' pieces. */
  size_t (*session_would_stop)(dk_session *s, const dk_token *toks, size_t n, uint32_t *reason);
  /** Report a ranked hypothesis (n-best), best first; the committed text
   *  stays the completion's output.  Shown in --json with its score. */
  int (*session_add_result)(dk_session *s, const dk_token *toks, size_t n, double score,
                            dk_error *err);
  /* ABI 1.2 and later: append here. */
} dk_host;

/* ---- the shared iface header ---------------------------------------- */

#define DK_CAP_NO_ALLOC 1u     /**< decode-class calls never allocate */
#define DK_CAP_INSTANCE_MT 2u  /**< instances are independent of each other */
/** Since 1.1, decoders only: the host does not evaluate the prompt into
 *  the completion's sequence (a diffusion decoder evaluates it its own
 *  way); session_seq is then an empty sequence and session_prompt_logits
 *  returns NULL.  Required for models whose attention is not causal. */
#define DK_CAP_DECODER_NO_PREFILL 256u
/** Since 1.2, decoders only: the sections of the pipeline the decoder
 *  reads through the session services.  The host refuses a pipeline with a
 *  `drafter:`, `draft:` or `scorers:` section that its decoder (built for
 *  1.2 or later) does not declare; for decoders built for an older minor it
 *  only warns, since they could not say.  A `draft:` model also counts as
 *  used when the decoder uses a drafter, which may read it. */
#define DK_CAP_DECODER_USES_DRAFTER 512u
#define DK_CAP_DECODER_USES_DRAFT_MODEL 1024u
#define DK_CAP_DECODER_USES_SCORERS 2048u
/** Since 1.2, drafters only: the drafter cannot work without the
 *  pipeline's `draft:` model; the host refuses a pipeline without one. */
#define DK_CAP_DRAFTER_NEEDS_DRAFT_MODEL 4096u
/** Since 1.2, scorers only: the scorer may read the pipeline's `draft:`
 *  model (a likelihood under a second model), so a `draft:` section counts
 *  as used when the decoder uses scorers. */
#define DK_CAP_SCORER_USES_DRAFT_MODEL 8192u
/** Since 1.2, decoders only: the decoder cannot work without at least one
 *  scorer; the host refuses a pipeline without a `scorers:` list. */
#define DK_CAP_DECODER_NEEDS_SCORERS 16384u
/** Since 1.2, decoders and scorers: the plugin reads the model's hidden
 *  states; the host refuses a model without DK_MODEL_CAP_HIDDEN before any
 *  run, naming the plugin's block. */
#define DK_CAP_NEEDS_HIDDEN 32768u

/** Every kind's vtable starts with this. */
typedef struct dk_iface_header {
  uint32_t struct_size;         /**< sizeof the whole kind struct, as compiled */
  uint32_t kind;                /**< dk_kind */
  const char *name;             /**< (static) unique per kind, [a-z0-9_]+ */
  const char *version;          /**< (static) the component's own version, e.g. "1.0.0" */
  const char *summary;          /**< (static) one line for `decokit plugins` */
  const dk_param_spec *params;  /**< (static, nullable) ends with name == NULL */
  uint32_t param_stride;        /**< sizeof(dk_param_spec) as compiled */
  uint32_t caps;                /**< DK_CAP_* */
} dk_iface_header;

/** Common to every kind.  create: (transfer full) *inst on DK_OK, freed
 *  only by the same iface's destroy.  Instantiation class. */
typedef int (*dk_create_fn)(const dk_host *host, const dk_create_info *ci, void **inst, dk_error *err);
typedef void (*dk_destroy_fn)(void *inst);

/* ---- model ----------------------------------------------------------- */

#define DK_MODEL_CAP_BATCH 1u    /**< eval_batch */
#define DK_MODEL_CAP_TREE 2u     /**< eval_tree + accept_path */
#define DK_MODEL_CAP_FORK 4u     /**< fork */
#define DK_MODEL_CAP_TRUNCATE 8u /**< truncate */
#define DK_MODEL_CAP_MASKED 16u  /**< eval_masked (bidirectional) */
#define DK_MODEL_CAP_HIDDEN 32u  /**< hidden */
#define DK_MODEL_CAP_RAGGED 64u        /**< since 1.1: eval_ragged */
#define DK_MODEL_CAP_HEAD 128u         /**< since 1.1: eval_ragged honours out_ids */
#define DK_MODEL_CAP_MASKED_SEQ 256u   /**< since 1.1: eval_masked_seq (prefix cache) */
#define DK_MODEL_CAP_DUAL_CACHE 512u   /**< since 1.1: eval_masked_seq honours DK_MASKED_REUSE */
#define DK_MODEL_CAP_BLOCK_CAUSAL 1024u /**< since 1.1: eval_masked_seq honours DK_ATTN_BLOCK_CAUSAL */
#define DK_MODEL_CAP_ABORT 2048u       /**< since 1.1: set_abort */
#define DK_MODEL_CAP_SHARE 4096u       /**< since 1.1: clone_shared */
#define DK_MODEL_CAP_MASKED_BATCH 8192u /**< since 1.3: eval_masked_batch */

/* Since 1.1: attention among a call's new positions. */
#define DK_ATTN_CAUSAL 0u         /**< each position sees the ones before it */
#define DK_ATTN_BIDIRECTIONAL 1u  /**< each position sees every position */
#define DK_ATTN_BLOCK_CAUSAL 2u   /**< a position sees its own block and the blocks before */

/** Filled by a model's info(). */
struct dk_model_info {
  uint32_t struct_size;
  int32_t n_vocab;
  int32_t n_ctx;       /**< maximum positions per sequence */
  int32_t n_embd;      /**< width of hidden() rows */
  dk_token bos, eos, eot, mask;  /**< -1 when absent; mask = the [MASK] id of a diffusion LM */
  uint32_t caps;       /**< DK_MODEL_CAP_* actually supported */
  int32_t add_bos;     /**< 1 if prompts should start with BOS */
  const char *arch;    /**< (static for the instance) e.g. "llama" */
  /** Since 1.1: DK_ATTN_CAUSAL for autoregressive models;
   *  DK_ATTN_BIDIRECTIONAL for diffusion LMs, which only eval_masked and
   *  eval_masked_seq evaluate (eval, eval_batch, eval_tree and eval_ragged
   *  refuse them with DK_ERR_UNSUPPORTED). */
  uint32_t attention;
  /** Since 1.1, masked evaluation: 1 when logits row i predicts canvas
   *  position i + 1 (Dream), 0 when it predicts position i (LLaDA).  The
   *  model reports it; decoders apply it. */
  int32_t logit_shift;
  int32_t n_layer;     /**< since 1.1: transformer layers (0 = not a transformer) */
  /* ABI 1.2 and later: append here. */
};

#define DK_EVAL_ALL_LOGITS 1u  /**< eval: logits for every new position, not just the last */

/** Since 1.1: one ragged batch for eval_ragged, llama_batch-like: several
 *  distinct sequences, each with >= 1 new tokens appended causally, in one
 *  call.  Output rows are the tokens whose flag is set, in token order. */
typedef struct dk_batch {
  uint32_t struct_size;
  size_t n_seqs;
  const dk_seq *seqs;        /**< (transfer none) n_seqs distinct sequences */
  const size_t *n_tokens;    /**< (transfer none) new tokens of each sequence, each >= 1 */
  const dk_token *tokens;    /**< (transfer none) sum(n_tokens) tokens, sequence after sequence */
  const uint8_t *output;     /**< (transfer none, nullable) a flag per token; NULL = the last token of each sequence */
  float *logits;             /**< (nullable) one row per output token: n_vocab floats, or n_out_ids with out_ids */
  float *hidden;             /**< (nullable) one n_embd row per output token (needs DK_MODEL_CAP_HIDDEN) */
  const dk_token *out_ids;   /**< (transfer none, nullable) HEAD: logits only for these ids, in this order */
  size_t n_out_ids;
} dk_batch;

/* Since 1.1: dk_masked_eval.flags. */
/** Keep this call's canvas K/V for later DK_MASKED_REUSE calls, as this
 *  call saw the canvas (with REUSE: the reused rows plus the recomputed
 *  ones).  n_commit > 0, a truncate below the canvas and a fork do not
 *  carry the stored canvas: it is discarded (or absent on the fork). */
#define DK_MASKED_STORE 1u
#define DK_MASKED_REUSE 2u  /**< dual cache: recompute only rows [active_begin, active_end);
                                 the others use the K/V stored by the last DK_MASKED_STORE call */

/** Since 1.1: masked (diffusion) evaluation on a sequence, for
 *  eval_masked_seq.  The sequence's cached positions are a prefix that
 *  every canvas row attends to and that is not recomputed (Fast-dLLM's
 *  prefix cache); the canvas follows it and may hold the mask id. */
typedef struct dk_masked_eval {
  uint32_t struct_size;
  dk_seq seq;
  const dk_token *tokens;    /**< (transfer none) the canvas */
  size_t n;
  uint32_t attention;        /**< among canvas rows: DK_ATTN_BIDIRECTIONAL or DK_ATTN_BLOCK_CAUSAL */
  size_t block_len;          /**< block size for DK_ATTN_BLOCK_CAUSAL (blocks start at canvas row 0) */
  uint32_t flags;            /**< DK_MASKED_* */
  size_t active_begin, active_end;  /**< with DK_MASKED_REUSE; output rows must lie inside */
  const int32_t *rows;       /**< (transfer none, nullable) canvas rows to return, ascending; NULL = all n
                                  (so a DK_MASKED_REUSE call over part of the canvas lists its rows) */
  size_t n_rows;
  float *logits;             /**< (nullable) one n_vocab row per returned row */
  /** After the call, canvas rows [0, n_commit) join the sequence's cache
   *  as committed positions (with the K/V computed or reused here). */
  size_t n_commit;
} dk_masked_eval;

/** Since 1.3: several alternative canvases of one length after the same
 *  sequence's cached prefix, evaluated in one call (eval_masked_batch).
 *  Canvas c sees the prefix and itself only, never another canvas.  The
 *  call changes nothing: no canvas joins the cache and none is stored. */
typedef struct dk_masked_batch {
  uint32_t struct_size;
  dk_seq seq;
  const dk_token *tokens;    /**< (transfer none) n_canvas * n tokens, canvas after canvas */
  size_t n;                  /**< length of every canvas */
  size_t n_canvas;           /**< >= 1 */
  uint32_t attention;        /**< as dk_masked_eval.attention */
  size_t block_len;          /**< as dk_masked_eval.block_len */
  uint32_t flags;            /**< 0 or DK_MASKED_REUSE: each canvas recomputes only rows
                                  [active_begin, active_end) and reuses the stored canvas
                                  K/V for the others (needs DK_MODEL_CAP_DUAL_CACHE) */
  size_t active_begin, active_end;
  const int32_t *rows;       /**< (transfer none, nullable) rows to return of every canvas,
                                  ascending; NULL = all n (so a REUSE call lists its rows) */
  size_t n_rows;
  float *logits;             /**< n_canvas * n_rows rows of n_vocab, canvas after canvas */
} dk_masked_batch;

/** Since 1.1: polled by a model between layers and batches; nonzero means
 *  stop now (the call then returns DK_ERR_CANCELLED, state as before). */
typedef int (*dk_abort_fn)(void *user);

#define DK_TOKENIZE_ADD_SPECIAL 1u    /**< add BOS (and EOS) as the model's metadata asks */
#define DK_TOKENIZE_PARSE_SPECIAL 2u  /**< match special-token texts in the input */

/** The model kind.  Sequences are small integers created by seq_new or
 *  fork; each has its own KV cache (blocks may be shared). */
struct dk_model_iface {
  dk_iface_header hdr;
  dk_create_fn create;    /* required */
  dk_destroy_fn destroy;  /* required */
  /** Fill *out (caller sets out->struct_size).  Required. */
  int (*info)(void *inst, dk_model_info *out);
  /** Create an empty sequence.  Required. */
  int (*seq_new)(void *inst, dk_seq *out, dk_error *err);
  /** Free a sequence and its cache blocks.  Required. */
  void (*seq_free)(void *inst, dk_seq seq);
  /** Number of positions in the sequence's cache.  Required. */
  size_t (*seq_len)(void *inst, dk_seq seq);
  /** Append n tokens and write logits: n_vocab floats for the last position,
   *  or n*n_vocab with DK_EVAL_ALL_LOGITS.  logits may be NULL.  Required. */
  int (*eval)(void *inst, dk_seq seq, const dk_token *toks, size_t n, float *logits,
              uint32_t flags, dk_error *err);
  /** Text to tokens.  On DK_OK *n_out tokens were written; when they do not
   *  fit, returns DK_ERR_RANGE with *n_out = the number needed.  Required. */
  int (*tokenize)(void *inst, const char *text, size_t len, uint32_t flags, dk_token *out,
                  size_t cap, size_t *n_out, dk_error *err);
  /** Decoded bytes of one token; (transfer none) valid while the instance
   *  lives.  Returns NULL for an id out of range.  Required. */
  const char *(*token_piece)(void *inst, dk_token tok, size_t *len);

  /* Optional from here: NULL when unsupported (and the cap bit clear). */
  /** DK_TOKEN_* bits of a token (control, byte).  Without it the host marks
   *  only the info's bos/eos/eot as control tokens. */
  uint32_t (*token_attr)(void *inst, dk_token tok);
  /** Tokens to text with the tokenizer's own rules (leading-space handling
   *  of SentencePiece).  Same DK_ERR_RANGE protocol as tokenize. */
  int (*detokenize)(void *inst, const dk_token *toks, size_t n, char *out, size_t cap,
                    size_t *n_out, dk_error *err);
  /** One token for each of n sequences in one batched step; logits n*n_vocab. */
  int (*eval_batch)(void *inst, const dk_seq *seqs, const dk_token *toks, size_t n,
                    float *logits, dk_error *err);
  /** Evaluate a draft tree (see dk_draft for parents) after the sequence's
   *  committed positions; node i sees the context, its ancestors and itself.
   *  logits: n*n_vocab.  The tree stays pending until accept_path. */
  int (*eval_tree)(void *inst, dk_seq seq, const dk_token *toks, const int32_t *parents,
                   size_t n, float *logits, dk_error *err);
  /** Keep the KV rows of tree nodes path[0..n) (a root-to-node chain) as the
   *  next committed positions and drop the rest of the pending tree. */
  int (*accept_path)(void *inst, dk_seq seq, const int32_t *path, size_t n, dk_error *err);
  /** Keep only the first n_keep positions. */
  int (*truncate)(void *inst, dk_seq seq, size_t n_keep, dk_error *err);
  /** A new sequence sharing src's cache (copy on write).  Since 1.1 the
   *  fork also keeps src's hidden rows, so hidden() answers on it as on src. */
  int (*fork)(void *inst, dk_seq src, dk_seq *out, dk_error *err);
  /** Bidirectional forward over a whole sequence containing mask ids;
   *  logits for every position (n*n_vocab).  Uses no sequence state. */
  int (*eval_masked)(void *inst, const dk_token *toks, size_t n, float *logits, dk_error *err);
  /** Last-layer hidden states (after the final norm) of the last n rows of
   *  the sequence's most recent eval (or eval_tree) call: n*n_embd floats. */
  int (*hidden)(void *inst, dk_seq seq, size_t n, float *out, dk_error *err);
  /** A human-readable report of the loaded model (architecture, sizes,
   *  tensor types, vocabulary, special tokens, memory), one "key: value"
   *  per line, for `decokit model info`.  Same DK_ERR_RANGE protocol as
   *  tokenize. */
  int (*describe)(void *inst, char *out, size_t cap, size_t *n_out, dk_error *err);
  /** Since 1.1 (DK_MODEL_CAP_RAGGED): evaluate a ragged batch in one call.
   *  On any error every sequence is exactly as before the call, pending
   *  draft tree included; a successful evaluation discards a pending tree
   *  (as eval, eval_batch, eval_tree and eval_masked_seq do). */
  int (*eval_ragged)(void *inst, const dk_batch *batch, dk_error *err);
  /** Since 1.1 (DK_MODEL_CAP_MASKED_SEQ): masked evaluation on a sequence.
   *  On error the sequence (and its stored canvas) is as before. */
  int (*eval_masked_seq)(void *inst, const dk_masked_eval *me, dk_error *err);
  /** Since 1.1 (DK_MODEL_CAP_ABORT): install (fn NULL: remove) the abort
   *  callback, polled from the calling thread during every evaluation. */
  void (*set_abort)(void *inst, dk_abort_fn fn, void *user);
  /** Since 1.1 (DK_MODEL_CAP_SHARE): a new instance sharing this one's
   *  weights (one mapping) with its own sequences and scratch, usable from
   *  another thread concurrently.  It starts with no sequences and no abort
   *  callback.  (transfer full) free with destroy; the weights go with the
   *  last instance.  Instantiation class. */
  int (*clone_shared)(const void *inst, void **out, dk_error *err);
  /** Since 1.3 (DK_MODEL_CAP_MASKED_BATCH): evaluate the alternative
   *  canvases of *mb after the sequence's cached positions in one call.
   *  Every canvas row's logits equal what eval_masked_seq returns for that
   *  canvas alone with the same attention, flags and active rows.  The
   *  sequence (its stored canvas included) is unchanged, also on error.
   *  A model may need context for the cached positions plus n_canvas * n
   *  (the canvases side by side) and refuse more with DK_ERR_RANGE. */
  int (*eval_masked_batch)(void *inst, const dk_masked_batch *mb, dk_error *err);
  /* ABI 1.4 and later: append here. */
};

/* ---- decoder --------------------------------------------------------- */

/** A decoding strategy, driven by the host in steps so the host can stream,
 *  stop and time every stage.  It reaches the model, drafter, constraint
 *  and samplers only through the session services of dk_host. */
typedef struct dk_decoder_iface {
  dk_iface_header hdr;
  dk_create_fn create;    /* required */
  dk_destroy_fn destroy;  /* required */
  /** Start one completion.  Optional. */
  int (*begin)(void *inst, dk_session *s, dk_error *err);
  /** Do some work and commit tokens via host->commit, or finish.  Returns
   *  DK_OK to be called again, DK_DONE when finished (also pass on commit's
   *  DK_DONE), or an error.  Required.  Progress rule (since 1.1; 1.0
   *  required a commit every step): a step may commit nothing (a search
   *  between commits) only if it evaluated a model, and at most
   *  4 * (max_tokens + 64) steps in a row may commit nothing; past either
   *  bound the host ends the completion with an error. */
  int (*step)(void *inst, dk_session *s, dk_error *err);
  /** End one completion (release sequences).  Optional. */
  void (*end)(void *inst, dk_session *s);
  /* ABI 1.2 and later: append here. */
} dk_decoder_iface;

/* ---- drafter --------------------------------------------------------- */

struct dk_drafter_iface {
  dk_iface_header hdr;
  dk_create_fn create;    /* required */
  dk_destroy_fn destroy;  /* required */
  /** Propose up to out->cap nodes following ctx[0..n_ctx).  out->n = 0 is a
   *  valid "no draft".  s may be used for session services (draft model).
   *  Required. */
  int (*propose)(void *inst, dk_session *s, const dk_token *ctx, size_t n_ctx, dk_draft *out,
                 dk_error *err);
  /** Feedback: which tokens were accepted of the last proposal.  Optional. */
  void (*observe)(void *inst, const dk_token *accepted, size_t n_accepted, size_t n_proposed);
  /** Forget per-generation state.  Optional. */
  void (*reset)(void *inst);
  /** Since 1.1, optional: start and end one completion (after reset). */
  int (*begin)(void *inst, dk_session *s, dk_error *err);
  void (*end)(void *inst, dk_session *s);
  /** Since 1.1, optional: propose like propose, also writing q for every
   *  node (see dk_draft_dist) for stochastic verification. */
  int (*propose_dist)(void *inst, dk_session *s, const dk_token *ctx, size_t n_ctx, dk_draft *out,
                      dk_draft_dist *q, dk_error *err);
  /** Since 1.1, optional: feedback with the target's predictions at every
   *  verified node.  Verifiers call it instead of observe when present. */
  void (*observe_verified)(void *inst, dk_session *s, const dk_verify_feedback *fb);
  /* ABI 1.2 and later: append here. */
};

/* ---- constraint ------------------------------------------------------ */

struct dk_constraint_iface {
  dk_iface_header hdr;
  dk_create_fn create;    /* required */
  dk_destroy_fn destroy;  /* required */
  /** Write the allowed-token bitset: bit (t & 31) of words[t >> 5] set =
   *  token t allowed; (n_vocab + 31) / 32 words.  EOS is allowed exactly
   *  when the text so far is complete.  Required. */
  int (*mask)(void *inst, uint32_t *words, dk_error *err);
  /** Advance by one token; DK_ERR_INVALID (with a message) if not allowed,
   *  leaving the state unchanged.  Required. */
  int (*advance)(void *inst, dk_token tok, dk_error *err);
  /** Undo the last n advances.  Required. */
  int (*rollback)(void *inst, size_t n, dk_error *err);
  /** A new independent instance in the same state.  Required. */
  int (*fork)(const void *inst, void **out, dk_error *err);
  /** 1 when the text so far is a complete sentence of the language.  Required. */
  int (*is_complete)(const void *inst);
  /** Optional fast-forward: when exactly one string can follow, point
   *  bytes and len at it (transfer none, valid until the next call) and return
   *  1; otherwise 0. */
  int (*forced)(void *inst, const char **bytes, size_t *len);
  /* ABI 1.2 and later: append here. */
};

/* ---- sampler --------------------------------------------------------- */

/** What a sampler sees besides the candidates. */
typedef struct dk_sample_ctx {
  uint32_t struct_size;
  const dk_token *tokens;  /**< (transfer none) prompt + generated so far */
  size_t n_tokens;
  size_t n_prompt;         /**< tokens[0..n_prompt) are the prompt */
  /* ABI 1.2 and later: append here. */
} dk_sample_ctx;

typedef struct dk_sampler_iface {
  dk_iface_header hdr;
  dk_create_fn create;    /* required */
  dk_destroy_fn destroy;  /* required */
  /** Transform the candidates in place, or select one (set cand->selected).
   *  Required. */
  int (*apply)(void *inst, const dk_sample_ctx *ctx, dk_candidates *cand, dk_error *err);
  /** The token finally chosen (after the whole chain).  Optional. */
  void (*accept)(void *inst, dk_token tok);
  /** Forget per-generation state.  Optional. */
  void (*reset)(void *inst);
  /** A new independent instance in the same state.  Optional. */
  int (*clone)(const void *inst, void **out, dk_error *err);
  /* ABI 1.2 and later: append here. */
} dk_sampler_iface;

/* ---- scorer ---------------------------------------------------------- */

struct dk_scorer_iface {
  dk_iface_header hdr;
  dk_create_fn create;    /* required */
  dk_destroy_fn destroy;  /* required */
  /** Score toks[n_prompt..n) given the prompt toks[0..n_prompt); higher is
   *  better.  s (nullable) gives session services.  Required. */
  int (*score)(void *inst, dk_session *s, const dk_token *toks, size_t n, size_t n_prompt,
               double *out, dk_error *err);
  /** Since 1.1, optional: score n_hyps hypotheses in one call; hyp i is
   *  toks[i][0..n[i]), all sharing the first n_prompt tokens. */
  int (*score_batch)(void *inst, dk_session *s, const dk_token *const *toks, const size_t *n,
                     size_t n_hyps, size_t n_prompt, double *out, dk_error *err);
  /** Since 1.1, optional: incremental score of each candidate next token
   *  after ctx[0..n_ctx) (prompt ctx[0..n_prompt)): out[i] for cands[i]. */
  int (*score_next)(void *inst, dk_session *s, const dk_token *ctx, size_t n_ctx, size_t n_prompt,
                    const dk_token *cands, size_t n_cands, double *out, dk_error *err);
  /* ABI 1.2 and later: append here. */
};

/* ---- the plugin descriptor and entry point --------------------------- */

/** Returned by dk_plugin_entry().  The first three fields never move. */
typedef struct dk_plugin_desc {
  uint32_t struct_size;
  uint16_t abi_major, abi_minor;
  const char *name;     /**< (static) the library's name, e.g. "top_k" */
  const char *version;  /**< (static) the library's own version */
  /** (static) the components this library provides; each points at a kind
   *  struct starting with dk_iface_header. */
  const dk_iface_header *const *components;
  size_t n_components;
  /** Optional process-wide setup, after the ABI checks pass. */
  int (*init)(const dk_host *host, dk_error *err);
  /** Optional teardown before unload. */
  void (*fini)(void);
  /* ABI 1.2 and later: append here. */
} dk_plugin_desc;

/** The one exported symbol.  It returns static data and runs no other code. */
typedef const dk_plugin_desc *(*dk_plugin_entry_fn)(void);

#define DK_PLUGIN_ENTRY_SYMBOL "dk_plugin_entry"

/** Define the entry point: `DK_PLUGIN_ENTRY(top_k) { return &desc; }`.
 *  Built into a host (-DDK_PLUGIN_BUILTIN) it is named dk_plugin_entry_NAME
 *  so many plugins can share one binary. */
#ifdef DK_PLUGIN_BUILTIN
#define DK_PLUGIN_ENTRY(name)                                                \
  const dk_plugin_desc *dk_plugin_entry_##name(void);                        \
  const dk_plugin_desc *dk_plugin_entry_##name(void)
#else
#define DK_PLUGIN_ENTRY(name)                                                \
  DK_EXPORT const dk_plugin_desc *dk_plugin_entry(void);                     \
  DK_EXPORT const dk_plugin_desc *dk_plugin_entry(void)
#endif

/** Fill the fixed head of a descriptor. */
#define DK_PLUGIN_DESC_HEAD sizeof(dk_plugin_desc), DK_ABI_MAJOR, DK_ABI_MINOR

#ifdef __cplusplus
}
#endif

#endif /* DECOKIT_PLUGIN_H */
