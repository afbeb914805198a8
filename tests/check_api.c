/* check_api.c -- decokit.h: generation, streaming, cancel, and every error path of the public API. */
#include <check.h>
#include <decokit/decokit.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define HEAD "decokit: 1\nmodel: { plugin: hashlm }\n"

/* Options that find the fixture model (hashlm) beside the built plugins. */
static decokit_load_opts fixture_opts(void) {
  decokit_load_opts o = {.struct_size = sizeof o, .plugin_path = getenv("DECOKIT_FIXTURE_DIR")};
  return o;
}

static decokit_pipeline *parse_ok(const char *yaml, const decokit_load_opts *o) {
  decokit_error err = {.struct_size = sizeof err};
  decokit_pipeline *p = NULL;
  int rc = decokit_pipeline_parse(yaml, strlen(yaml), o, &p, &err);
  ck_assert_msg(rc == DECOKIT_OK, "parse: %s", err.message);
  ck_assert_int_eq(err.code, DECOKIT_OK);
  ck_assert_str_eq(err.message, "");
  ck_assert_ptr_nonnull(p);
  return p;
}

typedef struct stream {
  char text[4096];
  size_t len, tokens, cancel_after;
  decokit_run *run;
  atomic_int started, cancelled_by_thread;
} stream;

static void on_text(void *user, size_t completion, const char *bytes, size_t len) {
  stream *s = user;
  ck_assert_uint_eq(completion, 0);
  ck_assert_uint_lt(s->len + len, sizeof s->text);
  memcpy(s->text + s->len, bytes, len);
  s->len += len;
}

static void on_token(void *user, size_t completion, const decokit_token_info *t) {
  stream *s = user;
  ck_assert_uint_ge(t->struct_size, sizeof *t);
  ck_assert_int_ge(t->id, 0);
  s->tokens++;
  if (s->cancel_after && s->tokens == s->cancel_after) decokit_run_cancel(s->run);
}

START_TEST(test_generate_streams_and_reports) {
  decokit_load_opts o = fixture_opts();
  decokit_pipeline *p = parse_ok(HEAD "generate: { max_tokens: 12, ignore_eos: true }\n", &o);
  stream s = {.len = 0};
  decokit_run_opts ro = {.struct_size = sizeof ro, .on_text = on_text, .on_token = on_token,
                         .record_logprobs = 1, .logprobs = 3, .user = &s};
  decokit_error err = {.struct_size = sizeof err};
  decokit_run *run = NULL;
  ck_assert_int_eq(decokit_run_new(p, &ro, &run, &err), DECOKIT_OK);
  decokit_result *r = NULL;
  ck_assert_int_eq(decokit_run_generate(run, "abc", &r, &err), DECOKIT_OK);
  ck_assert_uint_eq(decokit_result_count(r), 1);
  size_t len, n;
  const char *text = decokit_result_text(r, 0, &len);
  /* What was streamed is the text, which is the tokens' pieces. */
  ck_assert_uint_eq(len, s.len);
  ck_assert(memcmp(text, s.text, len) == 0);
  const int32_t *toks = decokit_result_tokens(r, 0, &n);
  ck_assert_uint_eq(n, 12);
  ck_assert_uint_eq(s.tokens, 12);
  char joined[4096];
  size_t jl = 0;
  for (size_t k = 0; k < n; k++) {
    size_t pl;
    const char *piece = decokit_run_piece(run, toks[k], &pl);
    ck_assert_ptr_nonnull(piece);
    memcpy(joined + jl, piece, pl);
    jl += pl;
    decokit_token_info t = {.struct_size = sizeof t};
    ck_assert_int_eq(decokit_result_token(r, 0, k, &t), DECOKIT_OK);
    ck_assert_int_eq(t.id, toks[k]);
    ck_assert(t.has_logprob && t.logprob <= 0);
    ck_assert_uint_eq(t.n_top, 3);
    int32_t id;
    float lp;
    ck_assert_int_eq(decokit_result_top(r, 0, k, 0, 0, &id, &lp), DECOKIT_OK);
    ck_assert(lp >= t.logprob); /* the best alternative is at least as likely */
  }
  ck_assert_uint_eq(jl, len);
  ck_assert(memcmp(joined, text, len) == 0);
  ck_assert_ptr_null(decokit_run_piece(run, decokit_run_vocab_size(run), NULL));
  ck_assert_str_eq(decokit_result_stop_reason(r, 0), "length");
  decokit_stats st = {.struct_size = sizeof st};
  ck_assert_int_eq(decokit_result_stats(r, 0, &st), DECOKIT_OK);
  ck_assert_uint_eq(st.generated_tokens, 12);
  size_t np;
  ck_assert_ptr_nonnull(decokit_result_prompt_tokens(r, &np));
  ck_assert_uint_eq(st.prompt_tokens, np);
  ck_assert_uint_ge(st.forward_passes, 11);
  ck_assert_uint_eq(strlen(st.fingerprint), 16);
  /* Out of range. */
  ck_assert_ptr_null(decokit_result_text(r, 1, &len));
  ck_assert_int_eq(decokit_result_token(r, 0, 12, &(decokit_token_info){.struct_size = sizeof(decokit_token_info)}),
                   DECOKIT_ERR_RANGE);
  ck_assert_int_eq(decokit_result_stats(r, 1, &st), DECOKIT_ERR_RANGE);
  /* The same run generates again, the same text for the same prompt. */
  decokit_result *r2 = NULL;
  ck_assert_int_eq(decokit_run_generate(run, "abc", &r2, &err), DECOKIT_OK);
  size_t len2;
  const char *text2 = decokit_result_text(r2, 0, &len2);
  ck_assert_uint_eq(len2, len);
  ck_assert(memcmp(text2, text, len) == 0);
  decokit_result_free(r2);
  decokit_result_free(r);
  decokit_run_free(run);
  decokit_pipeline_free(p);
}
END_TEST

