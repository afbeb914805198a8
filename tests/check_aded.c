/* check_aded.c -- the aded drafter: its tri-gram store, PUCT search and draft tree, and greedy identity through speculative. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "harness.h"
#include "loader.h"
#include "mcts.h"
#include "pipeline.h"
#include "session.h"

static char tmpl[64];

/* A store file with the given body; its path stays in tmpl. */
static const char *store_file(const char *body) {
  strcpy(tmpl, "aded-store-XXXXXX");
  int fd = mkstemp(tmpl);
  ck_assert(fd >= 0);
  FILE *f = fdopen(fd, "w");
  ck_assert(f != NULL);
  fputs(body, f);
  fclose(f);
  return tmpl;
}

static float weight(const dka_store *st, dk_token a, dk_token b, dk_token c) {
  size_t n;
  const dka_succ *s = dka_store_get(st, a, b, &n);
  for (size_t i = 0; i < n; i++)
    if (s[i].tok == c) return s[i].w;
  return -1;
}

/* Loading keeps the heaviest successors; adapting adds 0.04 per pass up to
 * the cap and creates missing entries (METHODS.md 4, test 2). */
START_TEST(test_store_adapts) {
  char msg[256];
  dka_store st = {0};
  const char *path = store_file("decokit-trigrams 1\n1 2 3 0.25\n1 2 4 0.5\n1 2 5 0.125\n1 2 6 0.125\n");
  ck_assert_int_eq(dka_store_load(&st, path, 16, 3, msg, sizeof msg), DK_OK);
  unlink(path);
  size_t n;
  const dka_succ *s = dka_store_get(&st, 1, 2, &n);
  ck_assert_uint_eq(n, 3);
  ck_assert(s[0].tok == 4 && s[1].tok == 3 && s[0].w == 0.5f);
  static const dk_token abc[] = {1, 2, 3};
  for (int i = 0; i < 10; i++) ck_assert_int_eq(dka_store_adapt(&st, abc, 3, 16, 0.04f, 3.0f), DK_OK);
  ck_assert(fabsf(weight(&st, 1, 2, 3) - 0.65f) < 1e-5f);
  for (int i = 0; i < 90; i++) dka_store_adapt(&st, abc, 3, 16, 0.04f, 3.0f);
  ck_assert(fabsf(weight(&st, 1, 2, 3) - fminf(0.25f + 0.04f * 100, 3.0f)) < 1e-5f);
  /* Only tri-grams inside the last 16 tokens change. */
  dk_token seq[20];
  for (int i = 0; i < 20; i++) seq[i] = 7 + i;
  ck_assert_int_eq(dka_store_adapt(&st, seq, 20, 16, 0.04f, 3.0f), DK_OK);
  for (int i = 0; i + 2 < 20; i++)
    ck_assert_msg((weight(&st, seq[i], seq[i + 1], seq[i + 2]) > 0) == (i >= 4), "tri-gram at %d", i);
  ck_assert(fabsf(weight(&st, 11, 12, 13) - 0.04f) < 1e-6f);
  dka_store_free(&st);
}
END_TEST

/* Bad store files are refused with the line at fault. */
START_TEST(test_store_refuses_bad_files) {
  static const char *const bad[][2] = {
      {"trigrams\n1 2 3 0.5\n", "not a tri-gram store"},
      {"decokit-trigrams 1\n1 2 3 0.5\n1 2 16 0.5\n", "line 3"},
      {"decokit-trigrams 1\n1 2 3 1.5\n", "line 2"},
      {"decokit-trigrams 1\n1 -2 3 0.5\n", "line 2"},
      {"decokit-trigrams 1\n1 2 3 nan\n", "line 2"},
      {"decokit-trigrams 1\n1 2 3 0.5 9\n", "line 2"},
      {"decokit-trigrams 1\n1 2\n", "line 2"}};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char msg[256];
    dka_store st = {0};
    const char *path = store_file(bad[i][0]);
    ck_assert_int_ne(dka_store_load(&st, path, 16, 12, msg, sizeof msg), DK_OK);
    unlink(path);
    ck_assert_msg(strstr(msg, bad[i][1]) != NULL, "%zu: %s", i, msg);
    dka_store_free(&st);
  }
  /* Through the plugin: the error names the key. */
  dk_harness *h = dkh_new();
  dk_vocab vocab = {sizeof vocab, 16, -1, -1, -1, NULL, NULL, NULL};
  static const char *const kv[] = {"store", "no-such-store.tri", NULL};
  char msg[256];
  ck_assert(dkh_create(h, DK_KIND_DRAFTER, "aded", kv, 1, &vocab, NULL, msg, sizeof msg) == NULL);
  ck_assert_msg(strstr(msg, "store") != NULL, "%s", msg);
  dkh_free(h);
}
END_TEST

