/* check_grammar.c -- GBNF parser (round trips, exact error messages) and matcher unit tests */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar.h"

static dkg_grammar *parse_ok(const char *src) {
  dkg_grammar *g = NULL;
  char err[256];
  int rc = dkg_grammar_parse(src, strlen(src), &g, err, sizeof err);
  ck_assert_msg(rc == 0, "parse failed: %s\n%s", err, src);
  return g;
}

static const char *const round_trip_sources[] = {
    "root ::= \"a\" b* | [x-z]+ \"end\"?\nb ::= \"b\" | ( \"c\" [^\\n\\\"] ){2,3}\n",
    "# arithmetic\nroot ::= expr\nexpr ::= term ( [-+] term )*\nterm ::= factor ( [*/] factor )*\n"
    "factor ::= [0-9]+ | \"(\" expr \")\"\n",
    "root ::= \"\\x41\\u00e9\\U0001F600\\t\\r\\n\\\\\\\"\" [\\[\\]\\x2D^] . [^a-c\\u4e00-\\u9fff]{0,2}\n",
    "root ::=\n  \"{\" (\n    ws \"k\"\n  )? \"}\"\nws ::= [ \\t\\n]{1,}\n",
    "root ::= x{3} x{2,} x{,2} x{0}\nx ::= \"x\" | \n",
    "root ::= \"a\" <s> !<[3]> <|im_end|>\n",
};

START_TEST(test_round_trip) {
  for (size_t i = 0; i < sizeof round_trip_sources / sizeof *round_trip_sources; i++) {
    dkg_grammar *g1 = parse_ok(round_trip_sources[i]);
    char *t1 = dkg_grammar_print(g1);
    dkg_grammar *g2 = parse_ok(t1);
    char *t2 = dkg_grammar_print(g2);
    ck_assert_str_eq(t1, t2);
    ck_assert_uint_eq(g1->n_rules, g2->n_rules);
    free(t1);
    free(t2);
    dkg_grammar_free(g1);
    dkg_grammar_free(g2);
  }
}
END_TEST

START_TEST(test_print_exact) {
  dkg_grammar *g = parse_ok("root ::= \"ab\" [c-e^] x?  # comment\nx ::= \"\\n\" | .\n");
  char *t = dkg_grammar_print(g);
  ck_assert_str_eq(t,
                   "root ::= \"ab\" [c-e\\x5E] root_1\n"
                   "root_1 ::= x | \"\"\n"
                   "x ::= \"\\n\" | .\n");
  free(t);
  dkg_grammar_free(g);
  /* bounded repetitions stay one counted repeat of the item's rule */
  g = parse_ok("root ::= \"a\"{1,3} x{2,} \"b\"+\nx ::= \"x\"\n");
  t = dkg_grammar_print(g);
  ck_assert_str_eq(t,
                   "root ::= root_1{1,3} x{2,} \"b\" root_2\n"
                   "root_1 ::= \"a\"\n"
                   "x ::= \"x\"\n"
                   "root_2 ::= \"b\" root_2 | \"\"\n");
  free(t);
  dkg_grammar_free(g);
}
END_TEST