START_TEST(test_bad_yaml_string) {
  decokit_load_opts o = fixture_opts();
  o.name = "inline.yaml";
  decokit_error err = {.struct_size = sizeof err};
  decokit_pipeline *p = (decokit_pipeline *)&err; /* must be cleared */
  const char *bad = "decokit: 1\nsamplers: [ { plugin: top_k\n";
  int rc = decokit_pipeline_parse(bad, strlen(bad), &o, &p, &err);
  ck_assert_int_lt(rc, 0);
  ck_assert_int_eq(err.code, rc);
  ck_assert_ptr_null(p);
  ck_assert_msg(strstr(err.message, "inline.yaml:") != NULL, "%s", err.message);
  /* A plugin nobody has fails at resolve, named. */
  const char *unknown = HEAD "samplers: [ { plugin: no_such_sampler } ]\n";
  rc = decokit_pipeline_parse(unknown, strlen(unknown), &o, &p, &err);
  ck_assert_int_lt(rc, 0);
  ck_assert_msg(strstr(err.message, "no_such_sampler") != NULL, "%s", err.message);
  /* A missing file. */
  rc = decokit_pipeline_load("/nonexistent/p.yaml", &o, &p, &err);
  ck_assert_int_lt(rc, 0);
  ck_assert_msg(strstr(err.message, "/nonexistent/p.yaml") != NULL, "%s", err.message);
}
END_TEST

START_TEST(test_bad_override) {
  decokit_load_opts o = fixture_opts();
  decokit_error err = {.struct_size = sizeof err};
  decokit_pipeline *p = NULL;
  const char *sets[] = {"generate.max_tokens=4", "generate.no_such_key=1"};
  o.sets = sets;
  o.n_sets = 2;
  int rc = decokit_pipeline_parse(HEAD, strlen(HEAD), &o, &p, &err);
  ck_assert_int_eq(rc, DECOKIT_ERR_INVALID);
  ck_assert_ptr_null(p);
  ck_assert_msg(strstr(err.message, "no_such_key") != NULL, "%s", err.message);
  const char *malformed[] = {"nodot"};
  o.sets = malformed;
  o.n_sets = 1;
  ck_assert_int_eq(decokit_pipeline_parse(HEAD, strlen(HEAD), &o, &p, &err), DECOKIT_ERR_INVALID);
  ck_assert_msg(strstr(err.message, "SECTION.KEY=VALUE") != NULL, "%s", err.message);
  /* A good one takes effect. */
  o.sets = sets;
  o.n_sets = 1;
  p = parse_ok(HEAD, &o);
  long long v = 0;
  ck_assert_int_eq(decokit_pipeline_generate_int(p, "max_tokens", &v, &err), DECOKIT_OK);
  ck_assert_int_eq(v, 4);
  ck_assert_int_eq(decokit_pipeline_generate_int(p, "stop", &v, &err), DECOKIT_ERR_INVALID);
  /* Resolved: no more edits. */
  ck_assert_int_eq(decokit_pipeline_set(p, "generate.max_tokens=5", &err), DECOKIT_ERR_STATE);
  decokit_pipeline_free(p);
}
END_TEST

