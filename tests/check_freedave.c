/* check_freedave.c -- the batched masked call (ABI 1.3) and its host checks, and FreeDave against one-position-per-step decoding. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../plugins/decoders/freedave_chain.h"
#include "error.h"
#include "harness.h"
#include "pipeline.h"
#include "session.h"

static dk_registry *reg;
static dk_error err;

static void setup(void) {
  reg = dkh_registry();
  dk_error_clear(&err);
}

static void teardown(void) { dk_registry_free(reg); }

static dk_result *run_rc(const char *yaml, const char *prompt, int *rc) {
  return dkh_run_yaml(reg, yaml, ".", prompt, &(dk_run_opts){.logprobs = -1}, rc, &err);
}

static dk_result *run_ok(const char *yaml) {
  int rc;
  dk_result *r = run_rc(yaml, "ab", &rc);
  ck_assert_msg(rc == DK_OK, "%s\n%s", err.msg, yaml);
  return r;
}

static void run_fails(const char *yaml, const char *want) {
  int rc;
  dk_result *r = run_rc(yaml, "ab", &rc);
  ck_assert_msg(rc < 0, "expected an error with '%s'", want);
  ck_assert_msg(strstr(err.msg, want) != NULL, "'%s' not in: %s", want, err.msg);
  dk_result_free(r);
}

typedef struct open_run {
  dk_pipeline *p;
  dk_run *run;
  const dk_model_ref *m;
} open_run;

/* The toy model behind the host's checking proxy, as decoders see it. */
static open_run toy(const char *params) {
  char y[512];
  snprintf(y, sizeof y, "decokit: 1\nmodel: { plugin: toymask, %s }\ndecoder: { plugin: diffusion }\n", params);
  open_run o;
  ck_assert_int_eq(dk_pipeline_parse(y, strlen(y), "m.yaml", ".", &o.p, &err), DK_OK);
  ck_assert_int_eq(dk_pipeline_resolve(o.p, reg, NULL, &err), DK_OK);
  ck_assert_msg(dk_run_new(o.p, &(dk_run_opts){.logprobs = -1}, &o.run, &err) == DK_OK, "%s", err.msg);
  o.m = dk_run_model(o.run);
  return o;
}

static void close_run(open_run *o) {
  dk_run_free(o->run);
  dk_pipeline_free(o->p);
}

/* Three canvases after a cached prefix of three: each canvas's rows equal
 * the single masked call's on that canvas alone, with and without reuse of
 * a stored canvas; the sequence does not move. */
