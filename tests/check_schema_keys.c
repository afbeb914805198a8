/* check_schema_keys.c -- object keys: patternProperties that also match declared names, and additionalProperties that match nothing */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar.h"
#include "schema_engine.h"

static dkg_vocab *V;

static dkg_engine *schema(const char *json) { return se_schema(V, json, DKG_WS_NONE); }

/* Every key over {a, b, c} of at most 3 characters, with a string and with an integer
 * value: the grammar takes exactly the members the schema allows. The declared name
 * "ab" is an integer; the pattern's keys take strings and integers. in_pattern says
 * which keys the pattern matches. */
static void check_keys(const char *js, int (*in_pattern)(const char *key)) {
  dkg_engine *e = schema(js);
  char key[4], obj[32];
  for (int len = 0; len <= 3; len++) {
    int total = 1;
    for (int i = 0; i < len; i++) total *= 3;
    for (int n = 0; n < total; n++) {
      int x = n;
      for (int i = 0; i < len; i++, x /= 3) key[i] = (char)('a' + x % 3);
      key[len] = 0;
      int declared = !strcmp(key, "ab");
      for (int v = 0; v < 2; v++) {
        snprintf(obj, sizeof obj, "{\"%s\":%s}", key, v ? "1" : "\"s\"");
        int want = declared ? v == 1 : in_pattern(key);
        ck_assert_msg(se_matches(e, obj) == want, "%s: %s", js, obj);
      }
    }
  }
  /* the declared member comes first, then pattern keys, none twice */
  ck_assert(se_matches(e, "{\"ab\":1,\"b\":\"s\"}") == in_pattern("b"));
  ck_assert(!se_matches(e, "{\"ab\":1,\"ab\":2}"));
  dkg_engine_release(e);
}

static int any_key(const char *k) {
  (void)k;
  return 1;
}

static int ab_star(const char *k) { return strspn(k, "ab") == strlen(k); }

static int ab_plus(const char *k) { return *k && ab_star(k); }

START_TEST(test_universal_pattern) {
  check_keys("{\"type\":\"object\",\"properties\":{\"ab\":{\"type\":\"integer\"}},\"patternProperties\":"
             "{\".*\":{\"type\":[\"string\",\"integer\"]}},\"additionalProperties\":false}",
             any_key);
  /* unanchored at the end: every key has a match at its start */
  check_keys("{\"type\":\"object\",\"properties\":{\"ab\":{\"type\":\"integer\"}},\"patternProperties\":"
             "{\"^[a]*\":{\"type\":[\"string\",\"integer\"]}},\"additionalProperties\":false}",
             any_key);
}
END_TEST

START_TEST(test_class_pattern) {
  check_keys("{\"type\":\"object\",\"properties\":{\"ab\":{\"type\":\"integer\"}},\"patternProperties\":"
             "{\"^[ab]*$\":{\"type\":[\"string\",\"integer\"]}},\"additionalProperties\":false}",
             ab_star);
  check_keys("{\"type\":\"object\",\"properties\":{\"ab\":{\"type\":\"integer\"}},\"patternProperties\":"
             "{\"^[a-b]+$\":{\"type\":[\"string\",\"integer\"]}},\"additionalProperties\":false}",
             ab_plus);
}
END_TEST

/* Other patterns that match a declared name are still refused. */
START_TEST(test_other_pattern_refused) {
  const char *js = "{\"type\":\"object\",\"properties\":{\"line1\":{\"type\":\"string\"}},"
                   "\"patternProperties\":{\"^line[1-3]$\":{\"type\":\"string\"}}}";
  char err[512];
  char *g = dkg_json_schema_to_gbnf(js, strlen(js), DKG_WS_NONE, err, sizeof err);
  ck_assert_ptr_null(g);
  ck_assert_msg(strstr(err, "matches the declared property 'line1'") != NULL, "%s", err);
}
END_TEST

/* additionalProperties whose intersection matches nothing acts as false (a branch's
 * false beside a sibling's schema), instead of refusing the schema. */
START_TEST(test_additional_never) {
  dkg_engine *e = schema("{\"anyOf\":[{\"type\":\"object\",\"additionalProperties\":false,"
                         "\"properties\":{\"a\":{\"type\":\"string\"}},\"required\":[\"a\"]}],"
                         "\"allOf\":[{\"type\":\"object\",\"properties\":{\"a\":{}},"
                         "\"additionalProperties\":{\"type\":\"integer\"}}]}");
  ck_assert(se_matches(e, "{\"a\":\"s\"}"));
  ck_assert(!se_matches(e, "{\"a\":\"s\",\"b\":1}"));
  ck_assert(!se_matches(e, "{}"));
  dkg_engine_release(e);
}
END_TEST

/* An optional property whose constants all have a type its schema excludes matches
 * nothing: it is left out, a required one is refused. */
START_TEST(test_impossible_property) {
  dkg_engine *e = schema("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},"
                         "\"b\":{\"type\":\"object\",\"enum\":[\"X\",\"Y\"]}}}");
  ck_assert(se_matches(e, "{\"a\":1}"));
  ck_assert(se_matches(e, "{}"));
  ck_assert(!se_matches(e, "{\"a\":1,\"b\":\"X\"}"));
  ck_assert(!se_matches(e, "{\"b\":{}}"));
  dkg_engine_release(e);
  e = schema("{\"type\":\"object\",\"properties\":{\"b\":{\"type\":[\"array\",\"integer\"],"
             "\"enum\":[\"X\",2.0]}}}");
  ck_assert(se_matches(e, "{\"b\":2}"));   /* 2.0 is an integer */
  dkg_engine_release(e);
  const char *js = "{\"type\":\"object\",\"properties\":{\"b\":{\"type\":\"array\",\"enum\":"
                   "[\"X\"]}},\"required\":[\"b\"]}";
  char err[512];
  char *g = dkg_json_schema_to_gbnf(js, strlen(js), DKG_WS_NONE, err, sizeof err);
  ck_assert_ptr_null(g);
  ck_assert_msg(strstr(err, "can have no value") != NULL, "%s", err);
}
END_TEST

int main(void) {
  V = se_byte_vocab();
  if (!V) return 1;
  Suite *s = suite_create("schema-keys");
  TCase *tc = tcase_create("keys");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_universal_pattern);
  tcase_add_test(tc, test_class_pattern);
  tcase_add_test(tc, test_other_pattern_refused);
  tcase_add_test(tc, test_additional_never);
  tcase_add_test(tc, test_impossible_property);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  dkg_vocab_free(V);
  return failed ? 1 : 0;
}
