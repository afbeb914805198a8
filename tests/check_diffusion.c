/* check_diffusion.c -- the dLLM decoders on the toy masked model: worked examples, caches, thresholds, bad input. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "harness.h"
#include "loader.h"
#include "pipeline.h"
#include "session.h"

static dk_registry *reg;
static dk_error err;

static void setup(void) {
  reg = dkh_registry();
  dk_error_clear(&err);
}

static void teardown(void) { dk_registry_free(reg); }

/* Run a pipeline on a prompt; *rc is the status, err the message. */
static dk_result *run_rc(const char *yaml, const char *prompt, int *rc) {
  return dkh_run_yaml(reg, yaml, ".", prompt, &(dk_run_opts){.logprobs = -1}, rc, &err);
}

static dk_result *run_ok(const char *yaml) {
  int rc;
  dk_result *r = run_rc(yaml, "ab", &rc);
  ck_assert_msg(rc == DK_OK, "%s", err.msg);
  return r;
}

/* The completion's text, and its model calls in *nfe. */
static void expect(const char *yaml, const char *text, uint64_t nfe) {
  dk_result *r = run_ok(yaml);
  ck_assert_str_eq(r->c[0].text, text);
  if (nfe) ck_assert_uint_eq(r->c[0].forward_passes, nfe);
  dk_result_free(r);
}

static void run_fails(const char *yaml, const char *want) {
  int rc;
  dk_result *r = run_rc(yaml, "ab", &rc);
  ck_assert_msg(rc < 0, "expected an error with '%s'", want);
  ck_assert_msg(strstr(err.msg, want) != NULL, "'%s' not in: %s", want, err.msg);
  dk_result_free(r);
}

/* The fixture itself: a stable row ignores its context, a flipping argmax
 * flips with one more unmasked position, and on the hash variant a cached
 * prefix, block-causal attention, row selection and a reused (stale)
 * canvas each give exactly what the stateless evaluation gives for what
 * the row sees. */
static const dk_model_ref *toy_model(const char *params, dk_pipeline **p, dk_run **run) {
  char y[256];
  snprintf(y, sizeof y, "decokit: 1\nmodel: { plugin: toymask, %s }\ndecoder: { plugin: diffusion }\n",
           params);
  ck_assert_int_eq(dk_pipeline_parse(y, strlen(y), "m.yaml", ".", p, &err), DK_OK);
  ck_assert_int_eq(dk_pipeline_resolve(*p, reg, NULL, &err), DK_OK);
  ck_assert_msg(dk_run_new(*p, &(dk_run_opts){.logprobs = -1}, run, &err) == DK_OK, "%s", err.msg);
  return dk_run_model(*run);
}

static int argmax32(const float *z) {
  int b = 0;
  for (int v = 1; v < 32; v++)
    if (z[v] > z[b]) b = v;
  return b;
}

