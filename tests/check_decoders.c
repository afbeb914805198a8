/* check_decoders.c -- the search decoders through the session: transformers' beam cases by hand, hash-LM behaviour, bad input. */
#include <check.h>
#include <ctype.h>
#include <math.h>
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

/* Run a pipeline given as YAML.  Returns the result, or NULL with the
 * message in err when parsing, resolving, creating or generating failed. */
static dk_result *try_yaml(const char *yaml, const char *prompt) {
  int rc;
  dk_result *r = dkh_run_yaml(reg, yaml, ".", prompt, &(dk_run_opts){.logprobs = -1}, &rc, &err);
  if (rc != DK_OK) {
    dk_result_free(r);
    r = NULL;
  }
  return r;
}

static dk_result *run_yaml(const char *yaml, const char *prompt) {
  dk_result *r = try_yaml(yaml, prompt);
  ck_assert_msg(r != NULL, "%s", err.msg);
  return r;
}

/* ---- METHODS 18.11: transformers' rules, checked by hand ---- */

/* Results as "tokens score" lines, tokens spelled a/b/E (tablelm ids 1..3). */
static void expect_results(const dk_completion *c, size_t n, const char *const *toks,
                           const double *scores) {
  ck_assert_uint_eq(c->n_results, n);
  for (size_t i = 0; i < n; i++) {
    char got[64];
    size_t k = 0;
    for (size_t j = 0; j < c->results[i].n_tokens && k < sizeof got - 1; j++)
      got[k++] = "pabE"[c->results[i].tokens[j]];
    got[k] = '\0';
    ck_assert_str_eq(got, toks[i]);
    ck_assert_msg(fabs(c->results[i].score - scores[i]) < 1e-4, "result %zu (%s): score %.6f, want %.4f",
                  i, got, c->results[i].score, scores[i]);
  }
}

#define TABLE(n) "decokit: 1\nmodel: { plugin: tablelm, table: " #n " }\n"

START_TEST(test_hf_eos_rank_and_max_length) {
  /* Test 1: an EOS of rank >= width is dropped; EOS counts in the length;
   * the last step finishes the top ranks.  Same for every early_stopping,
   * and through eval_batch or a ragged batch. */
  static const char *const modes[] = {"false", "true", "never"};
  for (size_t m = 0; m < 6; m++) {
    char y[512];
    snprintf(y, sizeof y,
             "decokit: 1\nmodel: { plugin: tablelm, ragged: %s }\n"
             "decoder: { plugin: beam, width: 2, num_return: 2, early_stopping: %s }\n"
             "generate: { max_tokens: 3 }\n",
             m < 3 ? "false" : "true", modes[m % 3]);
    dk_result *r = run_yaml(y, "xyz");
    ck_assert_uint_eq(r->n_prompt, 3);
    expect_results(&r->c[0], 2, (const char *const[]){"bE", "aaa"}, (const double[]){-0.7136, -0.7283});
    /* The best is committed, with its tokens' true log-probabilities. */
    const dk_completion *c = &r->c[0];
    ck_assert_uint_eq(c->n_tokens, 1);
    ck_assert_int_eq(c->tokens[0], 2);
    ck_assert_str_eq(c->stop_reason, "eos");
    ck_assert(c->recs[0].has_raw && c->recs[0].has_proc);
    ck_assert_double_eq_tol(c->recs[0].raw_lp, log(0.3), 1e-6);
    ck_assert_double_eq_tol(c->recs[0].proc_lp, log(0.3), 1e-6);
    dk_result_free(r);
  }
}
END_TEST