START_TEST(test_batch_equals_single_calls) {
  open_run o = toy("variant: hash, seed: 9");
  const struct dk_model_iface *mi = o.m->iface;
  ck_assert(o.m->info->caps & DK_MODEL_CAP_MASKED_BATCH);
  ck_assert_ptr_nonnull(mi->eval_masked_batch);
  dk_seq sq;
  ck_assert_int_eq(mi->seq_new(o.m->inst, &sq, &err), DK_OK);
  dk_token pre[3] = {0, 2, 3};
  dk_masked_eval me = {.struct_size = sizeof me, .seq = sq, .tokens = pre, .n = 3,
                       .attention = DK_ATTN_BIDIRECTIONAL, .n_commit = 3};
  ck_assert_int_eq(mi->eval_masked_seq(o.m->inst, &me, &err), DK_OK);
  dk_token canv[3][5] = {{7, 31, 31, 31, 31}, {7, 9, 31, 31, 31}, {7, 9, 31, 14, 31}};
  /* A stored canvas to reuse, computed from another canvas. */
  dk_token st[5] = {7, 4, 31, 12, 31};
  me = (dk_masked_eval){.struct_size = sizeof me, .seq = sq, .tokens = st, .n = 5,
                        .attention = DK_ATTN_BIDIRECTIONAL, .flags = DK_MASKED_STORE};
  ck_assert_int_eq(mi->eval_masked_seq(o.m->inst, &me, &err), DK_OK);
  int32_t rows[3] = {1, 2, 4};
  static float batch[9 * 32], one[3 * 32];
  for (int reuse = 0; reuse < 2; reuse++) {
    dk_masked_batch mb = {.struct_size = sizeof mb, .seq = sq, .tokens = &canv[0][0], .n = 5, .n_canvas = 3,
                          .attention = DK_ATTN_BIDIRECTIONAL, .rows = rows, .n_rows = 3, .logits = batch};
    if (reuse) mb.flags = DK_MASKED_REUSE, mb.active_begin = 1, mb.active_end = 5;
    ck_assert_msg(mi->eval_masked_batch(o.m->inst, &mb, &err) == DK_OK, "%s", err.msg);
    ck_assert_uint_eq(mi->seq_len(o.m->inst, sq), 3);
    for (int c = 0; c < 3; c++) {
      me = (dk_masked_eval){.struct_size = sizeof me, .seq = sq, .tokens = canv[c], .n = 5,
                            .attention = DK_ATTN_BIDIRECTIONAL, .rows = rows, .n_rows = 3, .logits = one};
      if (reuse) me.flags = DK_MASKED_REUSE, me.active_begin = 1, me.active_end = 5;
      ck_assert_int_eq(mi->eval_masked_seq(o.m->inst, &me, &err), DK_OK);
      ck_assert_msg(memcmp(one, batch + c * 3 * 32, sizeof one) == 0, "canvas %d, reuse %d", c, reuse);
    }
    /* The canvases differ, so do their rows. */
    ck_assert(memcmp(batch, batch + 3 * 32, 3 * 32 * sizeof *batch) != 0);
  }
  mi->seq_free(o.m->inst, sq);
  close_run(&o);
  /* Without the op the proxy hides the bit. */
  o = toy("masked_batch: false");
  ck_assert(!(o.m->info->caps & DK_MODEL_CAP_MASKED_BATCH));
  ck_assert_ptr_null(o.m->iface->eval_masked_batch);
  close_run(&o);
}
END_TEST

/* The host's checks on what a batched call hands back, one broken model
 * each: a status outside dk_status, rows left unwritten, a sequence moved. */
START_TEST(test_hostile_batch) {
  static const char *const cases[][2] = {
      {"status", "eval_masked_batch returned status 42"},
      {"unwritten", "left output row 0 of canvas 1 unwritten"},
      {"grow", "changed the sequence from 0 to 1 positions"}};
  for (size_t i = 0; i < 3; i++) {
    char p[128];
    snprintf(p, sizeof p, "variant: hash, batch_fault: %s", cases[i][0]);
    open_run o = toy(p);
    const struct dk_model_iface *mi = o.m->iface;
    dk_seq sq;
    ck_assert_int_eq(mi->seq_new(o.m->inst, &sq, &err), DK_OK);
    dk_token canv[2][4] = {{0, 2, 31, 31}, {0, 2, 5, 31}};
    static float out[2 * 4 * 32];
    dk_masked_batch mb = {.struct_size = sizeof mb, .seq = sq, .tokens = &canv[0][0], .n = 4, .n_canvas = 2,
                          .attention = DK_ATTN_BIDIRECTIONAL, .logits = out};
    dk_error_clear(&err);
    ck_assert_int_lt(mi->eval_masked_batch(o.m->inst, &mb, &err), 0);
    ck_assert_msg(strstr(err.msg, cases[i][1]) != NULL, "'%s' not in: %s", cases[i][1], err.msg);
    mi->seq_free(o.m->inst, sq);
    close_run(&o);
  }
  /* A broken batch ends a FreeDave run with the host's message. */
  run_fails("decokit: 1\nmodel: { plugin: toymask, batch_fault: unwritten }\n"
            "decoder: { plugin: freedave, gen_length: 8, block_length: 8 }\n",
            "unwritten");
}
END_TEST

/* METHODS 9, test 4: hand-built chains.  Drafts add (position, token)
 * pairs; t_j is the static step from draft j. */
