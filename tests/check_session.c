/* check_session.c -- end to end on the hash LM: greedy, stops, streaming, n completions, determinism. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "harness.h"
#include "loader.h"
#include "pipeline.h"
#include "session.h"

static dk_registry *reg;
static dk_error err;

static void setup(void) {
  reg = dkh_registry();
  dk_error_clear(&err);
}

static void teardown(void) { dk_registry_free(reg); }

typedef struct streamed {
  char buf[1 << 16];
  size_t len;
  size_t calls;
} streamed;

static void on_text(void *user, size_t completion, const char *bytes, size_t len) {
  streamed *s = user;
  (void)completion;
  ck_assert(s->len + len < sizeof s->buf);
  memcpy(s->buf + s->len, bytes, len);
  s->len += len;
  s->calls++;
}

/* Run a pipeline given as YAML; returns the result (caller frees). */
static dk_result *run_yaml(const char *yaml, const char *prompt, streamed *st) {
  dk_pipeline *p;
  ck_assert_msg(dk_pipeline_parse(yaml, strlen(yaml), "t.yaml", ".", &p, &err) == DK_OK, "%s", err.msg);
  ck_assert_msg(dk_pipeline_resolve(p, reg, NULL, &err) == DK_OK, "%s", err.msg);
  dk_run_opts opts = {.prompt = prompt, .on_text = st ? on_text : NULL, .user = st,
                      .record_logprobs = 1, .logprobs = -1};
  dk_run *run;
  ck_assert_msg(dk_run_new(p, &opts, &run, &err) == DK_OK, "%s", err.msg);
  dk_result *r = NULL;
  ck_assert_msg(dk_run_generate(run, &r, &err) == DK_OK, "%s", err.msg);
  dk_run_free(run);
  dk_pipeline_free(p);
  return r;
}

/* Reference greedy: evaluate the context from scratch for every token. */
static size_t reference_greedy(const dk_token *prompt, size_t n_prompt, size_t max, dk_token *out) {
  const dk_component *c;
  ck_assert_int_eq(dk_registry_find(reg, DK_KIND_MODEL, "hashlm", &c, &err), DK_OK);
  dk_config cfg;
  dk_config_init(&cfg, c->hdr, &err);
  dk_config_finish(&cfg, NULL, &err);
  void *m;
  dk_create_info ci = {sizeof ci, &cfg, NULL, 0, NULL, 1};
  ck_assert_int_eq(c->copy.model.create((const dk_host *)c->lib->host, &ci, &m, &err), DK_OK);
  dk_token ctx[4096];
  memcpy(ctx, prompt, n_prompt * sizeof *ctx);
  size_t n = n_prompt, produced = 0;
  float logits[128];
  while (produced < max) {
    dk_seq s;
    c->copy.model.seq_new(m, &s, &err);
    c->copy.model.eval(m, s, ctx, n, logits, 0, &err);
    c->copy.model.seq_free(m, s);
    int best = 0;
    for (int v = 1; v < 128; v++)
      if (logits[v] > logits[best]) best = v;
    if (best == 1) break; /* EOS */
    ctx[n++] = best;
    out[produced++] = best;
  }
  c->copy.model.destroy(m);
  dk_config_free(&cfg);
  return produced;
}

#define HEAD "decokit: 1\nmodel: { plugin: hashlm }\n"

START_TEST(test_greedy_matches_reference) {
  static const char *prompts[] = {"Once upon a time", "the cat", "x", "In the beginning"};
  for (size_t k = 0; k < 4; k++) {
    streamed st = {.len = 0};
    dk_result *r = run_yaml(HEAD "generate: { max_tokens: 40 }\n", prompts[k], &st);
    dk_token ref[64];
    size_t n = reference_greedy(r->prompt_tokens, r->n_prompt, 40, ref);
    ck_assert_uint_eq(r->c[0].n_tokens, n);
    for (size_t i = 0; i < n; i++) ck_assert_int_eq(r->c[0].tokens[i], ref[i]);
    ck_assert_str_eq(r->c[0].stop_reason, n == 40 ? "length" : "eos");
    /* What was streamed is exactly the final text. */
    ck_assert_uint_eq(st.len, r->c[0].text_len);
    ck_assert(memcmp(st.buf, r->c[0].text, st.len) == 0);
    /* One forward pass per token after the first (from the prompt's logits). */
    ck_assert_uint_eq(r->c[0].forward_passes, n == 40 ? n - 1 : n);
    dk_result_free(r);
  }
}
END_TEST

