/* request.h -- an OpenAI-style completion request: parsed, checked, and mapped onto a pipeline. */
#ifndef DK_SERVE_REQUEST_H
#define DK_SERVE_REQUEST_H

#include <jansson.h>

#include "chat_template.h"
#include "loader.h"
#include "pipeline.h"

typedef enum dk_req_kind { DK_REQ_COMPLETION, DK_REQ_CHAT } dk_req_kind;

/* What is wrong with a request: the OpenAI error object's fields. */
typedef struct dk_req_error {
  char message[1024];
  char param[64]; /* the offending field, "" when none */
} dk_req_error;

#define DK_REQ_MAX_STOP 4

typedef struct dk_req {
  dk_req_kind kind;
  json_t *root;               /* owns every string below, with keep */
  json_t *keep;
  const char *model;          /* the "model" field: a pipeline's name; NULL = the first */
  const char *prompt;         /* completions */
  dk_chat_msg *msgs;          /* chat */
  size_t n_msgs;
  int has_max_tokens, has_temperature, has_top_p, has_seed;
  long long max_tokens, seed;
  double temperature, top_p;
  const char *stop[DK_REQ_MAX_STOP];
  size_t n_stop;
  int has_stop;
  int n, has_n;
  int logprobs;     /* report per-token logprobs */
  int top_logprobs; /* alternatives per token */
  char *schema;     /* JSON text of a response_format schema, or NULL */
  int stream, include_usage;
  /* The decokit extension object. */
  const char *pipeline;  /* a named server pipeline (wins over model) */
  json_t *ext_blocks;    /* decoder, drafter, constraint, samplers: replacements */
  json_t *ext_sets;      /* "section.key=value" strings */
} dk_req;

/* Parse body as a request of kind; 0, or -1 with e filled (a 400). */
int dk_req_parse(const char *body, size_t len, dk_req_kind kind, dk_req *out, dk_req_error *e);
void dk_req_free(dk_req *r);
/* The named pipeline (file) with the request applied, resolved against reg
 * (not thread-safe: the caller serializes).  Path parameters must hold what
 * base (file as resolved at start) gives them: a request names no files.
 * 0, or -1 with e filled. */
int dk_req_pipeline(const dk_req *r, const char *file, const dk_pipeline *base, dk_registry *reg,
                    const char *default_model, dk_pipeline **out, dk_req_error *e);
/* The prompt text: the completion's, or the chat rendered in format f
 * (whose end-of-turn then joins p's stop strings).  Caller frees. */
int dk_req_prompt(const dk_req *r, dk_pipeline *p, dk_chat_format f, char **out, dk_req_error *e);

#endif
