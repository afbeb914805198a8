/* check_drafter_merge.c -- a list of drafters: merged trees, fanned-out feedback, the list in pipelines, lossless verification. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drafter_merge.h"
#include "error.h"
#include "harness.h"
#include "loader.h"
#include "pipeline.h"
#include "session.h"

/* ---- fixed drafters: each proposes its own tree and counts the calls it gets ---- */

typedef struct fixed {
  dk_token tok[16];
  int32_t par[16];
  size_t n;
  int fail_begin;
  int begins, ends, resets, observes, verified;
  size_t last_acc;
} fixed;

static int fx_propose(void *inst, dk_session *s, const dk_token *ctx, size_t n_ctx, dk_draft *out,
                      dk_error *err) {
  (void)s, (void)ctx, (void)n_ctx, (void)err;
  fixed *f = inst;
  out->n = f->n < out->cap ? f->n : out->cap; /* a prefix keeps parents before children */
  for (size_t i = 0; i < out->n; i++) {
    out->tokens[i] = f->tok[i];
    out->parents[i] = f->par[i];
  }
  return DK_OK;
}
static int fx_propose_dist(void *inst, dk_session *s, const dk_token *ctx, size_t n_ctx,
                           dk_draft *out, dk_draft_dist *q, dk_error *err) {
  int rc = fx_propose(inst, s, ctx, n_ctx, out, err);
  /* all mass on the node's token: first entry of a sparse row, or dense */
  for (size_t i = 0; i < out->n; i++)
    for (size_t j = 0; j < q->k; j++) {
      if (q->ids) q->ids[i * q->k + j] = j ? -1 : out->tokens[i];
      q->probs[i * q->k + j] = (q->ids ? j == 0 : (dk_token)j == out->tokens[i]) ? 1.0f : 0.0f;
    }
  return rc;
}
static void fx_observe(void *inst, const dk_token *acc, size_t n_acc, size_t n_prop) {
  (void)acc, (void)n_prop;
  ((fixed *)inst)->observes++;
  ((fixed *)inst)->last_acc = n_acc;
}
static void fx_observe_verified(void *inst, dk_session *s, const dk_verify_feedback *fb) {
  (void)s;
  ((fixed *)inst)->verified++;
  ((fixed *)inst)->last_acc = fb->n_accepted;
}
static void fx_reset(void *inst) { ((fixed *)inst)->resets++; }
static int fx_begin(void *inst, dk_session *s, dk_error *err) {
  (void)s;
  fixed *f = inst;
  if (f->fail_begin) return dk_error_set(err, DK_ERR_INVALID, "no");
  f->begins++;
  return DK_OK;
}
static void fx_end(void *inst, dk_session *s) {
  (void)s;
  ((fixed *)inst)->ends++;
}

/* Ops: 'd' propose_dist, 'o' observe, 'v' observe_verified, 'l' begin/end/reset. */
static struct dk_drafter_iface fx_iface(const char *ops) {
  struct dk_drafter_iface f = {.hdr = {sizeof f, DK_KIND_DRAFTER, "fixed", "1.1.0", "", NULL,
                                       sizeof(dk_param_spec), 0},
                               .propose = fx_propose};
  if (strchr(ops, 'd')) f.propose_dist = fx_propose_dist;
  if (strchr(ops, 'o')) f.observe = fx_observe;
  if (strchr(ops, 'v')) f.observe_verified = fx_observe_verified;
  if (strchr(ops, 'l')) f.begin = fx_begin, f.end = fx_end, f.reset = fx_reset;
  return f;
}

static void fx_set(fixed *f, size_t n, const dk_token *tok, const int32_t *par) {
  memset(f, 0, sizeof *f);
  f->n = n;
  memcpy(f->tok, tok, n * sizeof *tok);
  memcpy(f->par, par, n * sizeof *par);
}

#define NV 100

