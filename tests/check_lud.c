/* check_lud.c -- the lud decoder: acceptance and repetition control on fixed slot confidences, KV fix-up, verify, bad input, and the bundled LUD model. */
#include <check.h>
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

static dk_result *try_yaml(const char *yaml, const char *prompt) {
  dk_run_opts opts = {.prompt = prompt, .record_logprobs = 1, .logprobs = -1};
  dk_pipeline *p = NULL;
  dk_run *run = NULL;
  dk_result *r = NULL;
  if (dk_pipeline_parse(yaml, strlen(yaml), "t.yaml", ".", &p, &err) == DK_OK &&
      dk_pipeline_resolve(p, reg, NULL, &err) == DK_OK && dk_run_new(p, &opts, &run, &err) == DK_OK &&
      dk_run_generate(run, &r, &err) != DK_OK) {
    dk_result_free(r);
    r = NULL;
  }
  dk_run_free(run);
  dk_pipeline_free(p);
  return r;
}

static dk_result *run_yaml(const char *yaml, const char *prompt) {
  dk_result *r = try_yaml(yaml, prompt);
  ck_assert_msg(r != NULL, "%s", err.msg);
  return r;
}

static double metric(const dk_result *r, const char *name) {
  const dk_completion *c = &r->c[0];
  for (size_t i = 0; i < c->n_metrics; i++)
    if (strcmp(c->metrics[i].name, name) == 0) return c->metrics[i].value;
  return 0;
}

/* slotlm spelled as letters: 1..6 a..f, 7 E. */
static void spell(const dk_result *r, char *out) {
  const dk_completion *c = &r->c[0];
  for (size_t i = 0; i < c->n_tokens; i++) out[i] = "_abcdefEp"[c->tokens[i]];
  out[c->n_tokens] = '\0';
}

/* The slotlm fixture with the given slot list and decoder line; prompt "pp". */
static dk_result *slot_run(const char *slots, const char *decoder, int max_tokens, char *text) {
  char y[1024];
  snprintf(y, sizeof y,
           "decokit: 1\nmodel: { plugin: slotlm, slots: [%s] }\ndecoder: { plugin: lud, %s }\n"
           "generate: { max_tokens: %d }\n", slots, decoder, max_tokens);
  dk_result *r = run_yaml(y, "pp");
  spell(r, text);
  return r;
}

/* After two prompt positions slotlm's own (AR) sequence is c d e f a b c ... */
static const char greedy9[] = "cdefabcde";

/* Acceptance: slots run d .95, e .9, f .5, a .99.  beta .8 takes d and e,
 * stops at f (.5) and never reaches a: three tokens per forward, and each
 * step's AR token comes from the real rows of the previous span. */
START_TEST(test_accept_fixed_confidences) {
  char t[64];
  dk_result *r = slot_run("'d:0.95', 'e:0.9', 'f:0.5', 'a:0.99'", "m: 4, beta: 0.8", 9, t);
  ck_assert_str_eq(t, "cdefdecde");
  ck_assert_double_eq(metric(r, "lud_forwards"), 3);
  ck_assert_double_eq(metric(r, "lud_extra"), 6);
  dk_result_free(r);
  /* beta .5 also takes f (.5 >= .5) and then a: c d e f a | b d e f a. */
  r = slot_run("'d:0.95', 'e:0.9', 'f:0.5', 'a:0.99'", "m: 4, beta: 0.5", 10, t);
  ck_assert_str_eq(t, "cdefabdefa");
  dk_result_free(r);
  /* m caps the span: two slots at most. */
  r = slot_run("'d:0.95', 'e:0.9', 'f:0.5', 'a:0.99'", "m: 2, beta: 0.5", 6, t);
  ck_assert_str_eq(t, "cdefde");
  dk_result_free(r);
  /* beta just above every slot's confidence: the AR tokens alone. */
  r = slot_run("'d:0.95', 'e:0.9', 'f:0.5', 'a:0.99'", "m: 4, beta: 0.995", 9, t);
  ck_assert_str_eq(t, greedy9);
  ck_assert_double_eq(metric(r, "lud_forwards"), 9);
  ck_assert_double_eq(metric(r, "lud_extra"), 0);
  dk_result_free(r);
}
END_TEST

/* Repetition control: a slot repeating the token just before it ends the
 * span, whatever its confidence; a repeat further back does not. */