START_TEST(test_greedy_sampler_same_as_no_chain) {
  dk_result *a = run_yaml(HEAD "generate: { max_tokens: 30 }\n", "abc", NULL);
  dk_result *b = run_yaml(HEAD "samplers: [ { plugin: greedy } ]\ngenerate: { max_tokens: 30 }\n", "abc", NULL);
  ck_assert_uint_eq(a->c[0].n_tokens, b->c[0].n_tokens);
  ck_assert(memcmp(a->c[0].tokens, b->c[0].tokens, a->c[0].n_tokens * sizeof(dk_token)) == 0);
  dk_result_free(a);
  dk_result_free(b);
}
END_TEST

START_TEST(test_stop_string_across_tokens) {
  dk_result *base = run_yaml(HEAD "generate: { max_tokens: 60, ignore_eos: true }\n", "Once", NULL);
  const dk_completion *c = &base->c[0];
  ck_assert_uint_ge(c->text_len, 12);
  /* A stop string straddling a token boundary, taken from the middle. */
  size_t at = c->text_len / 2;
  char stop[4] = {c->text[at], c->text[at + 1], c->text[at + 2], 0};
  char *first = strstr(c->text, stop);
  size_t expect = (size_t)(first - c->text);
  /* YAML single quotes: only a quote needs escaping (doubled). */
  char quoted[16];
  size_t q = 0;
  for (size_t i = 0; i < 3; i++) {
    if (stop[i] == '\'') quoted[q++] = '\'';
    quoted[q++] = stop[i];
  }
  quoted[q] = 0;
  char yaml[512];
  snprintf(yaml, sizeof yaml, HEAD "generate:\n  max_tokens: 60\n  ignore_eos: true\n  stop: ['%s']\n", quoted);
  streamed st = {.len = 0};
  dk_result *r = run_yaml(yaml, "Once", &st);
  ck_assert_str_eq(r->c[0].stop_reason, "stop");
  ck_assert_uint_eq(r->c[0].text_len, expect);
  ck_assert(memcmp(r->c[0].text, c->text, expect) == 0);
  ck_assert_uint_eq(st.len, expect); /* never a partial stop string on the stream */
  dk_result_free(r);
  dk_result_free(base);
}
END_TEST

START_TEST(test_max_tokens_zero) {
  dk_result *r = run_yaml(HEAD "generate: { max_tokens: 0 }\n", "xyz", NULL);
  ck_assert_uint_eq(r->c[0].n_tokens, 0);
  ck_assert_str_eq(r->c[0].stop_reason, "length");
  ck_assert_uint_eq(r->n_prompt, 1 + 3); /* BOS + three letters */
  dk_result_free(r);
}
END_TEST

START_TEST(test_n_completions_seeded) {
  const char *y = HEAD "samplers: [ { plugin: dist } ]\ngenerate: { max_tokens: 24, n: 4, seed: 7, ignore_eos: true }\n";
  dk_result *a = run_yaml(y, "The", NULL);
  dk_result *b = run_yaml(y, "The", NULL);
  ck_assert_uint_eq(a->n, 4);
  size_t distinct = 0;
  for (size_t i = 0; i < 4; i++) {
    /* Same seed, same output, run after run. */
    ck_assert_str_eq(a->c[i].text, b->c[i].text);
    int seen = 0;
    for (size_t j = 0; j < i; j++) seen |= strcmp(a->c[i].text, a->c[j].text) == 0;
    distinct += !seen;
  }
  ck_assert_uint_eq(distinct, 4);
  dk_result *c = run_yaml(HEAD "samplers: [ { plugin: dist } ]\ngenerate: { max_tokens: 24, n: 4, seed: 8, ignore_eos: true }\n", "The", NULL);
  ck_assert_str_ne(a->c[0].text, c->c[0].text);
  dk_result_free(a);
  dk_result_free(b);
  dk_result_free(c);
}
END_TEST