static const struct {
  const char *src, *msg;
} bad[] = {
    {"root ::= \"abc", "1:10: unterminated string literal"},
    {"root ::= [a-", "1:10: unterminated character class"},
    {"root ::= foo", "1:10: undefined rule 'foo'"},
    {"rot ::= \"a\"", "1:12: the grammar has no 'root' rule"},
    {"root ::= \"a\"\nroot ::= \"b\"", "2:1: rule 'root' is defined twice"},
    {"root = \"a\"", "1:6: expected '::=' after rule name"},
    {"root ::= ( \"a\"", "1:10: expected ')' to close this group"},
    {"root ::= \"\\q\"", "1:11: unknown escape '\\q'"},
    {"root ::= * \"a\"", "1:10: '*' has no item to repeat"},
    {"root ::= \"a\"{3,1}", "1:13: repetition maximum is below its minimum"},
    {"root ::= [z-a]", "1:12: character range is reversed"},
    {"root ::= \"a\" )", "1:14: unexpected ')'; expected a newline or the end of input"},
    {"root ::= \"\\x4\"", "1:11: expected 2 hex digits"},
    {"# c\nroot ::= x\n\nx ::= \"a\" |\n  \"b\" [", "5:7: unterminated character class"},
    {"root ::= []", "1:10: empty character class"},
    {"root ::= \"\xC0\x80\"", "1:11: invalid UTF-8"},           /* overlong NUL */
    {"root ::= \"\xED\xA0\x80\"", "1:11: invalid UTF-8"},       /* surrogate */
    {"root ::= [\xE9]", "1:11: invalid UTF-8"},                   /* Latin-1, not UTF-8 */
    {"root ::= \"a\"{100001}", "1:14: repetition count above 100000"},
    {"root ::= <[12", "1:10: expected ']>' to close the token id"},
    {"root ::= \"a\" !<abc", "1:14: unterminated token reference"},
    {"root ::= \"é\" x\nx ::= ( \"b\"\n  | \"c\" ) }",
     "3:11: unexpected '}'; expected a newline or the end of input"},
};

START_TEST(test_parse_errors) {
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    dkg_grammar *g = NULL;
    char err[256];
    ck_assert_int_eq(dkg_grammar_parse(bad[i].src, strlen(bad[i].src), &g, err, sizeof err), -1);
    ck_assert_ptr_null(g);
    ck_assert_str_eq(err, bad[i].msg);
  }
}
END_TEST

/* A small vocabulary with multi-byte pieces and pieces that split a character. */
static const char *const pieces[] = {"a", "b", "ab", "abc", "c", "\xc3", "\xa9", "\xc3\xa9",
                                     "x", "</s>", "<s>", "", "ba"};
enum { N_PIECES = 13, EOS = 9, BOS = 10 };

static dkg_vocab *small_vocab(void) {
  uint32_t len[N_PIECES];
  uint8_t special[N_PIECES] = {0};
  for (int i = 0; i < N_PIECES; i++) len[i] = (uint32_t)strlen(pieces[i]);
  special[BOS] = 1;
  char err[128];
  dkg_vocab *v = dkg_vocab_new(pieces, len, N_PIECES, EOS, special, err, sizeof err);
  ck_assert_msg(v != NULL, "%s", err);
  return v;
}

static dkg_engine *engine_for(const char *src, dkg_vocab *v) {
  dkg_grammar *g = parse_ok(src);
  char err[256];
  dkg_engine *e = dkg_engine_new(g, v, err, sizeof err);
  ck_assert_msg(e != NULL, "%s", err);
  dkg_grammar_free(g);
  return e;
}

static uint32_t mask_of(dkg_matcher *m) {
  uint32_t w = 0;
  ck_assert_int_eq(dkg_matcher_mask(m, &w), 0);
  return w;
}

#define BIT(t) (1u << (t))

START_TEST(test_masks_small) {
  dkg_vocab *v = small_vocab();
  dkg_engine *e = engine_for("root ::= \"a\" | \"ab\" [c-e]* | \"é\"+\n", v);
  dkg_matcher *m = dkg_matcher_new(e);
  /* "\xc3" alone ends inside 'é' and is allowed; '\xa9' alone never starts a character */
  ck_assert_uint_eq(mask_of(m), BIT(0) | BIT(2) | BIT(3) | BIT(5) | BIT(7));
  ck_assert_int_eq(dkg_matcher_advance(m, 5), 0);
  ck_assert_uint_eq(mask_of(m), BIT(6));
  ck_assert_int_eq(dkg_matcher_is_complete(m), 0);
  ck_assert_int_eq(dkg_matcher_advance(m, 6), 0);
  ck_assert_uint_eq(mask_of(m), BIT(5) | BIT(7) | BIT(EOS));
  ck_assert_int_eq(dkg_matcher_is_complete(m), 1);
  ck_assert_int_eq(dkg_matcher_advance(m, 0), -1);          /* refused, state kept */
  ck_assert_uint_eq(mask_of(m), BIT(5) | BIT(7) | BIT(EOS));
  ck_assert_int_eq(dkg_matcher_advance(m, BOS), -1);        /* special tokens never */
  ck_assert_int_eq(dkg_matcher_advance(m, EOS), 0);
  ck_assert_uint_eq(mask_of(m), 0);
  ck_assert_int_eq(dkg_matcher_is_finished(m), 1);
  ck_assert_int_eq(dkg_matcher_rollback(m, 3), 0);
  ck_assert_uint_eq(mask_of(m), BIT(0) | BIT(2) | BIT(3) | BIT(5) | BIT(7));
  ck_assert_int_eq(dkg_matcher_rollback(m, 1), -1);
  /* "a" is complete, but "ab" continues: after "a" only "b"-pieces or EOS */
  ck_assert_int_eq(dkg_matcher_advance(m, 0), 0);
  ck_assert_uint_eq(mask_of(m), BIT(1) | BIT(EOS));
  dkg_matcher_free(m);
  dkg_engine_release(e);
  dkg_vocab_free(v);
}
END_TEST