/* Merge the proposals of n fixed drafters with room for cap nodes. */
static int merged(fixed *f, const struct dk_drafter_iface *ifs, size_t n, size_t cap, dk_token *tok,
                  int32_t *par, size_t *n_out, dk_error *err) {
  dk_drafter_proxy px[4];
  for (size_t i = 0; i < n; i++) dk_drafter_proxy_init(&px[i], &ifs[i], &f[i], "fixed", NV);
  dk_drafter_merge m;
  dk_drafter_merge_init(&m, px, n);
  dk_draft d = {tok, par, 99, cap};
  static const dk_token ctx[] = {1, 2};
  int rc = m.ref.iface->propose(m.ref.inst, NULL, ctx, 2, &d, err);
  *n_out = d.n;
  dk_drafter_merge_free(&m);
  return rc;
}

static void tree_is(const dk_token *tok, const int32_t *par, size_t n, const dk_token *want_tok,
                    const int32_t *want_par, size_t want_n, const char *what) {
  ck_assert_msg(n == want_n, "%s: %zu nodes, not %zu", what, n, want_n);
  for (size_t i = 0; i < n; i++)
    ck_assert_msg(tok[i] == want_tok[i] && par[i] == want_par[i],
                  "%s: node %zu is %d (parent %d), not %d (parent %d)", what, i, tok[i], par[i],
                  want_tok[i], want_par[i]);
}

/* The same token path is one node; the first drafter's nodes come first,
 * each later drafter's new nodes after them, parents before children. */
START_TEST(test_merge_dedupes_in_order) {
  dk_error err;
  dk_error_clear(&err);
  fixed f[3];
  struct dk_drafter_iface ifs[3] = {fx_iface(""), fx_iface(""), fx_iface("")};
  fx_set(&f[0], 3, (dk_token[]){5, 6, 7}, (int32_t[]){-1, 0, 1});
  fx_set(&f[1], 5, (dk_token[]){5, 9, 6, 8, 3}, (int32_t[]){-1, -1, 0, 2, 1});
  /* a drafter repeating itself: the second 4 under 9 is the first one */
  fx_set(&f[2], 4, (dk_token[]){9, 4, 4, 2}, (int32_t[]){-1, 0, 0, 2});
  dk_token tok[16];
  int32_t par[16];
  size_t n;
  ck_assert_int_eq(merged(f, ifs, 3, 16, tok, par, &n, &err), DK_OK);
  tree_is(tok, par, n, (dk_token[]){5, 6, 7, 9, 8, 3, 4, 2}, (int32_t[]){-1, 0, 1, -1, 1, 3, 3, 6},
          8, "three drafters");
  /* One drafter alone: its tree as it is. */
  ck_assert_int_eq(merged(&f[1], &ifs[1], 1, 16, tok, par, &n, &err), DK_OK);
  tree_is(tok, par, n, f[1].tok, f[1].par, 5, "one drafter");
}
END_TEST

/* Over capacity, the later drafters lose their deepest nodes first (the
 * latest at equal depth); the first drafter keeps its whole proposal. */
START_TEST(test_merge_capacity) {
  dk_error err;
  dk_error_clear(&err);
  fixed f[2];
  struct dk_drafter_iface ifs[2] = {fx_iface(""), fx_iface("")};
  fx_set(&f[0], 3, (dk_token[]){5, 6, 7}, (int32_t[]){-1, 0, 1});
  /* new nodes: 10 (depth 1), 11 (2), 12 (1), 13 (3); 6 under 5 is known */
  fx_set(&f[1], 6, (dk_token[]){5, 10, 11, 12, 6, 13}, (int32_t[]){-1, -1, 1, -1, 0, 2});
  dk_token tok[16];
  int32_t par[16];
  size_t n;
  static const dk_token all[] = {5, 6, 7, 10, 11, 12, 13};
  static const int32_t all_par[] = {-1, 0, 1, -1, 3, -1, 4};
  for (size_t cap = 3; cap <= 8; cap++) {
    char what[32];
    snprintf(what, sizeof what, "capacity %zu", cap);
    ck_assert_int_eq(merged(f, ifs, 2, cap, tok, par, &n, &err), DK_OK);
    if (cap == 3) tree_is(tok, par, n, all, all_par, 3, what);
    if (cap == 4) tree_is(tok, par, n, all, all_par, 4, what);
    if (cap == 5) tree_is(tok, par, n, (dk_token[]){5, 6, 7, 10, 12}, (int32_t[]){-1, 0, 1, -1, -1}, 5, what);
    if (cap == 6) tree_is(tok, par, n, all, all_par, 6, what);
    if (cap >= 7) tree_is(tok, par, n, all, all_par, 7, what);
  }
  /* The first drafter already fills the room: it is cut by its own cap. */
  ck_assert_int_eq(merged(f, ifs, 2, 2, tok, par, &n, &err), DK_OK);
  tree_is(tok, par, n, all, all_par, 2, "capacity 2");
  ck_assert_int_eq(merged(f, ifs, 2, 0, tok, par, &n, &err), DK_OK);
  ck_assert_uint_eq(n, 0);
}
END_TEST