START_TEST(test_toymask_model) {
  dk_pipeline *p;
  dk_run *run;
  static float a[8 * 32], b[8 * 32];
  dk_token x[8] = {0, 2, 3, 31, 31, 31, 31, 31};
  const dk_model_ref *m = toy_model("variant: stable", &p, &run);
  ck_assert_int_eq(m->info->mask, 31);
  ck_assert_int_eq(m->iface->eval_masked(m->inst, x, 8, a, &err), DK_OK);
  x[5] = 9;
  ck_assert_int_eq(m->iface->eval_masked(m->inst, x, 8, b, &err), DK_OK);
  ck_assert(memcmp(a, b, sizeof a) == 0);
  ck_assert_int_eq(argmax32(a + 3 * 32), 11); /* t1(3) = 2 + 9 = 'j' */
  dk_run_free(run);
  dk_pipeline_free(p);

  m = toy_model("variant: flipping", &p, &run);
  x[5] = 31;
  ck_assert_int_eq(m->iface->eval_masked(m->inst, x, 8, a, &err), DK_OK);
  x[5] = 9;
  ck_assert_int_eq(m->iface->eval_masked(m->inst, x, 8, b, &err), DK_OK);
  for (int r = 3; r < 8; r++) ck_assert_int_ne(argmax32(a + r * 32), argmax32(b + r * 32));
  ck_assert_int_eq(argmax32(a + 3 * 32), 12); /* three unmasked: t2(3) = 'k' */
  ck_assert_int_eq(argmax32(b + 3 * 32), 11);
  dk_run_free(run);
  dk_pipeline_free(p);

  m = toy_model("variant: hash, seed: 9", &p, &run);
  const struct dk_model_iface *mi = m->iface;
  dk_token y[8] = {0, 2, 3, 7, 31, 31, 12, 31};
  ck_assert_int_eq(mi->eval_masked(m->inst, y, 8, a, &err), DK_OK);
  dk_seq sq;
  ck_assert_int_eq(mi->seq_new(m->inst, &sq, &err), DK_OK);
  /* Prefix of three, canvas of five, rows 1 and 3 only. */
  int32_t rows[2] = {1, 3};
  dk_masked_eval me = {.struct_size = sizeof me, .seq = sq, .tokens = y, .n = 3,
                       .attention = DK_ATTN_BIDIRECTIONAL, .n_commit = 3};
  ck_assert_int_eq(mi->eval_masked_seq(m->inst, &me, &err), DK_OK);
  me = (dk_masked_eval){.struct_size = sizeof me, .seq = sq, .tokens = y + 3, .n = 5,
                        .attention = DK_ATTN_BIDIRECTIONAL, .rows = rows, .n_rows = 2, .logits = b,
                        .flags = DK_MASKED_STORE};
  ck_assert_int_eq(mi->eval_masked_seq(m->inst, &me, &err), DK_OK);
  ck_assert(memcmp(b, a + 4 * 32, 32 * sizeof *b) == 0);
  ck_assert(memcmp(b + 32, a + 6 * 32, 32 * sizeof *b) == 0);
  /* Reuse: position 6 changed outside the active rows is not seen... */
  dk_token z[5] = {7, 31, 31, 14, 31};
  me.tokens = z;
  me.flags = DK_MASKED_REUSE;
  me.active_begin = 0;
  me.active_end = 2;
  me.rows = rows;
  me.n_rows = 1;
  ck_assert_int_eq(mi->eval_masked_seq(m->inst, &me, &err), DK_OK);
  ck_assert(memcmp(b, a + 4 * 32, 32 * sizeof *b) == 0);
  /* ...and is inside them. */
  me.active_end = 5;
  ck_assert_int_eq(mi->eval_masked_seq(m->inst, &me, &err), DK_OK);
  dk_token w[8] = {0, 2, 3, 7, 31, 31, 14, 31};
  ck_assert_int_eq(mi->eval_masked(m->inst, w, 8, a, &err), DK_OK);
  ck_assert(memcmp(b, a + 4 * 32, 32 * sizeof *b) == 0);
  /* Block-causal, blocks of 2: row 1 sees canvas rows 0-1 only, as if the
   * rest were masked. */
  me = (dk_masked_eval){.struct_size = sizeof me, .seq = sq, .tokens = y + 3, .n = 5,
                        .attention = DK_ATTN_BLOCK_CAUSAL, .block_len = 2, .rows = rows, .n_rows = 1,
                        .logits = b};
  ck_assert_int_eq(mi->eval_masked_seq(m->inst, &me, &err), DK_OK);
  dk_token v[8] = {0, 2, 3, 7, 31, 31, 31, 31};
  ck_assert_int_eq(mi->eval_masked(m->inst, v, 8, a, &err), DK_OK);
  ck_assert(memcmp(b, a + 4 * 32, 32 * sizeof *b) == 0);
  ck_assert_uint_eq(mi->seq_len(m->inst, sq), 3);
  mi->seq_free(m->inst, sq);
  dk_run_free(run);
  dk_pipeline_free(p);
}
END_TEST

/* Run `yaml`; its tokens and calls must equal the reference's. */
static dk_result *tokens_are(const char *yaml, const dk_token *ref, size_t n, uint64_t nfe) {
  dk_result *r = run_ok(yaml);
  const dk_completion *k = &r->c[0];
  ck_assert_uint_eq(k->n_tokens, n);
  for (size_t i = 0; i < n; i++)
    ck_assert_msg(k->tokens[i] == ref[i], "token %zu: %d, reference %d in\n%s", i, k->tokens[i], ref[i],
                  yaml);
  ck_assert_uint_eq(k->forward_passes, nfe);
  return r;
}

