/* request.c -- OpenAI completion and chat requests: strict parsing, then the pipeline they ask for. */
#include "request.h"

#include "cli/cli.h"
#include "error.h"
#include "params.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static int fail(dk_req_error *e, const char *param, const char *fmt, ...) DK_PRINTF(3, 4);
static int fail(dk_req_error *e, const char *param, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->message, sizeof e->message, fmt, ap);
  va_end(ap);
  snprintf(e->param, sizeof e->param, "%s", param ? param : "");
  return -1;
}

static int get_int(json_t *v, const char *name, long long lo, long long hi, long long *out,
                   dk_req_error *e) {
  double d = json_is_integer(v) ? (double)json_integer_value(v) : json_is_real(v) ? json_real_value(v) : NAN;
  if (!json_is_number(v) || d != floor(d))
    return fail(e, name, "'%s' must be a whole number", name);
  if (d < (double)lo || d > (double)hi)
    return fail(e, name, "'%s' must be between %lld and %lld", name, lo, hi);
  *out = (long long)d;
  return 0;
}

static int get_num(json_t *v, const char *name, double lo, double hi, double *out, dk_req_error *e) {
  if (!json_is_number(v)) return fail(e, name, "'%s' must be a number", name);
  double d = json_number_value(v);
  if (!(d >= lo && d <= hi)) return fail(e, name, "'%s' must be between %g and %g", name, lo, hi);
  *out = d;
  return 0;
}

/* Text of a message's content: a string, or text parts joined. */
static const char *content_text(dk_req *r, json_t *c, dk_req_error *e) {
  if (json_is_string(c)) return json_string_value(c);
  if (!json_is_array(c)) return fail(e, "messages", "a message's 'content' must be a string or an array of text parts"), NULL;
  json_t *joined = json_string("");
  size_t i;
  json_t *part;
  json_array_foreach(c, i, part) {
    json_t *t = json_object_get(part, "text");
    json_t *ty = json_object_get(part, "type");
    if (!json_is_object(part) || !json_is_string(ty) || strcmp(json_string_value(ty), "text") != 0 ||
        !json_is_string(t) || json_object_size(part) != 2) {
      json_decref(joined);
      return fail(e, "messages", "content parts must be {\"type\": \"text\", \"text\": ...}"), NULL;
    }
    size_t a = json_string_length(joined), b = json_string_length(t);
    char *s = malloc(a + b + 1);
    if (!s) {
      json_decref(joined);
      return fail(e, "messages", "out of memory"), NULL;
    }
    memcpy(s, json_string_value(joined), a);
    memcpy(s + a, json_string_value(t), b);
    s[a + b] = 0;
    json_string_setn_nocheck(joined, s, a + b);
    free(s);
  }
  /* Kept alive with the request, like every string it hands out. */
  if (!r->keep && !(r->keep = json_array())) {
    json_decref(joined);
    return fail(e, "messages", "out of memory"), NULL;
  }
  json_array_append_new(r->keep, joined);
  return json_string_value(joined);
}

static int parse_messages(dk_req *r, json_t *v, dk_req_error *e) {
  if (!json_is_array(v) || json_array_size(v) == 0)
    return fail(e, "messages", "'messages' must be a non-empty array");
  size_t n = json_array_size(v);
  r->msgs = calloc(n, sizeof *r->msgs);
  if (!r->msgs) return fail(e, "messages", "out of memory");
  for (size_t i = 0; i < n; i++) {
    json_t *m = json_array_get(v, i);
    if (!json_is_object(m)) return fail(e, "messages", "messages[%zu] must be an object", i);
    const char *k;
    json_t *x;
    json_object_foreach(m, k, x) {
      if (strcmp(k, "role") && strcmp(k, "content") && strcmp(k, "name"))
        return fail(e, "messages", "messages[%zu]: unknown field '%s'", i, k);
    }
    json_t *role = json_object_get(m, "role");
    const char *rs = json_string_value(role);
    if (!rs || (strcmp(rs, "system") && strcmp(rs, "user") && strcmp(rs, "assistant") &&
                strcmp(rs, "developer")))
      return fail(e, "messages", "messages[%zu]: 'role' must be system, developer, user or assistant", i);
    const char *text = content_text(r, json_object_get(m, "content"), e);
    if (!text) return -1;
    r->msgs[i] = (dk_chat_msg){strcmp(rs, "developer") == 0 ? "system" : rs, text};
  }
  r->n_msgs = n;
  return 0;
}