START_TEST(test_chain_cases) {
  size_t add_pos[3] = {5, 7, 4};
  dk_token add_tok[3] = {10, 11, 12};
  /* t1 = d2, t2 != d3 (another token at d3's position): best = 2. */
  size_t np1[2] = {7, 4};
  dk_token nt1[2] = {11, 13};
  ck_assert_uint_eq(freedave_chain(3, add_pos, add_tok, 2, np1, nt1), 2);
  /* t1 = d2 and t2 = d3: best = 3. */
  dk_token nt2[2] = {11, 12};
  ck_assert_uint_eq(freedave_chain(3, add_pos, add_tok, 2, np1, nt2), 3);
  /* t1 at another position than d2's: best = 1; t2 does not matter. */
  size_t np3[2] = {4, 4};
  ck_assert_uint_eq(freedave_chain(3, add_pos, add_tok, 2, np3, nt2), 1);
  /* Only d1 predicted: the chain stops at d2 however t2 would go. */
  ck_assert_uint_eq(freedave_chain(3, add_pos, add_tok, 1, np1, nt2), 2);
  ck_assert_uint_eq(freedave_chain(1, add_pos, add_tok, 0, np1, nt2), 1);
}
END_TEST

static void same_tokens(const dk_result *a, const dk_result *b, const char *what) {
  ck_assert_msg(a->c[0].n_tokens == b->c[0].n_tokens, "%s: %zu tokens, reference %zu", what, b->c[0].n_tokens,
                a->c[0].n_tokens);
  for (size_t i = 0; i < a->c[0].n_tokens; i++)
    ck_assert_msg(a->c[0].tokens[i] == b->c[0].tokens[i], "%s: token %zu differs", what, i);
}

/* METHODS 9, tests 1, 2, 3 and 5: on 120 random deterministic toy masked
 * models (hash, flipping and stable variants, logit shift or not, every
 * cache mode, several canvases, block lengths and K), FreeDave's tokens
 * are one-position-per-step decoding's; its calls are no more (with the
 * dual cache, one more per block: its canvas is stored on a call of its
 * own), and equal at K = 1; every verification round advances at least
 * one position; the one-call-per-draft fallback gives the same tokens with
 * the reference's calls. */
START_TEST(test_equals_static) {
  static const char *const variants[] = {"hash", "hash", "flipping", "stable"};
  static const char *const caches[] = {"none", "prefix", "dual"};
  unsigned long long x = 0x2545f4914f6cdd1dull;
  uint64_t saved = 0, total = 0;
  for (int t = 0; t < 120; t++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    const char *var = variants[x % 4];
    int shift = (int)((x >> 3) & 1), cache = (int)((x >> 5) % 3), seq = cache || ((x >> 9) & 1);
    size_t block = (size_t)4 << ((x >> 11) % 3), gen = block * (1 + (x >> 14) % 3);
    size_t k = t % 10 == 0 ? 1 : 2 + (x >> 17) % 6;
    char model[160], ref[512], y[512], fb[512];
    snprintf(model, sizeof model, "decokit: 1\nmodel: { plugin: toymask, variant: %s, seed: %d, logit_shift: %s%s }\n",
             var, (int)((x >> 20) % 1000), shift ? "true" : "false", seq ? "" : ", seq_cache: false");
    const char *gen_s = "generate: { max_tokens: 64, ignore_eos: true }\n";
    snprintf(ref, sizeof ref, "%sdecoder: { plugin: diffusion, gen_length: %zu, block_length: %zu, steps: %zu, cache: %s }\n%s",
             model, gen, block, gen, caches[cache], gen_s);
    snprintf(y, sizeof y, "%sdecoder: { plugin: freedave, gen_length: %zu, block_length: %zu, draft_steps: %zu, cache: %s }\n%s",
             model, gen, block, k, caches[cache], gen_s);
    snprintf(fb, sizeof fb, "%s", y);
    char *at = strstr(fb, " }\ndecoder");
    ck_assert_ptr_nonnull(at);
    memmove(at + 21, at, strlen(at) + 1);
    memcpy(at, ", masked_batch: false", 21);
    dk_result *a = run_ok(ref), *b = run_ok(y), *c = run_ok(fb);
    same_tokens(a, b, y);
    same_tokens(a, c, fb);
    uint64_t ra = a->c[0].forward_passes, rb = b->c[0].forward_passes, blocks = gen / block;
    if (cache == 2 && k > 1 && seq)
      ck_assert_msg(rb <= ra + blocks, "%s: %llu calls, reference %llu", y, (unsigned long long)rb,
                    (unsigned long long)ra);
    else
      ck_assert_msg(rb <= ra, "%s: %llu calls, reference %llu", y, (unsigned long long)rb, (unsigned long long)ra);
    if (k == 1) ck_assert_uint_eq(rb, ra);
    ck_assert_uint_eq(c->c[0].forward_passes, ra);
    double rounds = dkh_metric(&b->c[0], "freedave_rounds"), acc = dkh_metric(&b->c[0], "freedave_accepted");
    ck_assert(acc >= rounds && rounds > 0);
    ck_assert(acc == (double)gen);
    saved += ra - (rb < ra ? rb : ra);
    total += ra;
    dk_result_free(a);
    dk_result_free(b);
    dk_result_free(c);
  }
  ck_assert_uint_gt(saved, 0); /* the drafts are verified now and then */
  (void)total;
}
END_TEST

