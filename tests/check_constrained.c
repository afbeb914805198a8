/* check_constrained.c -- constrained generation end to end: every seeded output is in the language. */
#include <check.h>
#include <jansson.h>
#include <regex.h>
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

/* Run one pipeline with a given seed on the hash LM (a different random
 * model per seed too, so the walks differ). */
static dk_result *run_seed(const char *constraint, unsigned seed, int max_tokens) {
  char yaml[2048];
  snprintf(yaml, sizeof yaml,
           "decokit: 1\nmodel: { plugin: hashlm, seed: %u }\nconstraint: %s\n"
           "samplers: [ { plugin: temperature, t: 1.5 }, { plugin: dist } ]\n"
           "generate: { prompt: \"x\", max_tokens: %d, seed: %u }\n",
           seed, constraint, max_tokens, seed);
  dk_pipeline *p;
  ck_assert_msg(dk_pipeline_parse(yaml, strlen(yaml), "t.yaml", ".", &p, &err) == DK_OK, "%s", err.msg);
  ck_assert_msg(dk_pipeline_resolve(p, reg, NULL, &err) == DK_OK, "%s", err.msg);
  dk_run_opts opts = {.logprobs = -1};
  dk_run *run;
  ck_assert_msg(dk_run_new(p, &opts, &run, &err) == DK_OK, "%s", err.msg);
  dk_result *r = NULL;
  ck_assert_msg(dk_run_generate(run, &r, &err) == DK_OK, "seed %u: %s", seed, err.msg);
  ck_assert_uint_gt(r->c[0].n_mask, 0); /* the mask ran, and was timed */
  dk_run_free(run);
  dk_pipeline_free(p);
  return r;
}

START_TEST(test_choice) {
  int seen[3] = {0, 0, 0};
  static const char *opts[] = {"red", "green", "blue"};
  for (unsigned seed = 0; seed < 60; seed++) {
    dk_result *r = run_seed("{ plugin: choice, options: [red, green, blue] }", seed, 16);
    ck_assert_str_eq(r->c[0].stop_reason, "eos");
    int k = -1;
    for (int i = 0; i < 3; i++)
      if (strcmp(r->c[0].text, opts[i]) == 0) k = i;
    ck_assert_msg(k >= 0, "seed %u: '%s' is not an option", seed, r->c[0].text);
    seen[k]++;
    dk_result_free(r);
  }
  /* Sampling, not a fixed answer: every option comes up. */
  ck_assert(seen[0] && seen[1] && seen[2]);
}
END_TEST

START_TEST(test_regex) {
  regex_t re;
  ck_assert_int_eq(regcomp(&re, "^[0-9]{3}-(yes|no)$", REG_EXTENDED | REG_NOSUB), 0);
  for (unsigned seed = 0; seed < 100; seed++) {
    dk_result *r = run_seed("{ plugin: regex, pattern: '[0-9]{3}-(yes|no)' }", seed, 24);
    ck_assert_str_eq(r->c[0].stop_reason, "eos");
    ck_assert_msg(regexec(&re, r->c[0].text, 0, NULL, 0) == 0, "seed %u: '%s'", seed, r->c[0].text);
    dk_result_free(r);
  }
  regfree(&re);
}
END_TEST

START_TEST(test_json_schema) {
  const char *c =
      "{ plugin: json_schema, whitespace: none, schema: '{\"type\":\"object\",\"properties\":"
      "{\"ok\":{\"type\":\"boolean\"},\"n\":{\"type\":\"integer\",\"minimum\":-5,\"maximum\":40},"
      "\"tag\":{\"enum\":[\"a\",\"bc\"]}},\"required\":[\"ok\",\"n\",\"tag\"],"
      "\"additionalProperties\":false}' }";
  for (unsigned seed = 0; seed < 100; seed++) {
    dk_result *r = run_seed(c, seed, 64);
    ck_assert_str_eq(r->c[0].stop_reason, "eos");
    json_error_t je;
    json_t *doc = json_loads(r->c[0].text, 0, &je);
    ck_assert_msg(doc != NULL, "seed %u: '%s' does not parse: %s", seed, r->c[0].text, je.text);
    ck_assert(json_is_object(doc));
    ck_assert_uint_eq(json_object_size(doc), 3);
    ck_assert(json_is_boolean(json_object_get(doc, "ok")));
    json_t *n = json_object_get(doc, "n");
    ck_assert(json_is_integer(n));
    ck_assert(json_integer_value(n) >= -5 && json_integer_value(n) <= 40);
    const char *tag = json_string_value(json_object_get(doc, "tag"));
    ck_assert(tag && (strcmp(tag, "a") == 0 || strcmp(tag, "bc") == 0));
    json_decref(doc);
    dk_result_free(r);
  }
}
END_TEST

START_TEST(test_gbnf_file_and_errors) {
  /* A grammar with a located parse error is refused when the run is made:
   * the constraint is compiled once per run, before any generation. */
  const char *y = "decokit: 1\nmodel: { plugin: hashlm }\nconstraint: { plugin: gbnf, grammar: 'root ::= \"a\" bad' }\n";
  dk_pipeline *p;
  ck_assert_int_eq(dk_pipeline_parse(y, strlen(y), "t.yaml", ".", &p, &err), DK_OK);
  ck_assert_int_eq(dk_pipeline_resolve(p, reg, NULL, &err), DK_OK);
  dk_run_opts opts = {.logprobs = -1};
  dk_run *run = NULL;
  ck_assert_int_ne(dk_run_new(p, &opts, &run, &err), DK_OK);
  ck_assert_ptr_null(run);
  ck_assert_msg(strstr(err.msg, "constraint 'gbnf'") != NULL, "%s", err.msg);
  ck_assert_msg(strstr(err.msg, "bad") != NULL, "%s", err.msg); /* names the undefined rule */
  dk_pipeline_free(p);
}
END_TEST

int main(void) {
  Suite *s = suite_create("constrained");
  TCase *tc = tcase_create("constrained");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_choice);
  tcase_add_test(tc, test_regex);
  tcase_add_test(tc, test_json_schema);
  tcase_add_test(tc, test_gbnf_file_and_errors);
  suite_add_tcase(s, tc);
  return dkh_run(s);
}
