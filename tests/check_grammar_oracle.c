/* check_grammar_oracle.c -- every short text over each fixture's alphabet: the grammar engine against direct checkers (METHODS 19.5). */
/*
 * A depth-first walk over all texts up to a length, one matcher step per
 * byte and a rollback on the way back.  A dead text is not extended: no
 * continuation of it is a sentence for the direct checker, and the
 * engine, having refused its last byte, cannot take one either; so every
 * text up to the length is decided, by the checker, and by the engine
 * three ways (byte-by-byte matcher, whole-text checker, next-byte sets).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oracle.h"
#include "test_vocab.h"

/* check's assertions record their place on every call, a file write each:
 * in the hot loops only a failure may cost that. */
#define require(cond, ...) \
  do {                     \
    if (!(cond)) ck_abort_msg(__VA_ARGS__); \
  } while (0)

typedef struct walk {
  const oracle_fixture *f;
  dkg_matcher *m;
  dkg_checker *k;
  size_t max_len;
  char text[32];
  size_t counts[3]; /* texts the checker calls dead, viable (not complete), complete */
} walk;

/* The next-byte sets of the whole-text checker: over all 256 bytes, so a
 * byte outside the alphabet must be refused too. */
static void check_next(walk *w, size_t n) {
  uint8_t allowed[256];
  int can_end = 0;
  require(dkg_checker_next(w->k, w->text, n, allowed, &can_end) == 0, "%s: checker_next failed", w->f->name);
  require(can_end == (w->f->check(w->text, n) == ORACLE_COMPLETE), "%s '%.*s': can_end %d",
                w->f->name, (int)n, w->text, can_end);
  for (int b = 0; b < 256; b++) {
    w->text[n] = (char)b;
    int want = w->f->check(w->text, n + 1) != ORACLE_DEAD;
    require(allowed[b] == want, "%s '%.*s' then byte %d: next says %d, checker %d", w->f->name,
                  (int)n, w->text, b, allowed[b], want);
  }
}

/* The matcher has taken text[0..n), which is viable. */
static void visit(walk *w, size_t n) {
  char msg[512];
  check_next(w, n);
  if (n == w->max_len) return;
  for (const char *c = w->f->alphabet; *c; c++) {
    int state;
    w->text[n] = *c;
    require(oracle_step(w->f, w->m, w->text, n, &state, msg, sizeof msg) == 0, "%s", msg);
    require(oracle_whole(w->f, w->k, w->text, n + 1, msg, sizeof msg) == 0, "%s", msg);
    w->counts[state]++;
    if (state == ORACLE_DEAD) continue;
    visit(w, n + 1);
    require(dkg_matcher_rollback(w->m, 1) == 0, "%s: rollback failed", w->f->name);
  }
}

static void enumerate(const oracle_fixture *f, size_t max_len, walk *w) {
  char err[256];
  tvocab *tv = tvocab_synthetic(600, 1);
  ck_assert(tv != NULL);
  dkg_vocab *v = dkg_vocab_new((const char *const *)tv->piece, tv->len, tv->n, tv->eos, tv->special,
                               err, sizeof err);
  tvocab_free(tv);
  ck_assert_msg(v != NULL, "%s", err);
  dkg_engine *e = oracle_engine(f, v, err, sizeof err);
  ck_assert_msg(e != NULL, "%s: %s", f->name, err);
  *w = (walk){.f = f, .max_len = max_len};
  ck_assert_uint_lt(max_len, sizeof w->text);
  w->m = dkg_matcher_new(e);
  w->k = dkg_checker_new(f->gbnf, strlen(f->gbnf), err, sizeof err);
  ck_assert_msg(w->m && w->k, "%s: %s", f->name, err);
  /* the empty text, then everything longer */
  ck_assert_msg(oracle_whole(f, w->k, "", 0, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(dkg_matcher_is_complete(w->m), f->check("", 0) == ORACLE_COMPLETE);
  visit(w, 0);
  ck_assert_uint_eq(dkg_matcher_n_steps(w->m), 0);
  dkg_matcher_free(w->m);
  dkg_checker_free(w->k);
  dkg_engine_release(e);
  dkg_vocab_free(v);
}

/* Lengths that keep each walk near a second; the counts show the walk went
 * through the texts it should. */
START_TEST(test_parentheses) {
  walk w;
  enumerate(&oracle_fixtures[0], 12, &w);
  /* The sentences of length n are the Motzkin paths (up, down, flat, never
   * below zero, back to zero): M(1) + ... + M(12) = 24870. */
  ck_assert_uint_eq(w.counts[ORACLE_COMPLETE], 24870);
  ck_assert_uint_gt(w.counts[ORACLE_DEAD], 1000);
  printf("parentheses, texts up to 12 bytes: %zu dead, %zu viable, %zu complete\n",
         w.counts[ORACLE_DEAD], w.counts[ORACLE_VIABLE], w.counts[ORACLE_COMPLETE]);
}
END_TEST

START_TEST(test_json) {
  walk w;
  enumerate(&oracle_fixtures[1], 9, &w);
  ck_assert_uint_gt(w.counts[ORACLE_COMPLETE], 1000);
  ck_assert_uint_gt(w.counts[ORACLE_DEAD], 1000);
  printf("json subset, texts up to 9 bytes: %zu dead, %zu viable, %zu complete\n",
         w.counts[ORACLE_DEAD], w.counts[ORACLE_VIABLE], w.counts[ORACLE_COMPLETE]);
}
END_TEST

/* The checkers themselves, on texts whose answer is known by reading them. */
START_TEST(test_checkers) {
  static const struct {
    int fixture;
    const char *text;
    int want;
  } cases[] = {
      {0, "", ORACLE_COMPLETE},         {0, "(x)(", ORACLE_VIABLE},       {0, "())", ORACLE_DEAD},
      {0, "x(x)x", ORACLE_COMPLETE},    {1, "", ORACLE_VIABLE},           {1, " ", ORACLE_VIABLE},
      {1, "0", ORACLE_COMPLETE},        {1, "01", ORACLE_DEAD},           {1, "10 ", ORACLE_COMPLETE},
      {1, "{\"a\":", ORACLE_VIABLE},    {1, "{\"a\" : [1, {}]}", ORACLE_COMPLETE},
      {1, "[1,]", ORACLE_DEAD},         {1, "[,", ORACLE_DEAD},           {1, "{1", ORACLE_DEAD},
      {1, "\"aa", ORACLE_VIABLE},       {1, "[] []", ORACLE_DEAD},        {1, "{\"\":0,\"a\":\"\"}", ORACLE_COMPLETE},
      {1, "[ 1 , 0 ] ", ORACLE_COMPLETE}, {1, "{}}", ORACLE_DEAD},        {1, "b", ORACLE_DEAD},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const oracle_fixture *f = &oracle_fixtures[cases[i].fixture];
    ck_assert_msg(f->check(cases[i].text, strlen(cases[i].text)) == cases[i].want, "%s '%s'", f->name,
                  cases[i].text);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("grammar_oracle");
  TCase *tc = tcase_create("enumerate");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_checkers);
  tcase_add_test(tc, test_parentheses);
  tcase_add_test(tc, test_json);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