/* When every member reports its distribution, each node of the merged
 * tree carries the row of the member that added it, sparse or dense. */
START_TEST(test_merge_rows) {
  dk_error err;
  dk_error_clear(&err);
  fixed f[2];
  struct dk_drafter_iface ifs[2] = {fx_iface("d"), fx_iface("d")};
  fx_set(&f[0], 2, (dk_token[]){5, 6}, (int32_t[]){-1, 0});
  fx_set(&f[1], 3, (dk_token[]){5, 7, 8}, (int32_t[]){-1, 0, -1});
  dk_drafter_proxy px[2];
  for (int i = 0; i < 2; i++) dk_drafter_proxy_init(&px[i], &ifs[i], &f[i], "fixed", NV);
  dk_drafter_merge m;
  dk_drafter_merge_init(&m, px, 2);
  ck_assert_ptr_nonnull(m.ref.iface->propose_dist);
  dk_token tok[8], ids[8 * 3];
  int32_t par[8];
  float probs[8 * NV];
  for (int cap = 3; cap <= 8; cap++) {
    int dense = cap > 4;
    size_t k = dense ? NV : 3;
    dk_draft d = {tok, par, 0, (size_t)(dense ? cap - 4 + 2 : cap)};
    dk_draft_dist q = {sizeof q, k, dense ? NULL : ids, probs};
    ck_assert_int_eq(m.ref.iface->propose_dist(m.ref.inst, NULL, tok, 0, &d, &q, &err), DK_OK);
    /* capacity 3: the later member's root 8 (depth 1) stays, 7 (depth 2) goes */
    if (d.cap == 3) tree_is(tok, par, d.n, (dk_token[]){5, 6, 8}, (int32_t[]){-1, 0, -1}, 3, "rows, cap 3");
    if (d.cap == 4) tree_is(tok, par, d.n, (dk_token[]){5, 6, 7, 8}, (int32_t[]){-1, 0, 0, -1}, 4, "rows, cap 4");
    for (size_t i = 0; i < d.n; i++) {
      for (size_t j = 0; j < k; j++) {
        dk_token t = dense ? (dk_token)j : ids[i * k + j];
        ck_assert_msg(probs[i * k + j] == (t == tok[i] && (dense || j == 0) ? 1.0f : 0.0f),
                      "cap %zu, node %zu, entry %zu", d.cap, i, j);
      }
    }
  }
  dk_drafter_merge_free(&m);
}
END_TEST

/* A member's proposal goes through its checking proxy: a malformed one
 * fails the merged proposal, naming the drafter. */
