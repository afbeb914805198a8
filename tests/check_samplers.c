/* check_samplers.c -- every sampler plugin through the real loader: goldens, edge cases, distributions. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* ---- fixture ------------------------------------------------------------ */

static dk_harness *H;

static void setup(void) {
  H = dkh_new();
  ck_assert_ptr_nonnull(H);
}

static void teardown(void) {
  dkh_free(H);
  H = NULL;
}

/* A small vocabulary: ids 0..NV-1 with these pieces; EOS is 0. */
enum { NV = 16 };
static const char *const PIECES[NV] = {"</s>", "a", "b", "c", "x", "\n", ":", " the",
                                       "y", "z", "<", "br>", "the", "q", "r", "s"};
static uint32_t piece_len[NV];
static uint8_t attrs[NV];
static dk_vocab VOCAB;

static const dk_vocab *vocab(void) {
  for (int i = 0; i < NV; i++) piece_len[i] = (uint32_t)strlen(PIECES[i]);
  attrs[0] = DK_TOKEN_CONTROL;
  VOCAB.struct_size = sizeof VOCAB;
  VOCAB.n_vocab = NV;
  VOCAB.bos = -1;
  VOCAB.eos = 0;
  VOCAB.eot = -1;
  VOCAB.piece = PIECES;
  VOCAB.piece_len = piece_len;
  VOCAB.attr = attrs;
  return &VOCAB;
}

typedef struct smp {
  const dk_sampler_iface *f;
  void *inst;
} smp;

/* Create sampler NAME with "key","value",...,NULL (seed 1234). */
static smp mk_seed(const char *name, uint64_t seed, const char *const *kv) {
  char err[256] = "";
  const void *iface = NULL;
  smp s;
  s.inst = dkh_create(H, DK_KIND_SAMPLER, name, kv, seed, vocab(), &iface, err, sizeof err);
  ck_assert_msg(s.inst != NULL, "create %s: %s", name, err);
  s.f = iface;
  return s;
}
#define MK(name, ...) mk_seed(name, 1234, (const char *const[]){__VA_ARGS__ NULL})
#define MKS(name, seed, ...) mk_seed(name, seed, (const char *const[]){__VA_ARGS__ NULL})

/* Candidates over ids 0..n-1 with the given logits. */
typedef struct cands {
  dk_token_data d[4096];
  dk_candidates c;
} cands;

static void fill(cands *k, const float *logits, size_t n) {
  ck_assert_uint_le(n, 4096);
  for (size_t i = 0; i < n; i++) {
    k->d[i].id = (dk_token)i;
    k->d[i].logit = logits[i];
    k->d[i].p = 0;
  }
  k->c.data = k->d;
  k->c.n = n;
  k->c.selected = -1;
  k->c.flags = 0;
}

/* Logits whose softmax is exactly the given probabilities (up to rounding). */
static void fill_probs(cands *k, const double *p, size_t n) {
  float l[64];
  for (size_t i = 0; i < n; i++) l[i] = (float)log(p[i]);
  fill(k, l, n);
}

static dk_sample_ctx ctx_of(const dk_token *t, size_t n, size_t n_prompt) {
  dk_sample_ctx c;
  c.struct_size = sizeof c;
  c.tokens = t;
  c.n_tokens = n;
  c.n_prompt = n_prompt;
  return c;
}

static const dk_sample_ctx EMPTY = {sizeof(dk_sample_ctx), NULL, 0, 0};

static void run_ctx(smp s, const dk_sample_ctx *ctx, cands *k) {
  int rc = s.f->apply(s.inst, ctx, &k->c, dkh_error(H));
  ck_assert_msg(rc == DK_OK, "apply %s: %d %s", s.f->hdr.name, rc, dkh_error_message(H));
}
static void run(smp s, cands *k) { run_ctx(s, &EMPTY, k); }

/* Is id among the candidates?  Returns its index or -1. */
static long find(const cands *k, dk_token id) {
  for (size_t i = 0; i < k->c.n; i++)
    if (k->c.data[i].id == id) return (long)i;
  return -1;
}

static float logit_of(const cands *k, dk_token id) {
  long i = find(k, id);
  ck_assert_msg(i >= 0, "token %d missing", (int)id);
  return k->c.data[i].logit;
}

/* The set of ids kept, as a bitmask over ids < 64. */
static uint64_t kept(const cands *k) {
  uint64_t m = 0;
  for (size_t i = 0; i < k->c.n; i++) m |= 1ull << k->c.data[i].id;
  return m;
}
#define BIT(i) (1ull << (i))

/* Chi-square critical value at p = 1e-4 (Wilson-Hilferty). */
static double chi2_crit(int df) {
  double a = 2.0 / (9.0 * df);
  double c = 1 - a + 3.719 * sqrt(a);
  return df * c * c * c;
}

static double chi2(const long *obs, const double *expect_p, int bins, long total) {
  double x = 0;
  for (int i = 0; i < bins; i++) {
    double e = expect_p[i] * (double)total;
    x += (obs[i] - e) * (obs[i] - e) / e;
  }
  return x;
}

static const double P4[4] = {0.5, 0.3, 0.15, 0.05};

/* ---- schema ------------------------------------------------------------- */

static const char *const ALL[] = {"temperature", "dyn_temp", "top_k", "top_p", "min_p", "typical",
                                  "top_n_sigma", "top_h", "epsilon", "eta", "xtc", "dry", "mirostat",
                                  "mirostat_v2", "penalties", "no_repeat_ngram", "logit_bias",
                                  "min_tokens", "greedy", "dist"};
#define N_ALL (sizeof ALL / sizeof ALL[0])