START_TEST(test_deferred_edits) {
  decokit_load_opts o = fixture_opts();
  o.defer_resolve = 1;
  decokit_error err = {.struct_size = sizeof err};
  decokit_pipeline *p = parse_ok(HEAD "samplers: [ { plugin: dist } ]\n", &o);
  long long v;
  ck_assert_int_eq(decokit_pipeline_generate_int(p, "n", &v, &err), DECOKIT_ERR_STATE);
  ck_assert_int_eq(decokit_pipeline_set(p, "generate.max_tokens=7", &err), DECOKIT_OK);
  /* temperature is missing: added before the selector. */
  ck_assert_int_eq(decokit_pipeline_set_sampler(p, "temperature", "t", "0.25", &err), DECOKIT_OK);
  ck_assert_int_eq(decokit_pipeline_set_sampler(p, "temperature", "t", "0.5", &err), DECOKIT_OK);
  const char *stops[] = {"a\"b", "\n"};
  ck_assert_int_eq(decokit_pipeline_set_stops(p, stops, 2, &err), DECOKIT_OK);
  ck_assert_int_eq(decokit_pipeline_set_sampler(p, "temperature", "no_such", "1", &err), DECOKIT_OK);
  ck_assert_int_eq(decokit_pipeline_resolve(p, &err), DECOKIT_ERR_INVALID); /* checked at resolve */
  ck_assert_msg(strstr(err.message, "no_such") != NULL, "%s", err.message);
  decokit_pipeline_free(p);

  p = parse_ok(HEAD "samplers: [ { plugin: dist } ]\n", &o);
  ck_assert_int_eq(decokit_pipeline_set_sampler(p, "temperature", "t", "0.5", &err), DECOKIT_OK);
  ck_assert_int_eq(decokit_pipeline_set_stops(p, stops, 2, &err), DECOKIT_OK);
  char *y = decokit_pipeline_yaml(p, &err); /* resolves */
  ck_assert_msg(y != NULL, "%s", err.message);
  const char *t = strstr(y, "plugin: \"temperature\""), *d = strstr(y, "plugin: \"dist\"");
  ck_assert(t && d && t < d);
  ck_assert_msg(strstr(y, "t: 0.5") != NULL, "%s", y);
  ck_assert_msg(strstr(y, "\"a\\\"b\"") != NULL, "%s", y);
  ck_assert_int_eq(decokit_pipeline_set_sampler(p, "top_k", "k", "3", &err), DECOKIT_ERR_STATE);
  decokit_free(y);
  decokit_pipeline_free(p);
}
END_TEST

START_TEST(test_cancel_from_callback) {
  decokit_load_opts o = fixture_opts();
  decokit_pipeline *p = parse_ok(HEAD "generate: { max_tokens: 50, ignore_eos: true }\n", &o);
  stream s = {.cancel_after = 3};
  decokit_run_opts ro = {.struct_size = sizeof ro, .on_token = on_token, .user = &s};
  decokit_error err = {.struct_size = sizeof err};
  decokit_run *run = NULL;
  ck_assert_int_eq(decokit_run_new(p, &ro, &run, &err), DECOKIT_OK);
  s.run = run;
  decokit_result *r = NULL;
  ck_assert_int_eq(decokit_run_generate(run, "abc", &r, &err), DECOKIT_OK);
  ck_assert_str_eq(decokit_result_stop_reason(r, 0), "cancelled");
  size_t n;
  decokit_result_tokens(r, 0, &n);
  ck_assert_uint_eq(n, 3); /* what was made is kept */
  decokit_result_free(r);
  /* The cancel was consumed: the next generation runs to its end. */
  s.cancel_after = 0;
  ck_assert_int_eq(decokit_run_generate(run, "abc", &r, &err), DECOKIT_OK);
  ck_assert_str_eq(decokit_result_stop_reason(r, 0), "length");
  decokit_result_free(r);
  /* A cancel before generating stops the next generation at once. */
  decokit_run_cancel(run);
  ck_assert_int_eq(decokit_run_generate(run, "abc", &r, &err), DECOKIT_OK);
  ck_assert_str_eq(decokit_result_stop_reason(r, 0), "cancelled");
  decokit_result_tokens(r, 0, &n);
  ck_assert_uint_lt(n, 50);
  decokit_result_free(r);
  decokit_run_free(run);
  decokit_pipeline_free(p);
}
END_TEST