/* Run both; `yaml` must give the text and the calls of `ref_yaml`. */
static dk_result *same_as(const char *ref_yaml, const char *yaml) {
  dk_result *ref = run_ok(ref_yaml);
  dk_result *r = tokens_are(yaml, ref->c[0].tokens, ref->c[0].n_tokens, ref->c[0].forward_passes);
  dk_result_free(ref);
  return r;
}

#define TOY(params) "decokit: 1\nmodel: { plugin: toymask, " params " }\n"
/* A decoder and the generation settings every run here uses. */
#define USE(plugin, params)                                                                                  \
  "decoder: { plugin: " plugin ", " params " }\ngenerate: { max_tokens: 64, ignore_eos: true }\n"
#define DEC(params) USE("diffusion", params)

/*
 * Worked example.  Prompt "ab" is <s> a b: the canvas starts at position 3.
 * With seed 5 positions 3..6 have levels 6, 4, 2, 0 and gaps 0.5, 1.5, 2.5,
 * 0.5, so (29 tokens at logit 0 beside the two favoured ones)
 *   top probability  .612 .705 .396 .081  -> confidence order 4 3 5 6
 *   top-1 minus top-2 .241 .548 .363 .032 -> margin order     4 5 3 6
 *   minus entropy    -0.79 -1.27 -2.72 -3.40 -> entropy order  3 4 5 6
 * t1 = o r u x and t2 = p s v y.  One token per step (gen = block = steps =
 * 4): at step i the rows see 3 + i unmasked positions, so in the flipping
 * variant steps 0 and 2 write t2 and steps 1 and 3 write t1.  Confidence:
 * 4=s, 3=o, 5=v, 6=x.  Margin: 4=s, 5=u, 3=p, 6=x.  Entropy: 3=p, 4=r,
 * 5=v, 6=x.  The stable variant writes t1 everywhere whatever the order.
 */
START_TEST(test_orders_by_hand) {
  expect(TOY("variant: flipping, seed: 5") DEC("gen_length: 4, block_length: 4, steps: 4"), "osvx", 4);
  expect(TOY("variant: flipping, seed: 5") DEC("gen_length: 4, block_length: 4, steps: 4, order: margin"),
         "psux", 4);
  expect(TOY("variant: flipping, seed: 5") DEC("gen_length: 4, block_length: 4, steps: 4, order: entropy"),
         "prvx", 4);
  static const char *const orders[] = {"confidence", "margin", "entropy", "random"};
  for (size_t i = 0; i < 4; i++) {
    char y[512];
    snprintf(y, sizeof y,
             TOY("variant: stable, seed: 5") DEC("gen_length: 4, block_length: 4, steps: 4, order: %s"),
             orders[i]);
    expect(y, "orux", 4);
  }
}
END_TEST

/*
 * Schedules, seed 0: positions 3..12 have top probabilities .18 .80 .78
 * .33 .08 .87 .47 .19 .90 .56.  LLaDA's linear schedule spreads 10 masks
 * over 4 steps as 3 3 2 2; the rows see 3, 6, 9, 11 unmasked positions at
 * those steps, so the first, third and fourth steps write t2 and the
 * second t1:
 *   step 0 (t2): 11, 8, 4      step 1 (t1): 5, 12, 9
 *   step 2 (t2): 6, 10         step 3 (t2): 3, 7
 * Dream's eps schedule on 4 masks in 4 steps: times 1, .75025, .5005,
 * .25075, .001 unmask 0, 1, 1 and (last step) 2 positions; the empty step
 * needs no call.  Rows see 3, 4, 5: position 4 gets t2 = n, 5 gets t1 = p,
 * then 6 and 3 get t2 = t and k.
 */
START_TEST(test_schedules) {
  expect(TOY("variant: flipping") DEC("gen_length: 10, block_length: 10, steps: 4"), "knptwzbfik", 4);
  expect(TOY("variant: flipping") DEC("gen_length: 4, block_length: 4, steps: 4, schedule: eps"), "knpt", 3);
}
END_TEST

