/* check_grammar_schema.c -- JSON Schema, regex and choice converters: exact languages and refused keywords */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar.h"
#include "schema_engine.h"

static dkg_vocab *V;

static dkg_engine *compile(char *gbnf) { return se_compile(V, gbnf); }

static dkg_engine *schema(const char *json, int ws) { return se_schema(V, json, ws); }

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
      ck_assert_msg(se_matches(e, num) == want, "%s: %s", js, num);
    }
    ck_assert(!se_matches(e, "007") || ranges[r][0] > 7);
    ck_assert(!se_matches(e, "-0"));
    dkg_engine_release(e);
  }
  dkg_engine *e = schema("{\"type\":\"integer\",\"exclusiveMinimum\":5}", DKG_WS_NONE);
  ck_assert(!se_matches(e, "5"));
  ck_assert(se_matches(e, "6"));
  ck_assert(se_matches(e, "123456789012"));
  ck_assert(!se_matches(e, "-7"));
  dkg_engine_release(e);
}
END_TEST

/* Property names that spell the helpers' reserved rule names ("j-...",
 * "ws") once made rule naming loop forever; they get names of their own. */
START_TEST(test_reserved_property_names) {
  dkg_engine *e = schema("{\"type\":\"object\",\"properties\":{\"j-ige\":{\"type\":\"integer\"},"
                         "\"ws\":{\"type\":\"string\"},\"j\":{\"type\":\"boolean\"}},"
                         "\"required\":[\"j-ige\",\"ws\"]}",
                         DKG_WS_NONE);
  ck_assert(se_matches(e, "{\"j-ige\":5,\"ws\":\"a\"}"));
  ck_assert(se_matches(e, "{\"j-ige\":5,\"ws\":\"a\",\"j\":true}"));
  ck_assert(!se_matches(e, "{\"j-ige\":\"5\",\"ws\":\"a\"}"));
  ck_assert(!se_matches(e, "{\"j-ige\":5}"));
  dkg_engine_release(e);
}
END_TEST

START_TEST(test_objects_arrays) {
  dkg_engine *e = schema(
      "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":"
      "\"string\",\"maxLength\":3},\"c\":{\"const\":[1,\"x\"]}},\"required\":[\"b\"]}",
      DKG_WS_NONE);
  ck_assert(se_matches(e, "{\"b\":\"\"}"));
  ck_assert(se_matches(e, "{\"a\":-4,\"b\":\"xyz\",\"c\":[1,\"x\"]}"));
  ck_assert(se_matches(e, "{\"b\":\"\\u00e9\\n\"}"));
  ck_assert(!se_matches(e, "{\"b\":\"abcd\"}"));
  ck_assert(!se_matches(e, "{\"a\":1}"));
  ck_assert(!se_matches(e, "{\"b\":\"x\",\"a\":1}"));   /* declared order */
  ck_assert(!se_matches(e, "{\"b\":\"x\",\"d\":1}"));   /* no extras without additionalProperties */
  ck_assert(!se_matches(e, "{ \"b\":\"x\"}"));
  dkg_engine_release(e);
  e = schema("{\"type\":\"array\",\"prefixItems\":[{\"type\":\"boolean\"},{\"type\":\"null\"}],"
             "\"items\":{\"enum\":[1,2]},\"minItems\":1,\"maxItems\":4}",
             DKG_WS_FLEXIBLE);
  ck_assert(se_matches(e, "[true]"));
  ck_assert(se_matches(e, "[ false, null ]"));
  ck_assert(se_matches(e, "[true,null,2,1]"));
  ck_assert(!se_matches(e, "[]"));
  ck_assert(!se_matches(e, "[true,null,2,1,1]"));
  ck_assert(!se_matches(e, "[null]"));
  dkg_engine_release(e);
  e = schema("{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},"
             "\"next\":{\"anyOf\":[{\"$ref\":\"#/$defs/node\"},{\"type\":\"null\"}]}},"
             "\"required\":[\"v\",\"next\"]}},\"$ref\":\"#/$defs/node\"}",
             DKG_WS_NONE);
  ck_assert(se_matches(e, "{\"v\":1,\"next\":{\"v\":2,\"next\":null}}"));
  ck_assert(!se_matches(e, "{\"v\":1,\"next\":{\"v\":2}}"));
  dkg_engine_release(e);
  /* allOf: each member's additionalProperties: false also rules the others' properties */
  e = schema("{\"allOf\":[{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"integer\"}},"
             "\"required\":[\"x\"],\"additionalProperties\":false},{\"properties\":{\"y\":"
             "{\"type\":\"boolean\"}}}]}",
             DKG_WS_NONE);
  ck_assert(se_matches(e, "{\"x\":1}"));
  ck_assert(!se_matches(e, "{\"x\":1,\"y\":true}"));
  ck_assert(!se_matches(e, "{\"y\":true}"));
  dkg_engine_release(e);
}
END_TEST

