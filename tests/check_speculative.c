/* check_speculative.c -- the speculative decoder and its drafters: greedy identity, exact distributions, grammar pruning, errors. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "harness.h"
#include "loader.h"
#include "pipeline.h"
#include "session.h"

static dk_registry *reg;
static dk_error err;

/* Fixture libraries hold several components: load them by path first. */
static void setup(void) {
  reg = dkh_registry();
  dk_error_clear(&err);
  static const char *const libs[][2] = {
      {"abi11", "trio"}, {"probe", "probe_spec"}, {"toypair", "toy4"}, {"hashlm", "hashlm"}};
  static const int kinds[] = {DK_KIND_DECODER, DK_KIND_DECODER, DK_KIND_MODEL, DK_KIND_MODEL};
  for (size_t i = 0; i < 4; i++) {
    char path[4096];
    const dk_component *c;
    snprintf(path, sizeof path, "%s/%s.so", getenv("DECOKIT_FIXTURE_DIR"), libs[i][0]);
    ck_assert_msg(dk_registry_find(reg, kinds[i], path, &c, &err) == DK_OK, "%s", err.msg);
  }
}

static void teardown(void) { dk_registry_free(reg); }

static dk_result *run_rc(const char *yaml, const char *prompt, int threads, int *rc) {
  dk_run_opts opts = {.threads = threads, .logprobs = -1};
  return dkh_run_yaml(reg, yaml, getenv("DECOKIT_SRCDIR"), prompt, &opts, rc, &err);
}

static dk_result *run_ok(const char *yaml, const char *prompt) {
  int rc;
  dk_result *r = run_rc(yaml, prompt, 1, &rc);
  ck_assert_msg(rc == DK_OK, "%s\n%s", err.msg, yaml);
  return r;
}

static void run_fails(const char *yaml, const char *want) {
  int rc;
  dk_result *r = run_rc(yaml, "the cat", 1, &rc);
  ck_assert_msg(rc < 0, "expected an error with '%s'", want);
  ck_assert_msg(strstr(err.msg, want) != NULL, "'%s' not in: %s", want, err.msg);
  dk_result_free(r);
}

static void same_tokens(const dk_completion *a, const dk_completion *b, const char *what) {
  ck_assert_msg(a->n_tokens == b->n_tokens, "%s: %zu vs %zu tokens", what, a->n_tokens, b->n_tokens);
  for (size_t i = 0; i < a->n_tokens; i++)
    ck_assert_msg(a->tokens[i] == b->tokens[i], "%s: token %zu is %d, not %d", what, i, b->tokens[i],
                  a->tokens[i]);
  ck_assert_str_eq(a->stop_reason, b->stop_reason);
}

#define HASH "decokit: 1\nmodel: { plugin: hashlm }\n"

static const char *const prompts[] = {
    "the cat sat on the mat, the cat sat on the", "1 2 3 1 2 3 1 2", "abcabcabcabc", "Once upon",
    "the the the the", "in the end it is the end", "st st st", "x", "thing ring sing", "aaaa"};

/* Match verification commits what the chain chooses, draws included:
 * the output equals the sample decoder's for greedy, a processed greedy
 * chain and a seeded sampling chain, whatever the drafter. */
START_TEST(test_match_equals_sample_on_hashlm) {
  static const char *const chains[] = {
      "",
      "samplers:\n  - { plugin: penalties, repeat: 1.3, last_n: 16 }\n  - { plugin: top_k, k: 8 }\n"
      "  - { plugin: greedy }\n",
      "samplers:\n  - { plugin: temperature, t: 0.8 }\n  - { plugin: top_p, p: 0.9 }\n  - { plugin: dist }\n"};
#define SPEC "decoder: { plugin: speculative }\n"
  static const char *const drafters[] = {
      SPEC "drafter: { plugin: prompt_lookup }\n",
      SPEC "drafter: { plugin: prompt_lookup, min_n: 2, max_n: 4, tokens: 6 }\n",
      SPEC "drafter: { plugin: echo, k: 4 }\n",
      SPEC "draft: { plugin: hashlm }\ndrafter: { plugin: draft_model, k: 6 }\n",
      SPEC "draft: { plugin: hashlm, seed: 5, window: 1 }\ndrafter: { plugin: draft_model, k: 3, width: 3 }\n",
      SPEC "draft: { plugin: hashlm, window: 2 }\ndrafter: { plugin: draft_model, k: 4, width: 2, p_min: 0.02 }\n",
      "decoder: { plugin: speculative, max_draft: 80 }\ndrafter: { plugin: token_recycling }\n",
      SPEC "drafter: { plugin: ngram_cache, max_n: 3 }\n",
      "decoder: { plugin: speculative, max_draft: 30 }\ndrafter: { plugin: lookahead }\n",
      "decoder: { plugin: speculative, max_draft: 12 }\ndrafter: { plugin: lookahead, n: 2, window: 7, guesses: 3 }\n",
      "decoder: { plugin: speculative, max_draft: 40 }\ndrafter: { plugin: aded, choices: 40 }\n"};
#undef SPEC
  double accepted = 0;
  for (size_t c = 0; c < 3; c++)
    for (size_t p = 0; p < sizeof prompts / sizeof *prompts; p++) {
      char y[1024];
      snprintf(y, sizeof y, HASH "%sgenerate: { max_tokens: 60, ignore_eos: true, seed: %zu }\n", chains[c], p);
      dk_result *a = run_ok(y, prompts[p]);
      for (size_t d = 0; d < sizeof drafters / sizeof *drafters; d++) {
        snprintf(y, sizeof y,
                 HASH "%s%sgenerate: { max_tokens: 60, ignore_eos: true, seed: %zu }\n",
                 chains[c], drafters[d], p);
        dk_result *b = run_ok(y, prompts[p]);
        char what[256];
        snprintf(what, sizeof what, "chain %zu, prompt %zu, drafter %zu", c, p, d);
        same_tokens(&a->c[0], &b->c[0], what);
        accepted += dkh_metric(&b->c[0], "accepted");
        dk_result_free(b);
      }
      dk_result_free(a);
    }
  ck_assert(accepted > 1000); /* the drafts were used, not just verified away */
}
END_TEST

