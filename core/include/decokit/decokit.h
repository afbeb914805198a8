/* decokit.h -- the public host library: load pipelines, run them, stream and read results. */
#ifndef DECOKIT_DECOKIT_H
#define DECOKIT_DECOKIT_H

/*
 * Conventions (see decokit(3)):
 *  - Handles are opaque.  Every struct the caller passes in or gets filled
 *    starts with `size_t struct_size`, set by the caller to sizeof the struct
 *    it was compiled with; the library reads and writes only that much.  An
 *    options struct larger than the library knows is accepted when the bytes
 *    it does not know are zero (a newer caller asking for nothing new) and
 *    refused with DECOKIT_ERR_ABI otherwise.
 *  - Every fallible call returns a status (DECOKIT_OK is 0, errors are
 *    negative) and, when err is not NULL, fills err with it and a message.
 *    The library never prints and never exits.
 *  - Strings are UTF-8 (model text may hold any bytes: lengths are given).
 */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DECOKIT_API_VERSION 1

/* The statuses; the same numbers as the plugin ABI's DK_ERR_*. */
enum {
  DECOKIT_OK = 0,
  DECOKIT_ERR_INVALID = -1,     /* bad argument, pipeline, parameter or input */
  DECOKIT_ERR_NOMEM = -2,       /* allocation failed */
  DECOKIT_ERR_UNSUPPORTED = -3, /* a plugin lacks a needed capability */
  DECOKIT_ERR_STATE = -4,       /* call not valid in the current state */
  DECOKIT_ERR_ABI = -5,         /* struct_size or version mismatch */
  DECOKIT_ERR_INTERNAL = -6,    /* a bug */
  DECOKIT_ERR_IO = -7,          /* a file could not be read */
  DECOKIT_ERR_FORMAT = -8,      /* a file is malformed */
  DECOKIT_ERR_RANGE = -9,       /* index or value out of range */
  DECOKIT_ERR_CANCELLED = -10   /* stopped by decokit_run_cancel or should_abort */
};

#define DECOKIT_MESSAGE_MAX 2048

typedef struct decokit_error {
  size_t struct_size;
  int code;                          /* the status the call returned */
  char message[DECOKIT_MESSAGE_MAX]; /* NUL-terminated; "" after DECOKIT_OK */
} decokit_error;

typedef struct decokit_pipeline decokit_pipeline;
typedef struct decokit_run decokit_run;
typedef struct decokit_result decokit_result;

/* How a pipeline is loaded.  NULL options: all defaults. */
typedef struct decokit_load_opts {
  size_t struct_size;
  /* Folders (':'-separated) searched for plugins first, before
   * $DECOKIT_PLUGIN_PATH and the pipeline's plugin_path. */
  const char *plugin_path;
  /* The bundled plugins' folder, searched last; NULL: the installed one. */
  const char *bundled_plugin_dir;
  /* The model of a pipeline that names none; NULL: $DECOKIT_MODEL, else
   * the installed bundled model. */
  const char *default_model;
  /* Overrides in the `--set SECTION.KEY=VALUE` syntax of decokit(1),
   * applied in order. */
  const char *const *sets;
  size_t n_sets;
  /* decokit_pipeline_parse only: the name in messages (NULL: "<string>")
   * and the folder relative paths resolve against (NULL: "."). */
  const char *name;
  const char *dir;
  /* Nonzero: do not resolve yet, so that decokit_pipeline_set* can edit
   * first; decokit_pipeline_resolve (or decokit_run_new) resolves. */
  int defer_resolve;
} decokit_load_opts;

/* Log levels, the plugin ABI's DK_LOG_*. */
enum {
  DECOKIT_LOG_ERROR = 0,
  DECOKIT_LOG_WARN = 1,
  DECOKIT_LOG_INFO = 2,
  DECOKIT_LOG_DEBUG = 3,
  DECOKIT_LOG_TRACE = 4 /* plugin loading, when $DECOKIT_PLUGIN_VERBOSE is set */
};

/* Where the host's and plugins' log lines go (warnings such as a plugin
 * refused while searching): sink gets each line up to max_level, from any
 * thread.  Process-wide; set it before loading.  NULL (the default)
 * discards them. */
void decokit_set_log(void (*sink)(int level, const char *msg, void *user), void *user,
                     int max_level);
/* The library's version ("0.1.0"). */
const char *decokit_version(void);
/* A status's name for messages: "ok", "invalid", "out of memory", ... */
const char *decokit_status_name(int code);
/* Free memory the library handed over (decokit_pipeline_yaml's text). */
void decokit_free(void *p);

/* Load a pipeline file; path NULL: an all-defaults pipeline (the bundled
 * model, greedy).  Applies opts->sets, then resolves (looks up every plugin
 * and checks every parameter) unless opts->defer_resolve. */
int decokit_pipeline_load(const char *path, const decokit_load_opts *opts, decokit_pipeline **out,
                          decokit_error *err);
/* The same from YAML text (len bytes, not NUL-terminated necessarily). */
int decokit_pipeline_parse(const char *yaml, size_t len, const decokit_load_opts *opts,
                           decokit_pipeline **out, decokit_error *err);
/* Before resolving: one `SECTION.KEY=VALUE` override. */
int decokit_pipeline_set(decokit_pipeline *p, const char *assignment, decokit_error *err);
/* Before resolving: set key of the first sampler of that plugin, adding the
 * sampler before the chain's selector (dist, greedy, mirostat) when the
 * chain has none (what --temp, --top-k ... do). */
int decokit_pipeline_set_sampler(decokit_pipeline *p, const char *plugin, const char *key,
                                 const char *value, decokit_error *err);