START_TEST(test_logprobs_recorded) {
  dk_result *r = run_yaml(HEAD "generate: { max_tokens: 5, logprobs: 3 }\n", "ab", NULL);
  const dk_completion *c = &r->c[0];
  for (size_t i = 0; i < c->n_tokens; i++) {
    ck_assert(c->recs[i].has_raw && c->recs[i].has_proc);
    ck_assert_int_eq(c->recs[i].raw_top[0].id, c->tokens[i]); /* greedy picks the top one */
    ck_assert(c->recs[i].raw_lp <= 0);
    ck_assert(c->recs[i].raw_top[0].logprob >= c->recs[i].raw_top[1].logprob);
    ck_assert(c->recs[i].raw_top[1].logprob >= c->recs[i].raw_top[2].logprob);
  }
  dk_result_free(r);
}
END_TEST

static const char *metric(const dk_completion *c, const char *name, double *v) {
  for (size_t i = 0; i < c->n_metrics; i++)
    if (strcmp(c->metrics[i].name, name) == 0) {
      *v = c->metrics[i].value;
      return name;
    }
  return NULL;
}

/* The probe decoder drives every session service and model op (drafts,
 * trees, accept_path, fork, truncate, hidden, batch, masked, scorers) and
 * must still produce exactly the greedy output, in fewer forward passes. */
START_TEST(test_every_service_lossless) {
  char lib[4096], yaml[16384];
  snprintf(lib, sizeof lib, "%s/probe.so", getenv("DECOKIT_FIXTURE_DIR"));
  snprintf(yaml, sizeof yaml,
           HEAD "decoder: { plugin: %s }\ndrafter: { plugin: %s, k: 4 }\nscorers: [ { plugin: %s } ]\n"
                "generate: { max_tokens: 80, ignore_eos: true }\n",
           lib, lib, lib);
  static const char *prompts[] = {"the the the the", "abcabcabc", "Once upon a time", "xyz",
                                  "in the end the", "1 2 1 2 1 2", "aaaa", "The cat sat on the mat"};
  long saved = 0;
  for (size_t k = 0; k < sizeof prompts / sizeof *prompts; k++) {
    dk_result *g = run_yaml(HEAD "generate: { max_tokens: 80, ignore_eos: true }\n", prompts[k], NULL);
    dk_result *r = run_yaml(yaml, prompts[k], NULL);
    ck_assert_uint_eq(r->c[0].n_tokens, g->c[0].n_tokens);
    ck_assert_msg(memcmp(r->c[0].tokens, g->c[0].tokens, g->c[0].n_tokens * sizeof(dk_token)) == 0,
                  "prompt '%s': speculative output differs from greedy", prompts[k]);
    double drafted, accepted, score;
    ck_assert_ptr_nonnull(metric(&r->c[0], "drafted", &drafted));
    ck_assert_ptr_nonnull(metric(&r->c[0], "accepted", &accepted));
    ck_assert_ptr_nonnull(metric(&r->c[0], "score", &score));
    ck_assert_double_eq(score, (double)r->c[0].n_tokens);
    ck_assert(accepted <= drafted);
    /* Every accepted draft saves one forward pass (begin spends two on its
     * batch and masked probes; the last step may draft past max_tokens). */
    uint64_t tree_passes = r->c[0].forward_passes - 2;
    ck_assert_uint_ge(tree_passes + (uint64_t)accepted, g->c[0].forward_passes);
    ck_assert_uint_le(tree_passes + (uint64_t)accepted, g->c[0].forward_passes + 4);
    saved += (long)g->c[0].forward_passes - (long)tree_passes;
    dk_result_free(g);
    dk_result_free(r);
  }
  ck_assert_int_gt(saved, 0); /* fewer passes than greedy over the prompts */
}
END_TEST

int main(void) {
  Suite *s = suite_create("session");
  TCase *tc = tcase_create("session");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_greedy_matches_reference);
  tcase_add_test(tc, test_greedy_sampler_same_as_no_chain);
  tcase_add_test(tc, test_stop_string_across_tokens);
  tcase_add_test(tc, test_max_tokens_zero);
  tcase_add_test(tc, test_n_completions_seeded);
  tcase_add_test(tc, test_logprobs_recorded);
  tcase_add_test(tc, test_every_service_lossless);
  suite_add_tcase(s, tc);
  return dkh_run(s);
}