START_TEST(test_hf_early_stopping_modes) {
  /* Test 2: true stops once two finished; false when the best running
   * beam over its length cannot win; never only at the longest length. */
  static const char *const modes[] = {"true", "false", "never"};
  static const char *const want[3][2] = {{"aE", "E"}, {"aaE", "aE"}, {"aaE", "aaaa"}};
  static const double scores[3][2] = {{-0.7136, -1.2040}, {-0.5449, -0.7136}, {-0.5449, -0.6912}};
  for (size_t m = 0; m < 3; m++) {
    char y[512];
    snprintf(y, sizeof y,
             TABLE(2) "decoder: { plugin: beam, width: 2, num_return: 2, early_stopping: %s }\n"
                      "generate: { max_tokens: 4 }\n",
             modes[m]);
    dk_result *r = run_yaml(y, "xyz");
    expect_results(&r->c[0], 2, want[m], scores[m]);
    dk_result_free(r);
  }
}
END_TEST

START_TEST(test_hf_group_beam) {
  /* Test 3: group 1 pays 1.0 for the a group 0 chose; its b E finishes
   * first; group 0 ends at max length with a a. */
  dk_result *r = run_yaml(TABLE(1) "decoder: { plugin: diverse_beam, width: 2, groups: 2, diversity: 1.0,"
                                   " num_return: 2 }\ngenerate: { max_tokens: 2 }\n",
                          "xyz");
  expect_results(&r->c[0], 2, (const char *const[]){"bE", "aa"}, (const double[]){-0.7136, -0.7458});
  dk_result_free(r);
  /* METHODS 1, test 4 (table 4, two beams a group, lambda 0.5): at the
   * last step both of group 0's beams take a (a a, b a), so group 1 pays
   * 2 * 0.5 on a: a E (-2.3971) outranks a a (-2.7040) and b a (-2.7730).
   * Tokens the length ends still count, as in transformers. */
  r = run_yaml(TABLE(4) "decoder: { plugin: diverse_beam, width: 4, groups: 2, diversity: 0.5,"
                        " num_return: 4 }\ngenerate: { max_tokens: 2 }\n",
               "xyz");
  expect_results(&r->c[0], 4, (const char *const[]){"aa", "ba", "aE", "aa"},
                 (const double[]){-0.6020, -0.6365, -1.1986, -1.3520});
  dk_result_free(r);
  /* Without the penalty both groups run the same search. */
  r = run_yaml(TABLE(1) "decoder: { plugin: diverse_beam, width: 2, groups: 2, diversity: 0,"
                        " num_return: 2 }\ngenerate: { max_tokens: 2 }\n",
               "xyz");
  expect_results(&r->c[0], 2, (const char *const[]){"aa", "aa"}, (const double[]){-0.7458, -0.7458});
  dk_result_free(r);
}
END_TEST

/* ---- behaviour on the hash LM ---- */

#define HASH "decokit: 1\nmodel: { plugin: hashlm }\n"

static const char *const prompts[] = {"Once upon a time", "the cat", "x", "In the beginning",
                                      "abcabc", "1 2 3"};
#define N_PROMPTS (sizeof prompts / sizeof *prompts)

static void same_tokens(const dk_completion *a, const dk_completion *b, const char *what) {
  ck_assert_msg(a->n_tokens == b->n_tokens, "%s: %zu tokens against %zu", what, a->n_tokens, b->n_tokens);
  for (size_t i = 0; i < a->n_tokens; i++) {
    ck_assert_msg(a->tokens[i] == b->tokens[i], "%s: token %zu differs", what, i);
    ck_assert(b->recs[i].has_raw);
    ck_assert_msg(fabsf(a->recs[i].raw_lp - b->recs[i].raw_lp) < 1e-5f, "%s: logprob %zu differs", what, i);
  }
}

/* The pipeline writes exactly `text` for the prompt (and stops for
 * `stop`, unless NULL). */
static void expect_text(const char *yaml, const char *prompt, const char *text, const char *stop) {
  dk_result *r = run_yaml(yaml, prompt);
  ck_assert_str_eq(r->c[0].text, text);
  if (stop) ck_assert_str_eq(r->c[0].stop_reason, stop);
  dk_result_free(r);
}

/* The pipeline's decoder block (and chain) gives greedy's tokens and raw
 * log-probabilities on every prompt; `also` checks more on each result. */