/* The bundled target and draft models: speculative greedy equals greedy,
 * chains and trees, on one and two threads. */
START_TEST(test_match_equals_greedy_on_bundled_pair) {
  static const char *const ps[] = {"It was a bright cold day", "And the LORD said unto Moses,",
                                   "Emma Woodhouse, handsome, clever, and rich,",
                                   "She was not the first woman who"};
  static const char *const model = "model: { plugin: llama, path: models/decokit-tiny.gguf }\n";
  for (int threads = 1; threads <= 2; threads++)
    for (size_t p = 0; p < 4; p++) {
      char y[1024];
      int rc;
      snprintf(y, sizeof y, "decokit: 1\n%sgenerate: { max_tokens: 40 }\n", model);
      dk_result *a = run_rc(y, ps[p], threads, &rc);
      ck_assert_msg(rc == DK_OK, "%s", err.msg);
      for (int width = 1; width <= 2; width++) {
        snprintf(y, sizeof y,
                 "decokit: 1\n%sdraft: { plugin: llama, path: models/decokit-tiny-draft.gguf }\n"
                 "decoder: { plugin: speculative }\ndrafter: { plugin: draft_model, k: 4, width: %d }\n"
                 "generate: { max_tokens: 40 }\n",
                 model, width);
        dk_result *b = run_rc(y, ps[p], threads, &rc);
        ck_assert_msg(rc == DK_OK, "%s", err.msg);
        char what[128];
        snprintf(what, sizeof what, "prompt %zu, %d threads, width %d", p, threads, width);
        same_tokens(&a->c[0], &b->c[0], what);
        ck_assert_str_eq(a->c[0].text, b->c[0].text);
        ck_assert(dkh_metric(&b->c[0], "accepted") > 0);
        ck_assert(dkh_metric(&b->c[0], "target_calls") < (double)b->c[0].n_tokens);
        dk_result_free(b);
      }
      dk_result_free(a);
    }
}
END_TEST

/* ---- the toy pair of METHODS.md 18.12 ---- */

#define TOY "decokit: 1\nmodel: { plugin: toy4 }\n"

static const double toy_p[5][4] = {{.10, .50, .30, .10}, {.25, .25, .25, .25}, {.60, .10, .10, .20},
                                   {.05, .05, .10, .80}, {.40, .30, .20, .10}};

/* Chi-square of (x1, x2) over n generations against p(x1) p(x2 | x1); the
 * share of generations whose first round emitted all three tokens. */
static double toy_chi2(const char *drafter, size_t n, double *one_round) {
  const size_t per = 1000;
  size_t count[4][4] = {{0}}, single = 0;
  for (size_t k = 0; k * per < n; k++) {
    char y[6000];
    snprintf(y, sizeof y,
             TOY "samplers: [ { plugin: dist } ]\ndecoder: { plugin: speculative, verify: reject }\n%s"
                 "generate: { max_tokens: 3, n: %zu, seed: %zu }\n",
             drafter, per, 11 + k);
    dk_result *r = run_ok(y, "");
    for (size_t i = 0; i < per; i++) {
      const dk_completion *c = &r->c[i];
      ck_assert_uint_eq(c->n_tokens, 3);
      ck_assert(c->tokens[0] < 4 && c->tokens[1] < 4);
      count[c->tokens[0]][c->tokens[1]]++;
      single += dkh_metric(c, "verify_steps") == 1;
    }
    dk_result_free(r);
  }
  double chi2 = 0;
  for (int a = 0; a < 4; a++)
    for (int b = 0; b < 4; b++) {
      double e = (double)n * toy_p[4][a] * toy_p[a][b];
      chi2 += (count[a][b] - e) * (count[a][b] - e) / e;
    }
  *one_round = (double)single / (double)n;
  return chi2;
}

/* Stochastic verification of trees is exact for independent draws,
 * draws without replacement and top-k point masses (18.12 test 1), and
 * accepts as often as the section computes (test 2: P(accepted = 2)). */
START_TEST(test_tree_verification_is_exact) {
  static const struct {
    const char *mode;
    double all_accepted;
  } cases[] = {{"iid", .6961}, {"wor", .8362}, {"det", .39}};
  const size_t n = 40000;
  for (size_t i = 0; i < 3; i++) {
    char d[128];
    snprintf(d, sizeof d, "drafter: { plugin: toytree, mode: %s }\n", cases[i].mode);
    double one;
    double chi2 = toy_chi2(d, n, &one);
    ck_assert_msg(chi2 < 37.70, "%s: chi-square %g over 15 degrees of freedom (p < 0.001)", cases[i].mode, chi2);
    ck_assert_msg(fabs(one - cases[i].all_accepted) < 0.012, "%s: P(both accepted) %g, expected %g",
                  cases[i].mode, one, cases[i].all_accepted);
  }
}
END_TEST