START_TEST(test_strings_formats) {
  dkg_engine *e = schema("{\"type\":\"string\",\"format\":\"date-time\"}", DKG_WS_NONE);
  ck_assert(se_matches(e, "\"2024-02-29T23:59:07Z\""));
  ck_assert(se_matches(e, "\"1999-12-31T00:00:00.125+05:30\""));
  ck_assert(!se_matches(e, "\"2024-13-01T00:00:00Z\""));
  dkg_engine_release(e);
  e = schema("{\"type\":\"string\",\"format\":\"uuid\"}", DKG_WS_NONE);
  ck_assert(se_matches(e, "\"123e4567-e89b-12d3-a456-426614174000\""));
  ck_assert(!se_matches(e, "\"123e4567e89b12d3a456426614174000\""));
  dkg_engine_release(e);
  e = schema("{\"type\":\"string\",\"pattern\":\"^[A-Z]{2}-\\\\d+$\"}", DKG_WS_NONE);
  ck_assert(se_matches(e, "\"AB-12\""));
  ck_assert(!se_matches(e, "\"AB-\""));
  ck_assert(!se_matches(e, "\"xAB-1\""));
  dkg_engine_release(e);
  e = schema("{\"type\":\"string\",\"pattern\":\"a\\\"b\"}", DKG_WS_NONE);   /* unanchored */
  ck_assert(se_matches(e, "\"xxa\\\"byy\""));
  ck_assert(!se_matches(e, "\"xxab\""));
  dkg_engine_release(e);
  e = schema("{\"type\":\"string\",\"minLength\":2,\"maxLength\":2}", DKG_WS_NONE);
  ck_assert(se_matches(e, "\"\\u00e9\xc3\xa9\""));
  ck_assert(!se_matches(e, "\"abc\""));
  dkg_engine_release(e);
}
END_TEST