/* The L-ref reference: one most-confident position per step (ties to the
 * lower position, mask never chosen), replayed here with the stateless
 * whole-sequence evaluation. */
static void reference(const char *model, size_t gen, size_t block, double cfg, dk_token *out, size_t *nfe) {
  char y[512];
  snprintf(y, sizeof y, "decokit: 1\nmodel: { plugin: toymask, %s }\ndecoder: { plugin: diffusion }\n",
           model);
  dk_pipeline *p;
  ck_assert_int_eq(dk_pipeline_parse(y, strlen(y), "m.yaml", ".", &p, &err), DK_OK);
  ck_assert_int_eq(dk_pipeline_resolve(p, reg, NULL, &err), DK_OK);
  dk_run *run;
  ck_assert_msg(dk_run_new(p, &(dk_run_opts){.logprobs = -1}, &run, &err) == DK_OK, "%s", err.msg);
  const dk_model_ref *m = dk_run_model(run);
  size_t shift = m->info->logit_shift ? 1 : 0;
  dk_token x[256] = {0, 2, 3}; /* <s> a b */
  size_t np = 3, n = np + gen;
  for (size_t i = np; i < n; i++) x[i] = m->info->mask;
  static float lg[256 * 32], lu[256 * 32];
  *nfe = 0;
  for (size_t b0 = np; b0 < n; b0 += block)
    for (size_t f = 0; f < block; f++) {
      ck_assert_int_eq(m->iface->eval_masked(m->inst, x, n, lg, &err), DK_OK);
      ++*nfe;
      if (cfg > 0) {
        /* Guidance: the same canvas with the prompt masked. */
        dk_token xu[256];
        memcpy(xu, x, n * sizeof *xu);
        for (size_t i = 0; i < np; i++) xu[i] = m->info->mask;
        ck_assert_int_eq(m->iface->eval_masked(m->inst, xu, n, lu, &err), DK_OK);
        ++*nfe;
        float w = (float)(cfg + 1);
        for (size_t i = 0; i < n * 32; i++) lg[i] = lu[i] + w * (lg[i] - lu[i]);
      }
      double best = -1;
      size_t bp = 0;
      dk_token bt = 0;
      for (size_t i = b0; i < b0 + block; i++) {
        if (x[i] != m->info->mask) continue;
        const float *z = lg + (i - shift) * 32;
        dk_token t = 0;
        double zmax = z[0], sum = 0;
        for (dk_token v = 1; v < 32; v++) {
          if (z[v] > zmax) zmax = z[v];
          if (v != m->info->mask && z[v] > z[t]) t = v;
        }
        for (int v = 0; v < 32; v++) sum += exp(z[v] - zmax);
        double conf = exp(z[t] - zmax) / sum;
        if (conf > best) best = conf, bp = i, bt = t;
      }
      x[bp] = bt;
    }
  memcpy(out, x + np, gen * sizeof *out);
  dk_run_free(run);
  dk_pipeline_free(p);
}

/* Every cache mode, with and without a logit shift, and the stateless
 * evaluation give the reference's tokens on the hash variant, where any
 * difference in what a row sees changes its prediction.  Caches compute
 * fewer positions. */
START_TEST(test_caches_equal_recomputation) {
  static const char *const models[] = {"variant: hash, seed: 3", "variant: hash, seed: 4, logit_shift: true",
                                       "variant: flipping, seed: 1, logit_shift: true"};
  for (size_t mi = 0; mi < 3; mi++) {
    dk_token ref[24];
    size_t ref_nfe;
    reference(models[mi], 24, 8, 0, ref, &ref_nfe);
    ck_assert_uint_eq(ref_nfe, 24);
    uint64_t computed[3] = {0};
    static const char *const caches[] = {"none", "prefix", "dual"};
    for (size_t c = 0; c < 4; c++) {
      char y[512];
      snprintf(y, sizeof y,
               "decokit: 1\nmodel: { plugin: toymask, %s%s }\n"
               "decoder: { plugin: diffusion, gen_length: 24, block_length: 8, steps: 24, cache: %s }\n"
               "generate: { max_tokens: 64, ignore_eos: true }\n",
               models[mi], c == 3 ? ", seq_cache: false" : "", caches[c == 3 ? 0 : c]);
      dk_result *r = tokens_are(y, ref, 24, 24);
      const dk_completion *k = &r->c[0];
      /* The host knows each token's log-probability. */
      ck_assert(k->recs[0].has_raw && k->recs[0].raw_lp < 0);
      if (c < 3) computed[c] = k->model_tokens;
      dk_result_free(r);
    }
    ck_assert_uint_lt(computed[1], computed[0]);
    ck_assert_uint_lt(computed[2], computed[1]);
  }
}
END_TEST