/* The other thread cancels once the first token is out; the callback
 * waits for it, so the generation is surely in progress. */
static void *canceller(void *arg) {
  stream *s = arg;
  while (!atomic_load(&s->started)) sched_yield();
  decokit_run_cancel(s->run);
  atomic_store(&s->cancelled_by_thread, 1);
  return NULL;
}

static void on_token_wait(void *user, size_t completion, const decokit_token_info *t) {
  stream *s = user;
  (void)completion;
  (void)t;
  s->tokens++;
  atomic_store(&s->started, 1);
  while (!atomic_load(&s->cancelled_by_thread)) sched_yield();
}

START_TEST(test_cancel_from_thread) {
  decokit_load_opts o = fixture_opts();
  decokit_pipeline *p = parse_ok(HEAD "generate: { max_tokens: 500, ignore_eos: true }\n", &o);
  stream s = {.len = 0};
  decokit_run_opts ro = {.struct_size = sizeof ro, .on_token = on_token_wait, .user = &s};
  decokit_error err = {.struct_size = sizeof err};
  decokit_run *run = NULL;
  ck_assert_int_eq(decokit_run_new(p, &ro, &run, &err), DECOKIT_OK);
  s.run = run;
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, canceller, &s), 0);
  decokit_result *r = NULL;
  ck_assert_int_eq(decokit_run_generate(run, "abc", &r, &err), DECOKIT_OK);
  pthread_join(th, NULL);
  ck_assert_str_eq(decokit_result_stop_reason(r, 0), "cancelled");
  ck_assert_uint_eq(s.tokens, 1);
  decokit_result_free(r);
  decokit_run_free(run);
  decokit_pipeline_free(p);
}
END_TEST