static void expect_greedy(const char *block, void (*also)(const dk_completion *)) {
  for (size_t k = 0; k < N_PROMPTS; k++) {
    char y[1024];
    dk_result *g = run_yaml(HASH "generate: { max_tokens: 24 }\n", prompts[k]);
    snprintf(y, sizeof y, HASH "%sgenerate: { max_tokens: 24 }\n", block);
    dk_result *d = run_yaml(y, prompts[k]);
    same_tokens(&g->c[0], &d->c[0], prompts[k]);
    ck_assert_str_eq(g->c[0].stop_reason, d->c[0].stop_reason);
    if (also) also(&d->c[0]);
    dk_result_free(g);
    dk_result_free(d);
  }
}

START_TEST(test_width_one_is_greedy) {
  expect_greedy("decoder: { plugin: beam, width: 1 }\n", NULL);
  expect_greedy("decoder: { plugin: beam, width: 1 }\nsamplers: [ { plugin: greedy } ]\n", NULL);
}
END_TEST

/* Sum of log softmax of toks after ctx, evaluated from scratch on a fresh
 * hash LM (the definition, not the decoder's bookkeeping). */
static double reference_logprob(const dk_token *ctx, size_t n_ctx, const dk_token *toks, size_t n) {
  const dk_component *c;
  ck_assert_int_eq(dk_registry_find(reg, DK_KIND_MODEL, "hashlm", &c, &err), DK_OK);
  dk_config cfg;
  dk_config_init(&cfg, c->hdr, &err);
  dk_config_finish(&cfg, NULL, &err);
  void *m;
  dk_create_info ci = {sizeof ci, &cfg, NULL, 0, NULL, 1};
  ck_assert_int_eq(c->copy.model.create((const dk_host *)c->lib->host, &ci, &m, &err), DK_OK);
  dk_seq s;
  float logits[128];
  ck_assert_int_eq(c->copy.model.seq_new(m, &s, &err), DK_OK);
  ck_assert_int_eq(c->copy.model.eval(m, s, ctx, n_ctx, logits, 0, &err), DK_OK);
  double sum = 0;
  for (size_t i = 0; i < n; i++) {
    double max = -INFINITY, z = 0;
    for (int v = 0; v < 128; v++) max = logits[v] > max ? logits[v] : max;
    for (int v = 0; v < 128; v++) z += exp((double)logits[v] - max);
    sum += (double)logits[toks[i]] - max - log(z);
    if (i + 1 < n) ck_assert_int_eq(c->copy.model.eval(m, s, &toks[i], 1, logits, 0, &err), DK_OK);
  }
  c->copy.model.destroy(m);
  dk_config_free(&cfg);
  return sum;
}

START_TEST(test_results_rescored) {
  /* Test 4: scores are non-increasing and each equals the recomputed sum
   * over g^alpha; the completion is the best result. */
  static const char *const alphas[] = {"1.0", "0", "-0.5", "2"};
  for (size_t a = 0; a < 4; a++)
    for (size_t k = 0; k < N_PROMPTS; k++) {
      char y[512];
      snprintf(y, sizeof y, HASH "decoder: { plugin: beam, width: 4, num_return: 4, length_penalty: %s }\n"
                                 "generate: { max_tokens: 24 }\n",
               alphas[a]);
      dk_result *r = run_yaml(y, prompts[k]);
      const dk_completion *c = &r->c[0];
      ck_assert_uint_ge(c->n_results, 1);
      for (size_t i = 0; i < c->n_results; i++) {
        const dk_hypothesis *h = &c->results[i];
        if (i) ck_assert(h->score <= c->results[i - 1].score);
        double sum = reference_logprob(r->prompt_tokens, r->n_prompt, h->tokens, h->n_tokens);
        double want = sum / pow((double)h->n_tokens, atof(alphas[a]));
        ck_assert_msg(fabs(h->score - want) < 1e-5, "'%s' alpha %s result %zu: %.8f, recomputed %.8f",
                      prompts[k], alphas[a], i, h->score, want);
      }
      const dk_hypothesis *best = &c->results[0];
      size_t n = best->n_tokens - (best->tokens[best->n_tokens - 1] == 1); /* EOS is not output */
      ck_assert_uint_eq(c->n_tokens, n);
      ck_assert(n == 0 || memcmp(c->tokens, best->tokens, n * sizeof *c->tokens) == 0);
      double committed = 0;
      for (size_t i = 0; i < n; i++) committed += c->recs[i].raw_lp;
      double all = reference_logprob(r->prompt_tokens, r->n_prompt, best->tokens, n);
      ck_assert_msg(fabs(committed - all) < 1e-4, "committed logprobs %.6f, recomputed %.6f", committed, all);
      dk_result_free(r);
    }
}
END_TEST

