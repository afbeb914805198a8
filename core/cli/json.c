/* json.c -- the JSON result of `decokit run --json`, built with jansson. */
#include "cli.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double percentile(const double *sorted, size_t n, double q) {
  if (!n) return 0;
  size_t i = (size_t)ceil(q * (double)n) - 1;
  return sorted[i < n ? i : n - 1];
}

/* A piece as a JSON string; invalid UTF-8 (a token ending mid-character)
 * becomes an escaped byte list instead of breaking the document. */
static json_t *piece_json(const dk_vocab *v, dk_token id) {
  if (id < 0 || id >= v->n_vocab) return json_null();
  json_t *s = json_stringn(v->piece[id], v->piece_len[id]);
  if (s) return s;
  json_t *bytes = json_array();
  for (uint32_t i = 0; i < v->piece_len[id]; i++)
    json_array_append_new(bytes, json_integer((unsigned char)v->piece[id][i]));
  return bytes;
}

/* Text as a JSON string; bytes that are not UTF-8 (a sequence cut at the
 * token limit) become U+FFFD instead of losing the whole text. */
static json_t *text_json(const char *t, size_t n) {
  json_t *s = json_stringn(t ? t : "", n);
  if (s) return s;
  char *buf = malloc(3 * n + 1);
  if (!buf) return json_string("");
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    size_t l = dk_utf8_seq((const unsigned char *)t + i, n - i);
    if (l) {
      memcpy(buf + o, t + i, l);
      o += l;
      i += l;
    } else {
      memcpy(buf + o, "\xEF\xBF\xBD", 3);
      o += 3;
      i++;
    }
  }
  s = json_stringn(buf, o);
  free(buf);
  return s ? s : json_string("");
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
    json_array_append_new(arr, o);
  }
  return arr;
}

static json_t *completion_json(const dk_completion *c, const dk_vocab *v, int top) {
  json_t *o = json_object();
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
    if (top > 0 && r->raw_top) json_object_set_new(e, "top", alts(r->raw_top, r->n_top, v));
    if (top > 0 && r->proc_top)
      json_object_set_new(e, "processed_top", alts(r->proc_top, r->n_top, v));
    json_array_append_new(lps, e);
  }
  json_object_set_new(o, "logprobs", lps);
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

int dk_cli_print_json(FILE *out, const dk_result *r, dk_run *run, const dk_pipeline *p, int top) {
  const dk_vocab *v = dk_run_vocab(run);
  json_t *root = json_object();
  json_object_set_new(root, "fingerprint", json_string(r->fingerprint));
  json_object_set_new(root, "pipeline", json_string(p->file));
  json_t *pids = json_array();
  for (size_t i = 0; i < r->n_prompt; i++) json_array_append_new(pids, json_integer(r->prompt_tokens[i]));
  json_object_set_new(root, "prompt_tokens", pids);
  json_t *arr = json_array();
  for (size_t i = 0; i < r->n; i++) json_array_append_new(arr, completion_json(&r->c[i], v, top));
  json_object_set_new(root, "completions", arr);
  json_t *st = json_object();
  json_object_set_new(st, "prompt_tokens", json_integer((json_int_t)r->n_prompt));
  json_object_set_new(st, "time_prompt_s", json_real(r->t_prompt));
  json_object_set_new(st, "prompt_tokens_per_s",
                      json_real(r->t_prompt > 0 ? (double)r->n_prompt / r->t_prompt : 0));
  json_object_set_new(st, "time_total_s", json_real(r->t_total));
  json_object_set_new(st, "threads", json_integer(r->threads));
  json_object_set_new(root, "stats", st);
  int rc = json_dumpf(root, out, JSON_INDENT(2) | JSON_ENSURE_ASCII);
  fputc('\n', out);
  json_decref(root);
  return rc;
}
