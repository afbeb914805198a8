/* check_abi.c -- the ABI's sizes and offsets, and DK_HAS(), against the frozen table. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "abi_table.h"

START_TEST(test_sizes) {
#define X(type, expect) \
  ck_assert_msg(sizeof(type) == (expect), "sizeof(%s) is %zu, the frozen ABI says %d", #type, sizeof(type), expect);
  DK_ABI_SIZES(X)
#undef X
}
END_TEST

START_TEST(test_offsets) {
#define X(type, member, expect)                                                                  \
  ck_assert_msg(offsetof(type, member) == (expect), "offsetof(%s, %s) is %zu, the frozen ABI says %d", \
                #type, #member, offsetof(type, member), expect);
  DK_ABI_OFFSETS(X)
#undef X
}
END_TEST

START_TEST(test_constants) {
#define X(name, expect) ck_assert_msg((name) == (expect), "%s is %u, the frozen ABI says %u", #name, (unsigned)(name), (unsigned)(expect));
  DK_ABI_CONSTANTS(X)
#undef X
}
END_TEST

START_TEST(test_has) {
  dk_host host = {0};
  host.struct_size = offsetof(dk_host, get_proc);
  ck_assert(DK_HAS(&host, dk_host, session_rng));
  ck_assert(!DK_HAS(&host, dk_host, get_proc));
  host.struct_size = sizeof host;
  ck_assert(DK_HAS(&host, dk_host, get_proc));
  const dk_host *none = NULL;
  ck_assert(!DK_HAS(none, dk_host, log));
}
END_TEST

START_TEST(test_versions) {
  ck_assert_int_eq(DK_ABI_MAJOR, 1);
  ck_assert_int_ge(DK_ABI_MINOR, 3); /* 1.3: batched masked evaluation */
  ck_assert_int_lt(DK_ERR_INVALID, 0);
  ck_assert_int_gt(DK_DONE, 0);
  /* The first three descriptor fields never move. */
  ck_assert_uint_eq(offsetof(dk_plugin_desc, struct_size), 0);
  ck_assert_uint_eq(offsetof(dk_plugin_desc, abi_major), 4);
  ck_assert_uint_eq(offsetof(dk_plugin_desc, abi_minor), 6);
}
END_TEST

int main(void) {
  Suite *s = suite_create("abi");
  TCase *tc = tcase_create("layout");
  tcase_add_test(tc, test_sizes);
  tcase_add_test(tc, test_offsets);
  tcase_add_test(tc, test_constants);
  tcase_add_test(tc, test_has);
  tcase_add_test(tc, test_versions);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