START_TEST(test_schema_errors) {
  static const struct {
    const char *schema, *msg;
  } cases[] = {
      {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"array\",\"minContains\":2}}}",
       "schema #/properties/a: keyword 'minContains' is not supported"},
      {"{\"not\":{\"minimum\":3}}", "schema #: 'not' is supported only around a 'type'"},
      {"{\"type\":\"string\",\"format\":\"ipv4\",\"pattern\":\"a\"}",
       "schema #: 'format' together with 'pattern' is not supported"},
      {"{\"$ref\":\"http://x/y.json\"}",
       "schema #: reference 'http://x/y.json' does not resolve (only references into this "
       "document are followed)"},
      {"{\"$ref\":\"#/$defs/missing\"}", "schema #: reference '#/$defs/missing' does not resolve"},
      {"{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"string\",\"maxLength\":3}]}",
       "schema #: oneOf branches 0 and 1 may both match one value; only branches told apart by "
       "type, const/enum values, a required property's const/enum, or number ranges are "
       "supported"},
      {"{\"type\":\"integer\",\"enum\":[\"a\",1.5]}",
       "schema #: no value of enum/const satisfies the other keywords"},
      {"{\"allOf\":[{\"properties\":{\"x\":{}},\"required\":[\"x\"]}],"
       "\"additionalProperties\":false}",
       "schema #: required property 'x' can have no value"},
      {"{\"type\":\"string\",\"minLength\":2,\"pattern\":\"^a|b$\"}",
       "schema #: 'pattern' together with minLength/maxLength is supported only for patterns of "
       "one anchored item, like ^[a-z0-9]*$"},
      {"{\"type\":\"object\",\"properties\":{\"a\":{}},\"minProperties\":2,"
       "\"additionalProperties\":true}",
       "schema #: minProperties beyond the declared properties is not supported (extra property "
       "names could repeat)"},
      /* rounded inwards, (0, 1) holds no number: refused, never an empty grammar */
      {"{\"type\":\"number\",\"exclusiveMinimum\":0,\"exclusiveMaximum\":1}",
       "schema #: no number lies between the bounds (bounds on numbers are rounded inwards to "
       "whole numbers)"},
      {"{\"type\":\"number\",\"minimum\":0.5,\"maximum\":0.7}",
       "schema #: no number lies between the bounds (bounds on numbers are rounded inwards to "
       "whole numbers)"},
      {"{\"type\":\"number\",\"multipleOf\":0.01}",
       "schema #: multipleOf is supported only as a whole number up to 1000, not 0.01"},
      {"{\"type\":\"string\",\"format\":\"date\",\"maxLength\":5}",
       "schema #: format 'date' with these minLength/maxLength is not supported"},
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
  ck_assert(se_matches(e, "(555) 123-4567"));
  ck_assert(se_matches(e, "+1 555-123-4567"));
  ck_assert(se_matches(e, "x\xc3\xa9z"));
  ck_assert(!se_matches(e, "x\nz"));
  ck_assert(!se_matches(e, "555 1234-567"));
  dkg_engine_release(e);
  static const struct {
    const char *re, *msg;
  } bad[] = {
      {"a(?=b)", "regex at offset 2: lookaround, inline flags and other (?...) groups are not supported"},
      {"(a)\\1", "regex at offset 5: backreferences are not supported"},
      {"a^b", "regex at offset 1: '^' is only supported at the start of the pattern"},
      {"*a", "regex at offset 0: nothing to repeat"},
      {"[b-a]", "regex at offset 4: character range is reversed"},
      /* UTF-16 surrogates have no UTF-8 form: only a high-low pair is a character */
      {"\\udeff", "regex at offset 0: \\u escape of a low surrogate without a high one before it"},
      {"a\\ud83d", "regex at offset 1: \\u escape of a high surrogate not followed by a low one"},
      {"a\\ud83dx", "regex at offset 1: \\u escape of a high surrogate not followed by a low one"},
      {"\\ud83d\\u0041", "regex at offset 0: \\u escape of a high surrogate not followed by a low one"},
      {"\\ud83d\\ud83d", "regex at offset 0: \\u escape of a high surrogate not followed by a low one"},
      {"[a\\ud800-\\udfff]", "regex at offset 2: \\u escape of a high surrogate not followed by a low one"},
      {"[a-\\udc00]", "regex at offset 3: \\u escape of a low surrogate without a high one before it"},
      {"\\ud83d\\ude0", "regex at offset 0: \\u escape of a high surrogate not followed by a low one"},
      {"\\ud83d\\ude0x", "regex at offset 11: bad hexadecimal escape"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    ck_assert_ptr_null(dkg_regex_to_gbnf(bad[i].re, err, sizeof err));
    ck_assert_str_eq(err, bad[i].msg);
  }
  /* a surrogate pair is the one character past U+FFFF it spells, alone and in a class */
  e = compile(dkg_regex_to_gbnf("\\ud83d\\ude00[\\uD83D\\uDE00-\\ud83d\\ude4f]", err, sizeof err));
  ck_assert(se_matches(e, "\xf0\x9f\x98\x80\xf0\x9f\x98\x90"));
  ck_assert(se_matches(e, "\xf0\x9f\x98\x80\xf0\x9f\x99\x8f"));
  ck_assert(!se_matches(e, "\xf0\x9f\x98\x80\xf0\x9f\x99\x90"));
  ck_assert(!se_matches(e, "\xf0\x9f\x98\x81\xf0\x9f\x98\x90"));
  dkg_engine_release(e);
  /* the same through a schema's pattern, whose JSON string carries the regex escapes */
  e = schema("{\"type\":\"string\",\"pattern\":\"^x\\\\ud83d\\\\ude00$\"}", DKG_WS_NONE);
  ck_assert(se_matches(e, "\"x\xf0\x9f\x98\x80\""));
  ck_assert(!se_matches(e, "\"x\""));
  dkg_engine_release(e);
  const char *lone = "{\"type\":\"string\",\"pattern\":\"\\\\udeff\"}";
  char *none = dkg_json_schema_to_gbnf(lone, strlen(lone), DKG_WS_NONE, err, sizeof err);
  ck_assert_ptr_null(none);
  ck_assert_str_eq(err, "regex at offset 0: \\u escape of a low surrogate without a high one before it");
  const char *opts[] = {"yes", "no", "no way", "\"quoted\""};
  e = compile(dkg_choice_to_gbnf(opts, 4, err, sizeof err));
  for (int i = 0; i < 4; i++) ck_assert(se_matches(e, opts[i]));
  ck_assert(!se_matches(e, "n"));
  ck_assert(!se_matches(e, "yes no"));
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
      ck_assert(se_matches(e, "{ \"name\": \"Ann\", \"age\": 41, \"pets\": [ {\"kind\": \"cat\"} ] }"));
      ck_assert(!se_matches(e, "{\"name\":\"\",\"age\":41}"));
    } else {
      e = compile(buf);
      buf = NULL;
      if (i == 0) ck_assert(se_matches(e, "{\"a\": [1, -2.5e3, \"x\\u00e9\", true, {}]}"));
      else ck_assert(se_matches(e, "(1 + -2) * 34/5"));
    }
    dkg_engine_release(e);
    free(buf);
  }
}
END_TEST