START_TEST(test_merge_checks_members) {
  dk_error err;
  dk_error_clear(&err);
  fixed f[2];
  struct dk_drafter_iface ifs[2] = {fx_iface(""), fx_iface("")};
  fx_set(&f[0], 2, (dk_token[]){5, 6}, (int32_t[]){-1, 0});
  fx_set(&f[1], 2, (dk_token[]){5, NV}, (int32_t[]){-1, 0});
  dk_token tok[8];
  int32_t par[8];
  size_t n;
  ck_assert_int_eq(merged(f, ifs, 2, 8, tok, par, &n, &err), DK_ERR_INVALID);
  ck_assert_uint_eq(n, 0);
  ck_assert_msg(strstr(err.msg, "drafter 'fixed': node 1: token outside the vocabulary"), "%s", err.msg);
  fx_set(&f[1], 2, (dk_token[]){5, 6}, (int32_t[]){1, -1});
  ck_assert_int_eq(merged(f, ifs, 2, 8, tok, par, &n, &err), DK_ERR_INVALID);
  ck_assert_msg(strstr(err.msg, "parent is not an earlier node"), "%s", err.msg);
}
END_TEST

/* Feedback and the per-completion calls reach every member that has them;
 * propose_dist only where one member alone reports a distribution. */
START_TEST(test_merge_fans_out) {
  dk_error err;
  dk_error_clear(&err);
  fixed f[3];
  for (int i = 0; i < 3; i++) fx_set(&f[i], 1, (dk_token[]){(dk_token)(4 + i)}, (int32_t[]){-1});
  struct dk_drafter_iface ifs[3] = {fx_iface("ol"), fx_iface("vd"), fx_iface("l")};
  dk_drafter_proxy px[3];
  for (int i = 0; i < 3; i++) dk_drafter_proxy_init(&px[i], &ifs[i], &f[i], "fixed", NV);
  dk_drafter_merge m;
  dk_drafter_merge_init(&m, px, 3);
  const struct dk_drafter_iface *mi = m.ref.iface;
  ck_assert(mi->observe && mi->observe_verified && mi->begin && mi->end && mi->reset);
  ck_assert(mi->begin(m.ref.inst, NULL, &err) == DK_OK);
  ck_assert(f[0].begins == 1 && f[2].begins == 1);
  static const dk_token acc[] = {4, 7};
  dk_verify_feedback fb = {sizeof fb, acc, 2, 3, 0, 0, NULL, NULL, NULL};
  mi->observe_verified(m.ref.inst, NULL, &fb);
  ck_assert(f[0].observes == 1 && f[0].last_acc == 2 && f[0].verified == 0);
  ck_assert(f[1].verified == 1 && f[1].last_acc == 2 && f[1].observes == 0);
  mi->observe(m.ref.inst, acc, 1, 3);
  ck_assert(f[0].observes == 2 && f[0].last_acc == 1 && f[1].verified == 1);
  mi->end(m.ref.inst, NULL);
  mi->reset(m.ref.inst);
  ck_assert(f[0].ends == 1 && f[2].ends == 1 && f[0].resets == 1 && f[2].resets == 1);
  /* Not every member reports its distribution: the list does not either. */
  ck_assert_ptr_null(mi->propose_dist);
  dk_drafter_merge_free(&m);
  /* A failed begin ends the members begun before it, and only them. */
  f[2].fail_begin = 1;
  f[0].begins = f[0].ends = 0;
  dk_drafter_merge_init(&m, px, 3);
  ck_assert_int_eq(m.ref.iface->begin(m.ref.inst, NULL, &err), DK_ERR_INVALID);
  ck_assert(f[0].begins == 1 && f[0].ends == 1 && f[2].ends == 1);
  dk_drafter_merge_free(&m);
  /* No member with feedback ops: the list has none either. */
  ifs[2] = fx_iface("");
  dk_drafter_proxy_init(&px[2], &ifs[2], &f[2], "fixed", NV);
  dk_drafter_merge_init(&m, &px[2], 1);
  ck_assert(!m.ref.iface->propose_dist && !m.ref.iface->observe && !m.ref.iface->observe_verified);
  dk_drafter_merge_free(&m);
}
END_TEST

/* ---- the list in pipelines ---- */

static dk_registry *reg;
static dk_error err;