/* Temperature 0 with top-2 children (18.12 test 3): the rounds emit 0 1 0,
 * then three tokens each, and the text is the target's greedy one. */
START_TEST(test_greedy_tree_on_toy) {
  dk_result *r = run_ok(TOY "decoder: { plugin: speculative }\ndrafter: { plugin: toytree, mode: det }\n"
                            "generate: { max_tokens: 30 }\n", "");
  const dk_completion *c = &r->c[0];
  ck_assert_uint_eq(c->n_tokens, 30);
  for (size_t i = 0; i < 30; i++) ck_assert_int_eq(c->tokens[i], (int)(i & 1));
  ck_assert(dkh_metric(c, "verify_steps") == 10);
  ck_assert(dkh_metric(c, "tau") == 2);
  dk_result_free(r);
}
END_TEST

/* q = p (18.12 test 4): the first child is always accepted. */
START_TEST(test_draft_equal_to_target) {
  static const char *const modes[] = {"iid", "wor"};
  for (size_t i = 0; i < 2; i++) {
    char y[512];
    snprintf(y, sizeof y,
             TOY "samplers: [ { plugin: dist } ]\ndecoder: { plugin: speculative, verify: reject }\n"
                 "drafter: { plugin: toytree, mode: %s, same: true }\ngenerate: { max_tokens: 300, n: 4 }\n",
             modes[i]);
    dk_result *r = run_ok(y, "");
    for (size_t k = 0; k < 4; k++) {
      ck_assert(dkh_metric(&r->c[k], "verify_steps") == 100);
      ck_assert(dkh_metric(&r->c[k], "accepted") == 200);
    }
    dk_result_free(r);
  }
}
END_TEST

/* The hash LM's processed distribution at the prompt under temperature
 * 0.5 and top-k 16: the 16 ids, best first, and their probabilities. */
static void target_top16(const dk_token *prompt, size_t n_prompt, int order[128], double prob[16]) {
  dk_pipeline *p;
  ck_assert_int_eq(dk_pipeline_parse(HASH, strlen(HASH), "m.yaml", ".", &p, &err), DK_OK);
  ck_assert_int_eq(dk_pipeline_resolve(p, reg, NULL, &err), DK_OK);
  dk_run *run;
  ck_assert_int_eq(dk_run_new(p, &(dk_run_opts){.logprobs = -1}, &run, &err), DK_OK);
  const dk_model_ref *m = dk_run_model(run);
  dk_seq s;
  float lg[128];
  ck_assert_int_eq(m->iface->seq_new(m->inst, &s, &err), DK_OK);
  ck_assert_int_eq(m->iface->eval(m->inst, s, prompt, n_prompt, lg, 0, &err), DK_OK);
  m->iface->seq_free(m->inst, s);
  dk_run_free(run);
  dk_pipeline_free(p);
  for (int i = 0; i < 128; i++) order[i] = i;
  for (int i = 0; i < 16; i++) /* top 16 by logit (no ties in the hash LM) */
    for (int j = i + 1; j < 128; j++)
      if (lg[order[j]] > lg[order[i]]) {
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
      }
  double z = 0;
  for (int i = 0; i < 16; i++) z += prob[i] = exp((lg[order[i]] - lg[order[0]]) / 0.5);
  for (int i = 0; i < 16; i++) prob[i] /= z;
}

/* First tokens of 10,000 completions under rejection sampling with the
 * given draft and drafter: chi-square against the target's distribution
 * (asserted), drafts accepted, and how often each token came out. */
static double first_token_chi2(const char *draft, size_t count[128]) {
  const size_t per = 1000, runs = 10, n = per * runs;
  double accepted = 0;
  dk_result *last = NULL;
  memset(count, 0, 128 * sizeof *count);
  for (size_t k = 0; k < runs; k++) {
    char y[6000];
    snprintf(y, sizeof y,
             HASH "%ssamplers:\n  - { plugin: temperature, t: 0.5 }\n  - { plugin: top_k, k: 16 }\n"
                  "  - { plugin: dist }\ndecoder: { plugin: speculative, verify: reject }\n"
                  "generate: { max_tokens: 1, n: %zu, seed: %zu }\n",
             draft, per, 3 + k);
    dk_result *r = run_ok(y, "the cat");
    for (size_t i = 0; i < per; i++) {
      const dk_completion *c = &r->c[i];
      count[c->n_tokens ? c->tokens[0] : 1]++; /* none: EOS (id 1) */
      accepted += dkh_metric(c, "accepted");
    }
    dk_result_free(last);
    last = r;
  }
  int order[128];
  double prob[16], chi2 = 0;
  size_t inside = 0;
  target_top16(last->prompt_tokens, last->n_prompt, order, prob);
  dk_result_free(last);
  for (int i = 0; i < 16; i++) {
    double e = (double)n * prob[i];
    chi2 += (count[order[i]] - e) * (count[order[i]] - e) / e;
    inside += count[order[i]];
  }
  ck_assert_uint_eq(inside, n);
  ck_assert_msg(chi2 < 37.70, "%s: chi-square %g over 15 degrees of freedom", draft, chi2);
  return accepted;
}

/* Rejection sampling of the draft model's chains and trees on the hash
 * LM: the first token follows the target's processed distribution. */
