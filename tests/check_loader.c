/* check_loader.c -- every ABI rule of the loader, one real .so fixture per failure mode. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "harness.h"
#include "instance.h"
#include "loader.h"
#include "params.h"

static char path_buf[4096];

static const char *fixture(const char *name) {
  const char *dir = getenv("DECOKIT_FIXTURE_DIR");
  snprintf(path_buf, sizeof path_buf, "%s/%s.so", dir ? dir : "tests/fixtures/.libs", name);
  return path_buf;
}

/* Open a fixture expecting failure; returns the message. */
static const char *refusal(const char *name, int expect_code) {
  static dk_error err;
  dk_error_clear(&err);
  dk_library *lib = NULL;
  int rc = dk_library_open(fixture(name), &lib, &err);
  ck_assert_msg(rc == expect_code, "%s: expected status %d, got %d (%s)", name, expect_code, rc,
                err.msg);
  ck_assert_ptr_null(lib);
  return err.msg;
}

static void assert_msg(const char *got, const char *fmt_after_path) {
  char want[8192];
  snprintf(want, sizeof want, "%s%s", path_buf, fmt_after_path);
  ck_assert_str_eq(got, want);
}

START_TEST(test_good_loads) {
  dk_error err;
  dk_error_clear(&err);
  dk_library *lib;
  ck_assert_int_eq(dk_library_open(fixture("good"), &lib, &err), DK_OK);
  ck_assert_str_eq(lib->desc.name, "good");
  ck_assert_uint_eq(lib->n_comps, 1);
  ck_assert_uint_eq(lib->comps[0].kind, DK_KIND_SAMPLER);
  ck_assert_uint_eq(lib->comps[0].n_specs, 1);
  ck_assert_str_eq(lib->comps[0].specs[0].name, "bias");
  dk_library_close(lib);
}
END_TEST

START_TEST(test_no_entry) {
  assert_msg(refusal("no_entry", DK_ERR_ABI), ": no symbol 'dk_plugin_entry' (not a decokit plugin?)");
}
END_TEST

START_TEST(test_bad_major) {
  char want[64];
  snprintf(want, sizeof want, ": built for ABI 2.0, host speaks %d.%d", DK_ABI_MAJOR, DK_ABI_MINOR);
  assert_msg(refusal("bad_major", DK_ERR_ABI), want);
}
END_TEST

/* A corrupt size is refused before the zero-tail check reads past the struct. */
START_TEST(test_huge_struct_size) {
  char want[256];
  snprintf(want, sizeof want,
           ": component 'future_huge' (sampler): struct_size %u is above 64 KiB or not readable",
           0x40000000u);
  assert_msg(refusal("future_huge", DK_ERR_ABI), want);
}
END_TEST

START_TEST(test_future_used) {
  char want[512];
  /* The descriptor's tail is zero; the sampler's tail carries a function. */
  const char *msg = refusal("future_used", DK_ERR_ABI);
  snprintf(want, sizeof want,
           ": component 'future_used' (sampler) uses fields this host does not know (struct is "
           "%zu bytes, host knows %zu, byte %zu is set): upgrade decokit",
           sizeof(dk_sampler_iface) + sizeof(void *), sizeof(dk_sampler_iface),
           sizeof(dk_sampler_iface));
  assert_msg(msg, want);
}
END_TEST

START_TEST(test_missing_op) {
  assert_msg(refusal("missing_op", DK_ERR_ABI),
             ": component 'missing_op' (sampler): required operation 'apply' is missing");
}
END_TEST

START_TEST(test_init_fails) {
  assert_msg(refusal("init_fails", DK_ERR_UNSUPPORTED), ": init failed: needs a device we lack");
}
END_TEST

START_TEST(test_unresolved) {
  const char *msg = refusal("unresolved", DK_ERR_IO);
  ck_assert_msg(strstr(msg, "cannot load: ") != NULL, "%s", msg);
  ck_assert_msg(strstr(msg, "dk_fixture_symbol_nobody_defines") != NULL, "%s", msg);
  ck_assert_msg(strstr(msg, "(try ldd(1) on it)") != NULL, "%s", msg);
}
END_TEST

/* Create the fixture sampler and run it over three logits. */
static void run_fixture_sampler(const dk_component *c, float expect_bias) {
  dk_error err;
  dk_error_clear(&err);
  dk_config cfg;
  ck_assert_int_eq(dk_config_init(&cfg, c->hdr, &err), DK_OK);
  ck_assert_int_eq(dk_config_finish(&cfg, NULL, &err), DK_OK);
  dk_instance *in;
  ck_assert_int_eq(dk_instance_create(c, &cfg, 1, 0, NULL, 1, &in, &err), DK_OK);
  dk_token_data d[3] = {{0, 1, 0}, {1, 2, 0}, {2, 3, 0}};
  dk_candidates cand = {d, 3, -1, 0};
  dk_sample_ctx ctx = {sizeof ctx, NULL, 0, 0};
  ck_assert_int_eq(c->copy.sampler.apply(in->inst, &ctx, &cand, &err), DK_OK);
  ck_assert_float_eq(d[2].logit, 3 + expect_bias);
  dk_instance_destroy(in);
  dk_config_free(&cfg);
}

START_TEST(test_old_minor_zero_filled) {
  dk_error err;
  dk_error_clear(&err);
  dk_library *lib;
  ck_assert_int_eq(dk_library_open(fixture("old_minor"), &lib, &err), DK_OK);
  /* The host's copies are full size; what the plugin lacked reads as NULL. */
  ck_assert_ptr_null(lib->desc.init);
  ck_assert_ptr_null(lib->desc.fini);
  ck_assert_uint_eq(lib->comps[0].hdr->struct_size, sizeof(dk_sampler_iface));
  ck_assert_ptr_null(lib->comps[0].copy.sampler.reset);
  ck_assert_ptr_null(lib->comps[0].copy.sampler.clone);
  run_fixture_sampler(&lib->comps[0], 1.5f);
  dk_library_close(lib);
}
END_TEST