static void setup(void) {
  reg = dkh_registry();
  dk_error_clear(&err);
  static const char *const libs[][2] = {{"hostile", "hostile"}, {"hashlm", "hashlm"}, {"probe", "echo"}};
  static const int kinds[] = {DK_KIND_DECODER, DK_KIND_MODEL, DK_KIND_DRAFTER};
  for (size_t i = 0; i < 3; i++) {
    char path[4096];
    const dk_component *c;
    snprintf(path, sizeof path, "%s/%s.so", getenv("DECOKIT_FIXTURE_DIR"), libs[i][0]);
    ck_assert_msg(dk_registry_find(reg, kinds[i], path, &c, &err) == DK_OK, "%s", err.msg);
  }
}

static void teardown(void) { dk_registry_free(reg); }

#define HASH "decokit: 1\nmodel: { plugin: hashlm }\n"
#define SPEC "decoder: { plugin: speculative }\n"
#define LIST "drafter:\n  - { plugin: prompt_lookup, max_n: 3 }\n  - { plugin: ngram_cache, max_n: 3 }\n"

static dk_pipeline *resolved(const char *yaml) {
  dk_pipeline *p = NULL;
  int rc = dk_pipeline_parse(yaml, strlen(yaml), "t.yaml", ".", &p, &err);
  if (!rc) rc = dk_pipeline_resolve(p, reg, NULL, &err);
  ck_assert_msg(rc == DK_OK, "%s\n%s", err.msg, yaml);
  return p;
}

static void fingerprint(const char *yaml, char out[17]) {
  dk_pipeline *p = resolved(yaml);
  ck_assert_int_eq(dk_pipeline_fingerprint(p, out), DK_OK);
  dk_pipeline_free(p);
}

static void refused(const char *yaml, const char *want) {
  dk_pipeline *p = NULL;
  int rc = dk_pipeline_parse(yaml, strlen(yaml), "t.yaml", ".", &p, &err);
  if (!rc) rc = dk_pipeline_resolve(p, reg, NULL, &err);
  ck_assert_msg(rc < 0, "accepted: %s", yaml);
  ck_assert_msg(strstr(err.msg, want), "'%s' not in: %s", want, err.msg);
  dk_pipeline_free(p);
}

/* A single block keeps its fingerprint; a list of one is the same pipeline;
 * order matters; the canonical text reads back as the same list. */
START_TEST(test_list_fingerprint_and_yaml) {
  char one[17], listed[17], two[17], swapped[17], again[17];
  fingerprint(HASH SPEC "drafter: { plugin: prompt_lookup, max_n: 3 }\n", one);
  fingerprint(HASH SPEC "drafter: [ { plugin: prompt_lookup, max_n: 3 } ]\n", listed);
  ck_assert_str_eq(one, listed);
  fingerprint(HASH SPEC LIST, two);
  fingerprint(HASH SPEC "drafter:\n  - { plugin: ngram_cache, max_n: 3 }\n  - { plugin: prompt_lookup, max_n: 3 }\n",
              swapped);
  ck_assert_str_ne(one, two);
  ck_assert_str_ne(two, swapped);
  dk_pipeline *p = resolved(HASH SPEC LIST);
  ck_assert_uint_eq(p->n_drafters, 2);
  char *y = dk_pipeline_yaml(p);
  ck_assert_ptr_nonnull(y);
  ck_assert_msg(strstr(y, "drafter:\n  - { plugin: \"prompt_lookup\"") &&
                    strstr(y, "\n  - { plugin: \"ngram_cache\""), "%s", y);
  fingerprint(y, again);
  ck_assert_str_eq(two, again);
  free(y);
  /* --set: an item by index or name, or one more item. */
  ck_assert_int_eq(dk_pipeline_override(p, "drafter.1.max_n=2", &err), DK_OK);
  ck_assert_int_eq(dk_pipeline_override(p, "drafter.prompt_lookup.tokens=3", &err), DK_OK);
  ck_assert_int_eq(dk_pipeline_override(p, "drafter.+={ plugin: prompt_lookup, min_n: 2 }", &err), DK_OK);
  ck_assert_int_eq(dk_pipeline_override(p, "drafter.max_n=2", &err), DK_ERR_INVALID);
  ck_assert_msg(strstr(err.msg, "drafter.INDEX.KEY=VALUE"), "%s", err.msg);
  ck_assert_uint_eq(p->n_drafters, 3);
  ck_assert_str_eq(p->drafter[1].kv[0].value, "2");
  dk_pipeline_free(p);
  p = resolved(HASH SPEC "drafter: { plugin: prompt_lookup }\n");
  ck_assert_int_eq(dk_pipeline_override(p, "drafter.+=ngram_cache", &err), DK_OK);
  ck_assert_uint_eq(p->n_drafters, 2);
  ck_assert_str_eq(p->drafter[1].plugin, "ngram_cache");
  dk_pipeline_free(p);
}
END_TEST