START_TEST(test_null_args) {
  decokit_error err = {.struct_size = sizeof err};
  decokit_pipeline *p = NULL;
  ck_assert_int_eq(decokit_pipeline_load(NULL, NULL, NULL, &err), DECOKIT_ERR_INVALID);
  ck_assert_int_eq(decokit_pipeline_parse(NULL, 0, NULL, &p, &err), DECOKIT_ERR_INVALID);
  ck_assert_msg(strstr(err.message, "yaml is NULL") != NULL, "%s", err.message);
  ck_assert_int_eq(decokit_pipeline_set(NULL, "generate.n=1", &err), DECOKIT_ERR_INVALID);
  ck_assert_int_eq(decokit_pipeline_resolve(NULL, &err), DECOKIT_ERR_INVALID);
  ck_assert_ptr_null(decokit_pipeline_yaml(NULL, &err));
  decokit_run *run = NULL;
  ck_assert_int_eq(decokit_run_new(NULL, NULL, &run, &err), DECOKIT_ERR_INVALID);
  decokit_result *r = NULL;
  ck_assert_int_eq(decokit_run_generate(NULL, "x", &r, &err), DECOKIT_ERR_INVALID);
  ck_assert_int_eq(decokit_run_generate(NULL, "x", NULL, NULL), DECOKIT_ERR_INVALID); /* err NULL too */
  decokit_load_opts o = fixture_opts();
  o.n_sets = 1; /* and no sets */
  ck_assert_int_eq(decokit_pipeline_parse(HEAD, strlen(HEAD), &o, &p, &err), DECOKIT_ERR_INVALID);
  const char *sets[] = {NULL};
  o.sets = sets;
  ck_assert_int_eq(decokit_pipeline_parse(HEAD, strlen(HEAD), &o, &p, &err), DECOKIT_ERR_INVALID);
  o = fixture_opts();
  o.defer_resolve = 1;
  p = parse_ok(HEAD, &o);
  ck_assert_int_eq(decokit_pipeline_set(p, NULL, &err), DECOKIT_ERR_INVALID);
  ck_assert_int_eq(decokit_pipeline_set_sampler(p, "top_k", NULL, "1", &err), DECOKIT_ERR_INVALID);
  ck_assert_int_eq(decokit_pipeline_set_stops(p, NULL, 1, &err), DECOKIT_ERR_INVALID);
  ck_assert_int_eq(decokit_pipeline_generate_int(p, NULL, NULL, &err), DECOKIT_ERR_INVALID);
  decokit_pipeline_free(p);
  /* Readers of nothing read nothing; frees of nothing do nothing. */
  ck_assert_uint_eq(decokit_result_count(NULL), 0);
  ck_assert_ptr_null(decokit_result_text(NULL, 0, NULL));
  ck_assert_ptr_null(decokit_result_stop_reason(NULL, 0));
  ck_assert_ptr_null(decokit_run_piece(NULL, 0, NULL));
  ck_assert_int_eq(decokit_result_stats(NULL, 0, NULL), DECOKIT_ERR_RANGE);
  decokit_run_cancel(NULL);
  decokit_result_free(NULL);
  decokit_run_free(NULL);
  decokit_pipeline_free(NULL);
  decokit_free(NULL);
  ck_assert_str_eq(decokit_status_name(DECOKIT_ERR_CANCELLED), "cancelled");
  ck_assert_str_eq(decokit_status_name(DECOKIT_ERR_NOMEM), "out of memory");
  ck_assert_ptr_nonnull(decokit_version());
}
END_TEST

START_TEST(test_struct_sizes) {
  decokit_error err = {.struct_size = sizeof err};
  decokit_pipeline *p = NULL;
  /* Too small: refused, named. */
  decokit_load_opts o = fixture_opts();
  o.struct_size = sizeof(size_t);
  ck_assert_int_eq(decokit_pipeline_parse(HEAD, strlen(HEAD), &o, &p, &err), DECOKIT_ERR_ABI);
  ck_assert_msg(strstr(err.message, "decokit_load_opts.struct_size") != NULL, "%s", err.message);
  /* Larger, from a newer caller: fine while its new fields are zero. */
  struct {
    decokit_load_opts o;
    uint64_t newer_field;
  } big;
  memset(&big, 0, sizeof big);
  big.o = fixture_opts();
  big.o.struct_size = sizeof big;
  p = parse_ok(HEAD, &big.o);
  big.newer_field = 1;
  decokit_pipeline *p2 = NULL;
  ck_assert_int_eq(decokit_pipeline_parse(HEAD, strlen(HEAD), &big.o, &p2, &err), DECOKIT_ERR_ABI);
  ck_assert_msg(strstr(err.message, "newer decokit") != NULL, "%s", err.message);
  /* The same rules for run options. */
  decokit_run_opts ro = {.struct_size = 3};
  decokit_run *run = NULL;
  ck_assert_int_eq(decokit_run_new(p, &ro, &run, &err), DECOKIT_ERR_ABI);
  ck_assert_ptr_null(run);
  struct {
    decokit_run_opts o;
    uint64_t newer_field;
  } bigr;
  memset(&bigr, 0, sizeof bigr);
  bigr.o.struct_size = sizeof bigr;
  ck_assert_int_eq(decokit_run_new(p, &bigr.o, &run, &err), DECOKIT_OK);
  /* An old, short error struct: the code is written, nothing past its end. */
  struct {
    size_t struct_size;
    int code;
    char guard[8];
  } small = {offsetof(decokit_error, message), 0, "guard"};
  ck_assert_int_eq(decokit_run_generate(NULL, "x", NULL, (decokit_error *)&small), DECOKIT_ERR_INVALID);
  ck_assert_int_eq(small.code, DECOKIT_ERR_INVALID);
  ck_assert_str_eq(small.guard, "guard");
  /* Structs the library fills: too small refused, shorter filled in part. */
  decokit_result *r = NULL;
  ck_assert_int_eq(decokit_run_generate(run, "abc", &r, &err), DECOKIT_OK);
  struct {
    size_t struct_size;
    size_t prompt_tokens;
    double guard;
  } st_old = {offsetof(decokit_stats, time_prompt_s), 0, -1.0};
  ck_assert_int_eq(decokit_result_stats(r, 0, (decokit_stats *)&st_old), DECOKIT_OK);
  ck_assert_uint_gt(st_old.prompt_tokens, 0);
  ck_assert(st_old.guard == -1.0);
  decokit_stats tiny = {.struct_size = 1};
  ck_assert_int_eq(decokit_result_stats(r, 0, &tiny), DECOKIT_ERR_ABI);
  decokit_result_free(r);
  decokit_run_free(run);
  decokit_pipeline_free(p);
}
END_TEST