START_TEST(test_future_zero_tail_accepted) {
  dk_error err;
  dk_error_clear(&err);
  dk_library *lib;
  ck_assert_msg(dk_library_open(fixture("future_zero"), &lib, &err) == DK_OK, "%s", err.msg);
  ck_assert_uint_eq(lib->desc.abi_minor, DK_ABI_MINOR + 1);
  run_fixture_sampler(&lib->comps[0], 1.5f);
  dk_library_close(lib);
}
END_TEST

START_TEST(test_duplicate_names) {
  dk_registry *reg = dk_registry_new();
  dk_error err;
  dk_error_clear(&err);
  const dk_component *c;
  char a[4096], b[4096];
  snprintf(a, sizeof a, "%s", fixture("twin_a"));
  snprintf(b, sizeof b, "%s", fixture("twin_b"));
  ck_assert_int_eq(dk_registry_find(reg, DK_KIND_SAMPLER, a, &c, &err), DK_OK);
  ck_assert_int_eq(dk_registry_find(reg, DK_KIND_SAMPLER, b, &c, &err), DK_ERR_INVALID);
  char want[8400];
  snprintf(want, sizeof want, "duplicate sampler plugin 'twin': %s and %s", a, b);
  ck_assert_str_eq(err.msg, want);
  dk_registry_free(reg);
}
END_TEST

START_TEST(test_search_path) {
  dk_registry *reg = dk_registry_new();
  dk_error err;
  dk_error_clear(&err);
  const char *dir = getenv("DECOKIT_FIXTURE_DIR");
  dk_registry_add_path(reg, "/nonexistent/decokit-plugins");
  dk_registry_add_path(reg, dir);
  const dk_component *c;
  ck_assert_int_eq(dk_registry_find(reg, DK_KIND_SAMPLER, "good", &c, &err), DK_OK);
  ck_assert_str_eq(c->hdr->name, "good");
  /* Right name, wrong kind: say what it is. */
  ck_assert_int_eq(dk_registry_find(reg, DK_KIND_DECODER, "good", &c, &err), DK_ERR_INVALID);
  ck_assert_msg(strstr(err.msg, "plugin 'good' is a sampler, not a decoder") != NULL, "%s", err.msg);
  ck_assert_int_eq(dk_registry_find(reg, DK_KIND_SAMPLER, "absent", &c, &err), DK_ERR_INVALID);
  char want[8192];
  snprintf(want, sizeof want, "no sampler plugin named 'absent' (searched: /nonexistent/decokit-plugins:%s)", dir);
  ck_assert_str_eq(err.msg, want);
  dk_registry_free(reg);
}
END_TEST

START_TEST(test_scan_collects_problems) {
  dk_registry *reg = dk_registry_new();
  dk_registry_add_path(reg, getenv("DECOKIT_FIXTURE_DIR"));
  char *problems = NULL;
  ck_assert_int_eq(dk_registry_scan(reg, &problems), DK_OK);
  ck_assert_ptr_nonnull(problems);
  ck_assert_msg(strstr(problems, "built for ABI 2.0") != NULL, "%s", problems);
  ck_assert_msg(strstr(problems, "duplicate sampler plugin 'twin'") != NULL, "%s", problems);
  /* The good ones are still listed. */
  int found = 0;
  for (size_t i = 0; i < dk_registry_count(reg); i++)
    found |= strcmp(dk_registry_component(reg, i)->hdr->name, "good") == 0;
  ck_assert(found);
  free(problems);
  dk_registry_free(reg);
}
END_TEST

/* The crash is inside the plugin; check's fork mode keeps it in the child. */
START_TEST(test_crash_contained) {
  dk_error err;
  dk_error_clear(&err);
  dk_library *lib;
  ck_assert_int_eq(dk_library_open(fixture("crash"), &lib, &err), DK_OK);
  run_fixture_sampler(&lib->comps[0], 1.5f);
  dk_library_close(lib);
}
END_TEST

int main(void) {
  Suite *s = suite_create("loader");
  TCase *tc = tcase_create("fixtures");
  tcase_add_test(tc, test_good_loads);
  tcase_add_test(tc, test_no_entry);
  tcase_add_test(tc, test_bad_major);
  tcase_add_test(tc, test_future_used);
  tcase_add_test(tc, test_huge_struct_size);
  tcase_add_test(tc, test_missing_op);
  tcase_add_test(tc, test_init_fails);
  tcase_add_test(tc, test_unresolved);
  tcase_add_test(tc, test_old_minor_zero_filled);
  tcase_add_test(tc, test_future_zero_tail_accepted);
  tcase_add_test(tc, test_duplicate_names);
  tcase_add_test(tc, test_search_path);
  tcase_add_test(tc, test_scan_collects_problems);
  suite_add_tcase(s, tc);
  /* Without fork mode (valgrind runs) a crash would take the runner down;
   * under ASan the sanitizer turns the signal into its own exit. */
  const char *fork = getenv("CK_FORK");
  int asan = 0;
#if defined(__SANITIZE_ADDRESS__)
  asan = 1;
#endif
  if (!(fork && strcmp(fork, "no") == 0) && !asan) {
    TCase *tcc = tcase_create("crash");
    tcase_add_test_raise_signal(tcc, test_crash_contained, SIGSEGV);
    suite_add_tcase(s, tcc);
  }
  return dkh_run(s);
}