static dkg_engine *schema_opts(const char *json, int strict, int any_order) {
  char err[512];
  dkg_schema_opts o = {.ws = DKG_WS_NONE, .strict = strict, .any_order = any_order};
  char *g = dkg_json_schema_to_gbnf_opts(json, strlen(json), &o, err, sizeof err);
  ck_assert_msg(g != NULL, "%s", err);
  return compile(g);
}

/* Each case produced invalid output before: the language must now hold only valid
 * values. */
START_TEST(test_invalid_output_defects) {
  /* 1: enum with a sibling type is their intersection */
  dkg_engine *e = schema("{\"type\":\"string\",\"enum\":[\"1\",\"2-two\",null]}", DKG_WS_NONE);
  ck_assert(se_matches(e, "\"1\""));
  ck_assert(se_matches(e, "\"2-two\""));
  ck_assert(!se_matches(e, "null"));
  dkg_engine_release(e);
  e = schema("{\"enum\":[1,2.5,\"x\",[1]],\"type\":\"integer\",\"maximum\":1}", DKG_WS_NONE);
  ck_assert(se_matches(e, "1"));
  ck_assert(!se_matches(e, "2.5"));
  ck_assert(!se_matches(e, "\"x\""));
  dkg_engine_release(e);
  /* 2: oneOf is exclusive: integers match both branches, so only non-integers remain */
  e = schema("{\"oneOf\":[{\"type\":\"integer\"},{\"type\":\"number\"}]}", DKG_WS_NONE);
  ck_assert(!se_matches(e, "12"));
  ck_assert(se_matches(e, "12.5"));
  dkg_engine_release(e);
  /* 3: additional keys are never declared names, so no key repeats */
  e = schema("{\"type\":\"object\",\"properties\":{\"foo\":{\"type\":\"integer\"},\"name\":"
             "{\"type\":\"string\"}},\"additionalProperties\":true}",
             DKG_WS_NONE);
  ck_assert(!se_matches(e, "{\"foo\":1,\"foo\":true}"));
  ck_assert(!se_matches(e, "{\"name\":\"x\",\"name\":5}"));
  ck_assert(!se_matches(e, "{\"foo\":true}"));
  ck_assert(se_matches(e, "{\"foo\":1,\"fo\":true,\"fooo\":2,\"nam\":null,\"names\":{}}"));
  ck_assert(se_matches(e, "{\"name\":\"x\",\"other\":[1]}"));
  dkg_engine_release(e);
  e = schema("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},"
             "\"additionalProperties\":{\"type\":\"string\"}}",
             DKG_WS_NONE);
  ck_assert(se_matches(e, "{\"a\":1,\"b\":\"x\"}"));
  ck_assert(!se_matches(e, "{\"a\":1,\"a\":\"x\"}"));
  ck_assert(!se_matches(e, "{\"b\":1}"));
  dkg_engine_release(e);
  /* 4: impossible dates, and email dot-atoms */
  e = schema("{\"type\":\"string\",\"format\":\"date\"}", DKG_WS_NONE);
  static const char *const dates[][2] = {
      {"2021-02-29", "0"}, {"8757-02-30", "0"}, {"2024-02-29", "1"}, {"2000-02-29", "1"},
      {"1900-02-29", "0"}, {"2100-02-29", "0"}, {"2400-02-29", "1"}, {"2021-04-31", "0"},
      {"2021-04-30", "1"}, {"2021-12-31", "1"}, {"2021-00-10", "0"}, {"2021-06-00", "0"},
      {"0000-02-29", "0"}, {"0000-01-01", "0"}, {"0004-02-29", "1"}, {"1996-02-29", "1"}, {"1997-02-28", "1"}};
  for (size_t i = 0; i < sizeof dates / sizeof *dates; i++) {
    char q[32];
    snprintf(q, sizeof q, "\"%s\"", dates[i][0]);
    ck_assert_msg(se_matches(e, q) == (dates[i][1][0] == '1'), "%s", q);
  }
  dkg_engine_release(e);
  e = schema("{\"type\":\"string\",\"format\":\"email\"}", DKG_WS_NONE);
  ck_assert(!se_matches(e, "\"test.@example.com\""));
  ck_assert(!se_matches(e, "\".test@example.com\""));
  ck_assert(!se_matches(e, "\"te..st@example.com\""));
  ck_assert(!se_matches(e, "\"test@example-.com\""));
  ck_assert(se_matches(e, "\"te.st+x@mail.example.com\""));
  dkg_engine_release(e);
}
END_TEST