/* What is decided from a block's left end on is committed at once: on the
 * stable model (seed 0) positions 3..10 are unmasked in the order 8 4 5 9
 * 6 10 3 7, so with max_tokens 2 the completion ends after the seventh call,
 * when position 3 joins 4, 5 and 6, without the eighth. */
START_TEST(test_streaming) {
  dk_result *r = run_ok(TOY("variant: stable") "decoder: { plugin: diffusion, gen_length: 8, "
                                               "block_length: 8, steps: 8 }\ngenerate: { max_tokens: 2 }\n");
  ck_assert_str_eq(r->c[0].text, "jm");
  ck_assert_str_eq(r->c[0].stop_reason, "length");
  ck_assert_uint_eq(r->c[0].forward_passes, 7);
  dk_result_free(r);
}
END_TEST

/* Classifier-free guidance: on the stable model conditional and
 * unconditional rows agree, so the tokens do not change while the calls
 * double; on the hash model every cache mode and the stateless path give
 * the guided reference replayed here. */
START_TEST(test_cfg) {
  expect(TOY("variant: stable") DEC("gen_length: 8, block_length: 8, steps: 8, cfg_scale: 1.5"), "jmpsvybe",
         16);
  dk_token ref[16], plain[16];
  size_t ref_nfe, plain_nfe;
  reference("variant: hash, seed: 11", 16, 8, 2.0, ref, &ref_nfe);
  reference("variant: hash, seed: 11", 16, 8, 0, plain, &plain_nfe);
  ck_assert_uint_eq(ref_nfe, 32);
  ck_assert(memcmp(ref, plain, sizeof ref) != 0); /* guidance changes this canvas */
  static const char *const modes[] = {"cache: none", "cache: prefix", "cache: dual", "cache: none"};
  for (size_t c = 0; c < 4; c++) {
    char y[512];
    snprintf(y, sizeof y,
             TOY("variant: hash, seed: 11%s")
                 DEC("gen_length: 16, block_length: 8, steps: 16, cfg_scale: 2, %s"),
             c == 3 ? ", seq_cache: false" : "", modes[c]);
    dk_result_free(tokens_are(y, ref, 16, 32));
  }
}
END_TEST

/* Fast-dLLM thresholds: above 1 only the forced best position is unmasked
 * (the top-1 reference); 0 fills a block per call; in between fewer calls
 * than positions. */
START_TEST(test_threshold) {
  const char *model = "variant: flipping";
  dk_token ref[8];
  size_t ref_nfe;
  reference(model, 8, 4, 0, ref, &ref_nfe);
  char y[512];
  snprintf(y, sizeof y, TOY("%s") DEC("gen_length: 8, block_length: 4, threshold: 1.5"), model);
  dk_result_free(tokens_are(y, ref, 8, ref_nfe));
  /* Flipping, seed 0: positions 3..10 have top probabilities .18 .80 .78
   * .33 | .08 .87 .47 .18, t1 = j m p s v y b e, t2 = k n q t w z c f, and
   * a row writes t2 when it sees an odd number of unmasked positions.  At
   * 0.7: 4 and 5 together (3 seen: n q), then 6 (5: t), 3 (6: j); in block
   * two 8 (7: z), then 9 (8: b), 10 (9: f), 7 (10: v): 7 calls.  At 0 each
   * block is one call, seeing 3 and then 7: t2 everywhere. */
  expect(TOY("variant: flipping") DEC("gen_length: 8, block_length: 4, threshold: 0.7"), "jnqtvzbf", 7);
  expect(TOY("variant: flipping") DEC("gen_length: 8, block_length: 4, threshold: 0"), "knqtwzcf", 2);
}
END_TEST