/* The stable model never changes a prediction, so every draft is verified:
 * 16 positions, K = 4: one call to open the block and four rounds (the
 * last one's fourth draft fills the block and needs no call), 5 calls
 * against 16.  Flipping changes every argmax at every unmasking, so no
 * second draft is verified: the reference's 16 calls, one position per
 * round. */
START_TEST(test_counts_by_hand) {
  dk_result *r = run_ok("decokit: 1\nmodel: { plugin: toymask, variant: stable }\n"
                        "decoder: { plugin: freedave, gen_length: 16, block_length: 16, draft_steps: 4 }\n"
                        "generate: { max_tokens: 64, ignore_eos: true }\n");
  ck_assert_str_eq(r->c[0].text, "jmpsvybehknqtwzc");
  ck_assert_uint_eq(r->c[0].forward_passes, 5);
  ck_assert(dkh_metric(&r->c[0], "freedave_rounds") == 4);
  dk_result_free(r);
  r = run_ok("decokit: 1\nmodel: { plugin: toymask, variant: flipping }\n"
             "decoder: { plugin: freedave, gen_length: 16, block_length: 16, draft_steps: 4 }\n"
             "generate: { max_tokens: 64, ignore_eos: true }\n");
  ck_assert_uint_eq(r->c[0].forward_passes, 16);
  ck_assert(dkh_metric(&r->c[0], "freedave_rounds") == 16);
  dk_result_free(r);
}
END_TEST

START_TEST(test_bad_input) {
  run_fails("decokit: 1\nmodel: { plugin: toymask }\ndecoder: { plugin: freedave, order: random }\n",
            "order: random");
  run_fails("decokit: 1\nmodel: { plugin: toymask }\ndecoder: { plugin: freedave, cfg_scale: 1 }\n",
            "cfg_scale");
  run_fails("decokit: 1\nmodel: { plugin: toymask }\ndecoder: { plugin: freedave, gen_length: 10, block_length: 4 }\n",
            "block_length: 4 does not divide gen_length 10");
  run_fails("decokit: 1\nmodel: { plugin: toymask }\ndecoder: { plugin: freedave, draft_steps: 0 }\n",
            "draft_steps");
}
END_TEST

int main(void) {
  Suite *s = suite_create("freedave");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_batch_equals_single_calls);
  tcase_add_test(tc, test_hostile_batch);
  tcase_add_test(tc, test_chain_cases);
  tcase_add_test(tc, test_equals_static);
  tcase_add_test(tc, test_counts_by_hand);
  tcase_add_test(tc, test_bad_input);
  suite_add_tcase(s, tc);
  return dkh_run(s);
}
