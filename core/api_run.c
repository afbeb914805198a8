/* api_run.c -- decokit.h's runs and results: generate with streaming callbacks, cancel, read what was made. */
#include "config.h"

#include "api_impl.h"

#include <stdlib.h>
#include <string.h>

/* The run options as the first version knows them. */
#define RUN_OPTS_MIN (offsetof(decokit_run_opts, user) + sizeof(void *))

static int should_abort(void *user) {
  decokit_run *r = user;
  if (atomic_load(&r->cancel)) return 1;
  return r->opts.should_abort && r->opts.should_abort(r->opts.user);
}

static void on_text(void *user, size_t completion, const char *bytes, size_t len) {
  decokit_run *r = user;
  r->opts.on_text(r->opts.user, completion, bytes, len);
}

static void token_info(const dk_token_record *rec, decokit_token_info *t) {
  memset(t, 0, sizeof *t);
  t->struct_size = sizeof *t;
  t->id = rec->id;
  t->has_logprob = rec->has_raw;
  t->logprob = rec->raw_lp;
  t->has_processed_logprob = rec->has_proc;
  t->processed_logprob = rec->proc_lp;
  t->n_top = rec->raw_top || rec->proc_top ? rec->n_top : 0;
}

static void on_token(void *user, size_t completion, const dk_token_record *rec) {
  decokit_run *r = user;
  decokit_token_info t;
  token_info(rec, &t);
  r->opts.on_token(r->opts.user, completion, &t);
}

int decokit_run_new(decokit_pipeline *p, const decokit_run_opts *opts, decokit_run **out,
                    decokit_error *err) {
  if (!out) return dk_api_fail(err, DECOKIT_ERR_INVALID, "decokit_run_new: out is NULL");
  *out = NULL;
  if (!p) return dk_api_fail(err, DECOKIT_ERR_INVALID, "decokit_run_new: pipeline is NULL");
  decokit_run *r = calloc(1, sizeof *r);
  if (!r) return dk_api_fail(err, DECOKIT_ERR_NOMEM, "out of memory");
  int rc = dk_api_opts(&r->opts, sizeof r->opts, RUN_OPTS_MIN, opts, "decokit_run_opts", err);
  if (!rc) rc = decokit_pipeline_resolve(p, err);
  if (rc) {
    free(r);
    return rc;
  }
  r->pl = p;
  atomic_init(&r->cancel, 0);
  dk_run_opts o = {.threads = r->opts.threads,
                   .on_text = r->opts.on_text ? on_text : NULL,
                   .user = r,
                   .record_logprobs = r->opts.record_logprobs,
                   /* Zeroed options mean the pipeline's setting. */
                   .logprobs = r->opts.logprobs == 0 ? -1 : r->opts.logprobs < 0 ? 0 : r->opts.logprobs,
                   .should_abort = should_abort,
                   .parse_special = r->opts.parse_special,
                   .on_token = r->opts.on_token ? on_token : NULL};
  dk_error e;
  dk_error_clear(&e);
  rc = dk_run_new(p->p, &o, &r->run, &e);
  if (rc) {
    free(r);
    return dk_api_error(err, rc, &e);
  }
  *out = r;
  return dk_api_error(err, DECOKIT_OK, NULL);
}

int decokit_run_generate(decokit_run *run, const char *prompt, decokit_result **out,
                         decokit_error *err) {
  if (!out) return dk_api_fail(err, DECOKIT_ERR_INVALID, "decokit_run_generate: out is NULL");
  *out = NULL;
  if (!run) return dk_api_fail(err, DECOKIT_ERR_INVALID, "decokit_run_generate: run is NULL");
  decokit_result *res = calloc(1, sizeof *res);
  if (!res) return dk_api_fail(err, DECOKIT_ERR_NOMEM, "out of memory");
  res->seed = (long long)dk_gen_int(run->pl->p, "seed");
  dk_error e;
  dk_error_clear(&e);
  dk_run_set_prompt(run->run, prompt);
  int rc = dk_run_generate(run->run, &res->r, &e);
  dk_run_set_prompt(run->run, NULL);
  atomic_store(&run->cancel, 0);
  if (res->r)
    *out = res;
  else
    free(res);
  return dk_api_error(err, rc, &e);
}

void decokit_run_cancel(decokit_run *run) {
  if (run) atomic_store(&run->cancel, 1);
}

const char *decokit_run_piece(decokit_run *run, int32_t id, size_t *len) {
  const dk_vocab *v = run ? dk_run_vocab(run->run) : NULL;
  if (!v || id < 0 || id >= v->n_vocab) return NULL;
  if (len) *len = v->piece_len[id];
  return v->piece[id];
}

int32_t decokit_run_vocab_size(decokit_run *run) {
  const dk_vocab *v = run ? dk_run_vocab(run->run) : NULL;
  return v ? v->n_vocab : 0;
}

void decokit_run_free(decokit_run *run) {
  if (!run) return;
  dk_run_free(run->run);
  free(run);
}

static const dk_completion *completion(const decokit_result *r, size_t i) {
  return r && r->r && i < r->r->n ? &r->r->c[i] : NULL;
}

size_t decokit_result_count(const decokit_result *r) { return r && r->r ? r->r->n : 0; }