static int parse_stop(dk_req *r, json_t *v, dk_req_error *e) {
  r->has_stop = 1;
  if (json_is_null(v)) return 0;
  if (json_is_string(v)) {
    if (!json_string_length(v)) return fail(e, "stop", "'stop' strings must not be empty");
    r->stop[r->n_stop++] = json_string_value(v);
    return 0;
  }
  if (!json_is_array(v) || json_array_size(v) > DK_REQ_MAX_STOP)
    return fail(e, "stop", "'stop' must be a string or an array of up to %d strings", DK_REQ_MAX_STOP);
  size_t i;
  json_t *s;
  json_array_foreach(v, i, s) {
    if (!json_is_string(s) || !json_string_length(s))
      return fail(e, "stop", "'stop' must hold non-empty strings");
    r->stop[r->n_stop++] = json_string_value(s);
  }
  return 0;
}

static int parse_format(dk_req *r, json_t *v, dk_req_error *e) {
  json_t *ty = json_object_get(v, "type");
  const char *t = json_string_value(ty);
  if (!json_is_object(v) || !t)
    return fail(e, "response_format", "'response_format' must be an object with a 'type'");
  const char *k;
  json_t *x;
  json_object_foreach(v, k, x) {
    if (strcmp(k, "type") && strcmp(k, "json_schema"))
      return fail(e, "response_format", "response_format: unknown field '%s'", k);
  }
  if (strcmp(t, "text") == 0) return 0;
  json_t *schema = NULL;
  if (strcmp(t, "json_object") == 0) {
    schema = json_pack("{s:s}", "type", "object");
  } else if (strcmp(t, "json_schema") == 0) {
    json_t *js = json_object_get(v, "json_schema");
    if (!json_is_object(js) || !json_is_object(json_object_get(js, "schema")))
      return fail(e, "response_format", "response_format.json_schema must be an object with a 'schema' object");
    json_object_foreach(js, k, x) {
      if (strcmp(k, "name") && strcmp(k, "schema") && strcmp(k, "strict") && strcmp(k, "description"))
        return fail(e, "response_format", "response_format.json_schema: unknown field '%s'", k);
    }
    schema = json_incref(json_object_get(js, "schema"));
  } else {
    return fail(e, "response_format", "response_format.type must be text, json_object or json_schema");
  }
  r->schema = schema ? json_dumps(schema, JSON_COMPACT) : NULL;
  json_decref(schema);
  return r->schema ? 0 : fail(e, "response_format", "out of memory");
}

/* A plugin named by a request is a registered name: a path would load any file. */
static int check_block(json_t *b, const char *what, dk_req_error *e) {
  json_t *pl = json_object_get(b, "plugin");
  if (!json_is_object(b) || !json_is_string(pl))
    return fail(e, "decokit", "decokit.%s must be an object with a 'plugin' name", what);
  if (strchr(json_string_value(pl), '/'))
    return fail(e, "decokit", "decokit.%s: plugins are named, not given as paths", what);
  const char *k;
  json_t *x;
  json_object_foreach(b, k, x) {
    if (json_is_object(x) || (json_is_array(x) && json_array_size(x) && json_is_object(json_array_get(x, 0))))
      return fail(e, "decokit", "decokit.%s.%s: values are scalars or lists of scalars", what, k);
  }
  return 0;
}