/* Numbers with bounds: every value the grammar takes lies in the range. */
START_TEST(test_number_ranges) {
  static const char *const bounds[] = {
      "\"minimum\":-2.5,\"maximum\":3", "\"exclusiveMinimum\":0,\"maximum\":1",
      "\"minimum\":-10,\"exclusiveMaximum\":-2", "\"minimum\":5", "\"maximum\":-1"};
  for (size_t b = 0; b < sizeof bounds / sizeof *bounds; b++) {
    char js[160];
    snprintf(js, sizeof js, "{\"type\":\"number\",%s}", bounds[b]);
    dkg_engine *e = schema(js, DKG_WS_NONE);
    double lo = -1e300, hi = 1e300;
    int lo_x = 0, hi_x = 0;
    const char *p;
    if ((p = strstr(js, "\"minimum\":"))) lo = strtod(p + 10, NULL);
    if ((p = strstr(js, "\"exclusiveMinimum\":"))) lo = strtod(p + 19, NULL), lo_x = 1;
    if ((p = strstr(js, "\"maximum\":"))) hi = strtod(p + 10, NULL);
    if ((p = strstr(js, "\"exclusiveMaximum\":"))) hi = strtod(p + 19, NULL), hi_x = 1;
    int taken = 0;
    for (int x = -1500; x <= 1500; x++) {
      char num[32];
      for (int form = 0; form < 3; form++) {
        double v = form == 0 ? x : x / 100.0;
        if (form == 0) snprintf(num, sizeof num, "%d", x);
        else if (form == 1) snprintf(num, sizeof num, "%.2f", v);
        else snprintf(num, sizeof num, "%.1f", x / 10.0), v = x / 10.0;
        if (!se_matches(e, num)) continue;
        taken++;
        ck_assert_msg(lo_x ? v > lo : v >= lo, "%s: %s", js, num);
        ck_assert_msg(hi_x ? v < hi : v <= hi, "%s: %s", js, num);
      }
    }
    ck_assert_msg(taken > 0, "%s takes nothing", js);
    dkg_engine_release(e);
  }
  /* a non-integer number branch beside an integer one */
  dkg_engine *e = schema("{\"oneOf\":[{\"type\":\"integer\"},{\"type\":\"number\"}]}", DKG_WS_NONE);
  ck_assert(se_matches(e, "2.5"));
  ck_assert(se_matches(e, "-0.001"));
  ck_assert(!se_matches(e, "2.0"));
  ck_assert(!se_matches(e, "1e3"));
  dkg_engine_release(e);
}
END_TEST

