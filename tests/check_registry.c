/* check_registry.c -- finding plugins by name: duplicates, suggestions, misnamed files, the search order. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "loader.h"
#include "suggest.h"

static char dir[4096];
static dk_error err;

/* A scratch folder in the build tree with sub-folders a/ and b/. */
static void setup(void) {
  const char *b = getenv("DECOKIT_BUILDDIR");
  snprintf(dir, sizeof dir, "%s/tests/dk-registry-XXXXXX", b ? b : ".");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char p[4200];
  snprintf(p, sizeof p, "%s/a", dir);
  ck_assert_int_eq(mkdir(p, 0700), 0);
  snprintf(p, sizeof p, "%s/b", dir);
  ck_assert_int_eq(mkdir(p, 0700), 0);
  dk_error_clear(&err);
}

static void teardown(void) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}

/* Copy fixture NAME.so to DIR/SUB/AS.so (a copy: a link would be the same file). */
static void place(const char *name, const char *sub, const char *as) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "cp '%s/%s.so' '%s/%s/%s.so'", getenv("DECOKIT_FIXTURE_DIR"), name,
           dir, sub, as);
  ck_assert_int_eq(system(cmd), 0);
}

static dk_registry *two_folders(void) {
  dk_registry *reg = dk_registry_new();
  char p[8500];
  snprintf(p, sizeof p, "%s/a:%s/b", dir, dir);
  ck_assert_int_eq(dk_registry_add_path(reg, p), DK_OK);
  return reg;
}

/* Two folders providing one component: an error naming both files, never a
 * silent choice of the first. */
START_TEST(test_duplicate_across_folders) {
  place("good", "a", "good");
  place("good", "b", "good");
  dk_registry *reg = two_folders();
  const dk_component *c;
  ck_assert_int_eq(dk_registry_find(reg, DK_KIND_SAMPLER, "good", &c, &err), DK_ERR_INVALID);
  char want[12800];
  snprintf(want, sizeof want, "duplicate sampler plugin 'good': %s/a/good.so and %s/b/good.so", dir,
           dir);
  ck_assert_str_eq(err.msg, want);
  dk_registry_free(reg);
  /* One folder named twice is one folder, not a duplicate. */
  reg = dk_registry_new();
  char p[8500];
  snprintf(p, sizeof p, "%s/a:%s/./a", dir, dir);
  ck_assert_int_eq(dk_registry_add_path(reg, p), DK_OK);
  ck_assert_msg(dk_registry_find(reg, DK_KIND_SAMPLER, "good", &c, &err) == DK_OK, "%s", err.msg);
  snprintf(want, sizeof want, "%s/a", dir);
  ck_assert_str_eq(dk_registry_path_string(reg), want);
  dk_registry_free(reg);
}
END_TEST

/* NAME.so that provides another component says so. */
START_TEST(test_file_with_another_name) {
  place("good", "a", "alt");
  dk_registry *reg = two_folders();
  const dk_component *c;
  ck_assert_int_eq(dk_registry_find(reg, DK_KIND_SAMPLER, "alt", &c, &err), DK_ERR_INVALID);
  char want[12800];
  snprintf(want, sizeof want,
           "no sampler plugin named 'alt': %s/a/alt.so provides sampler 'good', not 'alt'", dir);
  ck_assert_str_eq(err.msg, want);
  dk_registry_free(reg);
}
END_TEST

START_TEST(test_did_you_mean) {
  place("good", "b", "good");
  dk_registry *reg = two_folders();
  const dk_component *c;
  ck_assert_int_eq(dk_registry_find(reg, DK_KIND_SAMPLER, "godo", &c, &err), DK_ERR_INVALID);
  char want[12800];
  snprintf(want, sizeof want,
           "no sampler plugin named 'godo'; did you mean 'good'? (searched: %s/a:%s/b)", dir, dir);
  ck_assert_str_eq(err.msg, want);
  /* Nothing close: no guess. */
  ck_assert_int_eq(dk_registry_find(reg, DK_KIND_SAMPLER, "mirostat", &c, &err), DK_ERR_INVALID);
  ck_assert_ptr_null(strstr(err.msg, "did you mean"));
  dk_registry_free(reg);
  static const char *const names[] = {"top_k", "top_p", "min_p", "temperature"};
  ck_assert_str_eq(dk_suggest("tpo_k", names, 4), "top_k");    /* a swap is one edit */
  ck_assert_str_eq(dk_suggest("temprature", names, 4), "temperature");
  ck_assert_ptr_null(dk_suggest("typical", names, 4));
  ck_assert_ptr_null(dk_suggest("k", names, 4));
}
END_TEST

/* DECOKIT_PLUGIN_PATH adds folders in front; the bundled folder stays last. */
START_TEST(test_environment_adds) {
  char a[4200], want[12800];
  snprintf(a, sizeof a, "%s/a", dir);
  setenv("DECOKIT_PLUGIN_PATH", a, 1);
  dk_registry *reg = dk_registry_new();
  ck_assert_int_eq(dk_registry_standard_paths(reg, NULL, NULL, NULL), DK_OK);
  snprintf(want, sizeof want, "%s:%s", a, PLUGINDIR);
  ck_assert_str_eq(dk_registry_path_string(reg), want);
  dk_registry_free(reg);
  /* Run from a build tree, its plugins stand in for the installed ones. */
  char b[4200];
  snprintf(b, sizeof b, "%s/b", dir);
  reg = dk_registry_new();
  ck_assert_int_eq(dk_registry_standard_paths(reg, NULL, NULL, b), DK_OK);
  snprintf(want, sizeof want, "%s:%s", a, b);
  ck_assert_str_eq(dk_registry_path_string(reg), want);
  dk_registry_free(reg);
  unsetenv("DECOKIT_PLUGIN_PATH");
}
END_TEST

int main(void) {
  Suite *s = suite_create("registry");
  TCase *tc = tcase_create("registry");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_duplicate_across_folders);
  tcase_add_test(tc, test_file_with_another_name);
  tcase_add_test(tc, test_did_you_mean);
  tcase_add_test(tc, test_environment_adds);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