START_TEST(test_one_batched_call_per_step) {
  /* With EOS ignored every beam runs to max_tokens: 20 steps, the last of
   * which evaluates nothing; each other step is one call for all 4 beams. */
  dk_result *r = run_yaml(HASH "decoder: { plugin: beam, width: 4 }\n"
                               "generate: { max_tokens: 20, ignore_eos: true }\n",
                          "Once upon a time");
  ck_assert_uint_eq(r->c[0].n_tokens, 20);
  ck_assert_uint_eq(r->c[0].forward_passes, 19);
  ck_assert_uint_eq(r->c[0].model_tokens, 19 * 4);
  dk_result_free(r);
}
END_TEST

START_TEST(test_constraint_per_beam) {
  /* Every beam keeps its own grammar state: every result is an option. */
  static const char *const opts[] = {"cat", "dog", "bird", "fish"};
  for (size_t k = 0; k < N_PROMPTS; k++) {
    dk_result *r = run_yaml(HASH "decoder: { plugin: beam, width: 4, num_return: 4 }\n"
                                 "constraint: { plugin: choice, options: [cat, dog, bird, fish] }\n"
                                 "generate: { max_tokens: 6 }\n",
                            prompts[k]);
    const dk_completion *c = &r->c[0];
    ck_assert_uint_eq(c->n_results, 4);
    for (size_t i = 0; i <= c->n_results; i++) {
      const char *t = i < c->n_results ? c->results[i].text : c->text;
      int found = 0;
      for (size_t o = 0; o < 4; o++) found |= strcmp(t, opts[o]) == 0;
      ck_assert_msg(found, "'%s' is not an option", t);
    }
    dk_result_free(r);
  }
}
END_TEST

START_TEST(test_stop_string_finishes_a_beam) {
  /* A stop string ends a hypothesis like an EOS: a result that ends early
   * completes it with its last token (pieces are at most 4 bytes), and the
   * committed text stops before it. */
  dk_result *base = run_yaml(HASH "decoder: { plugin: beam, width: 3 }\n"
                                  "generate: { max_tokens: 30, ignore_eos: true }\n",
                             "Once upon a time");
  const char *t = base->c[0].text;
  size_t tl = strlen(t);
  char stop[3] = {0, 0, 0};
  for (size_t i = tl / 3; i + 1 < tl && !stop[0]; i++)
    if (isalnum((unsigned char)t[i]) && isalnum((unsigned char)t[i + 1])) {
      stop[0] = t[i];
      stop[1] = t[i + 1];
    }
  ck_assert_msg(stop[0], "no two letters in '%s'", t);
  char y[512];
  snprintf(y, sizeof y, HASH "decoder: { plugin: beam, width: 3, num_return: 3 }\n"
                             "generate: { max_tokens: 30, ignore_eos: true, stop: ['%s'] }\n", stop);
  dk_result *r = run_yaml(y, "Once upon a time");
  const dk_completion *c = &r->c[0];
  ck_assert_uint_ge(c->n_results, 1);
  ck_assert_ptr_null(strstr(c->text, stop));
  size_t early = 0;
  for (size_t i = 0; i < c->n_results; i++) {
    const dk_hypothesis *h = &c->results[i];
    if (h->n_tokens == 30) continue;
    const char *at = strstr(h->text, stop);
    ck_assert_ptr_nonnull(at);
    ck_assert_uint_gt((size_t)(at - h->text) + 2 + 4, h->text_len);
    early++;
  }
  ck_assert_uint_ge(early, 1);
  const dk_hypothesis *best = &c->results[0];
  if (best->n_tokens < 30) {
    ck_assert_str_eq(c->stop_reason, "stop");
    ck_assert_uint_eq(c->text_len, (size_t)(strstr(best->text, stop) - best->text));
    ck_assert(memcmp(c->text, best->text, c->text_len) == 0);
  }
  dk_result_free(r);
  dk_result_free(base);
}
END_TEST