START_TEST(test_coverage) {
  /* unknown keywords and annotations are ignored; strict refuses them */
  const char *ext = "{\"type\":\"object\",\"x-kubernetes-preserve\":true,\"title\":\"t\","
                    "\"properties\":{\"a\":{\"type\":\"integer\",\"deprecated\":true,"
                    "\"$comment\":\"c\",\"examples\":[1]}},\"required\":[\"a\"]}";
  dkg_engine *e = schema(ext, DKG_WS_NONE);
  ck_assert(se_matches(e, "{\"a\":3}"));
  dkg_engine_release(e);
  char err[512];
  dkg_schema_opts so = {.strict = 1};
  ck_assert_ptr_null(dkg_json_schema_to_gbnf_opts(ext, strlen(ext), &so, err, sizeof err));
  ck_assert_str_eq(err, "schema #: unknown keyword 'x-kubernetes-preserve' (strict mode refuses it)");
  /* the boolean schema true */
  e = schema("true", DKG_WS_NONE);
  ck_assert(se_matches(e, "[1,{\"a\":null}]"));
  dkg_engine_release(e);
  /* draft-07: definitions, $ref siblings ignored, array-form items, boolean exclusives in
   * draft-04 */
  e = schema("{\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"definitions\":{\"p\":"
             "{\"type\":\"integer\"}},\"type\":\"array\",\"items\":[{\"$ref\":\"#/definitions/p\","
             "\"type\":\"string\"},{\"type\":\"boolean\"}],\"additionalItems\":false}",
             DKG_WS_NONE);
  ck_assert(se_matches(e, "[1,true]"));
  ck_assert(se_matches(e, "[1]"));
  ck_assert(!se_matches(e, "[1,true,3]"));
  ck_assert(!se_matches(e, "[\"s\"]"));
  dkg_engine_release(e);
  e = schema("{\"$schema\":\"http://json-schema.org/draft-04/schema#\",\"type\":\"integer\","
             "\"minimum\":3,\"exclusiveMinimum\":true,\"maximum\":5}",
             DKG_WS_NONE);
  ck_assert(!se_matches(e, "3"));
  ck_assert(se_matches(e, "4"));
  ck_assert(se_matches(e, "5"));
  dkg_engine_release(e);
  /* $ref through $id and $anchor; 2020-12 $ref with siblings is an intersection */
  e = schema("{\"$id\":\"http://x.org/root.json\",\"$defs\":{\"a\":{\"$id\":\"a.json\",\"type\":"
             "\"string\"},\"b\":{\"$anchor\":\"bee\",\"type\":\"integer\"}},\"type\":\"object\","
             "\"properties\":{\"s\":{\"$ref\":\"a.json\",\"maxLength\":2},\"n\":{\"$ref\":"
             "\"#bee\"}}}",
             DKG_WS_NONE);
  ck_assert(se_matches(e, "{\"s\":\"ab\",\"n\":4}"));
  ck_assert(!se_matches(e, "{\"s\":\"abc\"}"));
  dkg_engine_release(e);
  /* patternProperties, minProperties/maxProperties (only declared properties count
   * towards the minimum: extra names could repeat) */
  e = schema("{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"},\"name\":"
             "{\"type\":\"string\"}},\"patternProperties\":{\"^x-\":{\"type\":\"boolean\"}},"
             "\"additionalProperties\":false,\"minProperties\":2,\"maxProperties\":3}",
             DKG_WS_NONE);
  ck_assert(se_matches(e, "{\"id\":1,\"name\":\"a\"}"));
  ck_assert(se_matches(e, "{\"id\":1,\"name\":\"a\",\"x-a\":true}"));
  ck_assert(!se_matches(e, "{\"id\":1}"));
  ck_assert(!se_matches(e, "{\"id\":1,\"name\":\"a\",\"x-a\":true,\"x-b\":true}"));
  ck_assert(!se_matches(e, "{\"id\":1,\"name\":\"a\",\"y\":true}"));
  ck_assert(!se_matches(e, "{\"id\":1,\"name\":\"a\",\"x-a\":1}"));
  dkg_engine_release(e);
  /* dependentRequired: a required trigger brings its dependents; another trigger
   * whose dependents are not all required is never written */
  e = schema("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":"
             "{\"type\":\"integer\"},\"c\":{\"type\":\"integer\"}},\"required\":[\"a\"],"
             "\"dependentRequired\":{\"a\":[\"b\"],\"c\":[\"d\"]}}",
             DKG_WS_NONE);
  ck_assert(se_matches(e, "{\"a\":1,\"b\":2}"));
  ck_assert(!se_matches(e, "{\"a\":1}"));
  ck_assert(!se_matches(e, "{\"a\":1,\"b\":2,\"c\":3}"));
  dkg_engine_release(e);
  /* uniqueItems over constants: none twice */
  e = schema("{\"type\":\"array\",\"items\":{\"enum\":[\"a\",\"b\",\"c\",\"a\"]},"
             "\"uniqueItems\":true,\"minItems\":2}",
             DKG_WS_NONE);
  ck_assert(se_matches(e, "[\"c\",\"a\",\"b\"]"));
  ck_assert(!se_matches(e, "[\"a\",\"a\"]"));
  ck_assert(!se_matches(e, "[\"a\"]"));
  dkg_engine_release(e);
  e = schema("{\"type\":\"array\",\"items\":{\"type\":\"boolean\"},\"uniqueItems\":true}",
             DKG_WS_NONE);
  ck_assert(se_matches(e, "[false,true]"));
  ck_assert(!se_matches(e, "[true,true]"));
  dkg_engine_release(e);
  /* propertyNames: declared names it refuses are never written, no extra names */
  e = schema("{\"type\":\"object\",\"properties\":{\"ab\":{\"type\":\"integer\"},\"abcd\":"
             "{\"type\":\"integer\"}},\"propertyNames\":{\"maxLength\":3},"
             "\"additionalProperties\":true}",
             DKG_WS_NONE);
  ck_assert(se_matches(e, "{\"ab\":1}"));
  ck_assert(!se_matches(e, "{\"ab\":1,\"abcd\":2}"));
  ck_assert(!se_matches(e, "{\"ab\":1,\"x\":2}"));
  dkg_engine_release(e);
  /* contains: met by the first element */
  e = schema("{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"contains\":{\"minimum\":5}}",
             DKG_WS_NONE);
  ck_assert(se_matches(e, "[5,1]"));
  ck_assert(!se_matches(e, "[]"));
  ck_assert(!se_matches(e, "[1,2]"));
  dkg_engine_release(e);
  /* multipleOf by remainders, up to 15 digits */
  e = schema("{\"type\":\"integer\",\"multipleOf\":7}", DKG_WS_NONE);
  for (long long x = -200; x <= 200; x++) {
    char num[24];
    snprintf(num, sizeof num, "%lld", x);
    ck_assert_msg(se_matches(e, num) == (x % 7 == 0), "%s", num);
  }
  ck_assert(se_matches(e, "999999999999994"));
  ck_assert(!se_matches(e, "7000000000000000"));   /* 16 digits */
  dkg_engine_release(e);
  /* if/then/else writes what matches if and then */
  e = schema("{\"type\":\"integer\",\"if\":{\"minimum\":10},\"then\":{\"maximum\":12},"
             "\"else\":{\"minimum\":-3}}",
             DKG_WS_NONE);
  ck_assert(se_matches(e, "11"));
  ck_assert(!se_matches(e, "13"));
  ck_assert(!se_matches(e, "-5"));
  dkg_engine_release(e);
  /* properties in any order, required ones guaranteed, none twice */
  e = schema_opts("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":"
                  "{\"type\":\"integer\"},\"c\":{\"type\":\"integer\"}},\"required\":[\"a\",\"c\"]}",
                  0, 1);
  ck_assert(se_matches(e, "{\"c\":1,\"a\":2}"));
  ck_assert(se_matches(e, "{\"b\":1,\"c\":2,\"a\":3}"));
  ck_assert(!se_matches(e, "{\"b\":1,\"c\":2}"));
  ck_assert(!se_matches(e, "{\"a\":1,\"c\":2,\"a\":3}"));
  dkg_engine_release(e);
  /* oneOf told apart by a required property's constant */
  e = schema("{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"kind\":{\"const\":\"a\"},\"v\":"
             "{\"type\":\"integer\"}},\"required\":[\"kind\"]},{\"type\":\"object\",\"properties\":"
             "{\"kind\":{\"const\":\"b\"}},\"required\":[\"kind\"]},{\"type\":\"string\"}]}",
             DKG_WS_NONE);
  ck_assert(se_matches(e, "{\"kind\":\"a\",\"v\":1}"));
  ck_assert(se_matches(e, "{\"kind\":\"b\"}"));
  ck_assert(se_matches(e, "\"s\""));
  dkg_engine_release(e);
  /* not around a type; pattern with a length range */
  e = schema("{\"not\":{\"type\":[\"object\",\"array\",\"string\",\"null\"]}}", DKG_WS_NONE);
  ck_assert(se_matches(e, "true"));
  ck_assert(se_matches(e, "-4.5"));
  ck_assert(!se_matches(e, "\"a\""));
  dkg_engine_release(e);
  e = schema("{\"type\":\"string\",\"pattern\":\"^[a-z]+$\",\"maxLength\":3}", DKG_WS_NONE);
  ck_assert(se_matches(e, "\"abc\""));
  ck_assert(!se_matches(e, "\"\""));
  ck_assert(!se_matches(e, "\"abcd\""));
  dkg_engine_release(e);
  /* formats */
  static const char *const fm[][3] = {
      {"ipv4", "\"192.168.0.255\"", "\"256.1.1.1\""},
      {"uuid", "\"123e4567-e89b-42d3-a456-426614174000\"", "\"123e4567-e89b-42d3-a456\""},
      {"hostname", "\"a-b.example.org\"", "\"-ab.org\""},
      {"time", "\"23:59:59.5+01:00\"", "\"24:00:00Z\""},
      {"ipv6", "\"fe80:0:0:0:0:0:0:1\"", "\"fe80::1::2\""},
      {"uri", "\"https://example.org/a/b?c=d\"", "\"//example.org\""}};
  for (size_t i = 0; i < sizeof fm / sizeof *fm; i++) {
    char js[96];
    snprintf(js, sizeof js, "{\"type\":\"string\",\"format\":\"%s\"}", fm[i][0]);
    e = schema(js, DKG_WS_NONE);
    ck_assert_msg(se_matches(e, fm[i][1]), "%s", fm[i][1]);
    ck_assert_msg(!se_matches(e, fm[i][2]), "%s", fm[i][2]);
    dkg_engine_release(e);
  }
}
END_TEST

