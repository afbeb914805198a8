/* check_grammar_plugins.c -- the gbnf, json_schema, regex and choice plugins through the real loader */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const char *const pieces[] = {"{", "}", "\"", "a", "b", ":", "1", "12", " ", "yes", "no",
                                     "</s>", "<s>", "\"a\"", "\xc3", "\xa9"};
enum { N = 16, EOS = 11, BOS = 12 };

static dk_vocab vocab(uint32_t *len, uint8_t *attr) {
  for (int i = 0; i < N; i++) {
    len[i] = (uint32_t)strlen(pieces[i]);
    attr[i] = (i == EOS || i == BOS) ? DK_TOKEN_CONTROL : 0;
  }
  dk_vocab v = {sizeof v, N, BOS, EOS, -1, pieces, len, attr};
  return v;
}

static uint32_t mask(const dk_constraint_iface *ci, void *inst, dk_harness *h) {
  uint32_t w = 0;
  ck_assert_int_eq(ci->mask(inst, &w, dkh_error(h)), DK_OK);
  return w;
}

#define B(t) (1u << (t))

START_TEST(test_choice_plugin) {
  dk_harness *h = dkh_new();
  ck_assert_ptr_nonnull(h);
  uint32_t len[N];
  uint8_t attr[N];
  dk_vocab v = vocab(len, attr);
  const char *kv[] = {"options", "[yes,no,a1]", NULL};
  const void *iface;
  char err[512];
  void *inst = dkh_create(h, DK_KIND_CONSTRAINT, "choice", kv, 1, &v, &iface, err, sizeof err);
  ck_assert_msg(inst != NULL, "%s", err);
  const dk_constraint_iface *ci = iface;
  ck_assert_uint_eq(mask(ci, inst, h), B(3) | B(9) | B(10));
  ck_assert_int_eq(ci->advance(inst, 3, dkh_error(h)), DK_OK);
  const char *fb;
  size_t fl;
  ck_assert_int_eq(ci->forced(inst, &fb, &fl), 1);
  ck_assert_uint_eq(fl, 1);
  ck_assert_int_eq(fb[0], '1');
  void *fork;
  ck_assert_int_eq(ci->fork(inst, &fork, dkh_error(h)), DK_OK);
  ck_assert_int_eq(ci->advance(fork, 6, dkh_error(h)), DK_OK);
  ck_assert_int_eq(ci->is_complete(fork), 1);
  ck_assert_uint_eq(mask(ci, fork, h), B(EOS));
  ck_assert_int_eq(ci->is_complete(inst), 0);
  ck_assert_int_eq(ci->advance(inst, 7, dkh_error(h)), DK_ERR_INVALID);
  ck_assert_str_eq(dkh_error_message(h), "choice: token 7 ('12') is not allowed here");
  ck_assert_int_eq(ci->rollback(inst, 1, dkh_error(h)), DK_OK);
  ck_assert_uint_eq(mask(ci, inst, h), B(3) | B(9) | B(10));
  ck_assert_int_eq(ci->rollback(inst, 1, dkh_error(h)), DK_ERR_INVALID);
  ci->destroy(fork);
  dkh_destroy(h, inst);
  dkh_free(h);
}
END_TEST