START_TEST(test_draft_model_rejection_is_exact) {
  static const char *const drafters[] = {
      "draft: { plugin: hashlm, window: 1 }\ndrafter: { plugin: draft_model, k: 3, sample: true, temp: 0.7 }\n",
      "draft: { plugin: hashlm, window: 1 }\ndrafter: { plugin: draft_model, k: 2, width: 3, sample: true }\n"};
  size_t count[128];
  for (size_t d = 0; d < 2; d++) {
    double accepted = first_token_chi2(drafters[d], count);
    ck_assert_msg(accepted > 10000 / 50.0, "drafter %zu: only %g drafts accepted", d, accepted);
  }
}
END_TEST

/* A file of the ids 0..n-1 but two, in the working folder; its absolute
 * name in path (pipelines resolve relative names against their folder). */
static void write_ids(char *path, size_t cap, int n, int skip1, int skip2) {
  char name[] = "trim-ids-XXXXXX";
  int fd = mkstemp(name);
  ck_assert(fd >= 0);
  FILE *f = fdopen(fd, "w");
  for (int v = 0; v < n; v++)
    if (v != skip1 && v != skip2) fprintf(f, "%d%c", v, v % 10 ? ' ' : '\n');
  fclose(f);
  ck_assert_ptr_nonnull(getcwd(path, cap));
  ck_assert(strlen(path) + strlen(name) + 2 < cap);
  strcat(path, "/");
  strcat(path, name);
}

/* VocabTrim: a draft restricted to a token list never proposes others, yet
 * the output keeps the target's distribution, the excluded tokens
 * included (METHODS.md 6, test 2), and greedy output stays greedy's. */
START_TEST(test_vocab_trim) {
  int order[128];
  double prob[16];
  dk_result *r = run_ok(HASH "generate: { max_tokens: 1 }\n", "the cat");
  target_top16(r->prompt_tokens, r->n_prompt, order, prob);
  dk_result_free(r);
  /* Keep every token but the target's two most likely ones. */
  char path[4096];
  write_ids(path, sizeof path, 128, order[0], order[1]);
  char draft[5000];
  snprintf(draft, sizeof draft,
           "draft: { plugin: hashlm }\ndrafter: { plugin: draft_model, k: 2, sample: true, vocab_trim: '%s' }\n",
           path);
  size_t count[128];
  double accepted = first_token_chi2(draft, count);
  ck_assert_msg(count[order[0]] > 10000 * prob[0] / 2, "the excluded best token came out %zu times", count[order[0]]);
  ck_assert(accepted > 0);
  /* The same draft as the target, trimmed: greedy output is greedy's. */
  char y[5000];
  snprintf(y, sizeof y,
           HASH "draft: { plugin: hashlm }\ndecoder: { plugin: speculative }\n"
                "drafter: { plugin: draft_model, k: 4, width: 2, vocab_trim: '%s' }\n"
                "generate: { max_tokens: 60, ignore_eos: true }\n",
           path);
  for (size_t p = 0; p < 4; p++) {
    dk_result *a = run_ok(HASH "generate: { max_tokens: 60, ignore_eos: true }\n", prompts[p]);
    dk_result *b = run_ok(y, prompts[p]);
    same_tokens(&a->c[0], &b->c[0], "vocab_trim greedy");
    ck_assert(dkh_metric(&b->c[0], "accepted") > 0);
    dk_result_free(a);
    dk_result_free(b);
  }
  run_fails("decokit: 1\nmodel: { plugin: hashlm }\ndraft: { plugin: hashlm }\ndecoder: { plugin: speculative }\n"
            "drafter: { plugin: draft_model, vocab_trim: /nonexistent/ids.txt }\n",
            "vocab_trim");
  remove(path);
  /* A draft model without output-row subsets: the full row, masked.  On
   * the 18.12 pair with token 0 (p = .4 first) out of the draft. */
  write_ids(path, sizeof path, 4, 0, 0);
  char t[5000];
  snprintf(t, sizeof t,
           "draft: { plugin: toy4, table: draft }\n"
           "drafter: { plugin: draft_model, k: 2, sample: true, vocab_trim: '%s' }\n", path);
  double one, chi2 = toy_chi2(t, 20000, &one);
  ck_assert_msg(chi2 < 37.70, "toy pair, trimmed draft: chi-square %g over 15 degrees of freedom", chi2);
  remove(path);
}
END_TEST

/* With a grammar, drafts the grammar refuses are never evaluated, and the
 * output is valid: in match mode it equals sample's, in reject mode every
 * character obeys the pattern. */
