/* response.h -- OpenAI response bodies: completions, chat completions, stream chunks, errors. */
#ifndef DK_SERVE_RESPONSE_H
#define DK_SERVE_RESPONSE_H

#include <jansson.h>

#include "request.h"
#include "session.h"

/* Who a response is: its id, creation time and the pipeline's name. */
typedef struct dk_resp_meta {
  char id[48];
  long long created;
  const char *model;
} dk_resp_meta;

/* Model text as a JSON string: bytes that are not UTF-8 become U+FFFD. */
json_t *dk_resp_text(const char *s, size_t n);
/* {"error": {"message", "type", "param", "code"}}; param and code may be NULL. */
json_t *dk_resp_error(const char *message, const char *type, const char *param, const char *code);
/* finish_reason for a completion's stop reason (a time limit ends as "length"). */
const char *dk_resp_finish(const char *stop_reason, int timed_out);
/* The whole response to r. */
json_t *dk_resp_result(const dk_req *r, const dk_result *res, const dk_vocab *v,
                       const dk_resp_meta *m, int timed_out);
/* One stream chunk: text (may be empty), finish (NULL while running); for
 * chat, role adds the assistant role to the delta. */
json_t *dk_resp_chunk(const dk_req *r, const dk_resp_meta *m, const char *text, size_t len,
                      const char *finish, int role);
/* The stream's usage chunk (choices empty). */
json_t *dk_resp_usage_chunk(const dk_req *r, const dk_resp_meta *m, size_t prompt, size_t completion);

#endif