START_TEST(test_sampler_chain_shapes_scores) {
  /* Temperature reshapes each beam's distribution: the scores are the
   * processed log-probabilities, the raw ones stay the model's. */
  dk_result *r = run_yaml(HASH "decoder: { plugin: beam, width: 3, length_penalty: 0 }\n"
                               "samplers: [ { plugin: temperature, t: 0.5 } ]\n"
                               "generate: { max_tokens: 12, ignore_eos: true }\n",
                          "the cat");
  const dk_completion *c = &r->c[0];
  double proc = 0, raw = 0;
  for (size_t i = 0; i < c->n_tokens; i++) {
    proc += c->recs[i].proc_lp;
    raw += c->recs[i].raw_lp;
  }
  ck_assert_double_eq_tol(c->results[0].score, proc, 1e-4);
  ck_assert_double_eq_tol(raw, reference_logprob(r->prompt_tokens, r->n_prompt, c->tokens, c->n_tokens), 1e-4);
  ck_assert(fabs(proc - raw) > 1e-3);
  dk_result_free(r);
}
END_TEST

START_TEST(test_one_group_is_beam) {
  for (size_t k = 0; k < N_PROMPTS; k++) {
    dk_result *a = run_yaml(HASH "decoder: { plugin: beam, width: 3, num_return: 3 }\ngenerate: { max_tokens: 16 }\n",
                            prompts[k]);
    dk_result *b = run_yaml(HASH "decoder: { plugin: diverse_beam, width: 3, groups: 1, diversity: 5,"
                                 " num_return: 3 }\ngenerate: { max_tokens: 16 }\n",
                            prompts[k]);
    ck_assert_uint_eq(a->c[0].n_results, b->c[0].n_results);
    for (size_t i = 0; i < a->c[0].n_results; i++) {
      ck_assert_str_eq(a->c[0].results[i].text, b->c[0].results[i].text);
      ck_assert_double_eq(a->c[0].results[i].score, b->c[0].results[i].score);
    }
    dk_result_free(a);
    dk_result_free(b);
  }
}
END_TEST

START_TEST(test_strong_diversity_distinct_starts) {
  /* METHODS 1, test 6: with a huge lambda and one beam a group, the
   * groups' first tokens are pairwise distinct.  Only running tokens are
   * penalised (a finished EOS is not), so EOS is an ordinary token here. */
  for (size_t k = 0; k < N_PROMPTS; k++) {
    dk_result *r = run_yaml(HASH "decoder: { plugin: diverse_beam, width: 4, groups: 4, diversity: 1000,"
                                 " num_return: 4, length_penalty: 0 }\n"
                                 "generate: { max_tokens: 6, ignore_eos: true }\n",
                            prompts[k]);
    const dk_completion *c = &r->c[0];
    ck_assert_uint_eq(c->n_results, 4);
    for (size_t i = 0; i < 4; i++)
      for (size_t j = 0; j < i; j++) ck_assert_int_ne(c->results[i].tokens[0], c->results[j].tokens[0]);
    dk_result_free(r);
  }
}
END_TEST

/* ---- momentum ---- */

static void has_processed(const dk_completion *c) {
  for (size_t i = 0; i < c->n_tokens; i++) ck_assert(c->recs[i].has_proc);
}

