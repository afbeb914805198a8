/* json.c -- the JSON result of `decokit run --json`, built with jansson. */
#include "cli.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* 12 significant digits: exact for the single-precision log-probabilities
 * (9 would do) and far finer than any timing, while every number keeps at
 * most 15 digits after the point (%g writes up to 3 leading zeros), which
 * JSON readers that cap digits accept, the json_schema plugin's grammar
 * among them. */
#define DK_JSON_REALS JSON_REAL_PRECISION(12)

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double percentile(const double *sorted, size_t n, double q) {
  if (!n) return 0;
  size_t i = (size_t)ceil(q * (double)n) - 1;
  return sorted[i < n ? i : n - 1];
}

/* Text as a JSON string under decokit's replacement policy (dk_utf8_sanitize),
 * so it equals what stdout shows. */
static json_t *text_json(const char *t, size_t n) {
  if (!t) t = "";
  json_t *s = json_stringn(t, n);
  if (s) return s;
  char *buf = malloc(3 * n + 1);
  if (!buf) return json_string("");
  s = json_stringn(buf, dk_utf8_sanitize(t, n, buf));
  free(buf);
  return s ? s : json_string("");
}

/* A token's piece: always a string (the replacement policy for a piece that
 * is not whole UTF-8, e.g. a byte token) ... */
static json_t *piece_json(const dk_vocab *v, dk_token id) {
  if (id < 0 || id >= v->n_vocab) return json_null();
  return text_json(v->piece[id], v->piece_len[id]);
}

/* ... plus its exact bytes. */
static json_t *bytes_json(const dk_vocab *v, dk_token id) {
  if (id < 0 || id >= v->n_vocab) return json_null();
  json_t *bytes = json_array();
  for (uint32_t i = 0; i < v->piece_len[id]; i++)
    json_array_append_new(bytes, json_integer((unsigned char)v->piece[id][i]));
  return bytes;
}

static json_t *number(double x) { return isfinite(x) ? json_real(x) : json_null(); }

static json_t *alts(const dk_logprob_alt *a, size_t n, const dk_vocab *v) {
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++) {
    if (a[i].id < 0) continue;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(a[i].id));
    json_object_set_new(o, "piece", piece_json(v, a[i].id));
    json_object_set_new(o, "logprob", number(a[i].logprob));
    json_object_set_new(o, "bytes", bytes_json(v, a[i].id));
    json_array_append_new(arr, o);
  }
  return arr;
}

/* Which stop string ended c: the text is cut where it starts, so it is the
 * first (in the pipeline's order, as the session searches) that the
 * committed tokens' text continues with there. */
static json_t *matched_stop(const dk_completion *c, const dk_vocab *v, const dk_pipeline *p) {
  if (!c->stop_reason || strcmp(c->stop_reason, "stop") != 0) return json_null();
  char *full = NULL;
  size_t len = 0, cap = 0;
  for (size_t i = 0; i < c->n_tokens; i++)
    if (c->tokens[i] >= 0 && c->tokens[i] < v->n_vocab)
      dk_buf_append(&full, &len, &cap, v->piece[c->tokens[i]], v->piece_len[c->tokens[i]]);
  json_t *out = json_null();
  for (size_t i = 0; full && i < dk_gen_list_len(p, "stop"); i++) {
    const char *st = dk_gen_list_item(p, "stop", i);
    size_t sl = strlen(st);
    if (sl && c->text_len + sl <= len && memcmp(full + c->text_len, st, sl) == 0) {
      json_decref(out);
      out = text_json(st, sl);
      break;
    }
  }
  free(full);
  return out;
}

/* The sum of the tokens' log-probabilities; null when one is missing. */
static json_t *total_logprob(const dk_completion *c, int processed) {
  double sum = 0;
  for (size_t i = 0; i < c->n_tokens; i++) {
    const dk_token_record *r = &c->recs[i];
    if (!(processed ? r->has_proc : r->has_raw)) return json_null();
    sum += processed ? r->proc_lp : r->raw_lp;
  }
  return number(sum);
}