/* Before resolving: replace generate.stop with these literal strings. */
int decokit_pipeline_set_stops(decokit_pipeline *p, const char *const *stops, size_t n,
                               decokit_error *err);
/* Resolve now; DECOKIT_OK when it already is. */
int decokit_pipeline_resolve(decokit_pipeline *p, decokit_error *err);
/* The resolved pipeline as canonical YAML (every parameter with its value);
 * free with decokit_free.  NULL on error. */
char *decokit_pipeline_yaml(decokit_pipeline *p, decokit_error *err);
/* A resolved generate block value that is a whole number ("n", "seed",
 * "max_tokens", "threads", "logprobs"). */
int decokit_pipeline_generate_int(const decokit_pipeline *p, const char *key, long long *out,
                                  decokit_error *err);
/* Free a pipeline; its runs must be freed first. */
void decokit_pipeline_free(decokit_pipeline *p);

/* What the library tells a token callback about a token as it is output. */
typedef struct decokit_token_info {
  size_t struct_size; /* the library's sizeof: read only the fields you know */
  int32_t id;
  int has_logprob;    /* 0 when the decoder did not say (never guessed) */
  float logprob;      /* the model's log-probability */
  int has_processed_logprob;
  float processed_logprob; /* after samplers and constraint */
  size_t n_top;            /* alternatives kept (decokit_result_top) */
} decokit_token_info;

/* How a run generates.  NULL options: all defaults. */
typedef struct decokit_run_opts {
  size_t struct_size;
  int threads;         /* 0: the pipeline's generate.threads */
  int record_logprobs; /* keep each token's log-probabilities in the result */
  int logprobs;        /* alternatives kept per token; 0: generate.logprobs, <0: none */
  int parse_special;   /* special-token texts in the prompt are special tokens (chat formats) */
  /* Text as soon as it is safe to show (whole UTF-8 sequences, no part of
   * a possible stop string). */
  void (*on_text)(void *user, size_t completion, const char *bytes, size_t len);
  /* Each token as it becomes output, before on_text shows what it made safe. */
  void (*on_token)(void *user, size_t completion, const decokit_token_info *tok);
  /* Polled between steps and during model evaluations; nonzero cancels. */
  int (*should_abort)(void *user);
  void *user;
} decokit_run_opts;

/* Load the pipeline's models and plugins (resolving it first if needed).
 * The pipeline must outlive the run; one thread at a time per run, except
 * decokit_run_cancel. */
int decokit_run_new(decokit_pipeline *p, const decokit_run_opts *opts, decokit_run **out,
                    decokit_error *err);
/* Generate every completion for prompt (NULL: the pipeline's
 * generate.prompt).  A cancelled generation returns DECOKIT_OK with what was
 * made and stop reason "cancelled".  On an error *out may still hold what
 * was made.  The run can generate again (a conversation's next turn). */
int decokit_run_generate(decokit_run *run, const char *prompt, decokit_result **out,
                         decokit_error *err);
/* Stop the generation in progress (or the next one, if none is): from any
 * thread, a callback, or a signal handler.  Consumed when it returns. */
void decokit_run_cancel(decokit_run *run);
/* A token's text (its bytes, len of them; not NUL-terminated); NULL when id
 * is outside the vocabulary. */
const char *decokit_run_piece(decokit_run *run, int32_t id, size_t *len);
/* The size of the model's vocabulary. */
int32_t decokit_run_vocab_size(decokit_run *run);
void decokit_run_free(decokit_run *run);

/* Counters of one completion (those `decokit run --json` prints). */
typedef struct decokit_stats {
  size_t struct_size;
  size_t prompt_tokens;
  double time_prompt_s; /* prompt evaluation, shared by the completions */
  size_t generated_tokens;
  uint64_t forward_passes, model_tokens;
  double time_model_s, time_samplers_s, time_constraint_s, time_total_s;
  double tokens_per_s;
  long long seed;
  int threads;
  char fingerprint[17]; /* the pipeline's, as 16 hex digits */
} decokit_stats;

/* An n-best hypothesis a search decoder reported. */
typedef struct decokit_hypothesis {
  size_t struct_size;
  const char *text; /* borrowed from the result */
  size_t text_len;
  const int32_t *tokens;
  size_t n_tokens;
  double score;
} decokit_hypothesis;

size_t decokit_result_count(const decokit_result *r);
/* Completion i's text (len bytes, NUL-terminated too); NULL when i is out of range. */
const char *decokit_result_text(const decokit_result *r, size_t i, size_t *len);
const int32_t *decokit_result_tokens(const decokit_result *r, size_t i, size_t *n);
/* "eos", "length", "stop", "context", "cancelled", "done" or "error". */
const char *decokit_result_stop_reason(const decokit_result *r, size_t i);
/* Token k of completion i with its log-probabilities (record_logprobs). */
int decokit_result_token(const decokit_result *r, size_t i, size_t k, decokit_token_info *out);
/* Alternative j of that token: processed 0 the model's, 1 after samplers. */
int decokit_result_top(const decokit_result *r, size_t i, size_t k, int processed, size_t j,
                       int32_t *id, float *logprob);
size_t decokit_result_nbest_count(const decokit_result *r, size_t i);
int decokit_result_nbest(const decokit_result *r, size_t i, size_t rank, decokit_hypothesis *out);
int decokit_result_stats(const decokit_result *r, size_t i, decokit_stats *out);
/* The decoder's and scorers' own counters: name and value of metric k. */
size_t decokit_result_metric_count(const decokit_result *r, size_t i);
const char *decokit_result_metric(const decokit_result *r, size_t i, size_t k, double *value);
const int32_t *decokit_result_prompt_tokens(const decokit_result *r, size_t *n);
void decokit_result_free(decokit_result *r);

#ifdef __cplusplus
}
#endif

#endif
