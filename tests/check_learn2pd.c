/* check_learn2pd.c -- Learn2PD on the toy masked model: hand-made filters with known decisions, end-of-text prediction, filter files. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "harness.h"
#include "pipeline.h"
#include "session.h"

static dk_registry *reg;
static dk_error err;

static void setup(void) {
  reg = dkh_registry();
  dk_error_clear(&err);
}

static void teardown(void) { dk_registry_free(reg); }

static dk_result *run_ok(const char *yaml) {
  int rc;
  dk_result *r = dkh_run_yaml(reg, yaml, ".", "ab", &(dk_run_opts){.logprobs = -1}, &rc, &err);
  ck_assert_msg(rc == DK_OK, "%s\n%s", err.msg, yaml);
  return r;
}

static void run_fails(const char *yaml, const char *want) {
  int rc;
  dk_result *r = dkh_run_yaml(reg, yaml, ".", "ab", &(dk_run_opts){.logprobs = -1}, &rc, &err);
  ck_assert_msg(rc < 0, "expected an error with '%s'", want);
  ck_assert_msg(strstr(err.msg, want) != NULL, "'%s' not in: %s", want, err.msg);
  dk_result_free(r);
}

/* A filter of block n: W1 = a I, b1 = 0, W2 = I, b2 = bias, so z = relu(a c) + bias. */
static void write_filter(const char *path, int n, double a, double bias, int count) {
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fprintf(f, "decokit-learn2pd 1 %d\n", n);
  int k = 0;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n && k < count; j++, k++) fprintf(f, "%g ", i == j ? a : 0.0);
  for (int i = 0; i < n && k < count; i++, k++) fprintf(f, "0 ");
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n && k < count; j++, k++) fprintf(f, "%g ", i == j ? 1.0 : 0.0);
  for (int i = 0; i < n && k < count; i++, k++) fprintf(f, "%g ", bias);
  fclose(f);
}

#define TOY(params) "decokit: 1\nmodel: { plugin: toymask, " params " }\n"
#define GEN "generate: { max_tokens: 64, ignore_eos: true }\n"

static void same_run(const char *ref, const char *y) {
  dk_result *a = run_ok(ref), *b = run_ok(y);
  ck_assert_uint_eq(a->c[0].n_tokens, b->c[0].n_tokens);
  for (size_t i = 0; i < a->c[0].n_tokens; i++)
    ck_assert_msg(a->c[0].tokens[i] == b->c[0].tokens[i], "token %zu differs:\n%s", i, y);
  ck_assert_uint_eq(a->c[0].forward_passes, b->c[0].forward_passes);
  dk_result_free(a);
  dk_result_free(b);
}

/* METHODS 10, tests 1 and 2.  A filter that always says yes finalizes a
 * whole block per call (stable model: the tokens do not change); one that
 * always says no, or none, leaves the safeguard's one position per step:
 * one-position-per-step decoding, tokens and calls, in every cache mode. */
START_TEST(test_yes_and_no) {
  write_filter("l2pd-yes.txt", 8, 0, 10, 1 << 20);
  write_filter("l2pd-no.txt", 8, 0, -10, 1 << 20);
  dk_result *r = run_ok(TOY("variant: stable") "decoder: { plugin: learn2pd, gen_length: 16, block_length: 8, "
                                               "filter: l2pd-yes.txt }\n" GEN);
  ck_assert_str_eq(r->c[0].text, "jmpsvybehknqtwzc");
  ck_assert_uint_eq(r->c[0].forward_passes, 2);
  ck_assert(dkh_metric(&r->c[0], "learn2pd_filtered") == 16);
  dk_result_free(r);
  static const char *const caches[] = {"none", "prefix", "dual"};
  for (int c = 0; c < 3; c++)
    for (int f = 0; f < 2; f++) {
      char ref[512], y[512];
      snprintf(ref, sizeof ref,
               TOY("variant: hash, seed: 5") "decoder: { plugin: diffusion, gen_length: 24, block_length: 8, "
                                             "steps: 24, cache: %s }\n" GEN,
               caches[c]);
      snprintf(y, sizeof y,
               TOY("variant: hash, seed: 5") "decoder: { plugin: learn2pd, gen_length: 24, block_length: 8, "
                                             "cache: %s%s }\n" GEN,
               caches[c], f ? ", filter: l2pd-no.txt" : "");
      same_run(ref, y);
    }
}
END_TEST

/* A filter with known decisions: z = relu(c) - 0.5, so with tau 0.5 a
 * position is final when its confidence is at least 0.5: Fast-dLLM's
 * threshold 0.5, whose forced best position is then among them. */
START_TEST(test_threshold_filter) {
  write_filter("l2pd-half.txt", 8, 1, -0.5, 1 << 20);
  static const char *const models[] = {"variant: flipping", "variant: hash, seed: 7",
                                       "variant: hash, seed: 8, logit_shift: true"};
  for (int m = 0; m < 3; m++) {
    char ref[512], y[512];
    snprintf(ref, sizeof ref,
             "decokit: 1\nmodel: { plugin: toymask, %s }\n"
             "decoder: { plugin: diffusion, gen_length: 24, block_length: 8, threshold: 0.5 }\n" GEN,
             models[m]);
    snprintf(y, sizeof y,
             "decokit: 1\nmodel: { plugin: toymask, %s }\n"
             "decoder: { plugin: learn2pd, gen_length: 24, block_length: 8, filter: l2pd-half.txt }\n" GEN,
             models[m]);
    same_run(ref, y);
    dk_result *r = run_ok(y);
    ck_assert_uint_lt(r->c[0].forward_passes, 24);
    dk_result_free(r);
  }
}
END_TEST