START_TEST(test_repetition_control) {
  char t[64];
  dk_result *r = slot_run("'d:0.99', 'd:0.99', 'e:0.99'", "m: 3, beta: 0.5", 6, t);
  ck_assert_str_eq(t, "cdedad"); /* c d | e d | a d */
  dk_result_free(r);
  /* The first slot repeats the AR token c: nothing joins. */
  r = slot_run("'c:0.99', 'd:0.99'", "m: 2, beta: 0.5", 1, t);
  ck_assert_str_eq(t, "c");
  ck_assert_double_eq(metric(r, "lud_extra"), 0);
  dk_result_free(r);
  /* d e d: not immediate repeats, all join. */
  r = slot_run("'d:0.99', 'e:0.99', 'd:0.99'", "m: 3, beta: 0.5", 4, t);
  ck_assert_str_eq(t, "cded");
  ck_assert_double_eq(metric(r, "lud_forwards"), 1);
  dk_result_free(r);
}
END_TEST

/* verify: the same confident but wrong slots only draft; the output is the
 * model's own sequence, and a fully matching draft saves forwards. */
START_TEST(test_verify_fixture_is_greedy) {
  char t[64];
  dk_result *r = slot_run("'d:0.95', 'e:0.9', 'f:0.5', 'a:0.99'", "m: 4, beta: 0.5, verify: true", 9, t);
  ck_assert_str_eq(t, greedy9);
  dk_result_free(r);
  /* Drafts d e after c are right (c d e f): step 2 commits d e f at once. */
  r = slot_run("'d:0.95', 'e:0.9'", "m: 2, beta: 0.8, verify: true", 4, t);
  ck_assert_str_eq(t, "cdef");
  ck_assert_double_eq(metric(r, "lud_forwards"), 2);
  ck_assert_double_eq(metric(r, "lud_accepted"), 2);
  dk_result_free(r);
}
END_TEST

static void expect_error(const char *model_extra, const char *decoder, const char *needle) {
  char y[1024];
  snprintf(y, sizeof y,
           "decokit: 1\nmodel: { plugin: slotlm, slots: ['d:0.9']%s }\ndecoder: { plugin: lud%s }\n"
           "generate: { max_tokens: 4 }\n", model_extra, decoder);
  dk_error_clear(&err);
  dk_result *r = try_yaml(y, "pp");
  ck_assert_msg(r == NULL, "accepted: %s", y);
  ck_assert_msg(strstr(err.msg, needle) != NULL, "'%s' does not name %s", err.msg, needle);
}

START_TEST(test_bad_input) {
  expect_error(", meta: false", "", "decokit.lud.placeholder_token_id");
  expect_error(", meta_id: 99", "", "decokit.lud.placeholder_token_id");
  /* A model's metadata line is untrusted text. */
  expect_error(", meta_text: '12x'", "", "decokit.lud.placeholder_token_id");
  expect_error(", meta_text: '-1'", "", "decokit.lud.placeholder_token_id");
  expect_error(", meta_text: '99999999999999999999999'", "", "decokit.lud.placeholder_token_id");
  expect_error("", ", placeholder: 42", "placeholder");
  expect_error("", ", m: 0", "key 'm'");
  expect_error("", ", m: -3", "key 'm'");
  expect_error("", ", beta: 0", "beta");
  expect_error("", ", beta: -0.5", "beta");
  expect_error("", ", beta: 1.5", "beta");
  /* The decoder's own placeholder stands in for missing metadata. */
  char t[16];
  dk_result *r = slot_run("'d:0.95'", "placeholder: 0", 2, t);
  dk_result_free(r);
  char y[512];
  snprintf(y, sizeof y, "decokit: 1\nmodel: { plugin: slotlm, meta: false, slots: ['d:0.95'] }\n"
                        "decoder: { plugin: lud, placeholder: 0, beta: 0.9 }\ngenerate: { max_tokens: 2 }\n");
  r = run_yaml(y, "pp");
  spell(r, t);
  ck_assert_str_eq(t, "cd");
  dk_result_free(r);
}
END_TEST

/* ---- the bundled model fine-tuned for LUD ------------------------------- */

static char lud_model[1024];

static dk_result *bundled(const char *rest, const char *prompt) {
  char y[4096];
  snprintf(y, sizeof y, "decokit: 1\nmodel: { plugin: llama, path: %s }\n%s", lud_model, rest);
  return run_yaml(y, prompt);
}

static const char *const prompts[] = {"It is a truth universally acknowledged", "And the LORD said unto Moses,",
                                      "She walked into the garden and", "In the beginning"};
#define N_PROMPTS (sizeof prompts / sizeof *prompts)
#define GREEDY "decoder: { plugin: sample }\nsamplers: [ { plugin: greedy } ]\ngenerate: { max_tokens: 48 }\n"