static int parse_ext(dk_req *r, json_t *v, dk_req_error *e) {
  if (!json_is_object(v)) return fail(e, "decokit", "'decokit' must be an object");
  const char *k;
  json_t *x;
  json_object_foreach(v, k, x) {
    if (strcmp(k, "pipeline") == 0) {
      if (!json_is_string(x)) return fail(e, "decokit", "decokit.pipeline must be a string");
      r->pipeline = json_string_value(x);
    } else if (!strcmp(k, "decoder") || !strcmp(k, "drafter") || !strcmp(k, "constraint")) {
      if (check_block(x, k, e)) return -1;
      if (!strcmp(k, "constraint") && r->schema)
        return fail(e, "decokit", "decokit.constraint and response_format both constrain the output: give one");
    } else if (strcmp(k, "samplers") == 0) {
      if (!json_is_array(x)) return fail(e, "decokit", "decokit.samplers must be an array of sampler objects");
      size_t i;
      json_t *s;
      json_array_foreach(x, i, s) if (check_block(s, "samplers[]", e)) return -1;
    } else if (strcmp(k, "set") == 0) {
      if (!json_is_array(x)) return fail(e, "decokit", "decokit.set must be an array of \"section.key=value\" strings");
      size_t i;
      json_t *s;
      json_array_foreach(x, i, s) {
        const char *a = json_string_value(s);
        if (!a) return fail(e, "decokit", "decokit.set must hold strings");
        if (!strncmp(a, "model.", 6) || !strncmp(a, "draft.", 6) || !strncmp(a, "plugin_path", 11))
          return fail(e, "decokit", "decokit.set: '%s': the server's models are fixed per pipeline", a);
      }
      r->ext_sets = x;
    } else {
      return fail(e, "decokit", "decokit: unknown field '%s' (expected pipeline, decoder, drafter, "
                  "constraint, samplers or set)", k);
    }
  }
  r->ext_blocks = v;
  return 0;
}

int dk_req_parse(const char *body, size_t len, dk_req_kind kind, dk_req *r, dk_req_error *e) {
  memset(r, 0, sizeof *r);
  memset(e, 0, sizeof *e);
  r->kind = kind;
  r->n = 1;
  json_error_t je;
  r->root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
  if (!r->root) return fail(e, NULL, "the body is not valid JSON: %s (at character %d)", je.text, je.position);
  if (!json_is_object(r->root)) return fail(e, NULL, "the body must be a JSON object");
  /* The schema first: the extension's constraint conflicts with it. */
  json_t *rf = json_object_get(r->root, "response_format");
  if (rf && !json_is_null(rf) && parse_format(r, rf, e)) return -1;
  const char *k;
  json_t *v;
  long long iv;
  int chat = kind == DK_REQ_CHAT, has_input = 0;
  json_object_foreach(r->root, k, v) {
    if (json_is_null(v) && strcmp(k, "messages") && strcmp(k, "prompt")) continue; /* as if absent */
    if (strcmp(k, "model") == 0) {
      if (!json_is_string(v)) return fail(e, k, "'model' must be a string");
      r->model = json_string_value(v);
    } else if (!chat && strcmp(k, "prompt") == 0) {
      if (json_is_array(v) && json_array_size(v) == 1) v = json_array_get(v, 0);
      if (!json_is_string(v)) return fail(e, k, "'prompt' must be a string (or an array of one string)");
      r->prompt = json_string_value(v);
      has_input = 1;
    } else if (chat && strcmp(k, "messages") == 0) {
      if (parse_messages(r, v, e)) return -1;
      has_input = 1;
    } else if (!strcmp(k, "max_tokens") || (chat && !strcmp(k, "max_completion_tokens"))) {
      if (get_int(v, k, 1, 1 << 30, &r->max_tokens, e)) return -1;
      r->has_max_tokens = 1;
    } else if (strcmp(k, "temperature") == 0) {
      if (get_num(v, k, 0, 2, &r->temperature, e)) return -1;
      r->has_temperature = 1;
    } else if (strcmp(k, "top_p") == 0) {
      if (get_num(v, k, 0, 1, &r->top_p, e)) return -1;
      if (r->top_p == 0) return fail(e, k, "'top_p' must be above 0");
      r->has_top_p = 1;
    } else if (strcmp(k, "stop") == 0) {
      if (parse_stop(r, v, e)) return -1;
    } else if (strcmp(k, "seed") == 0) {
      if (get_int(v, k, 0, (1LL << 53), &r->seed, e)) return -1;
      r->has_seed = 1;
    } else if (strcmp(k, "n") == 0) {
      if (get_int(v, k, 1, 16, &iv, e)) return -1;
      r->n = (int)iv;
      r->has_n = 1;
    } else if (!chat && strcmp(k, "logprobs") == 0) {
      if (get_int(v, k, 0, 20, &iv, e)) return -1;
      r->logprobs = 1;
      r->top_logprobs = (int)iv;
    } else if (chat && strcmp(k, "logprobs") == 0) {
      if (!json_is_boolean(v)) return fail(e, k, "'logprobs' must be true or false");
      r->logprobs = json_is_true(v);
    } else if (chat && strcmp(k, "top_logprobs") == 0) {
      if (get_int(v, k, 0, 20, &iv, e)) return -1;
      r->top_logprobs = (int)iv;
    } else if (strcmp(k, "response_format") == 0) {
      /* parsed above */
    } else if (strcmp(k, "stream") == 0) {
      if (!json_is_boolean(v)) return fail(e, k, "'stream' must be true or false");
      r->stream = json_is_true(v);
    } else if (strcmp(k, "stream_options") == 0) {
      json_t *iu = json_object_get(v, "include_usage");
      if (!json_is_object(v) || json_object_size(v) != (iu ? 1u : 0u) || (iu && !json_is_boolean(iu)))
        return fail(e, k, "'stream_options' may only hold include_usage (true or false)");
      r->include_usage = json_is_true(iu);
    } else if (strcmp(k, "user") == 0) {
      if (!json_is_string(v)) return fail(e, k, "'user' must be a string");
    } else if (strcmp(k, "decokit") == 0) {
      if (parse_ext(r, v, e)) return -1;
    } else {
      return fail(e, k, "unknown field '%s'", k);
    }
  }
  if (!has_input) return fail(e, chat ? "messages" : "prompt", "'%s' is required", chat ? "messages" : "prompt");
  if (r->top_logprobs && !r->logprobs)
    return fail(e, "top_logprobs", "'top_logprobs' needs 'logprobs': true");
  if (r->stream && r->n > 1) return fail(e, "n", "streaming supports n = 1 only");
  return 0;
}