START_TEST(test_bad_input) {
  run_fails(TOY("") DEC("gen_length: 10, block_length: 4"), "block_length: 4 does not divide gen_length 10");
  run_fails(TOY("") DEC("gen_length: 16, block_length: 4, steps: 2"),
            "steps: 2 is not a multiple of the 4 blocks");
  run_fails(TOY("") DEC("gen_length: 16, block_length: 4, steps: 6"), "steps: 6 is not a multiple");
  run_fails(TOY("") DEC("order: best"), "order: 'best'");
  run_fails(TOY("") DEC("cache: full"), "cache: 'full'");
  run_fails(TOY("has_mask: false") DEC("gen_length: 8, block_length: 8, steps: 8"), "has no mask token");
  run_fails("decokit: 1\nmodel: { plugin: hashlm }\n" DEC("gen_length: 8, block_length: 8, steps: 8"),
            "is causal");
  run_fails(TOY("seq_cache: false") DEC("gen_length: 8, block_length: 8, steps: 8"), "cache: prefix needs");
  run_fails(TOY("") DEC("gen_length: 512, block_length: 8, steps: 64"),
            "gen_length: 512 positions after a prompt");
  /* A block that may pass more steps without a commit than the host allows. */
  run_fails(TOY("n_ctx: 1024") DEC("gen_length: 600, block_length: 600, steps: 600"),
            "steps: up to 599 steps of a block may pass before it commits a token, more than the 512 "
            "the host allows with max_tokens 64");
  /* Without eval_masked_seq every call returns a row per position: a long
   * canvas is refused before anything is allocated. */
  run_fails(TOY("seq_cache: false, n_ctx: 2000000000")
                DEC("gen_length: 100000000, block_length: 100000000, steps: 1, cache: none"),
            "would take 11.9 GiB");
}
END_TEST

/* Prophet: gaps no row reaches leave plain diffusion decoding; a gap of 0
 * commits everything after the first forward (flipping, seed 5: the rows
 * see three unmasked positions, so every position takes t2 = p s v y b e h
 * k); the thresholds switch at a third and two thirds of the steps (12
 * steps: step 4 is the first at .33, step 9 the first at .67). */
START_TEST(test_prophet) {
  const char *canvas = "gen_length: 24, block_length: 8, steps: 24";
  static const char *const caches[] = {"none", "prefix", "dual"};
  for (size_t c = 0; c < 3; c++) {
    char ref[512], y[512];
    snprintf(ref, sizeof ref, TOY("variant: hash, seed: 2") DEC("%s, cache: %s"), canvas, caches[c]);
    snprintf(y, sizeof y,
             TOY("variant: hash, seed: 2") USE("prophet", "%s, cache: %s, gap_early: 1e9, gap_mid: 1e9, "
                                                          "gap_late: 1e9"),
             canvas, caches[c]);
    dk_result_free(same_as(ref, y));
  }
  dk_result *r = run_ok(TOY("variant: flipping, seed: 5")
                            USE("prophet", "gen_length: 8, block_length: 4, steps: 8, gap_early: 0"));
  ck_assert_str_eq(r->c[0].text, "psvybehk");
  ck_assert_uint_eq(r->c[0].forward_passes, 1);
  dk_result_free(r);
  static const char *const phases[][2] = {{"gap_early: 1e9, gap_mid: 0", "5"},
                                          {"gap_early: 1e9, gap_mid: 1e9, gap_late: 0", "10"}};
  for (size_t i = 0; i < 2; i++) {
    char y[512];
    snprintf(y, sizeof y,
             TOY("variant: hash") USE("prophet", "gen_length: 12, block_length: 12, steps: 12, %s"),
             phases[i][0]);
    r = run_ok(y);
    ck_assert_uint_eq(r->c[0].n_tokens, 12);
    ck_assert_uint_eq(r->c[0].forward_passes, (uint64_t)atoi(phases[i][1]));
    ck_assert(dkh_metric(&r->c[0], "prophet_exit_step") == atoi(phases[i][1]));
    dk_result_free(r);
  }
}
END_TEST