START_TEST(test_forced_and_fork) {
  dkg_vocab *v = small_vocab();
  dkg_engine *e = engine_for("root ::= \"abc\" ( \"x\" | \"ba\" ) \"cc\"\n", v);
  dkg_matcher *m = dkg_matcher_new(e);
  char buf[16];
  size_t n = dkg_matcher_forced(m, buf, sizeof buf);
  ck_assert_uint_eq(n, 3);
  ck_assert_int_eq(memcmp(buf, "abc", 3), 0);
  ck_assert_int_eq(dkg_matcher_advance(m, 3), 0);
  ck_assert_uint_eq(dkg_matcher_forced(m, buf, sizeof buf), 0);   /* a choice follows */
  dkg_matcher *f = dkg_matcher_fork(m);
  ck_assert_int_eq(dkg_matcher_advance(f, 8), 0);
  n = dkg_matcher_forced(f, buf, sizeof buf);
  ck_assert_uint_eq(n, 2);
  ck_assert_int_eq(memcmp(buf, "cc", 2), 0);
  /* the original did not move */
  ck_assert_uint_eq(mask_of(m), BIT(1) | BIT(8) | BIT(12));
  ck_assert_uint_eq(dkg_matcher_n_steps(m), 1);
  ck_assert_uint_eq(dkg_matcher_n_steps(f), 2);
  dkg_matcher_free(m);
  ck_assert_int_eq(dkg_matcher_advance(f, 4), 0);
  ck_assert_int_eq(dkg_matcher_advance(f, 4), 0);
  ck_assert_int_eq(dkg_matcher_is_complete(f), 1);
  dkg_matcher_free(f);
  dkg_engine_release(e);
  dkg_vocab_free(v);
}
END_TEST

START_TEST(test_compile_errors) {
  static const struct {
    const char *src, *msg;
  } cases[] = {
      {"root ::= root \"a\" | \"b\"\n", "rule 'root' is left-recursive"},
      {"root ::= x\nx ::= y \"+\" | \"1\"\ny ::= \"a\"? x\n", "rule 'x' is left-recursive"},
      {"root ::= x\nx ::= \"a\" x\n", "rule 'root' cannot produce any string"},
  };
  dkg_vocab *v = small_vocab();
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    dkg_grammar *g = parse_ok(cases[i].src);
    char err[256];
    dkg_engine *e = dkg_engine_new(g, v, err, sizeof err);
    ck_assert_ptr_null(e);
    ck_assert_str_eq(err, cases[i].msg);
    dkg_grammar_free(g);
  }
  /* nullable loops in tail position are fine, and dead alternatives are dropped */
  dkg_engine *e = engine_for("root ::= ( \"a\"? )* dead | \"b\"*\ndead ::= \"c\" dead\n", v);
  dkg_matcher *m = dkg_matcher_new(e);
  ck_assert_uint_eq(mask_of(m), BIT(1) | BIT(EOS));
  dkg_matcher_free(m);
  dkg_engine_release(e);
  dkg_vocab_free(v);
}
END_TEST

