/* check_schema_oneof.c -- anyOf/oneOf branches: oneOf made exclusive by narrowing, branches that match nothing dropped */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar.h"
#include "schema_engine.h"

static dkg_vocab *V;

static dkg_engine *schema(const char *json) { return se_schema(V, json, DKG_WS_NONE); }

/* The object with the members of mask (bit i: property names[i], value 1), in
 * declared order. */
static void object_of(char *buf, size_t cap, const char *const *names, int n, unsigned mask) {
  size_t k = (size_t)snprintf(buf, cap, "{");
  for (int i = 0; i < n; i++)
    if (mask & 1u << i) k += (size_t)snprintf(buf + k, cap - k, "%s\"%s\":1", k > 1 ? "," : "", names[i]);
  snprintf(buf + k, cap - k, "}");
}

/* Branches that differ only by their required property: each branch's objects lack
 * the others' required properties, so exactly the one-property objects remain. */
START_TEST(test_required_apart) {
  static const char *const names[] = {"a", "b", "c"};
  dkg_engine *e = schema("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},"
                         "\"b\":{\"type\":\"integer\"},\"c\":{\"type\":\"integer\"}},\"oneOf\":["
                         "{\"required\":[\"a\"]},{\"required\":[\"b\"]},{\"required\":[\"c\"]}]}");
  for (unsigned mask = 0; mask < 8; mask++) {
    char obj[64];
    object_of(obj, sizeof obj, names, 3, mask);
    int exactly_one = mask == 1 || mask == 2 || mask == 4;
    ck_assert_msg(se_matches(e, obj) == exactly_one, "%s", obj);
  }
  dkg_engine_release(e);
  /* two required properties against one: {a,b} matches only the first branch, and
   * the second must not write a (which would make {a,b}) */
  e = schema("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":"
             "\"integer\"},\"c\":{\"type\":\"integer\"}},\"oneOf\":[{\"required\":[\"a\",\"b\"]},"
             "{\"required\":[\"c\"]}]}");
  for (unsigned mask = 0; mask < 8; mask++) {
    char obj[64];
    object_of(obj, sizeof obj, names, 3, mask);
    int first = (mask & 3) == 3, second = (mask & 4) != 0;
    if (se_matches(e, obj)) ck_assert_msg(first != second, "%s", obj);
  }
  ck_assert(se_matches(e, "{\"a\":1,\"b\":1}"));
  ck_assert(se_matches(e, "{\"c\":1}"));
  ck_assert(se_matches(e, "{\"b\":1,\"c\":1}"));   /* b alone does not make the first branch */
  dkg_engine_release(e);
}
END_TEST

/* Branches behind references are followed: a property one requires and the other's
 * additionalProperties: false refuses, or narrowing where neither refuses it. */
START_TEST(test_references_followed) {
  dkg_engine *e = schema(
      "{\"oneOf\":[{\"$ref\":\"#/$defs/p\"},{\"$ref\":\"#/$defs/l\"}],\"$defs\":{"
      "\"p\":{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{\"text\":"
      "{\"type\":\"string\"},\"type\":{\"type\":\"string\"}},\"required\":[\"type\",\"text\"]},"
      "\"l\":{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{\"items\":"
      "{\"type\":\"array\"},\"type\":{\"type\":\"string\"}},\"required\":[\"type\",\"items\"]}}}");
  ck_assert(se_matches(e, "{\"text\":\"y\",\"type\":\"x\"}"));   /* declared order */
  ck_assert(se_matches(e, "{\"items\":[],\"type\":\"x\"}"));
  ck_assert(!se_matches(e, "{\"type\":\"x\"}"));
  dkg_engine_release(e);
  e = schema("{\"oneOf\":[{\"$ref\":\"#/definitions/x\"},{\"$ref\":\"#/definitions/y\"}],"
             "\"definitions\":{\"x\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":"
             "\"integer\"},\"y\":{\"type\":\"integer\"}},\"required\":[\"x\"]},\"y\":{\"type\":"
             "\"object\",\"properties\":{\"x\":{\"type\":\"integer\"},\"y\":{\"type\":\"integer\"}},"
             "\"required\":[\"y\"]}}}");
  ck_assert(se_matches(e, "{\"x\":1}"));
  ck_assert(se_matches(e, "{\"y\":1}"));
  ck_assert(!se_matches(e, "{\"x\":1,\"y\":1}"));
  ck_assert(!se_matches(e, "{\"y\":1,\"x\":1}"));
  dkg_engine_release(e);
}
END_TEST

/* Branches that require the same properties stay refused: nothing tells them apart. */
START_TEST(test_still_refused) {
  const char *js = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"oneOf\":"
                   "[{\"required\":[\"a\"]},{\"required\":[\"a\"],\"maxProperties\":3}]}";
  char err[512];
  char *g = dkg_json_schema_to_gbnf(js, strlen(js), DKG_WS_NONE, err, sizeof err);
  ck_assert_ptr_null(g);
  ck_assert_msg(strstr(err, "may both match one value") != NULL, "%s", err);
}
END_TEST

/* A branch that requires a property it cannot hold matches nothing and is dropped:
 * the other branches still compile. */
START_TEST(test_impossible_branch_dropped) {
  static const char *const kw[] = {"anyOf", "oneOf"};
  for (int k = 0; k < 2; k++) {
    char js[512];
    snprintf(js, sizeof js,
             "{\"%s\":[{\"type\":\"object\",\"properties\":{\"a\":false},\"required\":[\"a\"]},"
             "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"b\"]},"
             "{\"type\":\"object\",\"properties\":{\"c\":{\"type\":\"integer\"}},"
             "\"required\":[\"c\"]}]}",
             kw[k]);
    dkg_engine *e = schema(js);
    ck_assert(se_matches(e, "{\"c\":1}"));
    ck_assert(!se_matches(e, "{}"));
    ck_assert(!se_matches(e, "{\"b\":1}"));
    dkg_engine_release(e);
  }
}
END_TEST

int main(void) {
  V = se_byte_vocab();
  if (!V) return 1;
  Suite *s = suite_create("schema-oneof");
  TCase *tc = tcase_create("oneof");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_required_apart);
  tcase_add_test(tc, test_references_followed);
  tcase_add_test(tc, test_still_refused);
  tcase_add_test(tc, test_impossible_branch_dropped);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  dkg_vocab_free(V);
  return failed ? 1 : 0;
}