void dk_req_free(dk_req *r) {
  free(r->msgs);
  free(r->schema);
  json_decref(r->root);
  json_decref(r->keep);
  memset(r, 0, sizeof *r);
}

/* ---- onto a pipeline ---- */

static int from_err(dk_req_error *e, const char *param, const dk_error *err) {
  return fail(e, param, "%s", err->msg);
}

static int set(dk_pipeline *p, const char *param, dk_req_error *e, const char *fmt, ...) DK_PRINTF(4, 5);
static int set(dk_pipeline *p, const char *param, dk_req_error *e, const char *fmt, ...) {
  char a[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(a, sizeof a, fmt, ap);
  va_end(ap);
  dk_error err;
  dk_error_clear(&err);
  return dk_pipeline_override(p, a, &err) ? from_err(e, param, &err) : 0;
}

/* Samplers that pick the token: a value sampler goes before the first. */
static int is_selector(const char *plugin) {
  return !strcmp(plugin, "dist") || !strcmp(plugin, "greedy") || !strcmp(plugin, "mirostat") ||
         !strcmp(plugin, "mirostat_v2");
}

/* Set plugin.key in the chain, adding the sampler before the selector when missing. */
static int set_sampler(dk_pipeline *p, const char *plugin, const char *key, double v,
                       const char *param, dk_req_error *e) {
  size_t at = p->n_samplers;
  for (size_t i = 0; i < p->n_samplers && at == p->n_samplers; i++)
    if (strcmp(p->samplers[i].plugin, plugin) == 0) at = i;
  if (at == p->n_samplers) {
    if (set(p, param, e, "samplers.+=%s", plugin)) return -1;
    at = 0;
    while (at + 1 < p->n_samplers && !is_selector(p->samplers[at].plugin)) at++;
    dk_block added = p->samplers[p->n_samplers - 1];
    memmove(&p->samplers[at + 1], &p->samplers[at], (p->n_samplers - 1 - at) * sizeof added);
    p->samplers[at] = added;
  }
  return set(p, param, e, "samplers.%zu.%s=%.17g", at, key, v);
}

static void swap_blocks(dk_block **a, dk_block **b) {
  dk_block *t = *a;
  *a = *b;
  *b = t;
}

static void swap_list(dk_block **a, size_t *na, dk_block **b, size_t *nb) {
  swap_blocks(a, b);
  size_t t = *na;
  *na = *nb;
  *nb = t;
}

/* The extension's blocks replace the pipeline's whole: read them as a
 * pipeline of their own (JSON is YAML) and trade blocks with it. */
static int replace_blocks(const dk_req *r, dk_pipeline *p, dk_req_error *e) {
  static const char *const keys[] = {"decoder", "drafter", "constraint", "samplers"};
  json_t *ext = r->ext_blocks;
  char *y = NULL;
  size_t len = 0, cap = 0;
  dk_buf_append(&y, &len, &cap, "decokit: 1\n", 11);
  int any = 0;
  for (size_t i = 0; i < 4; i++) {
    json_t *v = ext ? json_object_get(ext, keys[i]) : NULL;
    json_t *own = NULL;
    if (!v && i == 2 && r->schema)
      v = own = json_pack("{s:s,s:s}", "plugin", "json_schema", "schema", r->schema);
    if (!v) continue;
    char *t = json_dumps(v, JSON_COMPACT);
    json_decref(own);
    if (!t) {
      free(y);
      return fail(e, "decokit", "out of memory");
    }
    dk_buf_append(&y, &len, &cap, keys[i], strlen(keys[i]));
    dk_buf_append(&y, &len, &cap, ": ", 2);
    dk_buf_append(&y, &len, &cap, t, strlen(t));
    dk_buf_append(&y, &len, &cap, "\n", 1);
    free(t);
    any = 1;
  }
  if (cap == DK_BUF_FAILED) return fail(e, "decokit", "out of memory");
  if (!any) {
    free(y);
    return 0;
  }
  dk_error err;
  dk_error_clear(&err);
  dk_pipeline *q = NULL;
  int rc = dk_pipeline_parse(y, len, "request", p->dir, &q, &err);
  free(y);
  if (rc) return from_err(e, r->schema ? "response_format" : "decokit", &err);
  if (q->decoder) swap_blocks(&p->decoder, &q->decoder);
  if (q->constraint) swap_blocks(&p->constraint, &q->constraint);
  if (q->n_drafters) swap_list(&p->drafter, &p->n_drafters, &q->drafter, &q->n_drafters);
  if (ext && json_object_get(ext, "samplers"))
    swap_list(&p->samplers, &p->n_samplers, &q->samplers, &q->n_samplers);
  dk_pipeline_free(q);
  return 0;
}

/* Every block of p, in out (up to cap); returns how many there are. */
static size_t blocks(const dk_pipeline *p, const dk_block **out, size_t cap) {
  size_t n = 0;
#define ADD(b) do { if (n < cap) out[n] = (b); n++; } while (0)
  if (p->model) ADD(p->model);
  if (p->draft) ADD(p->draft);
  if (p->decoder) ADD(p->decoder);
  if (p->constraint) ADD(p->constraint);
  for (size_t i = 0; i < p->n_drafters; i++) ADD(&p->drafter[i]);
  for (size_t i = 0; i < p->n_samplers; i++) ADD(&p->samplers[i]);
  for (size_t i = 0; i < p->n_scorers; i++) ADD(&p->scorers[i]);
#undef ADD
  return n;
}

/* A request may not make the server read a file: every path parameter
 * with a value must hold one the server's own pipeline gives that plugin. */
static int check_paths(const dk_pipeline *p, const dk_pipeline *base, dk_req_error *e) {
  const dk_block *pb[256], *bb[256];
  size_t np = blocks(p, pb, 256), nb = blocks(base, bb, 256);
  if (np > 256 || nb > 256) return fail(e, "decokit", "too many pipeline blocks");
  for (size_t i = 0; i < np; i++) {
    const dk_config *c = &pb[i]->cfg;
    for (size_t k = 0; k < c->n; k++) {
      const dk_cfg_value *v = &c->v[k];
      if (v->spec.type != DK_PARAM_PATH || !v->has || !v->s) continue;
      int known = 0;
      for (size_t j = 0; j < nb && !known; j++) {
        const char *s = bb[j]->plugin && pb[i]->plugin && strcmp(bb[j]->plugin, pb[i]->plugin) == 0
                            ? dk_cfg_string(&bb[j]->cfg, v->spec.name)
                            : NULL;
        known = s && strcmp(s, v->s) == 0;
      }
      if (!known)
        return fail(e, "decokit", "%s '%s': parameter '%s' names a file; a request may only use "
                    "the files of the server's pipelines", dk_kind_name(pb[i]->kind),
                    pb[i]->plugin ? pb[i]->plugin : "?", v->spec.name);
    }
  }
  return 0;
}

int dk_req_pipeline(const dk_req *r, const char *file, const dk_pipeline *base, dk_registry *reg,
                    const char *default_model, dk_pipeline **out, dk_req_error *e) {
  *out = NULL;
  dk_error err;
  dk_error_clear(&err);
  dk_pipeline *p = NULL;
  if (dk_pipeline_load(file, &p, &err)) return from_err(e, "model", &err);
  int rc = replace_blocks(r, p, e);
  size_t i;
  json_t *s;
  if (!rc && r->ext_sets) json_array_foreach(r->ext_sets, i, s) {
      if ((rc = set(p, "decokit", e, "%s", json_string_value(s)))) break;
    }
  if (!rc && r->has_max_tokens) rc = set(p, "max_tokens", e, "generate.max_tokens=%lld", r->max_tokens);
  if (!rc && r->has_seed) rc = set(p, "seed", e, "generate.seed=%lld", r->seed);
  if (!rc && r->has_n) rc = set(p, "n", e, "generate.n=%d", r->n);
  if (!rc && r->logprobs) rc = set(p, "logprobs", e, "generate.logprobs=%d", r->top_logprobs);
  if (!rc && r->has_stop) {
    char *a = NULL;
    size_t len = 0, cap = 0;
    dk_buf_append(&a, &len, &cap, "generate.stop=[", 15);
    for (size_t k = 0; k < r->n_stop; k++) {
      if (k) dk_buf_append(&a, &len, &cap, ", ", 2);
      dk_yaml_quote(&a, &len, &cap, r->stop[k], strlen(r->stop[k]));
    }
    dk_buf_append(&a, &len, &cap, "]", 1);
    if (cap == DK_BUF_FAILED) {
      rc = fail(e, "stop", "out of memory");
    } else if (dk_pipeline_override(p, a, &err)) {
      rc = from_err(e, "stop", &err);
    }
    free(a);
  }
  if (!rc && r->has_top_p) rc = set_sampler(p, "top_p", "p", r->top_p, "top_p", e);
  if (!rc && r->has_temperature) rc = set_sampler(p, "temperature", "t", r->temperature, "temperature", e);
  if (!rc && dk_pipeline_resolve(p, reg, default_model, &err)) rc = from_err(e, "decokit", &err);
  if (!rc) rc = check_paths(p, base, e);
  if (rc) {
    dk_pipeline_free(p);
    return -1;
  }
  *out = p;
  return 0;
}

int dk_req_prompt(const dk_req *r, dk_pipeline *p, dk_chat_format f, char **out, dk_req_error *e) {
  *out = NULL;
  if (r->kind == DK_REQ_COMPLETION) {
    *out = dk_strdup(r->prompt);
    return *out ? 0 : fail(e, "prompt", "out of memory");
  }
  if (f == DK_CHAT_UNKNOWN)
    return fail(e, "messages", "this pipeline's model has no chat template decokit knows; set "
                "generate.chat_template in the pipeline");
  dk_error err;
  dk_error_clear(&err);
  if (dk_chat_render(f, r->msgs, r->n_msgs, 1, out, &err)) return from_err(e, "messages", &err);
  if (dk_cli_chat_stop(p, (int)f)) {
    free(*out);
    *out = NULL;
    return fail(e, "messages", "out of memory");
  }
  return 0;
}