/* METHODS.md 4, test 3: the PUCT score on hand-set numbers. */
START_TEST(test_puct) {
  double want = 6.0 / 3 + (32 + log(19.0 / 8)) * 0.5 * sqrt(10) / 4;
  ck_assert(fabs(dka_puct(6, 3, 0.5, 10, 32, 8) - want) < 1e-12);
  ck_assert(fabs(want - 14.991030899756867) < 1e-9);
  ck_assert(isinf(dka_puct(0, 0, 0.5, 10, 32, 8)));
}
END_TEST

static double lcg(void *u) {
  uint64_t *x = u;
  *x = *x * 6364136223846793005u + 1442695040888963407u;
  return (double)(*x >> 11) * (1.0 / 9007199254740992.0);
}

/* A store where every pair (a, b) has the successors (a + b + k) % 50,
 * k < 5, with falling weights. */
static void rich_store(dka_store *st) {
  for (dk_token a = 0; a < 50; a++)
    for (dk_token b = 0; b < 50; b++)
      for (int k = 0; k < 5; k++)
        ck_assert_int_eq(dka_store_bump(st, a, b, (a + b + k) % 50, 0.4f / (float)(k + 1), 3), DK_OK);
}

/* Tests 4, 5 and 6: a seeded search is deterministic, its paths come most
 * visited first, and the tree holds at most 64 nodes (65 with the root). */
START_TEST(test_search_and_tree) {
  dka_store st = {0};
  rich_store(&st);
  dka_params prm = {150, 4, 24, 32, 8};
  dka_mcts m = {0};
  dka_path a[24], b[24];
  size_t na, nb;
  uint64_t u1 = 42, u2 = 42;
  ck_assert_int_eq(dka_search(&m, &st, 3, 4, &prm, lcg, &u1, a, &na), DK_OK);
  ck_assert_int_eq(dka_search(&m, &st, 3, 4, &prm, lcg, &u2, b, &nb), DK_OK);
  ck_assert_uint_eq(na, 24);
  ck_assert_uint_eq(nb, na);
  for (size_t i = 0; i < na; i++) {
    ck_assert(a[i].len == b[i].len && a[i].visits == b[i].visits);
    ck_assert(!memcmp(a[i].tok, b[i].tok, a[i].len * sizeof *a[i].tok));
    if (i) ck_assert(a[i - 1].visits >= a[i].visits);
    ck_assert(a[i].len >= 2 && a[i].len <= 5);
    /* Each step is a stored successor, the extension the heaviest one. */
    dk_token x = 3, y = 4;
    for (size_t d = 0; d < a[i].len; d++) {
      ck_assert(weight(&st, x, y, a[i].tok[d]) > 0);
      x = y, y = a[i].tok[d];
    }
    dk_token p2 = a[i].len > 2 ? a[i].tok[a[i].len - 3] : a[i].len == 2 ? 4 : 3;
    ck_assert_int_eq(a[i].tok[a[i].len - 1], (p2 + a[i].tok[a[i].len - 2]) % 50);
  }
  /* Visits add up: 150 rounds through the root's children. */
  double top = 0;
  for (size_t i = 0; i < na; i++)
    if (a[i].len == 2) top += a[i].visits;
  ck_assert(top <= 150);
  dk_token tok[64];
  int32_t par[64];
  size_t n = dka_tree(a, na, 64, tok, par);
  ck_assert(n > 10 && n <= 64);
  for (size_t i = 0; i < n; i++) {
    ck_assert(par[i] < (int32_t)i);
    for (size_t j = 0; j < i; j++) ck_assert(!(par[j] == par[i] && tok[j] == tok[i])); /* a trie */
  }
  /* A small cap drops whole paths, most nodes of their own first. */
  size_t n8 = dka_tree(a, na, 8, tok, par);
  ck_assert(n8 > 0 && n8 <= 8);
  dka_mcts_free(&m);
  dka_store_free(&st);
}
END_TEST

/* Trie assembly by hand: shared prefixes merge, duplicates vanish, and
 * trimming drops the path with the most nodes of its own. */
