/* check_grammar_schema.c -- JSON Schema, regex and choice converters: exact languages and refused keywords */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar.h"

static dkg_vocab *V;

static dkg_engine *compile(char *gbnf) {
  ck_assert_ptr_nonnull(gbnf);
  dkg_grammar *g;
  char err[256];
  ck_assert_msg(dkg_grammar_parse(gbnf, strlen(gbnf), &g, err, sizeof err) == 0, "%s\n%s", err, gbnf);
  dkg_engine *e = dkg_engine_new(g, V, err, sizeof err);
  ck_assert_msg(e != NULL, "%s", err);
  dkg_grammar_free(g);
  free(gbnf);
  return e;
}

static int matches(dkg_engine *e, const char *s) {
  dkg_matcher *m = dkg_matcher_new(e);
  int ok = dkg_matcher_advance_bytes(m, s, strlen(s)) == 0 && dkg_matcher_is_complete(m);
  dkg_matcher_free(m);
  return ok;
}

static dkg_engine *schema(const char *json, int ws) {
  char err[512];
  char *g = dkg_json_schema_to_gbnf(json, strlen(json), ws, err, sizeof err);
  ck_assert_msg(g != NULL, "%s", err);
  return compile(g);
}

START_TEST(test_integer_ranges) {
  static const long long ranges[][2] = {{-123, 4567}, {0, 0}, {7, 7}, {10, 99}, {-50, -3},
                                        {95, 1005}, {-1, 1}};
  for (size_t r = 0; r < sizeof ranges / sizeof *ranges; r++) {
    char js[160];
    snprintf(js, sizeof js, "{\"type\":\"integer\",\"minimum\":%lld,\"maximum\":%lld}",
             ranges[r][0], ranges[r][1]);
    dkg_engine *e = schema(js, DKG_WS_NONE);
    for (long long x = -2000; x <= 6000; x++) {
      char num[32];
      snprintf(num, sizeof num, "%lld", x);
      int want = x >= ranges[r][0] && x <= ranges[r][1];
      ck_assert_msg(matches(e, num) == want, "%s: %s", js, num);
    }
    ck_assert(!matches(e, "007") || ranges[r][0] > 7);
    ck_assert(!matches(e, "-0"));
    dkg_engine_release(e);
  }
  dkg_engine *e = schema("{\"type\":\"integer\",\"exclusiveMinimum\":5}", DKG_WS_NONE);
  ck_assert(!matches(e, "5"));
  ck_assert(matches(e, "6"));
  ck_assert(matches(e, "123456789012"));
  ck_assert(!matches(e, "-7"));
  dkg_engine_release(e);
}
END_TEST

START_TEST(test_objects_arrays) {
  dkg_engine *e = schema(
      "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":"
      "\"string\",\"maxLength\":3},\"c\":{\"const\":[1,\"x\"]}},\"required\":[\"b\"]}",
      DKG_WS_NONE);
  ck_assert(matches(e, "{\"b\":\"\"}"));
  ck_assert(matches(e, "{\"a\":-4,\"b\":\"xyz\",\"c\":[1,\"x\"]}"));
  ck_assert(matches(e, "{\"b\":\"\\u00e9\\n\"}"));
  ck_assert(!matches(e, "{\"b\":\"abcd\"}"));
  ck_assert(!matches(e, "{\"a\":1}"));
  ck_assert(!matches(e, "{\"b\":\"x\",\"a\":1}"));   /* declared order */
  ck_assert(!matches(e, "{\"b\":\"x\",\"d\":1}"));   /* no extras without additionalProperties */
  ck_assert(!matches(e, "{ \"b\":\"x\"}"));
  dkg_engine_release(e);
  e = schema("{\"type\":\"array\",\"prefixItems\":[{\"type\":\"boolean\"},{\"type\":\"null\"}],"
             "\"items\":{\"enum\":[1,2]},\"minItems\":1,\"maxItems\":4}",
             DKG_WS_FLEXIBLE);
  ck_assert(matches(e, "[true]"));
  ck_assert(matches(e, "[ false, null ]"));
  ck_assert(matches(e, "[true,null,2,1]"));
  ck_assert(!matches(e, "[]"));
  ck_assert(!matches(e, "[true,null,2,1,1]"));
  ck_assert(!matches(e, "[null]"));
  dkg_engine_release(e);
  e = schema("{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},"
             "\"next\":{\"anyOf\":[{\"$ref\":\"#/$defs/node\"},{\"type\":\"null\"}]}},"
             "\"required\":[\"v\",\"next\"]}},\"$ref\":\"#/$defs/node\"}",
             DKG_WS_NONE);
  ck_assert(matches(e, "{\"v\":1,\"next\":{\"v\":2,\"next\":null}}"));
  ck_assert(!matches(e, "{\"v\":1,\"next\":{\"v\":2}}"));
  dkg_engine_release(e);
  e = schema("{\"allOf\":[{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"integer\"}},"
             "\"required\":[\"x\"]},{\"properties\":{\"y\":{\"type\":\"boolean\"}}}],"
             "\"additionalProperties\":false}",
             DKG_WS_NONE);
  ck_assert(matches(e, "{\"x\":1,\"y\":true}"));
  ck_assert(matches(e, "{\"x\":1}"));
  ck_assert(!matches(e, "{\"y\":true}"));
  dkg_engine_release(e);
}
END_TEST

