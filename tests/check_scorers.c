/* check_scorers.c -- the scorer plugins on a small vocabulary: values by hand, and score_batch / score_next agreeing with score. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

enum { BOS, EOS, THE, CAT, SAT, ON, MAT, A, B, NV };
static const char *const pieces[NV] = {"<s>", "</s>", "the", " cat", " sat", " on", " mat", "a", "b"};
static uint32_t piece_len[NV];
static const uint8_t attr[NV] = {DK_TOKEN_CONTROL, DK_TOKEN_CONTROL};

static const dk_vocab *vocab(void) {
  static dk_vocab v;
  for (int i = 0; i < NV; i++) piece_len[i] = (uint32_t)strlen(pieces[i]);
  v = (dk_vocab){sizeof v, NV, BOS, EOS, -1, pieces, piece_len, attr};
  return &v;
}

static dk_harness *H;
static void setup(void) { H = dkh_new(); }
static void teardown(void) { dkh_free(H); }

typedef struct scorer {
  void *inst;
  const struct dk_scorer_iface *iface;
} scorer;

static scorer make(const char *name, const char *const *kv) {
  char err[512];
  const void *iface;
  scorer s = {dkh_create(H, DK_KIND_SCORER, name, kv, 1, vocab(), &iface, err, sizeof err), iface};
  ck_assert_msg(s.inst != NULL, "%s: %s", name, err);
  return s;
}

/* Score toks[1..n) after the one-token prompt (BOS). */
static double score(scorer s, const dk_token *toks, size_t n) {
  double out;
  ck_assert_int_eq(s.iface->score(s.inst, NULL, toks, n, 1, &out, dkh_error(H)), DK_OK);
  return out;
}

#define SEQ(...) (const dk_token[]){BOS, __VA_ARGS__}, sizeof((const dk_token[]){BOS, __VA_ARGS__}) / sizeof(dk_token)

START_TEST(test_keyword) {
  scorer soft = make("keyword", (const char *const[]){"keywords", "[cat,mat]", NULL});
  scorer hard = make("keyword", (const char *const[]){"keywords", "[cat,mat]", "hard", "true", NULL});
  scorer icase = make("keyword", (const char *const[]){"keywords", "[CAT]", "ignore_case", "true", NULL});
  ck_assert_double_eq(score(soft, SEQ(THE, CAT, SAT)), 0.5);
  ck_assert_double_eq(score(soft, SEQ(THE, CAT, SAT, ON, THE, MAT)), 1.0);
  ck_assert_double_eq(score(hard, SEQ(THE, CAT, SAT)), 0.0);
  ck_assert_double_eq(score(hard, SEQ(CAT, MAT)), 1.0);
  ck_assert_double_eq(score(icase, SEQ(THE, CAT)), 1.0);
  /* The prompt is not the text: a keyword only there does not count. */
  double out;
  const dk_token prompt_only[] = {BOS, CAT, THE};
  ck_assert_int_eq(soft.iface->score(soft.inst, NULL, prompt_only, 3, 2, &out, dkh_error(H)), DK_OK);
  ck_assert_double_eq(out, 0.0);
  char err[256];
  ck_assert_ptr_null(dkh_create(H, DK_KIND_SCORER, "keyword", NULL, 1, vocab(), NULL, err, sizeof err));
  ck_assert_ptr_nonnull(strstr(err, "keywords"));
}
END_TEST

START_TEST(test_length) {
  scorer tok = make("length", (const char *const[]){"min", "2", "max", "4", NULL});
  scorer bytes = make("length", (const char *const[]){"max", "8", "unit", "bytes", NULL});
  ck_assert_double_eq(score(tok, SEQ(THE)), -1.0);
  ck_assert_double_eq(score(tok, SEQ(THE, CAT, SAT)), 0.0);
  ck_assert_double_eq(score(tok, SEQ(THE, CAT, SAT, ON, THE, MAT)), -2.0);
  ck_assert_double_eq(score(tok, SEQ(THE, CAT, EOS)), 0.0); /* EOS is not length */
  ck_assert_double_eq(score(bytes, SEQ(THE, CAT)), 0.0);    /* "the cat": 7 bytes */
  ck_assert_double_eq(score(bytes, SEQ(THE, CAT, SAT)), -3.0);
  char err[256];
  ck_assert_ptr_null(dkh_create(H, DK_KIND_SCORER, "length", (const char *const[]){"unit", "words", NULL},
                                1, vocab(), NULL, err, sizeof err));
  ck_assert_ptr_nonnull(strstr(err, "unit"));
  ck_assert_ptr_null(dkh_create(H, DK_KIND_SCORER, "length", (const char *const[]){"min", "5", "max", "3", NULL},
                                1, vocab(), NULL, err, sizeof err));
  ck_assert_ptr_nonnull(strstr(err, "max"));
}
END_TEST