START_TEST(test_grammar_prunes_drafts) {
  static const char *const cons = "constraint: { plugin: regex, pattern: '(the cat )+[a-h]{3,20}' }\n";
  char y[1024];
  snprintf(y, sizeof y, HASH "%sgenerate: { max_tokens: 50 }\n", cons);
  dk_result *a = run_ok(y, "the cat sat on a mat");
  snprintf(y, sizeof y,
           HASH "%sdraft: { plugin: hashlm, seed: 9 }\ndecoder: { plugin: speculative }\n"
                "drafter: { plugin: draft_model, k: 4, width: 3 }\ngenerate: { max_tokens: 50 }\n",
           cons);
  dk_result *b = run_ok(y, "the cat sat on a mat");
  same_tokens(&a->c[0], &b->c[0], "match with a grammar");
  ck_assert(dkh_metric(&b->c[0], "refused") > 0);
  dk_result_free(a);
  dk_result_free(b);
  for (size_t seed = 0; seed < 5; seed++) {
    snprintf(y, sizeof y,
             HASH "%ssamplers: [ { plugin: dist } ]\ndraft: { plugin: hashlm, window: 1 }\n"
                  "decoder: { plugin: speculative, verify: reject }\n"
                  "drafter: { plugin: draft_model, k: 4, width: 2, sample: true }\n"
                  "generate: { max_tokens: 50, seed: %zu }\n",
             cons, seed);
    dk_result *r = run_ok(y, "x");
    const char *t = r->c[0].text;
    size_t i = 0;
    while (!strncmp(t + i, "the cat ", 8)) i += 8;
    ck_assert_msg(i > 0, "'%s' does not start with 'the cat '", t);
    /* Cut by max_tokens: the rest is a start of "the cat " or of [a-h]+. */
    if (strncmp(t + i, "the cat ", strlen(t + i)) != 0)
      for (; t[i]; i++) ck_assert_msg(t[i] >= 'a' && t[i] <= 'h', "'%s' breaks the pattern", t);
    dk_result_free(r);
  }
}
END_TEST

/* Jump-forward: tokens the grammar allows alone are committed without a
 * model call, for any drafter, and the output is still the sample
 * decoder's (greedy and seeded sampling, on the hash LM and the bundled
 * model); switched off, no token is jumped and the output is the same.
 * (A forced byte run that several token sequences spell is not jumped.) */
START_TEST(test_jump_forward) {
  static const char *const cons =
      "constraint: { plugin: regex, pattern: 'And the LORD said unto Moses, [a-z ]{2,30}\\.' }\n";
  static const char *const models[] = {"model: { plugin: hashlm }\n",
                                       "model: { plugin: llama, path: models/decokit-tiny.gguf }\n"};
  static const char *const chains[] = {
      "", "samplers:\n  - { plugin: temperature, t: 0.9 }\n  - { plugin: top_k, k: 20 }\n  - { plugin: dist }\n"};
  static const char *const decs[] = {
      "decoder: { plugin: speculative }\ndrafter: { plugin: prompt_lookup }\n",
      "decoder: { plugin: speculative, max_draft: 30 }\ndrafter: { plugin: lookahead }\n",
      "decoder: { plugin: lookahead }\n",
      "decoder: { plugin: speculative, jump_forward: false }\ndrafter: { plugin: prompt_lookup }\n"};
  for (size_t mi = 0; mi < 2; mi++)
    for (size_t c = 0; c < 2; c++) {
      char y[1024];
      snprintf(y, sizeof y, "decokit: 1\n%s%s%sgenerate: { max_tokens: 40, seed: %zu }\n", models[mi], cons,
               chains[c], c + 1);
      dk_result *a = run_ok(y, "x");
      for (size_t k = 0; k < 4; k++) {
        snprintf(y, sizeof y, "decokit: 1\n%s%s%s%sgenerate: { max_tokens: 40, seed: %zu }\n", models[mi], cons,
                 chains[c], decs[k], c + 1);
        dk_result *b = run_ok(y, "x");
        char what[64];
        snprintf(what, sizeof what, "model %zu, chain %zu, decoder %zu", mi, c, k);
        same_tokens(&a->c[0], &b->c[0], what);
        ck_assert_str_eq(a->c[0].text, b->c[0].text);
        double jumped = dkh_metric(&b->c[0], "jump_forward");
        /* On the hash LM's vocabulary "And the LORD said unto Moses, " is
         * forced after its first token; the bundled model's merges leave
         * several ways to spell it, so nothing is forced there. */
        if (k < 3 && mi == 0) ck_assert_msg(jumped >= 5, "%s: %g jumped", what, jumped);
        else ck_assert_msg(jumped <= 0, "%s: %g jumped", what, jumped); /* -1: never reported */
        if (k < 3 && mi == 0)
          ck_assert_msg(dkh_metric(&b->c[0], "target_calls") + jumped <= (double)b->c[0].n_tokens, "%s", what);
        dk_result_free(b);
      }
      dk_result_free(a);
    }
}
END_TEST

/* A drafter instance for direct calls (the harness owns it). */
static void *new_drafter(dk_harness *h, const char *name, const char *const *kv, const dk_vocab *vocab,
                         const struct dk_drafter_iface **di) {
  char msg[256];
  const void *iface;
  void *inst = dkh_create(h, DK_KIND_DRAFTER, name, kv, 1, vocab, &iface, msg, sizeof msg);
  ck_assert_msg(inst != NULL, "%s: %s", name, msg);
  *di = iface;
  return inst;
}