/* A bad item is named by its own place in the file. */
START_TEST(test_list_errors) {
  refused(HASH SPEC "drafter:\n  - { plugin: prompt_lookup }\n  - { plugin: no_such_drafter }\n",
          "t.yaml:6:5: drafter: ");
  refused(HASH SPEC "drafter:\n  - { plugin: prompt_lookup }\n  - { plugin: ngram_cache, max_m: 3 }\n",
          "t.yaml:6:");
  refused(HASH SPEC "drafter:\n  - { plugin: prompt_lookup }\n  - { plugin: ngram_cache, max_m: 3 }\n",
          "max_m");
  refused(HASH SPEC "drafter:\n  - { plugin: prompt_lookup }\n  - [ 1, 2 ]\n", "t.yaml:6:5:");
  refused(HASH SPEC "drafter:\n  - { plugin: prompt_lookup }\n  - { max_n: 2 }\n", "missing key 'plugin'");
  refused(HASH SPEC "drafter: []\n", "'drafter' is an empty list");
}
END_TEST

static dk_result *run_rc(const char *yaml, const char *prompt, int threads, int *rc) {
  dk_run_opts opts = {.threads = threads, .logprobs = -1};
  return dkh_run_yaml(reg, yaml, getenv("DECOKIT_SRCDIR"), prompt, &opts, rc, &err);
}

static dk_result *run_ok(const char *yaml, const char *prompt, int threads) {
  int rc;
  dk_result *r = run_rc(yaml, prompt, threads, &rc);
  ck_assert_msg(rc == DK_OK, "%s\n%s", err.msg, yaml);
  return r;
}

static void same_output(const dk_completion *a, const dk_completion *b, const char *what) {
  ck_assert_msg(a->n_tokens == b->n_tokens, "%s: %zu vs %zu tokens", what, a->n_tokens, b->n_tokens);
  for (size_t i = 0; i < a->n_tokens; i++)
    ck_assert_msg(a->tokens[i] == b->tokens[i], "%s: token %zu is %d, not %d", what, i, b->tokens[i],
                  a->tokens[i]);
  ck_assert_str_eq(a->text, b->text);
  ck_assert_str_eq(a->stop_reason, b->stop_reason);
}

/* Verification by match over a merged tree commits exactly what `sample`
 * commits: greedy and a seeded sampling chain on the hash LM, greedy on
 * the bundled model at one and two threads. */