START_TEST(test_regex_match) {
  scorer r = make("regex_match", (const char *const[]){"pattern", "cat.*mat", NULL});
  scorer whole = make("regex_match", (const char *const[]){"pattern", "^the( [a-z]+)+$", NULL});
  scorer inv = make("regex_match", (const char *const[]){"pattern", "sat", "invert", "true", NULL});
  ck_assert_double_eq(score(r, SEQ(THE, CAT, SAT, ON, THE, MAT)), 1.0);
  ck_assert_double_eq(score(r, SEQ(THE, MAT, CAT)), 0.0);
  ck_assert_double_eq(score(whole, SEQ(THE, CAT, SAT)), 1.0);
  ck_assert_double_eq(score(whole, SEQ(CAT, SAT)), 0.0);
  ck_assert_double_eq(score(inv, SEQ(THE, CAT, SAT)), 0.0);
  ck_assert_double_eq(score(inv, SEQ(THE, CAT)), 1.0);
  char err[256];
  ck_assert_ptr_null(dkh_create(H, DK_KIND_SCORER, "regex_match", (const char *const[]){"pattern", "(a", NULL},
                                1, vocab(), NULL, err, sizeof err));
  ck_assert_ptr_nonnull(strstr(err, "pattern"));
}
END_TEST

START_TEST(test_repetition) {
  scorer uni = make("repetition", (const char *const[]){"n", "1", NULL});
  scorer bi = make("repetition", (const char *const[]){"n", "2", NULL});
  ck_assert_double_eq(score(uni, SEQ(A, B, A, B)), -0.5);
  ck_assert_double_eq_tol(score(bi, SEQ(A, B, A, B)), -1.0 / 3, 1e-12);
  ck_assert_double_eq(score(bi, SEQ(THE, CAT, SAT)), 0.0);
  ck_assert_double_eq(score(bi, SEQ(A)), 0.0);
  ck_assert_double_eq_tol(score(bi, SEQ(A, A, A, A, A)), -0.75, 1e-12);
}
END_TEST

/* For every scorer: score_batch is score per hypothesis, score_next is
 * score of the context plus each candidate. */
START_TEST(test_batch_and_next_agree) {
  scorer all[] = {make("keyword", (const char *const[]){"keywords", "[cat,the mat, on]", NULL}),
                  make("length", (const char *const[]){"min", "3", "max", "6", NULL}),
                  make("regex_match", (const char *const[]){"pattern", "(cat|mat)$", NULL}),
                  make("repetition", (const char *const[]){"n", "2", NULL})};
  unsigned seed = 7;
  for (size_t trial = 0; trial < 50; trial++) {
    dk_token ctx[16], cand[NV];
    size_t n = 1 + (size_t)(rand_r(&seed) % 12);
    ctx[0] = BOS;
    for (size_t i = 1; i < n; i++) ctx[i] = 2 + rand_r(&seed) % (NV - 2);
    for (int v = 0; v < NV; v++) cand[v] = v;
    for (size_t k = 0; k < sizeof all / sizeof *all; k++) {
      double next[NV], batch[NV];
      ck_assert_ptr_nonnull(all[k].iface->score_next);
      ck_assert_ptr_nonnull(all[k].iface->score_batch);
      ck_assert_int_eq(all[k].iface->score_next(all[k].inst, NULL, ctx, n, 1, cand, NV, next, dkh_error(H)), DK_OK);
      dk_token ext[NV][17];
      const dk_token *hyps[NV];
      size_t lens[NV];
      for (int v = 0; v < NV; v++) {
        memcpy(ext[v], ctx, n * sizeof *ctx);
        ext[v][n] = v;
        hyps[v] = ext[v];
        lens[v] = n + 1;
      }
      ck_assert_int_eq(all[k].iface->score_batch(all[k].inst, NULL, hyps, lens, NV, 1, batch, dkh_error(H)), DK_OK);
      for (int v = 0; v < NV; v++) {
        double one = score(all[k], ext[v], n + 1);
        ck_assert_double_eq(next[v], one);
        ck_assert_double_eq(batch[v], one);
      }
    }
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("scorers");
  TCase *tc = tcase_create("scorers");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_keyword);
  tcase_add_test(tc, test_length);
  tcase_add_test(tc, test_regex_match);
  tcase_add_test(tc, test_repetition);
  tcase_add_test(tc, test_batch_and_next_agree);
  suite_add_tcase(s, tc);
  return dkh_run(s);
}