START_TEST(test_utf8_classes) {
  dkg_vocab *v = small_vocab();
  /* é is U+00E9: inside [\u00e0-\u00ff], outside [^\u00e9] */
  dkg_engine *e = engine_for("root ::= [\\u00e0-\\u00ff] [^\\u00e9b]\n", v);
  dkg_matcher *m = dkg_matcher_new(e);
  ck_assert_uint_eq(mask_of(m), BIT(5) | BIT(7));
  ck_assert_int_eq(dkg_matcher_accepts_bytes(m, "\xc3\xa9" "a", 3), 1);
  ck_assert_int_eq(dkg_matcher_accepts_bytes(m, "\xc3\xa9" "b", 3), 0);
  ck_assert_int_eq(dkg_matcher_accepts_bytes(m, "\xc3\xa9\xc3\xa9", 4), 0);
  ck_assert_int_eq(dkg_matcher_accepts_bytes(m, "\xc3\xa9\xc3", 3), 1);   /* could be à */
  ck_assert_int_eq(dkg_matcher_accepts_bytes(m, "\xc3\xa9\xed\xa0", 4), 0);   /* surrogate */
  ck_assert_int_eq(dkg_matcher_advance(m, 7), 0);
  ck_assert_uint_eq(mask_of(m), BIT(0) | BIT(4) | BIT(5) | BIT(8));
  dkg_matcher_free(m);
  dkg_engine_release(e);
  dkg_vocab_free(v);
}
END_TEST


START_TEST(test_crlf_and_nesting) {
  /* CRLF line ends read like LF ones */
  dkg_grammar *g = parse_ok("root ::= x |\r\n  \"b\"\r\n\r\nx ::= \"a\" # note\r\n");
  char *t = dkg_grammar_print(g);
  ck_assert_str_eq(t, "root ::= x | \"b\"\nx ::= \"a\"\n");
  free(t);
  dkg_grammar_free(g);
  /* nesting is bounded with a message, not by the stack */
  size_t n = 100000;
  char *deep = malloc(2 * n + 16);
  memcpy(deep, "root ::= ", 9);
  memset(deep + 9, '(', n);
  memset(deep + 9 + n, ')', n);
  deep[9 + 2 * n] = 0;
  char err[256];
  ck_assert_int_eq(dkg_grammar_parse(deep, strlen(deep), &g, err, sizeof err), -1);
  ck_assert_str_eq(err, "1:210: groups nested deeper than 200");
  free(deep);
}
END_TEST

/* Feeds n copies of c and reports whether each was accepted. */
static int feed_run(dkg_matcher *m, char c, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (dkg_matcher_advance_bytes(m, &c, 1)) return 0;
  return 1;
}