static json_t *completion_json(const dk_completion *c, size_t index, const dk_vocab *v,
                               const dk_pipeline *p, int top) {
  json_t *o = json_object();
  json_object_set_new(o, "index", json_integer((json_int_t)index));
  json_object_set_new(o, "seed", json_integer(dk_gen_int(p, "seed")));
  json_object_set_new(o, "text", text_json(c->text, c->text_len));
  json_t *ids = json_array();
  for (size_t i = 0; i < c->n_tokens; i++) json_array_append_new(ids, json_integer(c->tokens[i]));
  json_object_set_new(o, "tokens", ids);
  json_t *lps = json_array();
  for (size_t i = 0; i < c->n_tokens; i++) {
    const dk_token_record *r = &c->recs[i];
    json_t *e = json_object();
    json_object_set_new(e, "id", json_integer(r->id));
    json_object_set_new(e, "piece", piece_json(v, r->id));
    /* Numbers the decoder did not give are null, never guessed. */
    json_object_set_new(e, "logprob", r->has_raw ? number(r->raw_lp) : json_null());
    json_object_set_new(e, "processed_logprob", r->has_proc ? number(r->proc_lp) : json_null());
    json_object_set_new(e, "bytes", bytes_json(v, r->id));
    if (top > 0 && r->raw_top) json_object_set_new(e, "top", alts(r->raw_top, r->n_top, v));
    if (top > 0 && r->proc_top)
      json_object_set_new(e, "processed_top", alts(r->proc_top, r->n_top, v));
    json_array_append_new(lps, e);
  }
  json_object_set_new(o, "logprobs", lps);
  json_object_set_new(o, "logprob", total_logprob(c, 0));
  json_object_set_new(o, "processed_logprob", total_logprob(c, 1));
  if (c->n_results) {
    json_t *res = json_array();
    for (size_t i = 0; i < c->n_results; i++) {
      const dk_hypothesis *h = &c->results[i];
      json_t *e = json_object();
      json_object_set_new(e, "rank", json_integer((json_int_t)i + 1));
      json_object_set_new(e, "score", number(h->score));
      json_object_set_new(e, "text", text_json(h->text, h->text_len));
      json_t *hids = json_array();
      for (size_t k = 0; k < h->n_tokens; k++) json_array_append_new(hids, json_integer(h->tokens[k]));
      json_object_set_new(e, "tokens", hids);
      json_array_append_new(res, e);
    }
    json_object_set_new(o, "results", res);
  }
  json_object_set_new(o, "stop_reason", json_string(c->stop_reason ? c->stop_reason : "error"));
  json_object_set_new(o, "stop", matched_stop(c, v, p));
  json_t *st = json_object();
  json_object_set_new(st, "generated_tokens", json_integer((json_int_t)c->n_tokens));
  json_object_set_new(st, "forward_passes", json_integer((json_int_t)c->forward_passes));
  json_object_set_new(st, "model_tokens", json_integer((json_int_t)c->model_tokens));
  json_object_set_new(st, "time_model_s", json_real(c->t_model));
  json_object_set_new(st, "time_samplers_s", json_real(c->t_sample));
  json_object_set_new(st, "time_constraint_s", json_real(c->t_constraint));
  json_object_set_new(st, "time_total_s", json_real(c->t_total));
  json_object_set_new(st, "tokens_per_s",
                      json_real(c->t_total > 0 ? (double)c->n_tokens / c->t_total : 0));
  if (c->n_mask) {
    double *sorted = malloc(c->n_mask * sizeof *sorted);
    if (sorted) {
      memcpy(sorted, c->mask_us, c->n_mask * sizeof *sorted);
      qsort(sorted, c->n_mask, sizeof *sorted, cmp_double);
      double sum = 0;
      for (size_t i = 0; i < c->n_mask; i++) sum += sorted[i];
      json_t *m = json_object();
      json_object_set_new(m, "count", json_integer((json_int_t)c->n_mask));
      json_object_set_new(m, "avg", json_real(sum / (double)c->n_mask));
      json_object_set_new(m, "p50", json_real(percentile(sorted, c->n_mask, 0.50)));
      json_object_set_new(m, "p99", json_real(percentile(sorted, c->n_mask, 0.99)));
      json_object_set_new(st, "mask_us", m);
      free(sorted);
    }
  }
  for (size_t i = 0; i < c->n_metrics; i++)
    json_object_set_new(st, c->metrics[i].name, json_real(c->metrics[i].value));
  json_object_set_new(o, "stats", st);
  return o;
}