/* METHODS 10, test 4.  The stable model (seed 0) predicts j m p s v y b e
 * h k n q t w z c at positions 3..18, and position 11 ('h') is the most
 * confident.  With 'h' as the end-of-text token the first call decides it
 * and every position after it: the eight before it take eight more calls
 * (9 instead of 16), each seeing only positions up to 11. */
START_TEST(test_end_of_text) {
  static const char *const caches[] = {"none", "prefix"};
  for (int c = 0; c < 2; c++) {
    char y[512], n[512];
    snprintf(y, sizeof y,
             TOY("variant: stable") "decoder: { plugin: learn2pd, gen_length: 16, block_length: 16, eot_id: 9, "
                                    "cache: %s }\n" GEN,
             caches[c]);
    snprintf(n, sizeof n,
             TOY("variant: stable") "decoder: { plugin: learn2pd, gen_length: 16, block_length: 16, eot_id: 9, "
                                    "eotp: false, cache: %s }\n" GEN,
             caches[c]);
    dk_result *a = run_ok(y), *b = run_ok(n);
    ck_assert_str_eq(a->c[0].text, "jmpsvybehhhhhhhh");
    ck_assert_str_eq(b->c[0].text, "jmpsvybehknqtwzc");
    ck_assert_uint_eq(a->c[0].forward_passes, 9);
    ck_assert_uint_eq(b->c[0].forward_passes, 16);
    ck_assert_uint_lt(a->c[0].model_tokens, b->c[0].model_tokens);
    dk_result_free(a);
    dk_result_free(b);
  }
}
END_TEST

/* METHODS 10, test 5, and bad files: block 32 has 2,112 parameters. */
START_TEST(test_filter_files) {
  write_filter("l2pd-32.txt", 32, 0, -10, 1 << 20);
  dk_result *r = run_ok(TOY("variant: hash") "decoder: { plugin: learn2pd, gen_length: 32, block_length: 32, "
                                             "filter: l2pd-32.txt }\n" GEN);
  ck_assert(dkh_metric(&r->c[0], "learn2pd_params") == 2112);
  dk_result_free(r);
  /* The filter shipped for the bundled dLLM: blocks of 32, 2,112 numbers. */
  char y[4096];
  snprintf(y, sizeof y,
           TOY("variant: hash") "decoder: { plugin: learn2pd, gen_length: 32, block_length: 32, "
                                "filter: %s/models/decokit-tiny-diffusion-learn2pd.txt }\n" GEN,
           getenv("DECOKIT_SRCDIR"));
  r = run_ok(y);
  ck_assert(dkh_metric(&r->c[0], "learn2pd_params") == 2112);
  dk_result_free(r);
  write_filter("l2pd-short.txt", 8, 0, 0, 100);
  run_fails(TOY("") "decoder: { plugin: learn2pd, gen_length: 16, block_length: 8, filter: l2pd-short.txt }\n",
            "has 100 numbers, 144 expected for block 8");
  run_fails(TOY("") "decoder: { plugin: learn2pd, gen_length: 16, block_length: 8, filter: l2pd-32.txt }\n",
            "block_length: 8, but the filter was trained on blocks of 32");
  run_fails(TOY("") "decoder: { plugin: learn2pd, filter: no-such-filter.txt }\n", "filter: cannot open");
  FILE *f = fopen("l2pd-bad.txt", "w");
  fputs("something else\n", f);
  fclose(f);
  run_fails(TOY("") "decoder: { plugin: learn2pd, filter: l2pd-bad.txt }\n", "is not a decokit-learn2pd 1 file");
  run_fails(TOY("") "decoder: { plugin: learn2pd, eot_id: 99 }\n", "eot_id: 99 is outside");
}
END_TEST

/* The training data: one S line per forward (block offset, confidences,
 * tokens) and one F line with the final canvas. */
START_TEST(test_record) {
  remove("l2pd-rec.txt");
  dk_result *r = run_ok(TOY("variant: stable") "decoder: { plugin: learn2pd, gen_length: 8, block_length: 4, "
                                               "record: l2pd-rec.txt }\n" GEN);
  ck_assert_uint_eq(r->c[0].forward_passes, 8);
  dk_result_free(r);
  FILE *f = fopen("l2pd-rec.txt", "r");
  ck_assert_ptr_nonnull(f);
  char line[1024];
  int s = 0, fin = 0;
  while (fgets(line, sizeof line, f)) {
    if (line[0] == 'S') s++;
    if (line[0] == 'F') {
      fin++;
      ck_assert_str_eq(line, "F 11 14 17 20 23 26 3 6\n"); /* j m p s v y b e */
    }
  }
  fclose(f);
  ck_assert_int_eq(s, 8);
  ck_assert_int_eq(fin, 1);
}
END_TEST

int main(void) {
  Suite *s = suite_create("learn2pd");
  TCase *tc = tcase_create("core");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_yes_and_no);
  tcase_add_test(tc, test_threshold_filter);
  tcase_add_test(tc, test_end_of_text);
  tcase_add_test(tc, test_filter_files);
  tcase_add_test(tc, test_record);
  suite_add_tcase(s, tc);
  return dkh_run(s);
}