START_TEST(test_counted_repeats) {
  dkg_vocab *v = small_vocab();
  /* {0,5000} and {0,100000} compile as counters and count exactly; compiled by
   * unrolling, as once, {0,100000} would take hours and run past the test's timeout */
  static const char *const srcs[] = {"root ::= \"a\"{0,5000} \"b\"\n",
                                     "root ::= ( \"a\" ){0,100000} \"b\"\n"};
  static const size_t lim[] = {5000, 100000};
  for (int k = 0; k < 2; k++) {
    dkg_engine *e = engine_for(srcs[k], v);
    dkg_matcher *m = dkg_matcher_new(e);
    ck_assert(feed_run(m, 'a', lim[k]));
    ck_assert_uint_eq(mask_of(m), BIT(1));   /* only "b" now */
    ck_assert_int_eq(dkg_matcher_accepts_bytes(m, "a", 1), 0);
    ck_assert_int_eq(dkg_matcher_rollback(m, 1), 0);
    ck_assert_uint_eq(mask_of(m), BIT(0) | BIT(1) | BIT(2));   /* a, b, ab */
    dkg_matcher_free(m);
    dkg_engine_release(e);
  }
  /* the vocabulary walk sees counts far from both bounds as one: masks along a long
   * bounded string come from the context cache, not from a walk per position */
  dkg_engine *ew = engine_for("root ::= [a-c]{0,3000} \"x\"\n", v);
  dkg_matcher *mw = dkg_matcher_new(ew);
  for (int i = 0; i < 2990; i++) {
    uint32_t w = mask_of(mw);
    ck_assert_uint_eq(w & (BIT(0) | BIT(3) | BIT(8)), BIT(0) | BIT(3) | BIT(8));
    ck_assert_int_eq(dkg_matcher_advance(mw, 0), 0);
  }
  dkg_engine_stats st;
  dkg_engine_get_stats(ew, &st);
  ck_assert_msg(st.ctx_walks < 20, "%llu vocabulary walks", (unsigned long long)st.ctx_walks);
  ck_assert_int_eq(dkg_matcher_advance(mw, 3), 0);   /* "abc": 2993 */
  ck_assert(feed_run(mw, 'c', 5));                   /* 2998: "abc" no longer fits */
  ck_assert_uint_eq(mask_of(mw) & (BIT(0) | BIT(3) | BIT(8)), BIT(0) | BIT(8));
  ck_assert(feed_run(mw, 'c', 2));
  ck_assert_uint_eq(mask_of(mw), BIT(8));
  dkg_matcher_free(mw);
  dkg_engine_release(ew);
  /* minimums: {3,} needs three, then any number */
  dkg_engine *e = engine_for("root ::= x{3,} \"b\"\nx ::= \"a\" | \"ab\"\n", v);
  dkg_matcher *m = dkg_matcher_new(e);
  ck_assert_int_eq(dkg_matcher_accepts_bytes(m, "aab", 3), 1);
  ck_assert_int_eq(dkg_matcher_advance_bytes(m, "aa", 2), 0);
  /* "b" and "ba" stay viable: a, ab, then another x */
  ck_assert_uint_eq(mask_of(m), BIT(0) | BIT(1) | BIT(2) | BIT(12));
  ck_assert_int_eq(dkg_matcher_advance_bytes(m, "ab", 2), 0);
  ck_assert_int_eq(dkg_matcher_accepts_bytes(m, "b", 1), 1);
  ck_assert(feed_run(m, 'a', 1000));
  ck_assert_int_eq(dkg_matcher_advance_bytes(m, "b", 1), 0);
  ck_assert_int_eq(dkg_matcher_is_complete(m), 1);
  dkg_matcher_free(m);
  dkg_engine_release(e);
  dkg_vocab_free(v);
}
END_TEST

static uint64_t live_hist(dkg_engine *e) {
  dkg_engine_stats st;
  dkg_engine_get_stats(e, &st);
  return st.n_hist;
}

/* A long-lived engine keeps only the history some matcher can still roll back to:
 * freed matchers and rolled-back steps give their entries back. */
START_TEST(test_history_bounded) {
  dkg_vocab *v = small_vocab();
  dkg_engine *e = engine_for("root ::= [abc]*\n", v);
  ck_assert_uint_eq(live_hist(e), 1);   /* the root */
  for (int run = 0; run < 2000; run++) {
    dkg_matcher *m = dkg_matcher_new(e);
    for (int i = 0; i < 50; i++) ck_assert_int_eq(dkg_matcher_advance(m, i % 2 ? 0 : 3), 0);
    ck_assert_uint_eq(live_hist(e), 51);
    dkg_matcher_free(m);
    ck_assert_uint_eq(live_hist(e), 1);
  }
  /* a fork shares the prefix; each keeps what it can return to */
  dkg_matcher *m = dkg_matcher_new(e);
  for (int i = 0; i < 10; i++) ck_assert_int_eq(dkg_matcher_advance(m, 0), 0);
  dkg_matcher *f = dkg_matcher_fork(m);
  for (int i = 0; i < 5; i++) ck_assert_int_eq(dkg_matcher_advance(f, 1), 0);
  ck_assert_uint_eq(live_hist(e), 16);
  ck_assert_int_eq(dkg_matcher_rollback(m, 4), 0);   /* m's last 4 are m's alone */
  ck_assert_uint_eq(live_hist(e), 16);               /* ... but f still stands on them */
  dkg_matcher_free(f);
  ck_assert_uint_eq(live_hist(e), 7);
  ck_assert_uint_eq(dkg_matcher_n_steps(m), 6);
  /* rollback then advance many times: the entries are reused, the count stays put */
  for (int i = 0; i < 10000; i++) {
    ck_assert_int_eq(dkg_matcher_advance(m, 4), 0);
    ck_assert_int_eq(dkg_matcher_rollback(m, 1), 0);
  }
  ck_assert_uint_eq(live_hist(e), 7);
  ck_assert_int_eq(dkg_matcher_rollback(m, 6), 0);
  ck_assert_uint_eq(live_hist(e), 1);
  ck_assert_uint_eq(mask_of(m), BIT(0) | BIT(1) | BIT(2) | BIT(3) | BIT(4) | BIT(12) | BIT(EOS));
  dkg_matcher_free(m);
  dkg_engine_release(e);
  dkg_vocab_free(v);
}
END_TEST

