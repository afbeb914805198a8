/* check_contract.c -- plugins that break the ABI's contracts are stopped with a message naming them. */
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

/* Generate on the hash LM with the rogue sampler in `mode` after top_k;
 * returns the status of the whole run, message in err. */
static int run_rogue(const char *mode) {
  char yaml[8192];
  snprintf(yaml, sizeof yaml,
           "decokit: 1\nmodel: { plugin: hashlm }\n"
           "samplers: [ { plugin: top_k, k: 20 }, { plugin: %s/rogue.so, mode: %s }, { plugin: dist } ]\n"
           "generate: { max_tokens: 4, ignore_eos: true }\n",
           getenv("DECOKIT_FIXTURE_DIR"), mode);
  dk_pipeline *p;
  ck_assert_msg(dk_pipeline_parse(yaml, strlen(yaml), "t.yaml", ".", &p, &err) == DK_OK, "%s", err.msg);
  ck_assert_msg(dk_pipeline_resolve(p, reg, NULL, &err) == DK_OK, "%s", err.msg);
  dk_run_opts opts = {.prompt = "the cat", .logprobs = -1};
  dk_run *run;
  int rc = dk_run_new(p, &opts, &run, &err);
  if (!rc) {
    dk_result *r = NULL;
    rc = dk_run_generate(run, &r, &err);
    dk_result_free(r);
    dk_run_free(run);
  }
  dk_pipeline_free(p);
  return rc;
}

START_TEST(test_control_case) {
  ck_assert_msg(run_rogue("none") == DK_OK, "%s", err.msg);
}
END_TEST

START_TEST(test_broken_candidates) {
  static const struct {
    const char *mode, *msg;
  } cases[] = {
      {"grow", "sampler 'rogue': apply left 20007 candidates, more than the 20 it was given"},
      {"null", "sampler 'rogue': apply replaced the candidate array (with NULL); samplers may only reorder it"},
      {"moved", "sampler 'rogue': apply replaced the candidate array (with another pointer); samplers may only reorder it"},
      {"nan", "sampler 'rogue': apply wrote a NaN logit for token "},
      {"inf", "sampler 'rogue': apply wrote an infinite logit for token "},
      {"nan_p", "sampler 'rogue': apply wrote a NaN probability for token "},
      {"select", "sampler 'rogue': selected index 20 of 20 candidates"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    dk_error_clear(&err);
    int rc = run_rogue(cases[i].mode);
    ck_assert_msg(rc < 0, "mode %s: status %d", cases[i].mode, rc);
    ck_assert_msg(strstr(err.msg, cases[i].msg) != NULL, "mode %s: %s", cases[i].mode, err.msg);
  }
}
END_TEST

/* Positive codes other than where DK_DONE is allowed are errors, not a
 * quiet end of generation. */
START_TEST(test_positive_status) {
  ck_assert_int_lt(run_rogue("status"), 0);
  ck_assert_msg(strstr(err.msg, "sampler 'rogue': apply returned status 5, which is not a "
                                "dk_status it may return") != NULL, "%s", err.msg);
  dk_error_clear(&err);
  ck_assert_int_lt(run_rogue("create_status"), 0);
  ck_assert_msg(strstr(err.msg, "sampler 'rogue': create returned status 7, which is not a "
                                "dk_status it may return") != NULL, "%s", err.msg);
}
END_TEST

static char lib_path[4096];

static int open_fixture(const char *name) {
  snprintf(lib_path, sizeof lib_path, "%s/%s.so", getenv("DECOKIT_FIXTURE_DIR"), name);
  dk_library *lib = NULL;
  int rc = dk_library_open(lib_path, &lib, &err);
  dk_library_close(lib);
  return rc;
}

/* A descriptor claiming more components than its array holds is refused,
 * whatever lies after the array. */
START_TEST(test_component_count_overrun) {
  char want[8192];
  ck_assert_int_eq(open_fixture("overcount_guard"), DK_ERR_ABI);
  snprintf(want, sizeof want, "%s: the components array is shorter than n_components (2)", lib_path);
  ck_assert_str_eq(err.msg, want);
  ck_assert_int_eq(open_fixture("overcount_huge"), DK_ERR_ABI);
  snprintf(want, sizeof want, "%s: descriptor declares %zu components (at most 4096)", lib_path,
           (size_t)-1 / 2);
  ck_assert_str_eq(err.msg, want);
  ck_assert_int_eq(open_fixture("overcount_static"), DK_ERR_ABI);
  ck_assert_msg(strncmp(err.msg, lib_path, strlen(lib_path)) == 0, "%s", err.msg);
}
END_TEST

int main(void) {
  Suite *s = suite_create("contract");
  TCase *tc = tcase_create("contract");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_control_case);
  tcase_add_test(tc, test_broken_candidates);
  tcase_add_test(tc, test_positive_status);
  tcase_add_test(tc, test_component_count_overrun);
  suite_add_tcase(s, tc);
  return dkh_run(s);
}