START_TEST(test_list_is_lossless) {
  static const char *const chains[] = {
      "", "samplers:\n  - { plugin: temperature, t: 0.8 }\n  - { plugin: top_p, p: 0.9 }\n  - { plugin: dist }\n"};
  static const char *const hash_prompts[] = {"the cat sat on the mat, the cat sat on the", "1 2 3 1 2 3 1 2",
                                             "abcabcabcabc", "in the end it is the end", "x"};
  static const char *const lists[] = {
      LIST, "drafter:\n  - { plugin: ngram_cache, max_n: 2, tokens: 4 }\n  - { plugin: prompt_lookup, tokens: 6 }\n"
            "  - { plugin: token_recycling }\n"};
  double accepted = 0;
  for (size_t c = 0; c < 2; c++)
    for (size_t l = 0; l < 2; l++)
      for (size_t p = 0; p < sizeof hash_prompts / sizeof *hash_prompts; p++) {
        char y[1024];
        snprintf(y, sizeof y, HASH "%sgenerate: { max_tokens: 60, seed: 3 }\n", chains[c]);
        dk_result *a = run_ok(y, hash_prompts[p], 1);
        snprintf(y, sizeof y, HASH "%s" SPEC "%sgenerate: { max_tokens: 60, seed: 3 }\n", chains[c], lists[l]);
        dk_result *b = run_ok(y, hash_prompts[p], 1);
        char what[96];
        snprintf(what, sizeof what, "hash LM, chain %zu, list %zu, prompt %zu", c, l, p);
        same_output(&a->c[0], &b->c[0], what);
        accepted += dkh_metric(&b->c[0], "accepted");
        dk_result_free(a);
        dk_result_free(b);
      }
  ck_assert_msg(accepted > 0, "no draft token was ever accepted");
  static const char *const ps[] = {"And God said, Let there be light: and there was light. And God said,",
                                   "Emma Woodhouse, handsome, clever, and rich,"};
  static const char *const model = "decokit: 1\nmodel: { plugin: llama, path: models/decokit-tiny.gguf }\n";
  for (int threads = 1; threads <= 2; threads++)
    for (size_t p = 0; p < 2; p++) {
      char y[1024];
      snprintf(y, sizeof y, "%sgenerate: { max_tokens: 48 }\n", model);
      dk_result *a = run_ok(y, ps[p], threads);
      snprintf(y, sizeof y, "%s" SPEC LIST "generate: { max_tokens: 48 }\n", model);
      dk_result *b = run_ok(y, ps[p], threads);
      char what[96];
      snprintf(what, sizeof what, "bundled model, %d threads, prompt %zu", threads, p);
      same_output(&a->c[0], &b->c[0], what);
      ck_assert_msg(dkh_metric(&b->c[0], "accepted") > 0, "%s: nothing accepted", what);
      dk_result_free(a);
      dk_result_free(b);
    }
}
END_TEST

/* Rejection verification needs a q for every node: a list with a member
 * that reports none offers none, and the verifier says so. */
START_TEST(test_list_without_dist_refuses_reject) {
  int rc;
  dk_result *r = run_rc(HASH "decoder: { plugin: speculative, verify: reject }\n"
                             "drafter:\n  - { plugin: prompt_lookup }\n  - { plugin: echo }\n",
                        "the cat", 1, &rc);
  ck_assert_int_lt(rc, 0);
  ck_assert_msg(strstr(err.msg, "verify: reject needs a drafter that reports its distribution"), "%s",
                err.msg);
  dk_result_free(r);
}
END_TEST

/* First tokens of 10,000 completions of the pipeline (draws with seeds
 * base..base+9), counted by token id. */
static void first_tokens(const char *pipeline, size_t base, size_t count[128], double *accepted) {
  memset(count, 0, 128 * sizeof *count);
  for (size_t k = 0; k < 10; k++) {
    char y[2048];
    snprintf(y, sizeof y, "%sgenerate: { max_tokens: 2, n: 1000, seed: %zu }\n", pipeline, base + k);
    dk_result *r = run_ok(y, "the cat sat on the mat, the cat", 1);
    for (size_t i = 0; i < 1000; i++) {
      const dk_completion *c = &r->c[i];
      count[c->n_tokens ? c->tokens[0] % 128 : 127]++;
      if (accepted) *accepted += dkh_metric(c, "accepted");
    }
    dk_result_free(r);
  }
}

/* Rejection sampling over a merged tree of a sampled draft-model tree and
 * two deterministic drafters: the first token follows the same
 * distribution as `sample` with the same chain (two-sample chi-square on
 * the tokens seen at least 20 times in all, the rest pooled). */