/* Pruning drops a stack only when another one's futures cover it: nested counted
 * repeats still accept exactly the lengths their bounds allow, k items of lo1..hi1
 * "a" for k in lo2..hi2, at every prefix. */
START_TEST(test_nested_counts_exact) {
  dkg_vocab *v = small_vocab();
  static const unsigned b[][4] = {{2, 5, 0, 3}, {1, 3, 2, 4}, {3, 3, 1, 5}, {0, 4, 2, 3},
                                  {2, 2, 0, 7}, {4, 6, 3, 3}};
  for (size_t k = 0; k < 2 * sizeof b / sizeof *b; k++) {
    const unsigned *r = b[k / 2];
    char src[96];
    snprintf(src, sizeof src, "root ::= ((\"a\"){%u,%u}){%u,%u} \"b\"\n", r[0], r[1], r[2], r[3]);
    dkg_engine *e = engine_for(src, v);
    /* a limit of 8 stacks also caps the pruning work per step: steps keep stacks unchecked */
    if (k % 2) dkg_engine_set_max_stacks(e, 8);
    dkg_matcher *m = dkg_matcher_new(e);
    for (unsigned n = 0; n <= r[1] * r[3] + 2; n++) {
      int want = 0;
      for (unsigned c = r[2]; c <= r[3]; c++) want |= n >= c * r[0] && n <= c * r[1];
      ck_assert_msg((dkg_matcher_accepts_bytes(m, "b", 1) != 0) == want, "%s: %u a", src, n);
      if (!dkg_matcher_accepts_bytes(m, "a", 1)) break;
      ck_assert_int_eq(dkg_matcher_advance_bytes(m, "a", 1), 0);
    }
    dkg_matcher_free(m);
    dkg_engine_release(e);
  }
  dkg_vocab_free(v);
}
END_TEST

START_TEST(test_nested_repeats) {
  dkg_vocab *v = small_vocab();
  /* used to recurse without bound in the closure and crash */
  dkg_engine *e = engine_for("root ::= ((([^x]*){0,99}){0,99}){0,99} \"x\"\n", v);
  dkg_matcher *m = dkg_matcher_new(e);
  ck_assert(feed_run(m, 'a', 3000));
  ck_assert_uint_eq(mask_of(m) & (BIT(8) | BIT(EOS)), BIT(8));
  ck_assert_int_eq(dkg_matcher_advance(m, 8), 0);
  ck_assert_int_eq(dkg_matcher_is_complete(m), 1);
  dkg_matcher_free(m);
  dkg_engine_release(e);
  /* nested bounds multiply: 2 * 3 * 4 "a" at most */
  e = engine_for("root ::= (((\"a\"){1,2}){0,3}){0,4}\n", v);
  m = dkg_matcher_new(e);
  ck_assert(feed_run(m, 'a', 24));
  ck_assert_int_eq(dkg_matcher_is_complete(m), 1);
  ck_assert_int_eq(dkg_matcher_accepts_bytes(m, "a", 1), 0);
  dkg_matcher_free(m);
  dkg_engine_release(e);
  /* a grammar whose stacks double with every "a" fails with a reason at the limit */
  e = engine_for("root ::= \"a\" root \"b\" | \"a\" root \"c\" | \"\"\n", v);
  dkg_engine_set_max_stacks(e, 1000);
  m = dkg_matcher_new(e);
  int rc = 0;
  uint32_t w;
  for (int i = 0; i < 12 && rc == 0; i++) {
    rc = dkg_matcher_mask(m, &w);
    if (rc == 0 && dkg_matcher_advance(m, 0)) rc = dkg_matcher_mask(m, &w);
  }
  ck_assert_int_eq(rc, DKG_TOO_AMBIGUOUS);
  dkg_matcher_free(m);
  dkg_engine_release(e);
  dkg_vocab_free(v);
}
END_TEST