const char *decokit_result_text(const decokit_result *r, size_t i, size_t *len) {
  const dk_completion *c = completion(r, i);
  if (!c) return NULL;
  if (len) *len = c->text ? c->text_len : 0;
  return c->text ? c->text : "";
}

const int32_t *decokit_result_tokens(const decokit_result *r, size_t i, size_t *n) {
  const dk_completion *c = completion(r, i);
  if (n) *n = c ? c->n_tokens : 0;
  return c ? c->tokens : NULL;
}

const char *decokit_result_stop_reason(const decokit_result *r, size_t i) {
  const dk_completion *c = completion(r, i);
  return c ? (c->stop_reason ? c->stop_reason : "error") : NULL;
}

/* The caller's struct: at least its struct_size field, of which we fill
 * what it holds. */
static int fill(void *out, const void *full, size_t full_size, const char *what, decokit_error *err) {
  if (!out) return dk_api_fail(err, DECOKIT_ERR_INVALID, "%s: out is NULL", what);
  size_t have = *(size_t *)out;
  if (have < sizeof(size_t) * 2)
    return dk_api_fail(err, DECOKIT_ERR_ABI, "%s: struct_size %zu is too small", what, have);
  size_t n = have < full_size ? have : full_size;
  memcpy((char *)out + sizeof(size_t), (const char *)full + sizeof(size_t), n - sizeof(size_t));
  return DECOKIT_OK;
}

static int token_record(const decokit_result *r, size_t i, size_t k, const dk_token_record **rec) {
  const dk_completion *c = completion(r, i);
  if (!c || k >= c->n_tokens) return DECOKIT_ERR_RANGE;
  *rec = c->recs ? &c->recs[k] : NULL;
  return DECOKIT_OK;
}

int decokit_result_token(const decokit_result *r, size_t i, size_t k, decokit_token_info *out) {
  const dk_token_record *rec;
  if (token_record(r, i, k, &rec)) return DECOKIT_ERR_RANGE;
  decokit_token_info t;
  if (rec) {
    token_info(rec, &t);
  } else { /* logprobs were not recorded: the id alone */
    memset(&t, 0, sizeof t);
    t.id = r->r->c[i].tokens[k];
  }
  return fill(out, &t, sizeof t, "decokit_result_token", NULL);
}

int decokit_result_top(const decokit_result *r, size_t i, size_t k, int processed, size_t j,
                       int32_t *id, float *logprob) {
  const dk_token_record *rec;
  if (token_record(r, i, k, &rec) || !rec) return DECOKIT_ERR_RANGE;
  const dk_logprob_alt *a = processed ? rec->proc_top : rec->raw_top;
  if (!a || j >= rec->n_top || a[j].id < 0) return DECOKIT_ERR_RANGE;
  if (id) *id = a[j].id;
  if (logprob) *logprob = a[j].logprob;
  return DECOKIT_OK;
}

size_t decokit_result_nbest_count(const decokit_result *r, size_t i) {
  const dk_completion *c = completion(r, i);
  return c ? c->n_results : 0;
}

int decokit_result_nbest(const decokit_result *r, size_t i, size_t rank, decokit_hypothesis *out) {
  const dk_completion *c = completion(r, i);
  if (!c || rank >= c->n_results) return DECOKIT_ERR_RANGE;
  const dk_hypothesis *h = &c->results[rank];
  decokit_hypothesis o = {sizeof o, h->text ? h->text : "", h->text ? h->text_len : 0, h->tokens,
                          h->n_tokens, h->score};
  return fill(out, &o, sizeof o, "decokit_result_nbest", NULL);
}

int decokit_result_stats(const decokit_result *r, size_t i, decokit_stats *out) {
  const dk_completion *c = completion(r, i);
  if (!c) return DECOKIT_ERR_RANGE;
  decokit_stats s;
  memset(&s, 0, sizeof s);
  s.struct_size = sizeof s;
  s.prompt_tokens = r->r->n_prompt;
  s.time_prompt_s = r->r->t_prompt;
  s.generated_tokens = c->n_tokens;
  s.forward_passes = c->forward_passes;
  s.model_tokens = c->model_tokens;
  s.time_model_s = c->t_model;
  s.time_samplers_s = c->t_sample;
  s.time_constraint_s = c->t_constraint;
  s.time_total_s = c->t_total;
  s.tokens_per_s = c->t_total > 0 ? (double)c->n_tokens / c->t_total : 0;
  s.seed = r->seed;
  s.threads = r->r->threads;
  memcpy(s.fingerprint, r->r->fingerprint, sizeof s.fingerprint);
  return fill(out, &s, sizeof s, "decokit_result_stats", NULL);
}

size_t decokit_result_metric_count(const decokit_result *r, size_t i) {
  const dk_completion *c = completion(r, i);
  return c ? c->n_metrics : 0;
}

const char *decokit_result_metric(const decokit_result *r, size_t i, size_t k, double *value) {
  const dk_completion *c = completion(r, i);
  if (!c || k >= c->n_metrics) return NULL;
  if (value) *value = c->metrics[k].value;
  return c->metrics[k].name;
}

const int32_t *decokit_result_prompt_tokens(const decokit_result *r, size_t *n) {
  if (n) *n = r && r->r ? r->r->n_prompt : 0;
  return r && r->r ? r->r->prompt_tokens : NULL;
}

void decokit_result_free(decokit_result *r) {
  if (!r) return;
  dk_result_free(r->r);
  free(r);
}