START_TEST(schema_complete) {
  for (size_t i = 0; i < N_ALL; i++) {
    smp s = MK(ALL[i], );
    const dk_iface_header *h = &s.f->hdr;
    ck_assert_str_eq(h->name, ALL[i]);
    ck_assert_uint_eq(h->kind, DK_KIND_SAMPLER);
    ck_assert_str_eq(h->version, "1.0.0");
    ck_assert(h->summary != NULL && strlen(h->summary) > 10);
    ck_assert(h->caps & DK_CAP_INSTANCE_MT);
    ck_assert_ptr_nonnull(s.f->apply);
    ck_assert_ptr_nonnull(s.f->clone);
    for (const char *p = (const char *)h->params;
         p && ((const dk_param_spec *)p)->name; p += h->param_stride) {
      const dk_param_spec *ps = (const dk_param_spec *)p;
      ck_assert_msg(ps->doc && strlen(ps->doc) > 20, "%s.%s lacks a doc", ALL[i], ps->name);
    }
  }
}
END_TEST

/* ---- temperature, dyn_temp ---------------------------------------------- */

START_TEST(temperature_scales) {
  smp s = MK("temperature", "t", "0.5", );
  cands k;
  fill(&k, (const float[]){1, 2, -3}, 3);
  run(s, &k);
  ck_assert_uint_eq(k.c.n, 3);
  ck_assert_float_eq(logit_of(&k, 0), 2.0f);
  ck_assert_float_eq(logit_of(&k, 1), 4.0f);
  ck_assert_float_eq(logit_of(&k, 2), -6.0f);
}
END_TEST

START_TEST(temperature_zero_is_argmax_lowest_id) {
  smp s = MK("temperature", "t", "0", );
  cands k;
  fill(&k, (const float[]){3, 5, 5, 1}, 4);
  run(s, &k);
  ck_assert_uint_eq(k.c.n, 1);
  ck_assert_int_eq(k.c.data[0].id, 1);
}
END_TEST

START_TEST(dyn_temp_range) {
  /* uniform logits: normalised entropy 1, so the temperature is t + range */
  smp s = MK("dyn_temp", "t", "1.0", "range", "0.5", "exponent", "1.0", );
  cands k;
  fill(&k, (const float[]){3, 3, 3, 3}, 4);
  run(s, &k);
  for (int i = 0; i < 4; i++) ck_assert_float_eq_tol(logit_of(&k, i), 2.0f, 1e-5f);
  /* one-hot-ish: entropy near 0, temperature near max(0, t - range) = 0.5 */
  fill(&k, (const float[]){60, 0, 0, 0}, 4);
  run(s, &k);
  ck_assert_float_eq_tol(logit_of(&k, 0), 120.0f, 1e-2f);
  /* range 0 is plain temperature */
  smp p = MK("dyn_temp", "t", "2.0", );
  fill(&k, (const float[]){4, 2}, 2);
  run(p, &k);
  ck_assert_float_eq(logit_of(&k, 0), 2.0f);
}
END_TEST

/* ---- top_k -------------------------------------------------------------- */

START_TEST(top_k_keeps_best_sorted) {
  smp s = MK("top_k", "k", "3", );
  cands k;
  fill(&k, (const float[]){0.1f, 5, -2, 7, 5, 3, 1}, 7);
  run(s, &k);
  ck_assert_uint_eq(k.c.n, 3);
  ck_assert_int_eq(k.c.data[0].id, 3);
  ck_assert_int_eq(k.c.data[1].id, 1); /* tie 5/5: lower id first */
  ck_assert_int_eq(k.c.data[2].id, 4);
  ck_assert(k.c.flags & DK_CAND_SORTED);
  ck_assert(!(k.c.flags & DK_CAND_SOFTMAXED));
}
END_TEST

START_TEST(top_k_edge) {
  cands k;
  smp big = MK("top_k", "k", "100", );
  fill(&k, (const float[]){1, 2, 3}, 3);
  run(big, &k);
  ck_assert_uint_eq(k.c.n, 3);
  smp off = MK("top_k", "k", "0", );
  run(off, &k);
  ck_assert_uint_eq(k.c.n, 3);
}
END_TEST

/* ---- top_p -------------------------------------------------------------- */

START_TEST(top_p_golden) {
  cands k;
  smp a = MK("top_p", "p", "0.75", );
  fill_probs(&k, P4, 4);
  run(a, &k);
  ck_assert_uint_eq(kept(&k), BIT(0) | BIT(1));
  smp b = MK("top_p", "p", "0.85", );
  fill_probs(&k, P4, 4);
  run(b, &k);
  ck_assert_uint_eq(kept(&k), BIT(0) | BIT(1) | BIT(2));
  smp one = MK("top_p", "p", "1.0", );
  fill_probs(&k, P4, 4);
  run(one, &k);
  ck_assert_uint_eq(k.c.n, 4);
  smp mk = MK("top_p", "p", "0.1", "min_keep", "3", );
  fill_probs(&k, P4, 4);
  run(mk, &k);
  ck_assert_uint_eq(kept(&k), BIT(0) | BIT(1) | BIT(2));
}
END_TEST

static int cmp_desc_f(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x < y) - (x > y);
}