/*
 * AdaBlock on the stable variant (seed 0, gen 16, block 8, window 4):
 * positions 3..18 predict j m p s v y b e h k n q t w z c with top
 * probabilities .18 .80 .78 .33 .08 ...  A delimiter "p" (position 5, .78)
 * ends the first block after 3 positions; the windows 6..9 and 14..17 hold
 * none, so blocks are 3, 8, 5.  With "p" and "s", the first window picks
 * the more confident "p"; the next one starts on "s" (.33): 3, 1, 8, 4.
 * A delimiter threshold over .78 keeps the fixed blocks 8, 8.  "v"
 * (position 7, .08, with delimiter_threshold .05) is outside a window of
 * 4 but inside one of 8: blocks 8, 8 or 5, 8, 3.
 */
START_TEST(test_adablock) {
  static const struct {
    const char *params;
    double blocks;
  } cases[] = {{"delimiters: [p]", 3},
               {"delimiters: [p, s]", 4},
               {"delimiters: [p], delimiter_threshold: 0.9", 2},
               {"delimiters: [v], delimiter_threshold: 0.05", 2},
               {"delimiters: [v], delimiter_threshold: 0.05, window: 0.5", 3}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char y[512];
    snprintf(y, sizeof y,
             TOY("variant: stable") USE("adablock", "gen_length: 16, block_length: 8, %s"), cases[i].params);
    dk_result *r = run_ok(y);
    ck_assert_str_eq(r->c[0].text, "jmpsvybehknqtwzc");
    ck_assert_msg(dkh_metric(&r->c[0], "blocks") == cases[i].blocks, "case %zu: %g blocks", i,
                  dkh_metric(&r->c[0], "blocks"));
    dk_result_free(r);
  }
  run_fails(TOY("") USE("adablock", "delimiters: [\"?!\"]"), "delimiters: no token's piece is '?!'");
  /* No delimiter confident enough: Fast-dLLM threshold decoding exactly. */
  static const char *const caches[] = {"none", "prefix", "dual"};
  for (size_t c = 0; c < 3; c++) {
    char ref[512], y[512];
    snprintf(ref, sizeof ref,
             TOY("variant: hash, seed: 6") DEC("gen_length: 24, block_length: 8, threshold: 0.5, cache: %s"),
             caches[c]);
    snprintf(y, sizeof y,
             TOY("variant: hash, seed: 6") USE("adablock", "gen_length: 24, block_length: 8, "
                                                           "threshold: 0.5, delimiters: [a, e], "
                                                           "delimiter_threshold: 2, cache: %s"),
             caches[c]);
    dk_result *r = same_as(ref, y);
    ck_assert_uint_lt(r->c[0].forward_passes, 24);
    dk_result_free(r);
  }
}
END_TEST

/*
 * CCD on the stable variant (gen = block = steps = 16, entropy order,
 * k = 1): five warm-up steps unmask positions 11, 4, 8, 18, 15 while the
 * buffer grows to 5; predictions never change, so the next two steps
 * unmask the whole buffer (5, 12, 9, 16, 6, then 13, 3, 17, 10, 14) and a
 * last ordinary step position 7: 8 calls instead of 16, 8 positions beyond
 * k.  In the flipping variant every prediction changes at every step, so
 * the buffer never vouches for one: plain decoding exactly.  With
 * expand_ratio 0 the buffer is k long and CCD is plain decoding too.
 */
START_TEST(test_ccd) {
  dk_result *r = run_ok(
      TOY("variant: stable") USE("ccd", "gen_length: 16, block_length: 16, steps: 16, order: entropy"));
  ck_assert_str_eq(r->c[0].text, "jmpsvybehknqtwzc");
  ck_assert_uint_eq(r->c[0].forward_passes, 8);
  ck_assert(dkh_metric(&r->c[0], "ccd_extra") == 8);
  dk_result_free(r);
  static const char *const same[][3] = {
      {"variant: flipping", "gen_length: 16, block_length: 16, steps: 16, order: entropy", ""},
      {"variant: hash, seed: 8", "gen_length: 24, block_length: 8, steps: 24, cache: dual",
       ", expand_ratio: 0"},
      {"variant: hash, seed: 8", "gen_length: 24, block_length: 8, steps: 12", ", warmup: 1000"}};
  for (size_t i = 0; i < 3; i++) {
    char ref[512], y[512];
    snprintf(ref, sizeof ref, "decokit: 1\nmodel: { plugin: toymask, %s }\n" DEC("%s"), same[i][0],
             same[i][1]);
    snprintf(y, sizeof y, "decokit: 1\nmodel: { plugin: toymask, %s }\n" USE("ccd", "%s%s"), same[i][0],
             same[i][1], same[i][2]);
    r = same_as(ref, y);
    ck_assert(dkh_metric(&r->c[0], "ccd_extra") < 0); /* never beyond k */
    dk_result_free(r);
  }
  /* Two blocks of 8 with confidence order: the buffer starts again in each. */
  r = run_ok(TOY("variant: stable") USE("ccd", "gen_length: 16, block_length: 8, steps: 16"));
  ck_assert_str_eq(r->c[0].text, "jmpsvybehknqtwzc");
  ck_assert_uint_eq(r->c[0].forward_passes, 10);
  dk_result_free(r);
}
END_TEST