/* Prompt lookup prefers the longest n-gram, then the earliest match. */
START_TEST(test_prompt_lookup_matching) {
  dk_harness *h = dkh_new();
  static const char *const kv[] = {"max_n", "3", "tokens", "4", NULL};
  const struct dk_drafter_iface *di;
  void *inst = new_drafter(h, "prompt_lookup", kv, NULL, &di);
  dk_token tok[8];
  int32_t par[8];
  /* "7 8 9" occurs once with 5 after it; "8 9" also at the start (then 1). */
  static const dk_token ctx[] = {8, 9, 1, 2, 7, 8, 9, 5, 6, 3, 7, 8, 9};
  dk_draft d = {tok, par, 0, 8};
  ck_assert_int_eq(di->propose(inst, NULL, ctx, 13, &d, dkh_error(h)), DK_OK);
  ck_assert_uint_eq(d.n, 4);
  static const dk_token want[] = {5, 6, 3, 7};
  for (size_t i = 0; i < 4; i++) {
    ck_assert_int_eq(tok[i], want[i]);
    ck_assert_int_eq(par[i], (int32_t)i - 1);
  }
  /* Only "9" matches (earliest first); the continuation may run to the end. */
  static const dk_token ctx2[] = {4, 9, 2, 9, 3, 1, 9};
  ck_assert_int_eq(di->propose(inst, NULL, ctx2, 7, &d, dkh_error(h)), DK_OK);
  ck_assert_uint_eq(d.n, 4);
  ck_assert(tok[0] == 2 && tok[1] == 9 && tok[2] == 3 && tok[3] == 1);
  static const dk_token ctx3[] = {1, 2, 3};
  ck_assert_int_eq(di->propose(inst, NULL, ctx3, 3, &d, dkh_error(h)), DK_OK);
  ck_assert_uint_eq(d.n, 0);
  dkh_destroy(h, inst);
  dkh_free(h);
}
END_TEST

/* The n-gram cache drafts the longest known n-gram's most frequent
 * continuation, and looks up again after every drafted token. */
START_TEST(test_ngram_cache_votes) {
  dk_harness *h = dkh_new();
  static const dk_token ctx[] = {1, 2, 3, 1, 2, 4, 1, 2, 3, 1, 2};
  static const dk_token want4[] = {4, 1, 2, 3, 1, 2, 4, 1}, want2[] = {3, 1, 2, 3, 1, 2, 3, 1};
  for (int k = 0; k < 2; k++) {
    static const char *const kv4[] = {"max_n", "4", NULL}, *const kv2[] = {"max_n", "2", NULL};
    const struct dk_drafter_iface *di;
    void *inst = new_drafter(h, "ngram_cache", k ? kv2 : kv4, NULL, &di);
    dk_token tok[16];
    int32_t par[16];
    dk_draft d = {tok, par, 0, 16};
    ck_assert_int_eq(di->propose(inst, NULL, ctx, 11, &d, dkh_error(h)), DK_OK);
    ck_assert_uint_eq(d.n, 8);
    for (size_t i = 0; i < 8; i++) ck_assert_int_eq(tok[i], (k ? want2 : want4)[i]);
    /* Growing text is counted incrementally: "2 5" is new, "5" unknown. */
    static const dk_token more[] = {1, 2, 3, 1, 2, 4, 1, 2, 3, 1, 2, 5};
    ck_assert_int_eq(di->propose(inst, NULL, more, 12, &d, dkh_error(h)), DK_OK);
    ck_assert_uint_eq(d.n, 0);
    dkh_destroy(h, inst);
  }
  dkh_free(h);
}
END_TEST

/* Lookahead (METHODS.md 18.4): once the window is proposed whole, every
 * step adds exactly W n-grams to the pool, and pooled n-grams get
 * accepted. */
START_TEST(test_lookahead_pool) {
  dk_result *r = run_ok("decokit: 1\nmodel: { plugin: hashlm, window: 2 }\n"
                        "decoder: { plugin: speculative, max_draft: 24 }\n"
                        "drafter: { plugin: lookahead, n: 3, window: 6, guesses: 6 }\n"
                        "generate: { max_tokens: 150, ignore_eos: true }\n",
                        "the cat sat on the mat");
  const dk_completion *c = &r->c[0];
  ck_assert_uint_eq(c->n_tokens, 150);
  ck_assert(dkh_metric(c, "lookahead_ngrams") == 6 * dkh_metric(c, "verify_steps"));
  ck_assert_msg(dkh_metric(c, "target_calls") < 150 * 0.8, "%g target calls", dkh_metric(c, "target_calls"));
  dk_result_free(r);
}
END_TEST

/* Copy-heavy text: prompt lookup commits several tokens per target call. */
START_TEST(test_prompt_lookup_speeds_up_copying) {
  /* With a one-token window greedy text soon cycles: lookups find it. */
  dk_result *r = run_ok("decokit: 1\nmodel: { plugin: hashlm, window: 1 }\n"
                        "decoder: { plugin: speculative }\ndrafter: { plugin: prompt_lookup }\n"
                             "generate: { max_tokens: 120, ignore_eos: true }\n",
                        "ab cd ef gh ab cd ef gh ab cd ef gh ab cd");
  const dk_completion *c = &r->c[0];
  double calls = dkh_metric(c, "target_calls");
  ck_assert_msg(calls > 0 && calls < c->n_tokens / 2.0, "%g target calls for %zu tokens", calls, c->n_tokens);
  ck_assert(fabs(dkh_metric(c, "tau") - dkh_metric(c, "accepted") / dkh_metric(c, "verify_steps")) < 1e-9);
  ck_assert(dkh_metric(c, "tokens_per_target_call") > 2);
  ck_assert(dkh_metric(c, "drafted") >= dkh_metric(c, "accepted"));
  dk_result_free(r);
}
END_TEST

/* Token Recycling (METHODS.md 5): the template has 80 nodes over six
 * levels of 8, 21, 25, 15, 8 and 3, parents first; rows learnt from the
 * verifier's feedback fill it breadth first; unseen entries are left out. */