START_TEST(test_nbest) {
  decokit_load_opts o = fixture_opts();
  decokit_pipeline *p = parse_ok(HEAD "decoder: { plugin: beam, width: 3, num_return: 3 }\n"
                                      "generate: { max_tokens: 6, ignore_eos: true }\n", &o);
  decokit_error err = {.struct_size = sizeof err};
  decokit_run *run = NULL;
  ck_assert_int_eq(decokit_run_new(p, NULL, &run, &err), DECOKIT_OK);
  decokit_result *r = NULL;
  ck_assert_int_eq(decokit_run_generate(run, "abc", &r, &err), DECOKIT_OK);
  ck_assert_uint_eq(decokit_result_nbest_count(r, 0), 3);
  size_t len, n;
  const char *text = decokit_result_text(r, 0, &len);
  const int32_t *toks = decokit_result_tokens(r, 0, &n);
  double prev = 0;
  for (size_t k = 0; k < 3; k++) {
    decokit_hypothesis h = {.struct_size = sizeof h};
    ck_assert_int_eq(decokit_result_nbest(r, 0, k, &h), DECOKIT_OK);
    ck_assert_uint_gt(h.n_tokens, 0);
    ck_assert_ptr_nonnull(h.text);
    if (k) ck_assert(h.score <= prev); /* best first */
    prev = h.score;
    if (k == 0) { /* the best is the completion */
      ck_assert_uint_eq(h.n_tokens, n);
      ck_assert(memcmp(h.tokens, toks, n * sizeof *toks) == 0);
      ck_assert_uint_eq(h.text_len, len);
      ck_assert(memcmp(h.text, text, len) == 0);
    }
  }
  decokit_hypothesis h = {.struct_size = sizeof h};
  ck_assert_int_eq(decokit_result_nbest(r, 0, 3, &h), DECOKIT_ERR_RANGE);
  decokit_result_free(r);
  decokit_run_free(run);
  decokit_pipeline_free(p);
}
END_TEST

START_TEST(test_metrics) {
  decokit_load_opts o = fixture_opts();
  decokit_pipeline *p = parse_ok(HEAD "decoder: { plugin: speculative }\n"
                                      "drafter: { plugin: prompt_lookup }\n"
                                      "generate: { max_tokens: 20, ignore_eos: true }\n", &o);
  decokit_error err = {.struct_size = sizeof err};
  decokit_run *run = NULL;
  ck_assert_int_eq(decokit_run_new(p, NULL, &run, &err), DECOKIT_OK);
  decokit_result *r = NULL;
  ck_assert_int_eq(decokit_run_generate(run, "abcabcabc", &r, &err), DECOKIT_OK);
  double steps = -1, calls = -1;
  size_t nm = decokit_result_metric_count(r, 0);
  for (size_t k = 0; k < nm; k++) {
    double v = -1;
    const char *name = decokit_result_metric(r, 0, k, &v);
    ck_assert_ptr_nonnull(name);
    if (strcmp(name, "verify_steps") == 0) steps = v;
    if (strcmp(name, "target_calls") == 0) calls = v;
  }
  ck_assert_ptr_null(decokit_result_metric(r, 0, nm, NULL));
  /* The speculative decoder's counters, consistent with the stats. */
  decokit_stats st = {.struct_size = sizeof st};
  ck_assert_int_eq(decokit_result_stats(r, 0, &st), DECOKIT_OK);
  ck_assert(steps > 0 && steps <= 20);
  ck_assert(calls > 0 && (uint64_t)calls == st.forward_passes);
  decokit_result_free(r);
  decokit_run_free(run);
  decokit_pipeline_free(p);
}
END_TEST