START_TEST(test_schema_and_gbnf_plugins) {
  dk_harness *h = dkh_new();
  uint32_t len[N];
  uint8_t attr[N];
  dk_vocab v = vocab(len, attr);
  const void *iface;
  char err[512];
  const char *kv[] = {"schema", "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},"
                                "\"required\":[\"a\"]}",
                      "whitespace", "none", NULL};
  void *inst = dkh_create(h, DK_KIND_CONSTRAINT, "json_schema", kv, 1, &v, &iface, err, sizeof err);
  ck_assert_msg(inst != NULL, "%s", err);
  const dk_constraint_iface *ci = iface;
  ck_assert_uint_eq(mask(ci, inst, h), B(0));
  const char *fb;
  size_t fl;
  ck_assert_int_eq(ci->forced(inst, &fb, &fl), 1);
  ck_assert_uint_eq(fl, 5);
  ck_assert_int_eq(memcmp(fb, "{\"a\":", 5), 0);
  static const int seq[] = {0, 13, 5, 7, 1};
  for (int i = 0; i < 5; i++) ck_assert_int_eq(ci->advance(inst, seq[i], dkh_error(h)), DK_OK);
  ck_assert_int_eq(ci->is_complete(inst), 1);
  ck_assert_int_eq(ci->advance(inst, EOS, dkh_error(h)), DK_OK);
  ck_assert_uint_eq(mask(ci, inst, h), 0);
  dkh_destroy(h, inst);
  /* unknown keywords are ignored, unless strict */
  const char *ext[] = {"schema", "{\"type\":\"string\",\"x-note\":1}", NULL};
  inst = dkh_create(h, DK_KIND_CONSTRAINT, "json_schema", ext, 1, &v, &iface, err, sizeof err);
  ck_assert_msg(inst != NULL, "%s", err);
  dkh_destroy(h, inst);
  const char *bad[] = {"schema", "{\"type\":\"string\",\"x-note\":1}", "strict", "true", NULL};
  ck_assert_ptr_null(dkh_create(h, DK_KIND_CONSTRAINT, "json_schema", bad, 1, &v, &iface, err,
                                sizeof err));
  ck_assert_msg(strstr(err, "unknown keyword 'x-note' (strict mode refuses it)") != NULL, "%s", err);
  const char *order[] = {"schema", "{}", "properties_order", "sorted", NULL};
  ck_assert_ptr_null(dkh_create(h, DK_KIND_CONSTRAINT, "json_schema", order, 1, &v, &iface, err,
                                sizeof err));
  ck_assert_msg(strstr(err, "properties_order must be declared or any, not 'sorted'") != NULL,
                "%s", err);
  const char *g[] = {"grammar", "root ::= [\\u00e0-\\u00ff]+", NULL};
  inst = dkh_create(h, DK_KIND_CONSTRAINT, "gbnf", g, 1, &v, &iface, err, sizeof err);
  ck_assert_msg(inst != NULL, "%s", err);
  ci = iface;
  ck_assert_uint_eq(mask(ci, inst, h), B(14));
  ck_assert_int_eq(ci->advance(inst, 14, dkh_error(h)), DK_OK);
  ck_assert_uint_eq(mask(ci, inst, h), B(15));
  dkh_destroy(h, inst);
  const char *broken[] = {"grammar", "root ::= (\"a\"", NULL};
  ck_assert_ptr_null(dkh_create(h, DK_KIND_CONSTRAINT, "gbnf", broken, 1, &v, &iface, err, sizeof err));
  ck_assert_msg(strstr(err, "grammar:1:10: expected ')' to close this group") != NULL, "%s", err);
  /* a device or a folder as the grammar or schema file is refused, never read */
  static const char *const kinds[] = {"gbnf", "json_schema"};
  static const char *const paths[] = {"/dev/zero", "."};
  for (int k = 0; k < 2; k++)
    for (int q = 0; q < 2; q++) {
      const char *kvf[] = {"file", paths[q], NULL};
      ck_assert_ptr_null(dkh_create(h, DK_KIND_CONSTRAINT, kinds[k], kvf, 1, &v, &iface, err,
                                    sizeof err));
      ck_assert_msg(strstr(err, "is not a regular file") != NULL, "%s", err);
    }
  const char *re[] = {"pattern", "a+b?", NULL};
  inst = dkh_create(h, DK_KIND_CONSTRAINT, "regex", re, 1, &v, &iface, err, sizeof err);
  ck_assert_msg(inst != NULL, "%s", err);
  ci = iface;
  ck_assert_uint_eq(mask(ci, inst, h), B(3));
  ck_assert_int_eq(ci->advance(inst, 3, dkh_error(h)), DK_OK);
  ck_assert_uint_eq(mask(ci, inst, h), B(3) | B(4) | B(EOS));
  dkh_destroy(h, inst);
  dkh_free(h);
}
END_TEST

int main(void) {
  Suite *s = suite_create("grammar-plugins");
  TCase *tc = tcase_create("plugins");
  tcase_add_test(tc, test_choice_plugin);
  tcase_add_test(tc, test_schema_and_gbnf_plugins);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