START_TEST(test_token_recycling_tree) {
  dk_harness *h = dkh_new();
  dk_vocab vocab = {sizeof vocab, 16, -1, -1, -1, NULL, NULL, NULL};
  const struct dk_drafter_iface *di;
  void *inst = new_drafter(h, "token_recycling", NULL, &vocab, &di);
  dk_token tok[100], pos[16], ids[16 * 8];
  int32_t par[100];
  float lg[16 * 8] = {0};
  dk_draft d = {tok, par, 0, 100};
  static const dk_token ctx[] = {3, 5};
  ck_assert_int_eq(di->propose(inst, NULL, ctx, 2, &d, dkh_error(h)), DK_OK);
  ck_assert_uint_eq(d.n, 0); /* nothing seen yet */
  /* Hand-made rows: 5 -> 6 3 5 1, 6 -> 4 1 7 2, the rest unseen. */
  static const dk_token r5[] = {6, 3, 5, 1}, r6[] = {4, 1, 7, 2};
  for (size_t k = 0; k < 16 * 8; k++) ids[k] = -1;
  pos[0] = 5, pos[1] = 6;
  memcpy(ids, r5, sizeof r5);
  memcpy(ids + 8, r6, sizeof r6);
  dk_verify_feedback fb = {sizeof fb, NULL, 0, 0, 2, 8, pos, ids, lg};
  di->observe_verified(inst, NULL, &fb);
  ck_assert_int_eq(di->propose(inst, NULL, ctx, 2, &d, dkh_error(h)), DK_OK);
  /* Root 5: children 6 3 5 1; under 6 (rank 0..3) 4 1 7 2; under 3 nothing;
   * under 5 (ranks 0..2) 6 3 5; under 1 nothing; then depth 3 under 6-4... */
  static const dk_token want[] = {6, 3, 5, 1, 4, 1, 7, 2, 6, 3, 5};
  static const int32_t wpar[] = {-1, -1, -1, -1, 0, 0, 0, 0, 2, 2, 2};
  ck_assert_uint_ge(d.n, 11);
  for (size_t i = 0; i < 11; i++) {
    ck_assert_int_eq(tok[i], want[i]);
    ck_assert_int_eq(par[i], wpar[i]);
  }
  /* Every row known: the whole template. */
  for (dk_token u = 0; u < 16; u++) {
    pos[u] = u;
    for (size_t k = 0; k < 8; k++) ids[u * 8 + k] = (dk_token)((u + k + 1) % 16);
  }
  fb.n_positions = 16;
  di->observe_verified(inst, NULL, &fb);
  ck_assert_int_eq(di->propose(inst, NULL, ctx, 2, &d, dkh_error(h)), DK_OK);
  ck_assert_uint_eq(d.n, 80);
  size_t per_depth[8] = {0}, depth[100];
  for (size_t i = 0; i < d.n; i++) {
    ck_assert(par[i] < (int32_t)i);
    depth[i] = par[i] < 0 ? 1 : depth[par[i]] + 1;
    per_depth[depth[i]]++;
    dk_token from = par[i] < 0 ? 5 : tok[par[i]];
    ck_assert(tok[i] != from); /* successors are never the token itself here */
  }
  static const size_t want_depth[] = {0, 8, 21, 25, 15, 8, 3, 0};
  for (size_t k = 0; k < 8; k++) ck_assert_uint_eq(per_depth[k], want_depth[k]);
  dkh_destroy(h, inst);
  dkh_free(h);
}
END_TEST

/* The lookahead decoder (METHODS.md 18.4) commits what the sample decoder
 * does, greedy or seeded sampling, on the hash LM and the bundled model at
 * one and two threads, as the speculative decoder with the lookahead
 * drafter does. */