START_TEST(test_list_rejection_is_exact) {
  static const char *const chain =
      "samplers:\n  - { plugin: temperature, t: 0.7 }\n  - { plugin: top_k, k: 12 }\n  - { plugin: dist }\n";
  char y[1024];
  size_t a[128], b[128];
  snprintf(y, sizeof y, HASH "%s", chain);
  first_tokens(y, 100, a, NULL);
  double accepted = 0;
  snprintf(y, sizeof y,
           HASH "%sdraft: { plugin: hashlm, window: 1 }\ndecoder: { plugin: speculative, verify: reject }\n"
                "drafter:\n  - { plugin: draft_model, k: 2, width: 2, sample: true }\n"
                "  - { plugin: prompt_lookup, tokens: 3 }\n  - { plugin: ngram_cache, max_n: 2 }\n",
           chain);
  first_tokens(y, 500, b, &accepted);
  double chi2 = 0;
  size_t cells = 0, ra = 0, rb = 0;
  for (size_t t = 0; t < 128; t++) {
    if (a[t] + b[t] < 20) {
      ra += a[t], rb += b[t];
      continue;
    }
    double d = (double)a[t] - (double)b[t];
    chi2 += d * d / (double)(a[t] + b[t]);
    cells++;
  }
  if (ra + rb) {
    double d = (double)ra - (double)rb;
    chi2 += d * d / (double)(ra + rb);
    cells++;
  }
  /* 99.9% quantiles of chi-square with cells - 1 degrees of freedom */
  static const double q999[] = {0, 10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32, 26.12, 27.88,
                                29.59, 31.26, 32.91, 34.53, 36.12, 37.70};
  ck_assert_msg(cells >= 3 && cells <= 16, "%zu cells", cells);
  ck_assert_msg(chi2 < q999[cells - 1], "chi-square %g over %zu degrees of freedom", chi2, cells - 1);
  ck_assert_msg(accepted > 10000 / 20.0, "only %g drafts accepted", accepted);
}
END_TEST

/* A hostile member is refused by the host even inside a list. */
START_TEST(test_list_refuses_hostile_member) {
  static const char *cases[][2] = {{"over", "proposed 5 nodes for room for 4"},
                                   {"parent", "parent is not an earlier node"},
                                   {"token", "token outside the vocabulary"}};
  for (size_t i = 0; i < 3; i++) {
    char y[512];
    int rc;
    snprintf(y, sizeof y,
             HASH "decoder: { plugin: hostile, mode: draft }\ndrafter:\n  - { plugin: prompt_lookup }\n"
                  "  - { plugin: bad_drafter, mode: %s }\n",
             cases[i][0]);
    dk_result *r = run_rc(y, "the cat", 1, &rc);
    ck_assert_msg(rc < 0, "%s accepted", cases[i][0]);
    ck_assert_msg(strstr(err.msg, "drafter 'bad_drafter'") && strstr(err.msg, cases[i][1]), "%s", err.msg);
    dk_result_free(r);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("drafter_merge");
  TCase *tm = tcase_create("merge");
  tcase_add_test(tm, test_merge_dedupes_in_order);
  tcase_add_test(tm, test_merge_capacity);
  tcase_add_test(tm, test_merge_rows);
  tcase_add_test(tm, test_merge_checks_members);
  tcase_add_test(tm, test_merge_fans_out);
  suite_add_tcase(s, tm);
  TCase *tp = tcase_create("pipeline");
  tcase_add_checked_fixture(tp, setup, teardown);
  tcase_set_timeout(tp, 300);
  tcase_add_test(tp, test_list_fingerprint_and_yaml);
  tcase_add_test(tp, test_list_errors);
  tcase_add_test(tp, test_list_is_lossless);
  tcase_add_test(tp, test_list_without_dist_refuses_reject);
  tcase_add_test(tp, test_list_rejection_is_exact);
  tcase_add_test(tp, test_list_refuses_hostile_member);
  suite_add_tcase(s, tp);
  return dkh_run(s);
}