START_TEST(top_p_large_vocab_matches_full_sort) {
  /* 4000 candidates: the partial-selection path must keep exactly the
   * nucleus a full sort finds */
  static float l[4000], sorted[4000];
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 4000; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    l[i] = (float)((x >> 11) % 100000) / 10000.0f; /* 0 .. 10 */
    sorted[i] = l[i];
  }
  qsort(sorted, 4000, sizeof *sorted, cmp_desc_f);
  double sum = 0, cum = 0;
  for (int i = 0; i < 4000; i++) sum += exp(sorted[i] - sorted[0]);
  size_t want = 0;
  while (cum < 0.9) cum += exp(sorted[want++] - sorted[0]) / sum;
  smp s = MK("top_p", "p", "0.9", );
  cands k;
  fill(&k, l, 4000);
  run(s, &k);
  ck_assert_uint_eq(k.c.n, want);
  /* the nucleus comes back unsorted: compare it as a multiset of logits */
  float got[4000];
  for (size_t i = 0; i < want; i++) got[i] = k.c.data[i].logit;
  qsort(got, want, sizeof *got, cmp_desc_f);
  for (size_t i = 0; i < want; i++) ck_assert_float_eq(got[i], sorted[i]);
}
END_TEST

/* ---- min_p -------------------------------------------------------------- */

START_TEST(min_p_golden) {
  cands k;
  smp s = MK("min_p", "p", "0.2", );
  fill_probs(&k, P4, 4); /* keeps p >= 0.1 */
  run(s, &k);
  ck_assert_uint_eq(kept(&k), BIT(0) | BIT(1) | BIT(2));
  smp one = MK("min_p", "p", "1.0", );
  fill_probs(&k, P4, 4);
  run(one, &k);
  ck_assert_uint_eq(kept(&k), BIT(0));
  fill(&k, (const float[]){2, 1, 2}, 3);
  run(one, &k);
  ck_assert_uint_eq(kept(&k), BIT(0) | BIT(2)); /* ties with the top stay */
  smp mk = MK("min_p", "p", "1.0", "min_keep", "2", );
  fill_probs(&k, P4, 4);
  run(mk, &k);
  ck_assert_uint_eq(kept(&k), BIT(0) | BIT(1));
  smp off = MK("min_p", "p", "0", );
  fill_probs(&k, P4, 4);
  run(off, &k);
  ck_assert_uint_eq(k.c.n, 4);
}
END_TEST

/* ---- typical ------------------------------------------------------------ */

START_TEST(typical_golden) {
  /* H = 1.1422 nats; |-ln p - H| ranks 0.3 (0.062) < 0.5 (0.449) < 0.15 < 0.05 */
  cands k;
  smp s = MK("typical", "p", "0.5", );
  fill_probs(&k, P4, 4);
  run(s, &k);
  ck_assert_uint_eq(k.c.n, 2);
  ck_assert_int_eq(k.c.data[0].id, 1);
  ck_assert_int_eq(k.c.data[1].id, 0);
  smp t = MK("typical", "p", "0.2", );
  fill_probs(&k, P4, 4);
  run(t, &k);
  ck_assert_uint_eq(kept(&k), BIT(1)); /* the mode is excluded */
  smp off = MK("typical", "p", "1.0", );
  fill_probs(&k, P4, 4);
  run(off, &k);
  ck_assert_uint_eq(k.c.n, 4);
}
END_TEST

/* ---- top_n_sigma -------------------------------------------------------- */

START_TEST(top_n_sigma_golden) {
  /* logits 0 1 2 3 10: mean 3.2, sigma 3.544 */
  static const float l[] = {0, 1, 2, 3, 10};
  cands k;
  smp one = MK("top_n_sigma", "n", "1", );
  fill(&k, l, 5);
  run(one, &k);
  ck_assert_uint_eq(kept(&k), BIT(4));
  smp two = MK("top_n_sigma", "n", "2", );
  fill(&k, l, 5);
  run(two, &k);
  ck_assert_uint_eq(kept(&k), BIT(3) | BIT(4));
  smp zero = MK("top_n_sigma", "n", "0", );
  fill(&k, l, 5);
  run(zero, &k);
  ck_assert_uint_eq(kept(&k), BIT(4));
  smp huge = MK("top_n_sigma", "n", "1000", );
  fill(&k, l, 5);
  run(huge, &k);
  ck_assert_uint_eq(k.c.n, 5);
  /* -inf entries do not enter the statistics */
  fill(&k, (const float[]){-INFINITY, 0, 1, 2, 3, 10, -INFINITY}, 7);
  run(two, &k);
  ck_assert_uint_eq(kept(&k), BIT(4) | BIT(5));
}
END_TEST

START_TEST(top_n_sigma_scale_invariant) {
  float l[40], l2[40];
  uint64_t x = 12345;
  for (int i = 0; i < 40; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    l[i] = (float)((x >> 33) % 1000) / 100.0f;
    l2[i] = l[i] * 4.0f; /* a power of two scales exactly */
  }
  smp s = MK("top_n_sigma", "n", "1.5", );
  cands a, b;
  fill(&a, l, 40);
  fill(&b, l2, 40);
  run(s, &a);
  run(s, &b);
  ck_assert_uint_eq(a.c.n, b.c.n);
  ck_assert(a.c.n > 1 && a.c.n < 40);
  for (size_t i = 0; i < a.c.n; i++) ck_assert_int_eq(a.c.data[i].id, b.c.data[i].id);
}
END_TEST

/* ---- top_h -------------------------------------------------------------- */

START_TEST(top_h_golden) {
  /* -p ln p: 0.3466 0.3612 0.2846 0.1498, total 1.1422 */
  cands k;
  smp a = MK("top_h", "alpha", "0.4", );
  fill_probs(&k, P4, 4);
  run(a, &k);
  ck_assert_uint_eq(kept(&k), BIT(0)); /* budget 0.457 < 0.708 */
  smp b = MK("top_h", "alpha", "0.7", );
  fill_probs(&k, P4, 4);
  run(b, &k);
  ck_assert_uint_eq(kept(&k), BIT(0) | BIT(1)); /* 0.708 <= 0.800 < 0.992 */
  smp c = MK("top_h", "alpha", "0.9", );
  fill_probs(&k, P4, 4);
  run(c, &k);
  ck_assert_uint_eq(kept(&k), BIT(0) | BIT(1) | BIT(2));
  /* top_n limits both the budget's base and the kept count */
  smp d = MK("top_h", "alpha", "1.0", "top_n", "3", );
  fill_probs(&k, P4, 4);
  run(d, &k);
  ck_assert_uint_eq(kept(&k), BIT(0) | BIT(1) | BIT(2));
}
END_TEST