START_TEST(test_momentum_alpha_zero_is_greedy) {
  expect_greedy("decoder: { plugin: momentum, alpha: 0 }\n", has_processed);
}
END_TEST

START_TEST(test_momentum_leaves_the_cycle) {
  /* METHODS 2, test 3, on the cycle a b a b ... (p .84 a step, EOS .15):
   * greedy goes round (the table ends after six tokens); with f(L) = L and
   * alpha 0.2 the resistance passes .84 - .15 when the cycle about to
   * close has length 4, at the sixth token, and EOS ends the text. */
  expect_text(TABLE(3) "generate: { max_tokens: 6 }\n", "p", "ababab", "length");
  expect_text(TABLE(3) "decoder: { plugin: momentum, k: 3, alpha: 0.2 }\ngenerate: { max_tokens: 6 }\n", "p",
              "ababa", "eos");
  /* A cheaper resistance stays in the loop: constant f = 2 * 0.05 never
   * beats .84 - .15. */
  expect_text(TABLE(3) "decoder: { plugin: momentum, k: 3, alpha: 0.05, resistance: constant }\n"
                       "generate: { max_tokens: 6 }\n",
              "p", "ababab", "length");
}
END_TEST

/* ---- contrastive ---- */

/* One batched call per token: the k = 5 candidates together. */
static void one_call_per_token(const dk_completion *c) {
  ck_assert_uint_eq(c->forward_passes, c->n_tokens + (strcmp(c->stop_reason, "eos") == 0));
  ck_assert_uint_eq(c->model_tokens, 5 * c->forward_passes);
}

START_TEST(test_contrastive_alpha_zero_is_greedy) {
  expect_greedy("decoder: { plugin: contrastive, k: 5, alpha: 0 }\n", one_call_per_token);
}
END_TEST

START_TEST(test_contrastive_hand_set_hidden) {
  /* Cycle table, hidden vectors p, a, b orthogonal and E = p + a + b.
   * With alpha 0.9: a (.1 * .84 - 0), then b (same), then a repeats its
   * own vector (.084 - .9) while E is only 1/sqrt(3) like the context
   * (.015 - .9 * .577 = -.505): EOS. */
  dk_result *r = run_yaml(TABLE(3) "decoder: { plugin: contrastive, k: 3, alpha: 0.9 }\n"
                                   "generate: { max_tokens: 6 }\n",
                          "p");
  ck_assert_str_eq(r->c[0].text, "ab");
  ck_assert_str_eq(r->c[0].stop_reason, "eos");
  ck_assert_double_eq_tol(r->c[0].recs[1].raw_lp, log(0.84), 1e-5);
  dk_result_free(r);
  /* With alpha 0.5 the likely repeat still wins (.42 - .5 > .075 - .289). */
  expect_text(TABLE(3) "decoder: { plugin: contrastive, k: 3, alpha: 0.5 }\ngenerate: { max_tokens: 6 }\n", "p",
              "ababab", NULL);
  /* Hidden states straight from a ragged batch give the same choice. */
  expect_text("decokit: 1\nmodel: { plugin: tablelm, table: 3, ragged: true }\n"
              "decoder: { plugin: contrastive, k: 3, alpha: 0.9 }\ngenerate: { max_tokens: 6 }\n",
              "p", "ab", "eos");
  /* Several completions: the forks of the prompt lack its hidden states. */
  r = run_yaml(TABLE(3) "decoder: { plugin: contrastive, k: 3, alpha: 0.9 }\n"
                        "generate: { max_tokens: 6, n: 2 }\n",
               "p");
  ck_assert_str_eq(r->c[0].text, "ab");
  ck_assert_str_eq(r->c[1].text, "ab");
  dk_result_free(r);
}
END_TEST

/* ---- deal ---- */

#define KEYWORD_CAT "scorers: [ { plugin: keyword, keywords: [cat] } ]\n"