static void same_tokens(const dk_result *a, const dk_result *b, const char *what) {
  ck_assert_msg(a->c[0].n_tokens == b->c[0].n_tokens, "%s: %zu tokens against %zu", what, a->c[0].n_tokens,
                b->c[0].n_tokens);
  ck_assert_msg(memcmp(a->c[0].tokens, b->c[0].tokens, a->c[0].n_tokens * sizeof(dk_token)) == 0,
                "%s: '%s' against '%s'", what, a->c[0].text, b->c[0].text);
}

/* verify: true is greedy, token for token, at every beta; and it does save
 * forwards on the fine-tuned model. */
START_TEST(test_bundled_verify_is_greedy) {
  static const char *const betas[] = {"0.3", "0.6", "0.9"};
  double fw = 0, toks = 0;
  for (size_t k = 0; k < N_PROMPTS; k++) {
    dk_result *g = bundled(GREEDY, prompts[k]);
    for (size_t b = 0; b < 3; b++) {
      char y[512];
      snprintf(y, sizeof y, "decoder: { plugin: lud, verify: true, beta: %s }\nsamplers: [ { plugin: greedy } ]\n"
                            "generate: { max_tokens: 48 }\n", betas[b]);
      dk_result *v = bundled(y, prompts[k]);
      same_tokens(g, v, prompts[k]);
      if (b == 0) {
        fw += metric(v, "lud_forwards");
        toks += (double)v->c[0].n_tokens;
      }
      dk_result_free(v);
    }
    dk_result_free(g);
  }
  ck_assert_msg(toks / fw > 1.05, "verify at beta .3: %.3f tokens per forward", toks / fw);
}
END_TEST

/* beta = 1 takes no slot here (no slot of this model is certain), so each
 * step commits the AR token alone: greedy, through the KV fix-up path.  A
 * lower beta takes slots and commits more than a token per forward. */
START_TEST(test_bundled_beta_one_is_greedy) {
  for (size_t k = 0; k < N_PROMPTS; k++) {
    dk_result *g = bundled(GREEDY, prompts[k]);
    dk_result *l = bundled("decoder: { plugin: lud, beta: 1 }\nsamplers: [ { plugin: greedy } ]\n"
                           "generate: { max_tokens: 48 }\n", prompts[k]);
    ck_assert_double_eq(metric(l, "lud_extra"), 0);
    same_tokens(g, l, prompts[k]);
    dk_result *f = bundled("decoder: { plugin: lud, beta: 0.5 }\nsamplers: [ { plugin: greedy } ]\n"
                           "generate: { max_tokens: 48 }\n", prompts[k]);
    ck_assert_msg(metric(f, "lud_extra") > 0, "%s: no slot taken at beta .5", prompts[k]);
    ck_assert(metric(f, "lud_forwards") < (double)f->c[0].n_tokens);
    dk_result_free(f);
    dk_result_free(l);
    dk_result_free(g);
  }
}
END_TEST

/* The base model has no LUD metadata: the error names the key. */
START_TEST(test_base_model_refused) {
  const char *src = getenv("DECOKIT_SRCDIR");
  char y[2048];
  snprintf(y, sizeof y, "decokit: 1\nmodel: { plugin: llama, path: %s/models/decokit-tiny.gguf }\n"
                        "decoder: { plugin: lud }\ngenerate: { max_tokens: 4 }\n", src);
  dk_result *r = try_yaml(y, "In the beginning");
  ck_assert(r == NULL);
  ck_assert_msg(strstr(err.msg, "decokit.lud.placeholder_token_id") != NULL, "%s", err.msg);
}
END_TEST

int main(void) {
  const char *src = getenv("DECOKIT_SRCDIR");
  if (!src) {
    fprintf(stderr, "run through make check\n");
    return 1;
  }
  snprintf(lud_model, sizeof lud_model, "%s/models/decokit-tiny-lud.gguf", src);
  Suite *s = suite_create("lud");
  TCase *tc = tcase_create("fixture");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_accept_fixed_confidences);
  tcase_add_test(tc, test_repetition_control);
  tcase_add_test(tc, test_verify_fixture_is_greedy);
  tcase_add_test(tc, test_bad_input);
  suite_add_tcase(s, tc);
  tc = tcase_create("bundled");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_bundled_verify_is_greedy);
  tcase_add_test(tc, test_bundled_beta_one_is_greedy);
  tcase_add_test(tc, test_base_model_refused);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int nf = srunner_ntests_failed(sr);
  srunner_free(sr);
  return nf ? 1 : 0;
}