/* Each position's token comes from the pipeline's sampler chain.  Banning
 * 'j' (id 11), the stable model's favourite for position 3 and for no other
 * of 3..10, leaves its second choice 'k' there; sampling at a temperature
 * is reproducible from the seed and reports the processed numbers.  A
 * constraint cannot follow a canvas filled out of order: refused. */
START_TEST(test_sampler_chain) {
  const char *gen = "gen_length: 8, block_length: 8, steps: 8";
  char y[512];
  snprintf(y, sizeof y, TOY("variant: stable") DEC("%s"), gen);
  expect(y, "jmpsvybe", 8);
  snprintf(y, sizeof y,
           TOY("variant: stable")
               DEC("%s") "samplers: [ { plugin: logit_bias, bias: [\"11:-inf\"] }, { plugin: greedy } ]\n",
           gen);
  expect(y, "kmpsvybe", 8);
  snprintf(y, sizeof y,
           TOY("variant: hash, seed: 4")
               DEC("%s") "samplers: [ { plugin: temperature, t: 2.0 }, { plugin: dist } ]\n",
           gen);
  dk_result *a = run_ok(y), *b = run_ok(y);
  ck_assert_str_eq(a->c[0].text, b->c[0].text);
  for (size_t i = 0; i < 8; i++) ck_assert(a->c[0].recs[i].has_proc && a->c[0].recs[i].proc_lp <= 0);
  dk_result_free(a);
  dk_result_free(b);
  run_fails(
      TOY("") DEC(
          "gen_length: 8, block_length: 8, steps: 8") "constraint: { plugin: regex, pattern: \"[a-z]+\" }\n",
      "a constraint cannot follow a canvas");
}
END_TEST

/* The example pipelines for diffusion LMs run, on the toy model standing
 * in for the GGUF file a user names. */
START_TEST(test_example_pipelines) {
  static const char *const files[] = {"llada", "fast-dllm", "dream", "prophet", "adablock", "ccd", "freedave", "learn2pd"};
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    char path[4096], y[4096];
    snprintf(path, sizeof path, "%s/config/dllm/%s.yaml", getenv("DECOKIT_SRCDIR"), files[i]);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s", path);
    size_t n = fread(y, 1, sizeof y - 100, f);
    fclose(f);
    snprintf(y + n, sizeof y - n, "model: { plugin: toymask, variant: hash, n_ctx: 1024 }\n");
    dk_result *r = run_ok(y);
    ck_assert_uint_gt(r->c[0].n_tokens, 0);
    dk_result_free(r);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("diffusion");
  TCase *tc = tcase_create("core");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_toymask_model);
  tcase_add_test(tc, test_orders_by_hand);
  tcase_add_test(tc, test_schedules);
  tcase_add_test(tc, test_caches_equal_recomputation);
  tcase_add_test(tc, test_streaming);
  tcase_add_test(tc, test_cfg);
  tcase_add_test(tc, test_threshold);
  tcase_add_test(tc, test_prophet);
  tcase_add_test(tc, test_adablock);
  tcase_add_test(tc, test_ccd);
  tcase_add_test(tc, test_sampler_chain);
  tcase_add_test(tc, test_bad_input);
  tcase_add_test(tc, test_example_pipelines);
  suite_add_tcase(s, tc);
  return dkh_run(s);
}