START_TEST(test_strings_formats) {
  dkg_engine *e = schema("{\"type\":\"string\",\"format\":\"date-time\"}", DKG_WS_NONE);
  ck_assert(matches(e, "\"2024-02-29T23:59:07Z\""));
  ck_assert(matches(e, "\"1999-12-31T00:00:00.125+05:30\""));
  ck_assert(!matches(e, "\"2024-13-01T00:00:00Z\""));
  dkg_engine_release(e);
  e = schema("{\"type\":\"string\",\"format\":\"uuid\"}", DKG_WS_NONE);
  ck_assert(matches(e, "\"123e4567-e89b-12d3-a456-426614174000\""));
  ck_assert(!matches(e, "\"123e4567e89b12d3a456426614174000\""));
  dkg_engine_release(e);
  e = schema("{\"type\":\"string\",\"pattern\":\"^[A-Z]{2}-\\\\d+$\"}", DKG_WS_NONE);
  ck_assert(matches(e, "\"AB-12\""));
  ck_assert(!matches(e, "\"AB-\""));
  ck_assert(!matches(e, "\"xAB-1\""));
  dkg_engine_release(e);
  e = schema("{\"type\":\"string\",\"pattern\":\"a\\\"b\"}", DKG_WS_NONE);   /* unanchored */
  ck_assert(matches(e, "\"xxa\\\"byy\""));
  ck_assert(!matches(e, "\"xxab\""));
  dkg_engine_release(e);
  e = schema("{\"type\":\"string\",\"minLength\":2,\"maxLength\":2}", DKG_WS_NONE);
  ck_assert(matches(e, "\"\\u00e9\xc3\xa9\""));
  ck_assert(!matches(e, "\"abc\""));
  dkg_engine_release(e);
}
END_TEST