/* Bounded repeats cost what small ones cost: maxLength 3000, a{0,10000}, 5000
 * prefixItems. */
/* Large bounds compile as counters; unrolled, as once, these took minutes, past the
 * test's timeout. */
START_TEST(test_large_bounds) {
  dkg_engine *e = schema("{\"type\":\"string\",\"maxLength\":3000}", DKG_WS_NONE);
  ck_assert(se_matches(e, "\"abc\""));
  dkg_engine_release(e);
  size_t cap = 5000 * 20 + 64;
  char *big = malloc(cap);
  size_t n = (size_t)snprintf(big, cap, "{\"type\":\"array\",\"prefixItems\":[");
  for (int i = 0; i < 5000; i++) n += (size_t)snprintf(big + n, cap - n, "%s{\"const\":%d}", i ? "," : "", i);
  snprintf(big + n, cap - n, "],\"items\":false}");
  /* the same through a regular expression */
  char err[256];
  e = compile(dkg_regex_to_gbnf("a{0,10000}b", err, sizeof err));
  ck_assert(se_matches(e, "aaab"));
  dkg_engine_release(e);
  e = schema(big, DKG_WS_NONE);
  ck_assert(se_matches(e, "[0,1,2]"));
  ck_assert(!se_matches(e, "[0,2]"));
  dkg_engine_release(e);
  free(big);
}
END_TEST

int main(void) {
  V = se_byte_vocab();
  if (!V) return 1;
  Suite *s = suite_create("grammar-schema");
  TCase *tc = tcase_create("convert");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_integer_ranges);
  tcase_add_test(tc, test_objects_arrays);
  tcase_add_test(tc, test_reserved_property_names);
  tcase_add_test(tc, test_strings_formats);
  tcase_add_test(tc, test_schema_errors);
  tcase_add_test(tc, test_regex_and_choice);
  tcase_add_test(tc, test_shipped_files);
  tcase_add_test(tc, test_invalid_output_defects);
  tcase_add_test(tc, test_number_ranges);
  tcase_add_test(tc, test_coverage);
  tcase_add_test(tc, test_large_bounds);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  dkg_vocab_free(V);
  return failed ? 1 : 0;
}