/* ---- epsilon, eta ------------------------------------------------------- */

START_TEST(epsilon_eta_golden) {
  cands k;
  smp e = MK("epsilon", "epsilon", "0.1", );
  fill_probs(&k, P4, 4);
  run(e, &k);
  ck_assert_uint_eq(kept(&k), BIT(0) | BIT(1) | BIT(2));
  smp e9 = MK("epsilon", "epsilon", "0.9", );
  fill_probs(&k, P4, 4);
  run(e9, &k);
  ck_assert_uint_eq(kept(&k), BIT(0)); /* min_keep 1 */
  /* eta = min(eps, sqrt(eps) e^-H), H = 1.1422: eps 0.2 -> 0.1427 */
  smp h = MK("eta", "epsilon", "0.2", );
  fill_probs(&k, P4, 4);
  run(h, &k);
  ck_assert_uint_eq(kept(&k), BIT(0) | BIT(1) | BIT(2));
  smp h2 = MK("eta", "epsilon", "0.35", ); /* 0.1888 */
  fill_probs(&k, P4, 4);
  run(h2, &k);
  ck_assert_uint_eq(kept(&k), BIT(0) | BIT(1));
  smp h3 = MK("eta", "epsilon", "0.04", ); /* eps itself: 0.04 */
  fill_probs(&k, P4, 4);
  run(h3, &k);
  ck_assert_uint_eq(k.c.n, 4);
}
END_TEST

/* ---- xtc ---------------------------------------------------------------- */

START_TEST(xtc_golden) {
  cands k;
  smp s = MK("xtc", "probability", "1.0", "threshold", "0.1", );
  fill_probs(&k, P4, 4);
  run(s, &k);
  ck_assert_uint_eq(kept(&k), BIT(2) | BIT(3));
  smp one = MK("xtc", "probability", "1.0", "threshold", "0.4", );
  fill_probs(&k, P4, 4);
  run(one, &k);
  ck_assert_uint_eq(k.c.n, 4);
  smp off = MK("xtc", "probability", "0", "threshold", "0.1", );
  fill_probs(&k, P4, 4);
  run(off, &k);
  ck_assert_uint_eq(k.c.n, 4);
  smp mk = MK("xtc", "probability", "1.0", "threshold", "0.1", "min_keep", "3", );
  fill_probs(&k, P4, 4);
  run(mk, &k);
  ck_assert_uint_eq(k.c.n, 4);
}
END_TEST

/* xtc(probability 0.5) then dist: a mixture of the full and the cut distribution */
START_TEST(xtc_dist_chi_square) {
  smp x = MKS("xtc", 99, "probability", "0.5", "threshold", "0.1", );
  smp d = MKS("dist", 98, );
  long obs[4] = {0};
  const long N = 20000;
  for (long i = 0; i < N; i++) {
    cands k;
    fill_probs(&k, P4, 4);
    run(x, &k);
    run(d, &k);
    obs[k.c.data[k.c.selected].id]++;
  }
  double expect[4];
  for (int i = 0; i < 4; i++) expect[i] = 0.5 * P4[i];
  expect[2] += 0.5 * 0.15 / 0.2;
  expect[3] += 0.5 * 0.05 / 0.2;
  double x2 = chi2(obs, expect, 4, N);
  ck_assert_msg(x2 < chi2_crit(3), "chi2 %.2f", x2);
}
END_TEST

/* ---- dist, greedy ------------------------------------------------------- */

START_TEST(dist_chi_square_and_streams) {
  static const double p[5] = {0.4, 0.25, 0.2, 0.1, 0.05};
  smp d = MKS("dist", 7, );
  long obs[5] = {0};
  const long N = 30000;
  for (long i = 0; i < N; i++) {
    cands k;
    fill_probs(&k, p, 5);
    run(d, &k);
    ck_assert(k.c.selected >= 0 && k.c.selected < 5);
    obs[k.c.data[k.c.selected].id]++;
  }
  double x2 = chi2(obs, p, 5, N);
  ck_assert_msg(x2 < chi2_crit(4), "chi2 %.2f", x2);

  /* same seed: same draws; other seed: other draws; reset replays; clone continues */
  smp a = MKS("dist", 42, ), b = MKS("dist", 42, ), c = MKS("dist", 43, );
  int seq_a[64], diff_c = 0;
  for (int i = 0; i < 64; i++) {
    cands ka, kb, kc;
    fill_probs(&ka, p, 5), fill_probs(&kb, p, 5), fill_probs(&kc, p, 5);
    run(a, &ka), run(b, &kb), run(c, &kc);
    seq_a[i] = (int)ka.c.selected;
    ck_assert_int_eq(ka.c.selected, kb.c.selected);
    diff_c += ka.c.selected != kc.c.selected;
  }
  ck_assert_int_gt(diff_c, 10);
  a.f->reset(a.inst);
  void *cl = NULL;
  for (int i = 0; i < 64; i++) {
    cands ka;
    if (i == 32) ck_assert_int_eq(a.f->clone(a.inst, &cl, dkh_error(H)), DK_OK);
    fill_probs(&ka, p, 5);
    run(a, &ka);
    ck_assert_int_eq(ka.c.selected, seq_a[i]);
  }
  for (int i = 32; i < 64; i++) {
    cands kc;
    fill_probs(&kc, p, 5);
    smp sc = {a.f, cl};
    run(sc, &kc);
    ck_assert_int_eq(kc.c.selected, seq_a[i]);
  }
  a.f->destroy(cl);
}
END_TEST

