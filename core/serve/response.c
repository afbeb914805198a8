/* response.c -- OpenAI response bodies built with jansson from a run's result. */
#include "response.h"

#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

json_t *dk_resp_text(const char *s, size_t n) {
  char stack[1024];
  char *buf = 3 * n <= sizeof stack ? stack : malloc(3 * n);
  if (!buf) return NULL;
  size_t k = dk_utf8_sanitize(s, n, buf);
  json_t *j = json_stringn(buf, k);
  if (buf != stack) free(buf);
  return j;
}

json_t *dk_resp_error(const char *message, const char *type, const char *param, const char *code) {
  return json_pack("{s:{s:s,s:s,s:s?,s:s?}}", "error", "message", message, "type", type, "param",
                   param && *param ? param : NULL, "code", code);
}

const char *dk_resp_finish(const char *stop_reason, int timed_out) {
  if (timed_out || !stop_reason) return "length";
  return strcmp(stop_reason, "length") == 0 || strcmp(stop_reason, "context") == 0 ? "length"
                                                                                    : "stop";
}

static const char *piece(const dk_vocab *v, dk_token t, size_t *len) {
  if (t < 0 || t >= v->n_vocab) {
    *len = 0;
    return "";
  }
  *len = v->piece_len[t];
  return v->piece[t];
}

static json_t *bytes_of(const char *s, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(a, json_integer((unsigned char)s[i]));
  return a;
}

/* The model's own log-probability of each token (raw: before the samplers). */
static double lp_of(const dk_token_record *rec) { return rec->has_raw ? rec->raw_lp : rec->proc_lp; }

static json_t *completion_logprobs(const dk_completion *c, const dk_vocab *v, size_t top) {
  json_t *toks = json_array(), *lps = json_array(), *tops = json_array(), *offs = json_array();
  size_t off = 0;
  for (size_t i = 0; i < c->n_tokens; i++) {
    size_t n;
    const char *s = piece(v, c->tokens[i], &n);
    const dk_token_record *rec = &c->recs[i];
    json_array_append_new(toks, dk_resp_text(s, n));
    json_array_append_new(lps, json_real(lp_of(rec)));
    json_array_append_new(offs, json_integer((json_int_t)off));
    off += n;
    const dk_logprob_alt *alt = rec->raw_top ? rec->raw_top : rec->proc_top;
    json_t *o = json_object();
    for (size_t k = 0; alt && k < rec->n_top && k < top; k++) {
      if (alt[k].id < 0) break;
      const char *ps = piece(v, alt[k].id, &n);
      json_t *key = dk_resp_text(ps, n);
      if (key) json_object_set_new(o, json_string_value(key), json_real(alt[k].logprob));
      json_decref(key);
    }
    json_array_append_new(tops, o);
  }
  return json_pack("{s:o,s:o,s:o,s:o}", "tokens", toks, "token_logprobs", lps, "top_logprobs",
                   tops, "text_offset", offs);
}

static json_t *chat_logprobs(const dk_completion *c, const dk_vocab *v, size_t top) {
  json_t *content = json_array();
  for (size_t i = 0; i < c->n_tokens; i++) {
    size_t n;
    const char *s = piece(v, c->tokens[i], &n);
    const dk_token_record *rec = &c->recs[i];
    const dk_logprob_alt *alt = rec->raw_top ? rec->raw_top : rec->proc_top;
    json_t *tl = json_array();
    for (size_t k = 0; alt && k < rec->n_top && k < top; k++) {
      if (alt[k].id < 0) break;
      size_t an;
      const char *as = piece(v, alt[k].id, &an);
      json_array_append_new(tl, json_pack("{s:o,s:f,s:o}", "token", dk_resp_text(as, an), "logprob",
                                          (double)alt[k].logprob, "bytes", bytes_of(as, an)));
    }
    json_array_append_new(content, json_pack("{s:o,s:f,s:o,s:o}", "token", dk_resp_text(s, n),
                                             "logprob", lp_of(rec), "bytes", bytes_of(s, n),
                                             "top_logprobs", tl));
  }
  return json_pack("{s:o}", "content", content);
}

json_t *dk_resp_result(const dk_req *r, const dk_result *res, const dk_vocab *v,
                       const dk_resp_meta *m, int timed_out) {
  int chat = r->kind == DK_REQ_CHAT;
  json_t *choices = json_array();
  size_t gen = 0;
  for (size_t i = 0; i < res->n; i++) {
    const dk_completion *c = &res->c[i];
    gen += c->n_tokens;
    json_t *lp = r->logprobs && c->recs
                     ? (chat ? chat_logprobs(c, v, (size_t)r->top_logprobs)
                             : completion_logprobs(c, v, (size_t)r->top_logprobs))
                     : json_null();
    json_t *text = dk_resp_text(c->text ? c->text : "", c->text_len);
    const char *fin = dk_resp_finish(c->stop_reason, timed_out);
    json_t *ch = chat ? json_pack("{s:i,s:{s:s,s:o},s:o,s:s}", "index", (int)i, "message", "role",
                                  "assistant", "content", text, "logprobs", lp, "finish_reason", fin)
                      : json_pack("{s:i,s:o,s:o,s:s}", "index", (int)i, "text", text, "logprobs",
                                  lp, "finish_reason", fin);
    json_array_append_new(choices, ch);
  }
  return json_pack("{s:s,s:s,s:I,s:s,s:o,s:{s:I,s:I,s:I},s:{s:s}}", "id", m->id, "object",
                   chat ? "chat.completion" : "text_completion", "created", (json_int_t)m->created, "model",
                   m->model, "choices", choices, "usage", "prompt_tokens", (json_int_t)res->n_prompt,
                   "completion_tokens", (json_int_t)gen, "total_tokens",
                   (json_int_t)(res->n_prompt + gen), "decokit", "fingerprint", res->fingerprint);
}

json_t *dk_resp_chunk(const dk_req *r, const dk_resp_meta *m, const char *text, size_t len,
                      const char *finish, int role) {
  int chat = r->kind == DK_REQ_CHAT;
  json_t *ch;
  if (chat) {
    json_t *delta = json_object();
    if (role) json_object_set_new(delta, "role", json_string("assistant"));
    if (len || (role && !finish)) json_object_set_new(delta, "content", dk_resp_text(text, len));
    ch = json_pack("{s:i,s:o,s:n,s:s?}", "index", 0, "delta", delta, "logprobs", "finish_reason",
                   finish);
  } else {
    ch = json_pack("{s:i,s:o,s:n,s:s?}", "index", 0, "text", dk_resp_text(text, len), "logprobs",
                   "finish_reason", finish);
  }
  return json_pack("{s:s,s:s,s:I,s:s,s:[o]}", "id", m->id, "object",
                   chat ? "chat.completion.chunk" : "text_completion", "created", (json_int_t)m->created,
                   "model", m->model, "choices", ch);
}

json_t *dk_resp_usage_chunk(const dk_req *r, const dk_resp_meta *m, size_t prompt, size_t completion) {
  return json_pack("{s:s,s:s,s:I,s:s,s:[],s:{s:I,s:I,s:I}}", "id", m->id, "object",
                   r->kind == DK_REQ_CHAT ? "chat.completion.chunk" : "text_completion",
                   "created", (json_int_t)m->created, "model", m->model, "choices", "usage", "prompt_tokens",
                   (json_int_t)prompt, "completion_tokens", (json_int_t)completion, "total_tokens",
                   (json_int_t)(prompt + completion));
}