/* A block's resolved parameters, every one with its value. */
static json_t *block_json(const dk_block *b) {
  json_t *o = json_object();
  if (b->plugin) json_object_set_new(o, "plugin", json_string(b->plugin));
  const dk_config *c = &b->cfg;
  for (size_t i = 0; i < c->n; i++) {
    const dk_cfg_value *val = &c->v[i];
    if (!val->has) continue;
    json_t *j;
    switch (val->spec.type) {
    case DK_PARAM_INT: j = json_integer((json_int_t)val->i); break;
    case DK_PARAM_DOUBLE: j = number(val->d); break;
    case DK_PARAM_BOOL: j = json_boolean(val->b); break;
    case DK_PARAM_LIST:
      j = json_array();
      for (size_t k = 0; k < val->n_list; k++)
        json_array_append_new(j, text_json(val->list[k], strlen(val->list[k])));
      break;
    default: j = text_json(val->s ? val->s : "", val->s ? strlen(val->s) : 0);
    }
    json_object_set_new(o, val->spec.name, j);
  }
  return o;
}

static json_t *settings_json(const dk_pipeline *p) {
  json_t *o = json_object();
  const struct {
    const char *name;
    const dk_block *b;
  } single[] = {{"model", p->model},
                {"draft", p->draft},
                {"decoder", p->decoder},
                {"drafter", p->n_drafters == 1 ? p->drafter : NULL},
                {"constraint", p->constraint}};
  for (size_t i = 0; i < sizeof single / sizeof *single; i++)
    if (single[i].b) json_object_set_new(o, single[i].name, block_json(single[i].b));
  json_t *s;
  if (p->n_drafters > 1) { /* a list of drafters, as the pipeline wrote it */
    s = json_array();
    for (size_t i = 0; i < p->n_drafters; i++) json_array_append_new(s, block_json(&p->drafter[i]));
    json_object_set_new(o, "drafter", s);
  }
  s = json_array();
  for (size_t i = 0; i < p->n_samplers; i++) json_array_append_new(s, block_json(&p->samplers[i]));
  json_object_set_new(o, "samplers", s);
  s = json_array();
  for (size_t i = 0; i < p->n_scorers; i++) json_array_append_new(s, block_json(&p->scorers[i]));
  json_object_set_new(o, "scorers", s);
  json_object_set_new(o, "generate", block_json(&p->generate));
  return o;
}

/* The model's own name (GGUF general.name, from the plugin's description),
 * else its file name. */
static json_t *model_json(dk_run *run, const dk_pipeline *p) {
  json_t *o = json_object();
  json_object_set_new(o, "plugin", json_string(p->model->plugin));
  const char *path = dk_cfg_string(&p->model->cfg, "path");
  json_object_set_new(o, "path", path ? text_json(path, strlen(path)) : json_null());
  json_t *name = NULL;
  const dk_model_ref *m = dk_run_model(run);
  if (m && m->iface->describe) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    dk_error err;
    dk_error_clear(&err);
    if (buf && m->iface->describe(m->inst, buf, cap, &n, &err) == DK_OK && n < cap) {
      buf[n] = '\0';
      const char *k = strstr(buf, "\ngeneral.name: \"");
      if (k) {
        k += strlen("\ngeneral.name: \"");
        const char *e = strchr(k, '\n');
        if (e && e > k && e[-1] == '"' && !memchr(k, '\\', (size_t)(e - k)))
          name = text_json(k, (size_t)(e - 1 - k));
      }
    }
    free(buf);
  }
  if (!name && path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t bl = strlen(base);
    if (bl > 5 && strcmp(base + bl - 5, ".gguf") == 0) bl -= 5;
    name = text_json(base, bl);
  }
  json_object_set_new(o, "name", name ? name : json_null());
  return o;
}