START_TEST(greedy_ties_lowest_id) {
  smp g = MK("greedy", );
  cands k;
  fill(&k, (const float[]){1, 3, 3, 2}, 4);
  /* reverse the order so the lowest id is not first */
  for (int i = 0; i < 2; i++) {
    dk_token_data t = k.d[i];
    k.d[i] = k.d[3 - i];
    k.d[3 - i] = t;
  }
  run(g, &k);
  ck_assert_int_eq(k.c.data[k.c.selected].id, 1);
}
END_TEST

/* ---- all -inf but one ---------------------------------------------------- */

START_TEST(all_inf_but_one) {
  static const char *const kv[][8] = {
      {"temperature", "t", "0.7"},     {"dyn_temp", "range", "0.5"}, {"top_k", "k", "2"},
      {"top_p", "p", "0.5"},           {"min_p", "p", "0.5"},        {"typical", "p", "0.5"},
      {"top_n_sigma", "n", "1"},       {"top_h", "alpha", "0.5"},    {"epsilon", "epsilon", "0.01"},
      {"eta", "epsilon", "0.01"},      {"xtc", "probability", "1"},  {"dry", "multiplier", "1"},
      {"mirostat", "tau", "3"},        {"mirostat_v2", "tau", "3"},  {"penalties", "repeat", "1.5"},
      {"no_repeat_ngram", "n", "2"},   {"logit_bias", "bias", "[1:1]"}, {"min_tokens", "n", "5"},
      {"greedy"},                      {"dist"}};
  static const dk_token hist[] = {1, 2, 3, 1, 2, 3, 1};
  dk_sample_ctx ctx = ctx_of(hist, 7, 3);
  for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
    const char *args[4] = {kv[i][1], kv[i][2], NULL, NULL};
    smp s = mk_seed(kv[i][0], 5, kv[i][1] ? args : (const char *const[]){NULL});
    cands k;
    fill(&k, (const float[]){-INFINITY, -INFINITY, 3.0f, -INFINITY, -INFINITY}, 5);
    run_ctx(s, &ctx, &k);
    ck_assert_msg(find(&k, 2) >= 0, "%s dropped the only finite token", kv[i][0]);
    if (k.c.selected >= 0) ck_assert_int_eq(k.c.data[k.c.selected].id, 2);
  }
}
END_TEST

/* ---- mirostat ----------------------------------------------------------- */

START_TEST(mirostat_v2_mu_trajectory) {
  /* p = 0.9 / 0.1 (0.152 and 3.32 bits); tau 1, eta 0.5, mu0 = 2.  While only
   * the first token survives its renormalised p is 1: surprise 0, so mu rises
   * by eta * tau = 0.5 per token: 2.5, 3.0, 3.5.  At mu = 3.5 >= 3.32 the
   * second token is admitted on the fourth step. */
  static const double p[2] = {0.9, 0.1};
  smp m = MK("mirostat_v2", "tau", "1.0", "eta", "0.5", );
  cands k;
  for (int step = 0; step < 3; step++) {
    fill_probs(&k, p, 2);
    run(m, &k);
    ck_assert_uint_eq(k.c.n, 1);
    ck_assert_int_eq(k.c.data[k.c.selected].id, 0);
    m.f->accept(m.inst, 0);
  }
  fill_probs(&k, p, 2);
  run(m, &k);
  ck_assert_uint_eq(k.c.n, 2);
  dk_token chosen = k.c.data[k.c.selected].id;
  m.f->accept(m.inst, chosen);
  /* token 0: mu = 3.5 - 0.5 (0.152 - 1) = 3.92, both stay; token 1: mu =
   * 3.5 - 0.5 (3.32 - 1) = 2.34, only token 0 stays */
  fill_probs(&k, p, 2);
  run(m, &k);
  ck_assert_uint_eq(k.c.n, chosen == 0 ? 2 : 1);

  /* an accept of a token it did not select leaves mu alone */
  smp q = MK("mirostat_v2", "tau", "1.0", "eta", "0.5", );
  for (int step = 0; step < 6; step++) {
    fill_probs(&k, p, 2);
    run(q, &k);
    ck_assert_uint_eq(k.c.n, 1);
    q.f->accept(q.inst, 1);
  }
  /* reset restores mu = 2 tau */
  m.f->reset(m.inst);
  fill_probs(&k, p, 2);
  run(m, &k);
  ck_assert_uint_eq(k.c.n, 1);
}
END_TEST

START_TEST(mirostat_v2_chi_square_when_untruncated) {
  /* tau 50: mu = 100 bits keeps everything; eta 0 freezes it: plain dist */
  smp m = MKS("mirostat_v2", 3, "tau", "50", "eta", "0", );
  long obs[4] = {0};
  const long N = 20000;
  for (long i = 0; i < N; i++) {
    cands k;
    fill_probs(&k, P4, 4);
    run(m, &k);
    dk_token t = k.c.data[k.c.selected].id;
    obs[t]++;
    m.f->accept(m.inst, t);
  }
  double x2 = chi2(obs, P4, 4, N);
  ck_assert_msg(x2 < chi2_crit(3), "chi2 %.2f", x2);
}
END_TEST