START_TEST(test_tree_by_hand) {
  dka_path p[4] = {{{1, 2, 3}, 3, 9, 0}, {{1, 2, 4}, 3, 8, 1}, {{1, 2, 3}, 3, 7, 2}, {{5, 6, 7}, 3, 6, 3}};
  dk_token tok[16];
  int32_t par[16];
  size_t n = dka_tree(p, 4, 16, tok, par);
  static const dk_token wt[] = {1, 2, 3, 4, 5, 6, 7};
  static const int32_t wp[] = {-1, 0, 1, 1, -1, 4, 5};
  ck_assert_uint_eq(n, 7);
  for (size_t i = 0; i < 7; i++) ck_assert(tok[i] == wt[i] && par[i] == wp[i]);
  n = dka_tree(p, 4, 4, tok, par); /* 5 6 7 (three of its own) goes */
  ck_assert_uint_eq(n, 4);
  for (size_t i = 0; i < 4; i++) ck_assert(tok[i] == wt[i] && par[i] == wp[i]);
}
END_TEST

static dk_registry *reg;
static dk_error err;

static void setup(void) {
  reg = dkh_registry();
  dk_error_clear(&err);
  char path[4096];
  const dk_component *c;
  snprintf(path, sizeof path, "%s/hashlm.so", getenv("DECOKIT_FIXTURE_DIR"));
  ck_assert_msg(dk_registry_find(reg, DK_KIND_MODEL, path, &c, &err) == DK_OK, "%s", err.msg);
}

static void teardown(void) { dk_registry_free(reg); }

static dk_result *run_ok(const char *yaml, const char *prompt) {
  int rc;
  dk_run_opts opts = {.threads = 1, .logprobs = -1};
  dk_result *r = dkh_run_yaml(reg, yaml, getenv("DECOKIT_SRCDIR"), prompt, &opts, &rc, &err);
  ck_assert_msg(rc == DK_OK, "%s\n%s", err.msg, yaml);
  return r;
}

static void same_tokens(const dk_completion *a, const dk_completion *b, const char *what) {
  ck_assert_msg(a->n_tokens == b->n_tokens, "%s: %zu vs %zu tokens", what, a->n_tokens, b->n_tokens);
  for (size_t i = 0; i < a->n_tokens; i++) ck_assert_msg(a->tokens[i] == b->tokens[i], "%s: token %zu", what, i);
}

/* METHODS.md 4, tests 1 and 7: the output is greedy's; on text that
 * repeats itself more than one token is accepted per step. */
START_TEST(test_equals_greedy_and_accepts) {
  static const char *const models[] = {
      "model: { plugin: hashlm, window: 1 }\n", "model: { plugin: hashlm }\n",
      "model: { plugin: llama, path: models/decokit-tiny.gguf }\n"};
  static const char *const prompts[] = {"the cat sat on the mat, the cat sat on the mat, the cat sat on the",
                                        "And the LORD said unto Moses,", "abcabcabcabc"};
  for (size_t mi = 0; mi < 3; mi++)
    for (size_t p = 0; p < 3; p++) {
      char y[1024];
      snprintf(y, sizeof y, "decokit: 1\n%sgenerate: { max_tokens: 80, ignore_eos: true }\n", models[mi]);
      dk_result *a = run_ok(y, prompts[p]);
      snprintf(y, sizeof y,
               "decokit: 1\n%sdecoder: { plugin: speculative, max_draft: 64 }\ndrafter: { plugin: aded }\n"
               "generate: { max_tokens: 80, ignore_eos: true, seed: 3 }\n",
               models[mi]);
      dk_result *b = run_ok(y, prompts[p]);
      char what[64];
      snprintf(what, sizeof what, "model %zu, prompt %zu", mi, p);
      same_tokens(&a->c[0], &b->c[0], what);
      /* The one-token-window hash LM soon cycles: ADED learns the cycle. */
      if (mi == 0)
        ck_assert_msg(dkh_metric(&b->c[0], "tau") > 1, "%s: tau %g", what, dkh_metric(&b->c[0], "tau"));
      dk_result_free(a);
      dk_result_free(b);
    }
}
END_TEST

int main(void) {
  Suite *s = suite_create("aded");
  TCase *tc = tcase_create("aded");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_store_adapts);
  tcase_add_test(tc, test_store_refuses_bad_files);
  tcase_add_test(tc, test_puct);
  tcase_add_test(tc, test_search_and_tree);
  tcase_add_test(tc, test_tree_by_hand);
  suite_add_tcase(s, tc);
  TCase *run = tcase_create("pipelines");
  tcase_add_checked_fixture(run, setup, teardown);
  tcase_set_timeout(run, 120);
  tcase_add_test(run, test_equals_greedy_and_accepts);
  suite_add_tcase(s, run);
  return dkh_run(s);
}