START_TEST(test_deal_reduces_to_greedy) {
  /* METHODS 8, tests 1 and 2: lambda 0 scores by log P alone, and k 1
   * leaves nothing to choose, whatever the rewards and look-ahead. */
  expect_greedy("decoder: { plugin: deal, k: 5, lookahead: 3, lambda: 0 }\n" KEYWORD_CAT, NULL);
  expect_greedy("decoder: { plugin: deal, k: 1, lookahead: 3, lambda: 50 }\n" KEYWORD_CAT, NULL);
}
END_TEST

START_TEST(test_deal_finds_the_keyword) {
  /* METHODS 8, test 3: take the runner-up of greedy's first step as the
   * keyword; where greedy never writes it, DeAL with a look-ahead must. */
  size_t checked = 0;
  for (size_t k = 0; k < N_PROMPTS; k++) {
    dk_result *g = run_yaml(HASH "generate: { max_tokens: 16, logprobs: 2 }\n", prompts[k]);
    if (g->c[0].n_tokens == 0) { /* EOS first: no step to read */
      dk_result_free(g);
      continue;
    }
    dk_token alt = g->c[0].recs[0].raw_top[1].id;
    char word[16];
    snprintf(word, sizeof word, "%s", alt >= 32 - 30 && alt < 97 ? (char[]){(char)(alt + 30), 0} : "");
    if (!word[0] || strchr("[]{},:'\"#&*!|>%@` ", word[0]) || strstr(g->c[0].text, word)) {
      dk_result_free(g);
      continue;
    }
    char y[512];
    snprintf(y, sizeof y,
             HASH "decoder: { plugin: deal, k: 4, lookahead: 2, lambda: 5 }\n"
                  "scorers: [ { plugin: keyword, keywords: ['%s'] } ]\ngenerate: { max_tokens: 16 }\n",
             word);
    dk_result *d = run_yaml(y, prompts[k]);
    ck_assert_msg(strstr(d->c[0].text, word) != NULL, "'%s': '%s' lacks keyword '%s'", prompts[k],
                  d->c[0].text, word);
    ck_assert_uint_ge(d->c[0].n_results, 1);
    checked++;
    dk_result_free(d);
    dk_result_free(g);
  }
  ck_assert_uint_ge(checked, 2);
}
END_TEST

START_TEST(test_deal_weights_are_linear) {
  /* METHODS 8, test 4: lambda 1 with weight 2 is lambda 2 with weight 1;
   * and the look-ahead costs one batched call a position. */
  dk_result *a = run_yaml(HASH "decoder: { plugin: deal, width: 2, k: 3, lookahead: 2, lambda: 1, weights: ['2'] }\n"
                               "scorers: [ { plugin: repetition, n: 1 } ]\ngenerate: { max_tokens: 12 }\n",
                          "the cat");
  dk_result *b = run_yaml(HASH "decoder: { plugin: deal, width: 2, k: 3, lookahead: 2, lambda: 2 }\n"
                               "scorers: [ { plugin: repetition, n: 1 } ]\ngenerate: { max_tokens: 12 }\n",
                          "the cat");
  ck_assert_str_eq(a->c[0].text, b->c[0].text);
  ck_assert_double_eq(a->c[0].results[0].score, b->c[0].results[0].score);
  ck_assert_uint_le(a->c[0].forward_passes, 3 * 12);
  dk_result_free(a);
  dk_result_free(b);
}
END_TEST

static void expect_error(const char *yaml, const char *needle) {
  dk_error_clear(&err);
  dk_result *r = try_yaml(yaml, "x");
  ck_assert_msg(r == NULL, "'%s' was accepted", yaml);
  ck_assert_msg(strstr(err.msg, needle) != NULL, "error '%s' does not name '%s'", err.msg, needle);
}