START_TEST(mirostat_v1_zipf_k) {
  /* p_i ~ (i+1)^-2 over the 16 tokens: the fit gives s = 2 exactly, e = 1,
   * and k = sqrt(2^mu * 16/15).  tau 1 (mu 2): k = 2.07 -> top 2, drawn 0.8 : 0.2. */
  double p[NV], z = 0;
  for (int i = 0; i < NV; i++) z += 1.0 / ((i + 1.0) * (i + 1.0));
  for (int i = 0; i < NV; i++) p[i] = 1.0 / ((i + 1.0) * (i + 1.0)) / z;
  smp m = MKS("mirostat", 11, "tau", "1.0", "eta", "0", );
  long obs[2] = {0};
  const long N = 10000;
  for (long i = 0; i < N; i++) {
    cands k;
    fill_probs(&k, p, NV);
    run(m, &k);
    ck_assert_uint_eq(k.c.n, 2);
    dk_token t = k.c.data[k.c.selected].id;
    ck_assert_int_lt(t, 2);
    obs[t]++;
    m.f->accept(m.inst, t);
  }
  double expect[2] = {0.8, 0.2};
  double x2 = chi2(obs, expect, 2, N);
  ck_assert_msg(x2 < chi2_crit(1), "chi2 %.2f", x2);
}
END_TEST

/* ---- history-based ------------------------------------------------------ */

START_TEST(penalties_golden) {
  static const dk_token hist[] = {0, 1, 0};
  dk_sample_ctx ctx = ctx_of(hist, 3, 1);
  smp s = MK("penalties", "repeat", "2", "freq", "0.5", "present", "0.25", );
  cands k;
  fill(&k, (const float[]){1, -1, 2, 0.5f}, 4);
  run_ctx(s, &ctx, &k);
  ck_assert_float_eq(logit_of(&k, 0), 0.5f - 1.25f);  /* /2, -2*0.5, -0.25 */
  ck_assert_float_eq(logit_of(&k, 1), -2.0f - 0.75f); /* *2, -0.5, -0.25 */
  ck_assert_float_eq(logit_of(&k, 2), 2.0f);
  ck_assert_float_eq(logit_of(&k, 3), 0.5f);
  /* window of one: only the last 0 counts; candidates out of id order */
  smp w = MK("penalties", "last_n", "1", "repeat", "2", "freq", "0.5", "present", "0.25", );
  fill(&k, (const float[]){1, -1, 2, 0.5f}, 4);
  dk_token_data t = k.d[0];
  k.d[0] = k.d[3];
  k.d[3] = t;
  run_ctx(w, &ctx, &k);
  ck_assert_float_eq(logit_of(&k, 0), 0.5f - 0.75f);
  ck_assert_float_eq(logit_of(&k, 1), -1.0f);
}
END_TEST

START_TEST(no_repeat_ngram_golden) {
  cands k;
  static const dk_token h2[] = {1, 2, 3, 1};
  dk_sample_ctx c2 = ctx_of(h2, 4, 2);
  smp n2 = MK("no_repeat_ngram", "n", "2", );
  fill(&k, (const float[]){0, 0, 0, 0, 0}, 5);
  run_ctx(n2, &c2, &k);
  ck_assert_uint_eq(kept(&k), BIT(0) | BIT(1) | BIT(3) | BIT(4));
  static const dk_token h3[] = {1, 2, 3, 1, 2};
  dk_sample_ctx c3 = ctx_of(h3, 5, 5);
  smp n3 = MK("no_repeat_ngram", "n", "3", );
  fill(&k, (const float[]){0, 0, 0, 0, 0}, 5);
  run_ctx(n3, &c3, &k);
  ck_assert_uint_eq(kept(&k), BIT(0) | BIT(1) | BIT(2) | BIT(4));
  smp n1 = MK("no_repeat_ngram", "n", "1", );
  fill(&k, (const float[]){0, 0, 0, 0, 0}, 5);
  run_ctx(n1, &c3, &k);
  ck_assert_uint_eq(kept(&k), BIT(0) | BIT(4));
  /* everything banned: left alone rather than emptied */
  fill(&k, (const float[]){0, 0, 0, 0}, 4);
  k.c.data = k.d + 1, k.c.n = 3;
  run_ctx(n1, &c3, &k);
  ck_assert_uint_eq(k.c.n, 3);
}
END_TEST

START_TEST(dry_methods_example) {
  /* "a b c x a b": c would extend the repeat "a b" (n = 2): penalty 1 * 1.75^0 */
  static const dk_token h[] = {1, 2, 3, 4, 1, 2};
  dk_sample_ctx ctx = ctx_of(h, 6, 6);
  smp s = MK("dry", "multiplier", "1.0", "base", "1.75", "allowed_length", "2", );
  cands k;
  fill(&k, (const float[]){0, 0, 0, 0, 0, 0, 0, 0}, 8);
  run_ctx(s, &ctx, &k);
  for (int i = 0; i < 8; i++) ck_assert_float_eq(logit_of(&k, i), i == 3 ? -1.0f : 0.0f);
  /* "a b c x a b c x a b": the repeat is 6 long: 1.75^4 */
  static const dk_token h2[] = {1, 2, 3, 4, 1, 2, 3, 4, 1, 2};
  dk_sample_ctx c2 = ctx_of(h2, 10, 10);
  fill(&k, (const float[]){0, 0, 0, 0, 0, 0, 0, 0}, 8);
  run_ctx(s, &c2, &k);
  ck_assert_float_eq_tol(logit_of(&k, 3), (float)-pow(1.75, 4), 1e-5f);
  ck_assert_float_eq(logit_of(&k, 1), 0.0f);
  /* multiplier 0 is a no-op */
  smp off = MK("dry", "multiplier", "0", );
  fill(&k, (const float[]){0, 0, 0, 0, 0, 0, 0, 0}, 8);
  run_ctx(off, &c2, &k);
  ck_assert_float_eq(logit_of(&k, 3), 0.0f);
}
END_TEST