START_TEST(test_lookahead_decoder) {
  static const char *const chains[] = {
      "", "samplers:\n  - { plugin: temperature, t: 0.8 }\n  - { plugin: top_p, p: 0.9 }\n  - { plugin: dist }\n"};
  static const char *const las[] = {"", ", n: 3, window: 6, guesses: 6", ", n: 5, window: 7, guesses: 7",
                                    ", n: 2, window: 1, guesses: 0"};
  double tokens = 0, calls = 0;
  for (size_t c = 0; c < 2; c++)
    for (size_t p = 0; p < sizeof prompts / sizeof *prompts; p++)
      for (size_t l = 0; l < 4; l++) {
        char y[1024];
        snprintf(y, sizeof y, HASH "%sgenerate: { max_tokens: 60, ignore_eos: true, seed: %zu }\n", chains[c], p);
        dk_result *a = run_ok(y, prompts[p]);
        snprintf(y, sizeof y, HASH "%sdecoder: { plugin: lookahead%s }\ngenerate: { max_tokens: 60, ignore_eos: true, seed: %zu }\n",
                 chains[c], las[l], p);
        dk_result *b = run_ok(y, prompts[p]);
        char what[128];
        snprintf(what, sizeof what, "chain %zu, prompt %zu, lookahead %zu", c, p, l);
        same_tokens(&a->c[0], &b->c[0], what);
        tokens += (double)b->c[0].n_tokens;
        calls += dkh_metric(&b->c[0], "target_calls");
        dk_result_free(a);
        dk_result_free(b);
      }
  ck_assert_msg(calls < tokens, "%g calls for %g tokens", calls, tokens); /* some drafts accepted */
  /* Once warm every step adds exactly W n-grams. */
  dk_result *d = run_ok("decokit: 1\nmodel: { plugin: hashlm, window: 2 }\n"
                        "decoder: { plugin: lookahead, n: 3, window: 6, guesses: 6 }\n"
                        "generate: { max_tokens: 150, ignore_eos: true }\n", "the cat sat on the mat");
  dk_result *e = run_ok("decokit: 1\nmodel: { plugin: hashlm, window: 2 }\n"
                        "decoder: { plugin: speculative, max_draft: 24 }\n"
                        "drafter: { plugin: lookahead, n: 3, window: 6, guesses: 6 }\n"
                        "generate: { max_tokens: 150, ignore_eos: true }\n", "the cat sat on the mat");
  same_tokens(&d->c[0], &e->c[0], "lookahead decoder vs drafter");
  ck_assert(dkh_metric(&d->c[0], "lookahead_ngrams") == 6 * dkh_metric(&d->c[0], "verify_steps"));
  /* (The first window is drawn from the decoder's random stream, not the
   * drafter's, so the two runs take different steps to the same text.) */
  ck_assert(dkh_metric(&d->c[0], "target_calls") < 150 * 0.8);
  dk_result_free(d);
  dk_result_free(e);
  /* The bundled model, greedy, one and two threads. */
  static const char *const ps[] = {"And the LORD said unto Moses,", "Emma Woodhouse, handsome, clever, and rich,"};
  for (int threads = 1; threads <= 2; threads++)
    for (size_t p = 0; p < 2; p++) {
      int rc;
      dk_result *a = run_rc("decokit: 1\nmodel: { plugin: llama, path: models/decokit-tiny.gguf }\n"
                            "generate: { max_tokens: 80 }\n", ps[p], threads, &rc);
      ck_assert_msg(rc == DK_OK, "%s", err.msg);
      dk_result *b = run_rc("decokit: 1\nmodel: { plugin: llama, path: models/decokit-tiny.gguf }\n"
                            "decoder: { plugin: lookahead }\ngenerate: { max_tokens: 80 }\n", ps[p], threads, &rc);
      ck_assert_msg(rc == DK_OK, "%s", err.msg);
      same_tokens(&a->c[0], &b->c[0], ps[p]);
      ck_assert_str_eq(a->c[0].text, b->c[0].text);
      ck_assert(dkh_metric(&b->c[0], "target_calls") < (double)b->c[0].n_tokens);
      dk_result_free(a);
      dk_result_free(b);
    }
  run_fails(HASH "decoder: { plugin: lookahead }\ndrafter: { plugin: prompt_lookup }\n", "drafter:");
  run_fails(HASH "decoder: { plugin: lookahead, n: 8, window: 32, guesses: 32 }\n", "window + guesses");
}
END_TEST

/* Bad pipelines get errors that name the key to fix. */
START_TEST(test_errors_name_the_key) {
  run_fails(HASH "decoder: { plugin: speculative }\n", "drafter:");
  run_fails(HASH "decoder: { plugin: speculative }\ndrafter: { plugin: draft_model }\n", "draft:");
  run_fails(HASH "decoder: { plugin: speculative, verify: reject }\ndrafter: { plugin: echo }\n",
            "verify: reject");
  run_fails(HASH "decoder: { plugin: speculative, verify: maybe }\ndrafter: { plugin: echo }\n", "verify");
  /* A drafter under a decoder that ignores drafters is refused before any run. */
  const char *y = HASH "drafter: { plugin: prompt_lookup }\n";
  dk_pipeline *p;
  ck_assert_int_eq(dk_pipeline_parse(y, strlen(y), "t.yaml", ".", &p, &err), DK_OK);
  ck_assert_int_eq(dk_pipeline_resolve(p, reg, NULL, &err), DK_ERR_INVALID);
  ck_assert_msg(strstr(err.msg, "decoder 'sample' does not use a 'drafter' section"), "%s", err.msg);
  dk_pipeline_free(p);
  run_fails(HASH "decoder: { plugin: speculative }\ndrafter: { plugin: prompt_lookup, min_n: 4, max_n: 2 }\n",
            "min_n");
  run_fails(HASH "draft: { plugin: llama, path: models/decokit-tiny-draft.gguf }\n"
                 "decoder: { plugin: speculative }\ndrafter: { plugin: draft_model }\n",
            "share one tokenizer");
}
END_TEST

int main(void) {
  Suite *s = suite_create("speculative");
  TCase *tc = tcase_create("speculative");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_match_equals_sample_on_hashlm);
  tcase_add_test(tc, test_match_equals_greedy_on_bundled_pair);
  tcase_add_test(tc, test_tree_verification_is_exact);
  tcase_add_test(tc, test_greedy_tree_on_toy);
  tcase_add_test(tc, test_draft_equal_to_target);
  tcase_add_test(tc, test_draft_model_rejection_is_exact);
  tcase_add_test(tc, test_vocab_trim);
  tcase_add_test(tc, test_grammar_prunes_drafts);
  tcase_add_test(tc, test_jump_forward);
  tcase_add_test(tc, test_prompt_lookup_matching);
  tcase_add_test(tc, test_prompt_lookup_speeds_up_copying);
  tcase_add_test(tc, test_token_recycling_tree);
  tcase_add_test(tc, test_ngram_cache_votes);
  tcase_add_test(tc, test_lookahead_pool);
  tcase_add_test(tc, test_lookahead_decoder);
  tcase_add_test(tc, test_errors_name_the_key);
  suite_add_tcase(s, tc);
  return dkh_run(s);
}