START_TEST(test_bad_input) {
  expect_error(HASH "decoder: { plugin: beam, width: 0 }\n", "width");
  expect_error(HASH "decoder: { plugin: diverse_beam, width: 0 }\n", "width");
  expect_error(HASH "decoder: { plugin: diverse_beam, width: 4, groups: 3 }\n", "groups");
  expect_error(HASH "decoder: { plugin: beam, width: 2, num_return: 3 }\n", "num_return");
  expect_error(HASH "decoder: { plugin: beam, early_stopping: maybe }\n", "early_stopping");
  expect_error(HASH "decoder: { plugin: momentum, resistance: quadratic }\n", "resistance");
  expect_error(HASH "decoder: { plugin: contrastive, alpha: 1.5 }\n", "alpha");
  expect_error(HASH "decoder: { plugin: deal }\n", "scorers");
  expect_error(HASH "decoder: { plugin: deal, weights: ['1', '2'] }\n" KEYWORD_CAT, "weights");
  expect_error(HASH "decoder: { plugin: deal, weights: [heavy] }\n" KEYWORD_CAT, "weights");
  expect_error("decokit: 1\nmodel: { plugin: tablelm, hidden: false }\ndecoder: { plugin: contrastive }\n",
               "hidden states");
  /* Without fork and batched evaluation the searches say so, and end()
   * after the failed begin must not free a sequence it never owned. */
  static const char *const searches[] = {"beam", "diverse_beam", "contrastive", "deal"};
  for (size_t i = 0; i < 4; i++) {
    char y[512];
    snprintf(y, sizeof y, "decokit: 1\nmodel: { plugin: tablelm, batch: false }\ndecoder: { plugin: %s }\n%s",
             searches[i], i == 3 ? KEYWORD_CAT : ""); /* only deal reads scorers */
    expect_error(y, "fork");
  }
}
END_TEST

/* ---- the bundled model ---- */

START_TEST(test_width_one_is_greedy_bundled) {
  char y[4096];
  snprintf(y, sizeof y, "decokit: 1\nmodel: { plugin: llama, path: %s/models/decokit-tiny.gguf }\n",
           getenv("DECOKIT_SRCDIR"));
  size_t head = strlen(y);
  static const char *const texts[] = {"It is a truth universally acknowledged", "And God said"};
  for (size_t k = 0; k < 2; k++) {
    snprintf(y + head, sizeof y - head, "generate: { max_tokens: 24 }\n");
    dk_result *g = run_yaml(y, texts[k]);
    snprintf(y + head, sizeof y - head, "decoder: { plugin: beam, width: 1 }\ngenerate: { max_tokens: 24 }\n");
    dk_result *b = run_yaml(y, texts[k]);
    same_tokens(&g->c[0], &b->c[0], texts[k]);
    dk_result_free(g);
    dk_result_free(b);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("decoders");
  TCase *tc = tcase_create("decoders");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_hf_eos_rank_and_max_length);
  tcase_add_test(tc, test_hf_early_stopping_modes);
  tcase_add_test(tc, test_hf_group_beam);
  tcase_add_test(tc, test_width_one_is_greedy);
  tcase_add_test(tc, test_results_rescored);
  tcase_add_test(tc, test_one_batched_call_per_step);
  tcase_add_test(tc, test_constraint_per_beam);
  tcase_add_test(tc, test_stop_string_finishes_a_beam);
  tcase_add_test(tc, test_sampler_chain_shapes_scores);
  tcase_add_test(tc, test_one_group_is_beam);
  tcase_add_test(tc, test_strong_diversity_distinct_starts);
  tcase_add_test(tc, test_momentum_alpha_zero_is_greedy);
  tcase_add_test(tc, test_momentum_leaves_the_cycle);
  tcase_add_test(tc, test_contrastive_alpha_zero_is_greedy);
  tcase_add_test(tc, test_contrastive_hand_set_hidden);
  tcase_add_test(tc, test_deal_reduces_to_greedy);
  tcase_add_test(tc, test_deal_finds_the_keyword);
  tcase_add_test(tc, test_deal_weights_are_linear);
  tcase_add_test(tc, test_bad_input);
  tcase_add_test(tc, test_width_one_is_greedy_bundled);
  suite_add_tcase(s, tc);
  return dkh_run(s);
}