START_TEST(dry_breakers) {
  cands k;
  smp s = MK("dry", "multiplier", "1.0", "base", "2.0", "allowed_length", "2", );
  /* "a b c x a b c x : a b": the match may not reach back over ':' so it is
   * 2 long, not 6: penalty 2^0 */
  static const dk_token h[] = {1, 2, 3, 4, 1, 2, 3, 4, 6, 1, 2};
  dk_sample_ctx c = ctx_of(h, 11, 11);
  fill(&k, (const float[]){0, 0, 0, 0, 0, 0, 0, 0}, 8);
  run_ctx(s, &c, &k);
  ck_assert_float_eq(logit_of(&k, 3), -1.0f);
  /* a breaker right at the end leaves nothing to repeat */
  static const dk_token h2[] = {1, 2, 3, 1, 2, 6};
  dk_sample_ctx c2 = ctx_of(h2, 6, 6);
  fill(&k, (const float[]){0, 0, 0, 0, 0, 0, 0, 0}, 8);
  run_ctx(s, &c2, &k);
  for (int i = 0; i < 8; i++) ck_assert_float_eq(logit_of(&k, i), 0.0f);
  /* "<br>" spread over "<" + "br>": in "c <br> x a b c <br> x a b" the
   * repeat (6 long without breakers) stops at the breaker: 3 long */
  static const dk_token h3[] = {3, 10, 11, 4, 1, 2, 3, 10, 11, 4, 1, 2};
  dk_sample_ctx c3 = ctx_of(h3, 12, 12);
  smp b = MK("dry", "multiplier", "1.0", "base", "2.0", "breakers", "[<br>]", );
  fill(&k, (const float[]){0, 0, 0, 0, 0, 0, 0, 0}, 8);
  run_ctx(b, &c3, &k);
  ck_assert_float_eq(logit_of(&k, 3), -2.0f);
  smp nob = MK("dry", "multiplier", "1.0", "base", "2.0", "breakers", "[]", );
  fill(&k, (const float[]){0, 0, 0, 0, 0, 0, 0, 0}, 8);
  run_ctx(nob, &c3, &k);
  ck_assert_float_eq(logit_of(&k, 3), -16.0f);
  /* a single-token breaker is never penalised: ": a : a" repeats ':' */
  static const dk_token h4[] = {6, 1, 6, 1, 6, 1};
  dk_sample_ctx c4 = ctx_of(h4, 6, 6);
  smp nb = MK("dry", "multiplier", "1.0", "breakers", "[]", );
  fill(&k, (const float[]){0, 0, 0, 0, 0, 0, 0, 0}, 8);
  run_ctx(nb, &c4, &k);
  ck_assert_float_lt(logit_of(&k, 6), 0.0f); /* without breakers ':' is a repeat */
  fill(&k, (const float[]){0, 0, 0, 0, 0, 0, 0, 0}, 8);
  run_ctx(s, &c4, &k);
  ck_assert_float_eq(logit_of(&k, 6), 0.0f);
}
END_TEST

START_TEST(logit_bias_golden) {
  cands k;
  smp s = MK("logit_bias", "bias", "[1:2.5,3:-inf]", "text_bias", "[ the:-1]", );
  fill(&k, (const float[NV]){0}, NV);
  run(s, &k);
  ck_assert_float_eq(logit_of(&k, 1), 2.5f);
  ck_assert(isinf(logit_of(&k, 3)) && logit_of(&k, 3) < 0);
  ck_assert_float_eq(logit_of(&k, 7), -1.0f);
  ck_assert_float_eq(logit_of(&k, 12), 0.0f); /* "the" is not " the" */
  /* out of id order (after a sort) the same biases land */
  fill(&k, (const float[NV]){0}, NV);
  k.c.data = k.d + 1, k.c.n = NV - 1;
  run(s, &k);
  ck_assert_float_eq(logit_of(&k, 1), 2.5f);
  ck_assert_float_eq(logit_of(&k, 7), -1.0f);
  char err[256];
  const void *iface;
  ck_assert_ptr_null(dkh_create(H, DK_KIND_SAMPLER, "logit_bias",
                                (const char *const[]){"text_bias", "[nosuch:1]", NULL}, 1, vocab(),
                                &iface, err, sizeof err));
  ck_assert_msg(strstr(err, "nosuch") != NULL, "%s", err);
  ck_assert_ptr_null(dkh_create(H, DK_KIND_SAMPLER, "logit_bias",
                                (const char *const[]){"bias", "[7=1]", NULL}, 1, vocab(), &iface, err,
                                sizeof err));
  ck_assert_ptr_null(dkh_create(H, DK_KIND_SAMPLER, "logit_bias",
                                (const char *const[]){"bias", "[99:1]", NULL}, 1, vocab(), &iface, err,
                                sizeof err));
}
END_TEST

START_TEST(min_tokens_golden) {
  static const dk_token h[] = {5, 6, 7, 8};
  smp s = MK("min_tokens", "n", "2", );
  cands k;
  dk_sample_ctx one = ctx_of(h, 3, 2); /* one generated */
  fill(&k, (const float[]){9, 1, 2}, 3);
  run_ctx(s, &one, &k);
  ck_assert_uint_eq(kept(&k), BIT(1) | BIT(2));
  dk_sample_ctx two = ctx_of(h, 4, 2);
  fill(&k, (const float[]){9, 1, 2}, 3);
  run_ctx(s, &two, &k);
  ck_assert_uint_eq(k.c.n, 3);
}
END_TEST

/* ---- chain -------------------------------------------------------------- */