typedef struct sink_seen {
  int lines, level;
} sink_seen;

static void sink(int level, const char *msg, void *user) {
  sink_seen *s = user;
  ck_assert_ptr_nonnull(msg);
  s->lines++;
  s->level = level;
}

START_TEST(test_log_sink) {
  sink_seen seen = {0, -1};
  decokit_set_log(sink, &seen, DECOKIT_LOG_TRACE);
  setenv("DECOKIT_PLUGIN_VERBOSE", "1", 1); /* plugin searches are traced */
  decokit_load_opts o = fixture_opts();
  decokit_pipeline *p = parse_ok(HEAD, &o);
  decokit_pipeline_free(p);
  ck_assert_int_gt(seen.lines, 0);
  ck_assert_int_eq(seen.level, DECOKIT_LOG_TRACE);
  decokit_set_log(NULL, NULL, DECOKIT_LOG_WARN); /* discard again */
  seen.lines = 0;
  p = parse_ok(HEAD, &o);
  decokit_pipeline_free(p);
  unsetenv("DECOKIT_PLUGIN_VERBOSE");
  ck_assert_int_eq(seen.lines, 0);
}
END_TEST

/* Runs of their own on threads of their own make what one thread makes. */
typedef struct job {
  const char *prompt;
  char text[4096];
  size_t len;
  int rc;
} job;

static void *generate_job(void *arg) {
  job *j = arg;
  decokit_load_opts o = fixture_opts();
  decokit_error err = {.struct_size = sizeof err};
  decokit_pipeline *p = NULL;
  decokit_run *run = NULL;
  decokit_result *r = NULL;
  const char *y = HEAD "generate: { max_tokens: 64, ignore_eos: true }\n";
  j->rc = decokit_pipeline_parse(y, strlen(y), &o, &p, &err);
  if (!j->rc) j->rc = decokit_run_new(p, NULL, &run, &err);
  if (!j->rc) j->rc = decokit_run_generate(run, j->prompt, &r, &err);
  if (!j->rc) {
    const char *t = decokit_result_text(r, 0, &j->len);
    if (j->len < sizeof j->text) memcpy(j->text, t, j->len);
  }
  decokit_result_free(r);
  decokit_run_free(run);
  decokit_pipeline_free(p);
  return NULL;
}

START_TEST(test_runs_on_threads) {
  static const char *prompts[] = {"abc", "the cat", "x", "abc"};
  job alone[4], together[4];
  pthread_t th[4];
  for (int i = 0; i < 4; i++) {
    alone[i] = (job){.prompt = prompts[i]};
    generate_job(&alone[i]);
    ck_assert_int_eq(alone[i].rc, DECOKIT_OK);
    together[i] = (job){.prompt = prompts[i]};
  }
  for (int i = 0; i < 4; i++) ck_assert_int_eq(pthread_create(&th[i], NULL, generate_job, &together[i]), 0);
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    ck_assert_int_eq(together[i].rc, DECOKIT_OK);
    ck_assert_uint_eq(together[i].len, alone[i].len);
    ck_assert(memcmp(together[i].text, alone[i].text, alone[i].len) == 0);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("api");
  TCase *tc = tcase_create("api");
  tcase_add_test(tc, test_generate_streams_and_reports);
  tcase_add_test(tc, test_bad_yaml_string);
  tcase_add_test(tc, test_bad_override);
  tcase_add_test(tc, test_deferred_edits);
  tcase_add_test(tc, test_cancel_from_callback);
  tcase_add_test(tc, test_cancel_from_thread);
  tcase_add_test(tc, test_null_args);
  tcase_add_test(tc, test_struct_sizes);
  tcase_add_test(tc, test_log_sink);
  tcase_add_test(tc, test_nbest);
  tcase_add_test(tc, test_metrics);
  tcase_add_test(tc, test_runs_on_threads);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
