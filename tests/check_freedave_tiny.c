/* check_freedave_tiny.c -- FreeDave on the bundled diffusion LM: the batched masked call, exactly one-position-per-step decoding's tokens, fewer model calls. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "harness.h"
#include "pipeline.h"
#include "session.h"

static dk_registry *reg;
static dk_error err;
static char srcdir[1024];

static const char *const k_prompts[] = {
    "It was a fine morning, and",
    "And God said unto Moses,",
    "Elizabeth was",
};
#define N_PROMPTS ((int)(sizeof k_prompts / sizeof k_prompts[0]))

static void setup(void) {
  const char *s = getenv("DECOKIT_SRCDIR");
  snprintf(srcdir, sizeof srcdir, "%s", s && *s ? s : ".");
  reg = dkh_registry();
  dk_error_clear(&err);
}

static void teardown(void) { dk_registry_free(reg); }

/* The bundled dLLM with decoder flow mapping dec; gen_length 64 in blocks of 32. */
static void yaml_for(char *y, size_t n, const char *dec, const char *cache) {
  snprintf(y, n,
           "decokit: 1\nmodel: { plugin: llama, path: models/decokit-tiny-diffusion.gguf }\n"
           "decoder: { %s, gen_length: 64, block_length: 32, cache: %s }\n"
           "generate: { max_tokens: 64, ignore_eos: true }\n",
           dec, cache);
}

static dk_result *run_ok(const char *dec, const char *cache, const char *prompt) {
  char y[512];
  yaml_for(y, sizeof y, dec, cache);
  int rc;
  dk_result *r = dkh_run_yaml(reg, y, srcdir, prompt, &(dk_run_opts){.logprobs = -1, .threads = 1}, &rc, &err);
  ck_assert_msg(rc == DK_OK, "'%s': %s\n%s", prompt, err.msg, y);
  ck_assert_uint_eq(r->n, 1);
  return r;
}

/* The llama plugin offers the batched call on this model: without it FreeDave
   falls back to one call per draft, which costs exactly the reference's calls. */
START_TEST(test_model_offers_batched_call) {
  char y[512];
  yaml_for(y, sizeof y, "plugin: freedave", "prefix");
  dk_pipeline *p;
  dk_run *run;
  ck_assert_int_eq(dk_pipeline_parse(y, strlen(y), "t.yaml", srcdir, &p, &err), DK_OK);
  ck_assert_msg(dk_pipeline_resolve(p, reg, NULL, &err) == DK_OK, "%s", err.msg);
  ck_assert_msg(dk_run_new(p, &(dk_run_opts){.logprobs = -1, .threads = 1}, &run, &err) == DK_OK, "%s", err.msg);
  const dk_model_info *mi = dk_run_model_info(run);
  ck_assert_uint_eq(mi->attention, DK_ATTN_BIDIRECTIONAL);
  ck_assert_msg(mi->caps & DK_MODEL_CAP_MASKED_BATCH, "no eval_masked_batch: caps %#x", (unsigned)mi->caps);
  dk_run_free(run);
  dk_pipeline_free(p);
}
END_TEST

/* Token for token the reference's output (diffusion unmasking one position a
   step), in the same cache mode, with calls counted by the host: never more
   than the reference's, and fewer over the prompts, which the one-call-per-draft
   fallback cannot give. */
START_TEST(test_exact_with_fewer_calls) {
  static const char *const k_caches[] = {"prefix", "none"};
  const char *cache = k_caches[_i];
  uint64_t ref_calls = 0, fd_calls = 0;
  for (int k = 0; k < N_PROMPTS; k++) {
    dk_result *ref = run_ok("plugin: diffusion, steps: 64", cache, k_prompts[k]);
    dk_result *fd = run_ok("plugin: freedave, draft_steps: 4", cache, k_prompts[k]);
    const dk_completion *a = &ref->c[0], *b = &fd->c[0];
    ck_assert_uint_eq(a->n_tokens, 64);
    ck_assert_uint_eq(b->n_tokens, a->n_tokens);
    for (size_t i = 0; i < a->n_tokens; i++)
      ck_assert_msg(a->tokens[i] == b->tokens[i], "cache %s, '%s': token %zu is %d, the reference has %d", cache,
                    k_prompts[k], i, b->tokens[i], a->tokens[i]);
    ck_assert_uint_eq(a->forward_passes, 64);
    ck_assert_msg(b->forward_passes <= a->forward_passes, "cache %s, '%s': %llu calls, the reference %llu", cache,
                  k_prompts[k], (unsigned long long)b->forward_passes, (unsigned long long)a->forward_passes);
    ref_calls += a->forward_passes;
    fd_calls += b->forward_passes;
    dk_result_free(ref);
    dk_result_free(fd);
  }
  printf("cache %s: freedave %llu calls, reference %llu\n", cache, (unsigned long long)fd_calls,
         (unsigned long long)ref_calls);
  ck_assert_msg(fd_calls < ref_calls, "cache %s: freedave saved no call (%llu of %llu)", cache,
                (unsigned long long)fd_calls, (unsigned long long)ref_calls);
}
END_TEST

int main(void) {
  Suite *s = suite_create("freedave_tiny");
  TCase *tc = tcase_create("bundled dLLM");
  tcase_set_timeout(tc, 120);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_model_offers_batched_call);
  tcase_add_loop_test(tc, test_exact_with_fewer_calls, 0, 2);
  suite_add_tcase(s, tc);
  return dkh_run(s);
}