START_TEST(llamacpp_default_chain) {
  /* penalties -> top_k 40 -> typical 1 -> top_p 0.95 -> min_p 0.05 -> temp 0.8
   * -> dist, checked against the same rules written out with a full sort */
  enum { NC = 300 };
  float l[NC];
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < NC; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    l[i] = (float)((x >> 20) % 4000) / 1000.0f; /* 0 .. 4 */
  }
  static const dk_token hist[] = {3, 5, 3, 250};
  dk_sample_ctx ctx = ctx_of(hist, 4, 2);
  smp chain[7] = {MK("penalties", "last_n", "64", "repeat", "1.3", ), MK("top_k", "k", "40", ),
                  MK("typical", "p", "1.0", ),
                  MK("top_p", "p", "0.95", ),
                  MK("min_p", "p", "0.05", ),
                  MK("temperature", "t", "0.8", ),
                  MKS("dist", 77, )};

  /* reference */
  float r[NC];
  memcpy(r, l, sizeof r);
  r[3] = r[3] > 0 ? r[3] / 1.3f : r[3] * 1.3f;
  r[5] = r[5] > 0 ? r[5] / 1.3f : r[5] * 1.3f;
  r[250] = r[250] > 0 ? r[250] / 1.3f : r[250] * 1.3f;
  int order[NC];
  for (int i = 0; i < NC; i++) order[i] = i;
  for (int i = 0; i < NC; i++) /* selection sort: desc logit, asc id */
    for (int j = i + 1; j < NC; j++)
      if (r[order[j]] > r[order[i]] || (r[order[j]] == r[order[i]] && order[j] < order[i])) {
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
      }
  int n = 40;
  double z = 0, cum = 0;
  for (int i = 0; i < n; i++) z += exp(r[order[i]] - r[order[0]]);
  for (int i = 0; i < n; i++) {
    cum += exp(r[order[i]] - r[order[0]]) / z;
    if (cum >= 0.95) {
      n = i + 1;
      break;
    }
  }
  int m = 0;
  while (m < n && r[order[m]] >= r[order[0]] + logf(0.05f)) m++;
  double pr[40], zz = 0;
  for (int i = 0; i < m; i++) zz += pr[i] = exp((r[order[i]] - r[order[0]]) / 0.8);
  for (int i = 0; i < m; i++) pr[i] /= zz;
  ck_assert(m > 3 && m < 40);

  long obs[40] = {0};
  const long N = 20000;
  for (long it = 0; it < N; it++) {
    cands k;
    fill(&k, l, NC);
    for (int s = 0; s < 7; s++) run_ctx(chain[s], &ctx, &k);
    if (it == 0) {
      ck_assert_uint_eq(k.c.n, (unsigned)m);
      for (int i = 0; i < m; i++) ck_assert_int_eq(k.c.data[i].id, order[i]);
    }
    long sel = k.c.selected;
    ck_assert(sel >= 0 && sel < m);
    obs[sel]++;
  }
  /* pool the tail so every bin expects at least 5 draws */
  long po[40] = {0};
  double pe[40] = {0};
  int bins = 0;
  for (int i = 0; i < m; i++) {
    po[bins] += obs[i];
    pe[bins] += pr[i];
    if (pe[bins] * N >= 5) bins++;
  }
  if (pe[bins] > 0) { /* a short last bin joins the one before */
    if (bins > 0) {
      po[bins - 1] += po[bins];
      pe[bins - 1] += pe[bins];
    } else {
      bins++;
    }
  }
  double x2 = chi2(po, pe, bins, N);
  ck_assert_msg(x2 < chi2_crit(bins - 1), "chi2 %.2f over %d bins", x2, bins);
}
END_TEST

/* ---- main --------------------------------------------------------------- */

static Suite *samplers_suite(void) {
  Suite *s = suite_create("samplers");
  TCase *t = tcase_create("samplers");
  tcase_add_checked_fixture(t, setup, teardown);
  tcase_set_timeout(t, 60);
  tcase_add_test(t, schema_complete);
  tcase_add_test(t, temperature_scales);
  tcase_add_test(t, temperature_zero_is_argmax_lowest_id);
  tcase_add_test(t, dyn_temp_range);
  tcase_add_test(t, top_k_keeps_best_sorted);
  tcase_add_test(t, top_k_edge);
  tcase_add_test(t, top_p_golden);
  tcase_add_test(t, top_p_large_vocab_matches_full_sort);
  tcase_add_test(t, min_p_golden);
  tcase_add_test(t, typical_golden);
  tcase_add_test(t, top_n_sigma_golden);
  tcase_add_test(t, top_n_sigma_scale_invariant);
  tcase_add_test(t, top_h_golden);
  tcase_add_test(t, epsilon_eta_golden);
  tcase_add_test(t, xtc_golden);
  tcase_add_test(t, xtc_dist_chi_square);
  tcase_add_test(t, dist_chi_square_and_streams);
  tcase_add_test(t, greedy_ties_lowest_id);
  tcase_add_test(t, all_inf_but_one);
  tcase_add_test(t, mirostat_v2_mu_trajectory);
  tcase_add_test(t, mirostat_v2_chi_square_when_untruncated);
  tcase_add_test(t, mirostat_v1_zipf_k);
  tcase_add_test(t, penalties_golden);
  tcase_add_test(t, no_repeat_ngram_golden);
  tcase_add_test(t, dry_methods_example);
  tcase_add_test(t, dry_breakers);
  tcase_add_test(t, logit_bias_golden);
  tcase_add_test(t, min_tokens_golden);
  tcase_add_test(t, llamacpp_default_chain);
  suite_add_tcase(s, t);
  return s;
}

int main(void) {
  const char *pp = getenv("DECOKIT_PLUGIN_PATH");
  if (pp == NULL || *pp == '\0') {
    fprintf(stderr, "check_samplers: DECOKIT_PLUGIN_PATH is not set; skipping\n");
    return 77;
  }
  SRunner *sr = srunner_create(samplers_suite());
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