START_TEST(test_token_references) {
  dkg_vocab *v = small_vocab();
  /* <s> is the special token 10: only a token reference can take it */
  dkg_engine *e = engine_for("root ::= \"a\" <s> \"b\"\n", v);
  dkg_matcher *m = dkg_matcher_new(e);
  ck_assert_uint_eq(mask_of(m), BIT(0));
  ck_assert_int_eq(dkg_matcher_advance(m, 0), 0);
  ck_assert_uint_eq(mask_of(m), BIT(BOS));
  char buf[8];
  ck_assert_uint_eq(dkg_matcher_forced(m, buf, sizeof buf), 0);
  ck_assert_int_eq(dkg_matcher_advance_bytes(m, "<s>", 3), -1);   /* its text is not it */
  ck_assert_int_eq(dkg_matcher_advance(m, BOS), 0);
  ck_assert_uint_eq(mask_of(m), BIT(1));
  ck_assert_int_eq(dkg_matcher_advance(m, 1), 0);
  ck_assert_int_eq(dkg_matcher_is_complete(m), 1);
  dkg_matcher_free(m);
  dkg_engine_release(e);
  /* !<[0]>: any one token but "a" (and never the end token), then "x"; by id it
   * also takes a token whose bytes "ab" could not */
  e = engine_for("root ::= ( !<[0]> | \"ab\" ) \"x\"\n", v);
  m = dkg_matcher_new(e);
  uint32_t all = (1u << N_PIECES) - 1;
  ck_assert_uint_eq(mask_of(m), all & ~BIT(EOS));   /* "a" only as the start of "ab" */
  dkg_matcher *f = dkg_matcher_fork(m);
  ck_assert_int_eq(dkg_matcher_advance(f, 2), 0);   /* "ab": both ways, one state */
  ck_assert_uint_eq(mask_of(f), BIT(8));
  ck_assert_int_eq(dkg_matcher_advance(m, 4), 0);
  ck_assert_uint_eq(mask_of(m), BIT(8));
  ck_assert_int_eq(dkg_matcher_rollback(m, 1), 0);
  ck_assert_int_eq(dkg_matcher_advance(m, 0), 0);
  ck_assert_uint_eq(mask_of(m), BIT(1));   /* the reference refused "a": only "ab" goes on */
  dkg_matcher_free(f);
  dkg_matcher_free(m);
  dkg_engine_release(e);
  static const struct {
    const char *src, *msg;
  } refs[] = {{"root ::= <[13]>\n", "token <[13]> is beyond the vocabulary of 13 tokens"},
             {"root ::= <|nope|>\n", "token <|nope|> is not in the vocabulary"}};
  for (int i = 0; i < 2; i++) {
    dkg_grammar *g = parse_ok(refs[i].src);
    char err[256];
    ck_assert_ptr_null(dkg_engine_new(g, v, err, sizeof err));
    ck_assert_str_eq(err, refs[i].msg);
    dkg_grammar_free(g);
  }
  dkg_vocab_free(v);
}
END_TEST

static Suite *grammar_suite(void) {
  Suite *s = suite_create("grammar");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_round_trip);
  tcase_add_test(tc, test_print_exact);
  tcase_add_test(tc, test_parse_errors);
  tcase_add_test(tc, test_masks_small);
  tcase_add_test(tc, test_forced_and_fork);
  tcase_add_test(tc, test_compile_errors);
  tcase_add_test(tc, test_utf8_classes);
  tcase_add_test(tc, test_crlf_and_nesting);
  tcase_add_test(tc, test_counted_repeats);
  tcase_add_test(tc, test_nested_counts_exact);
  tcase_add_test(tc, test_nested_repeats);
  tcase_add_test(tc, test_history_bounded);
  tcase_add_test(tc, test_token_references);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(grammar_suite());
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