START_TEST(test_schema_errors) {
  static const struct {
    const char *schema, *msg;
  } cases[] = {
      {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"uniqueItems\":true}}}",
       "schema #/properties/a: unsupported keyword 'uniqueItems'"},
      {"{\"not\":{}}", "schema #: unsupported keyword 'not'"},
      {"{\"type\":\"number\",\"minimum\":1}",
       "schema #: minimum/maximum are supported for type integer only"},
      {"{\"type\":\"string\",\"format\":\"ipv4\"}",
       "schema #: unsupported format 'ipv4' (supported: date, time, date-time, uuid, email)"},
      {"{\"$ref\":\"http://x/y.json\"}",
       "schema #: only local references (\"#...\") are supported, not 'http://x/y.json'"},
      {"{\"$ref\":\"#/$defs/missing\"}", "schema #: reference '#/$defs/missing' does not resolve"},
      {"{\"type\":\"integer\",\"minimum\":5,\"maximum\":4}",
       "schema #: the integer range [5, 4] is empty"},
      {"{\"type\":\"string\",\"pattern\":\"(a\"}", "regex at offset 2: missing ')'"},
      {"{\"type\":", "schema is not valid JSON: line 1, column 8: unexpected token near end of file"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char err[512];
    char *g = dkg_json_schema_to_gbnf(cases[i].schema, strlen(cases[i].schema), DKG_WS_NONE, err,
                                      sizeof err);
    ck_assert_ptr_null(g);
    ck_assert_str_eq(err, cases[i].msg);
  }
}
END_TEST

START_TEST(test_regex_and_choice) {
  char err[256];
  dkg_engine *e = compile(dkg_regex_to_gbnf("^(\\+1 )?\\(?\\d{3}\\)?[ -]\\d{3}-\\d{4}$|x.z", err, sizeof err));
  ck_assert(matches(e, "(555) 123-4567"));
  ck_assert(matches(e, "+1 555-123-4567"));
  ck_assert(matches(e, "x\xc3\xa9z"));
  ck_assert(!matches(e, "x\nz"));
  ck_assert(!matches(e, "555 1234-567"));
  dkg_engine_release(e);
  static const struct {
    const char *re, *msg;
  } bad[] = {
      {"a(?=b)", "regex at offset 2: lookaround, inline flags and other (?...) groups are not supported"},
      {"(a)\\1", "regex at offset 5: backreferences are not supported"},
      {"a^b", "regex at offset 1: '^' is only supported at the start of the pattern"},
      {"*a", "regex at offset 0: nothing to repeat"},
      {"[b-a]", "regex at offset 4: character range is reversed"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    ck_assert_ptr_null(dkg_regex_to_gbnf(bad[i].re, err, sizeof err));
    ck_assert_str_eq(err, bad[i].msg);
  }
  const char *opts[] = {"yes", "no", "no way", "\"quoted\""};
  e = compile(dkg_choice_to_gbnf(opts, 4, err, sizeof err));
  for (int i = 0; i < 4; i++) ck_assert(matches(e, opts[i]));
  ck_assert(!matches(e, "n"));
  ck_assert(!matches(e, "yes no"));
  dkg_engine_release(e);
  ck_assert_ptr_null(dkg_choice_to_gbnf(opts, 0, err, sizeof err));
  ck_assert_str_eq(err, "the list of options is empty");
}
END_TEST

START_TEST(test_shipped_files) {
  const char *src = getenv("DECOKIT_SRCDIR");
  static const char *const files[] = {"config/json.gbnf", "config/person.schema.json",
                                      "tests/data/grammars/arith.gbnf"};
  for (size_t i = 0; i < 3; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", src && *src ? src : ".", files[i]);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    char err[512];
    dkg_engine *e;
    if (strstr(files[i], ".json")) {
      char *g = dkg_json_schema_to_gbnf(buf, n, DKG_WS_FLEXIBLE, err, sizeof err);
      ck_assert_msg(g != NULL, "%s", err);
      e = compile(g);
      ck_assert(matches(e, "{ \"name\": \"Ann\", \"age\": 41, \"pets\": [ {\"kind\": \"cat\"} ] }"));
      ck_assert(!matches(e, "{\"name\":\"\",\"age\":41}"));
    } else {
      e = compile(buf);
      buf = NULL;
      if (i == 0) ck_assert(matches(e, "{\"a\": [1, -2.5e3, \"x\\u00e9\", true, {}]}"));
      else ck_assert(matches(e, "(1 + -2) * 34/5"));
    }
    dkg_engine_release(e);
    free(buf);
  }
}
END_TEST

int main(void) {
  const char *piece[] = {"a", "</s>"};
  uint32_t len[] = {1, 4};
  char err[128];
  V = dkg_vocab_new(piece, len, 2, 1, NULL, err, sizeof err);
  if (!V) return 1;
  Suite *s = suite_create("grammar-schema");
  TCase *tc = tcase_create("convert");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_integer_ranges);
  tcase_add_test(tc, test_objects_arrays);
  tcase_add_test(tc, test_strings_formats);
  tcase_add_test(tc, test_schema_errors);
  tcase_add_test(tc, test_regex_and_choice);
  tcase_add_test(tc, test_shipped_files);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  dkg_vocab_free(V);
  return failed ? 1 : 0;
}