void dk_cli_json_token_event(FILE *out, const dk_vocab *v, size_t completion,
                             const dk_token_record *r, const char *text, size_t len) {
  json_t *o = json_object();
  json_object_set_new(o, "event", json_string("token"));
  json_object_set_new(o, "index", json_integer((json_int_t)completion));
  json_object_set_new(o, "id", json_integer(r->id));
  json_object_set_new(o, "piece", piece_json(v, r->id));
  json_object_set_new(o, "logprob", r->has_raw ? number(r->raw_lp) : json_null());
  json_object_set_new(o, "processed_logprob", r->has_proc ? number(r->proc_lp) : json_null());
  json_object_set_new(o, "bytes", bytes_json(v, r->id));
  json_object_set_new(o, "text", text_json(text, len));
  json_dumpf(o, out, JSON_COMPACT | JSON_ENSURE_ASCII | DK_JSON_REALS);
  fputc('\n', out);
  fflush(out);
  json_decref(o);
}

int dk_cli_print_json(FILE *out, const dk_result *r, dk_run *run, const dk_pipeline *p, int top,
                      int stream) {
  const dk_vocab *v = dk_run_vocab(run);
  json_t *root = json_object();
  if (stream) json_object_set_new(root, "event", json_string("done"));
  json_object_set_new(root, "fingerprint", json_string(r->fingerprint));
  json_object_set_new(root, "pipeline", json_string(p->file));
  json_object_set_new(root, "model", model_json(run, p));
  json_object_set_new(root, "seed", json_integer(dk_gen_int(p, "seed")));
  json_object_set_new(root, "settings", settings_json(p));
  json_t *pids = json_array();
  for (size_t i = 0; i < r->n_prompt; i++) json_array_append_new(pids, json_integer(r->prompt_tokens[i]));
  json_object_set_new(root, "prompt_tokens", pids);
  json_t *arr = json_array();
  size_t generated = 0;
  for (size_t i = 0; i < r->n; i++) {
    json_array_append_new(arr, completion_json(&r->c[i], i, v, p, top));
    generated += r->c[i].n_tokens;
  }
  json_object_set_new(root, "completions", arr);
  /* As OpenAI's API counts: the shared prompt once, every completion's tokens. */
  json_t *u = json_object();
  json_object_set_new(u, "prompt_tokens", json_integer((json_int_t)r->n_prompt));
  json_object_set_new(u, "completion_tokens", json_integer((json_int_t)generated));
  json_object_set_new(u, "total_tokens", json_integer((json_int_t)(r->n_prompt + generated)));
  json_object_set_new(root, "usage", u);
  json_t *st = json_object();
  json_object_set_new(st, "prompt_tokens", json_integer((json_int_t)r->n_prompt));
  json_object_set_new(st, "time_prompt_s", json_real(r->t_prompt));
  json_object_set_new(st, "prompt_tokens_per_s",
                      json_real(r->t_prompt > 0 ? (double)r->n_prompt / r->t_prompt : 0));
  json_object_set_new(st, "time_total_s", json_real(r->t_total));
  json_object_set_new(st, "threads", json_integer(r->threads));
  json_object_set_new(root, "stats", st);
  int rc = json_dumpf(root, out, (stream ? JSON_COMPACT : JSON_INDENT(2)) | JSON_ENSURE_ASCII | DK_JSON_REALS);
  fputc('\n', out);
  json_decref(root);
  return rc;
}
