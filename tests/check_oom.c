/* check_oom.c -- fail the Nth allocation of a load + generate run, for every N: each ends in a clean error or the full result. */
/*
 * malloc, calloc and realloc are interposed here, in the test program, so
 * the host, libyaml and the plugins all allocate through them; the real
 * functions are found with dlsym(RTLD_NEXT) (under the sanitizers those
 * are the sanitizer's, which still tracks every block and reports leaks).
 */
#include <check.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "harness.h"
#include "loader.h"
#include "pipeline.h"
#include "session.h"

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);

/* dlsym itself may allocate before the real functions are known. */
static char boot[8192];
static size_t boot_used;
static int resolving;

static long allocs;    /* allocations since arming */
static long fail_at;   /* fail this one (1-based); 0 = none */
static int armed;

static void *boot_alloc(size_t n) {
  n = (n + 15) & ~(size_t)15;
  if (boot_used + n > sizeof boot) return NULL;
  void *p = boot + boot_used;
  boot_used += n;
  return p;
}

static int from_boot(const void *p) {
  return (const char *)p >= boot && (const char *)p < boot + sizeof boot;
}

static void resolve(void) {
  resolving = 1;
  real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
  real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
  real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
  real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
  resolving = 0;
}

static int should_fail(void) {
  if (!armed) return 0;
  return ++allocs == fail_at;
}

void *malloc(size_t n) {
  if (!real_malloc) {
    if (resolving) return boot_alloc(n);
    resolve();
  }
  return should_fail() ? NULL : real_malloc(n);
}

void *calloc(size_t n, size_t size) {
  if (!real_calloc) {
    if (resolving) return boot_alloc(n * size); /* static storage is zero */
    resolve();
  }
  return should_fail() ? NULL : real_calloc(n, size);
}

void *realloc(void *p, size_t n) {
  if (!real_realloc) resolve();
  if (from_boot(p)) {
    void *q = malloc(n);
    if (q) memcpy(q, p, n < sizeof boot ? n : sizeof boot);
    return q;
  }
  return should_fail() ? NULL : real_realloc(p, n);
}

void free(void *p) {
  if (!p || from_boot(p)) return;
  if (!real_free) resolve();
  real_free(p);
}

static dk_registry *reg;

#define PIPELINE                                                                                \
  "decokit: 1\nmodel: { plugin: hashlm }\n"                                                     \
  "samplers:\n  - { plugin: penalties, repeat: 1.2 }\n  - { plugin: top_k, k: 8 }\n"            \
  "  - { plugin: dist }\n"                                                                      \
  "generate: { max_tokens: 6, n: 2, logprobs: 2, stop: ['zz'] }\n"

/* Parse, resolve, run and generate; the result (or NULL) and the status.
 * Allocations are counted (and failed) from `arm_at` on. */
enum { ARM_PARSE, ARM_RUN };
static int scenario(const char *decoder, int arm_at, dk_result **out, dk_error *err) {
  char yaml[1024];
  snprintf(yaml, sizeof yaml, PIPELINE "%s", decoder);
  dk_pipeline *p = NULL;
  dk_run *run = NULL;
  *out = NULL;
  armed = arm_at == ARM_PARSE;
  int rc = dk_pipeline_parse(yaml, strlen(yaml), "oom.yaml", ".", &p, err);
  if (!rc) rc = dk_pipeline_resolve(p, reg, NULL, err);
  dk_run_opts opts = {.prompt = "the cat", .record_logprobs = 1, .logprobs = -1};
  armed = 1;
  if (!rc) rc = dk_run_new(p, &opts, &run, err);
  if (!rc) rc = dk_run_generate(run, out, err);
  armed = 0;
  dk_run_free(run);
  dk_pipeline_free(p);
  return rc;
}

static void same_result(const dk_result *a, const dk_result *b, long n) {
  ck_assert_msg(a->n == b->n, "allocation %ld: %zu completions instead of %zu", n, b->n, a->n);
  for (size_t i = 0; i < a->n; i++) {
    const dk_completion *x = &a->c[i], *y = &b->c[i];
    ck_assert_msg(x->n_tokens == y->n_tokens && x->text_len == y->text_len &&
                      memcmp(x->text, y->text, x->text_len) == 0,
                  "allocation %ld failed silently: completion %zu differs", n, i);
    ck_assert_msg(x->n_metrics == y->n_metrics, "allocation %ld lost a metric", n);
    for (size_t k = 0; k < x->n_metrics; k++)
      ck_assert_msg(!strcmp(x->metrics[k].name, y->metrics[k].name) && x->metrics[k].value == y->metrics[k].value,
                    "allocation %ld lost a metric's value", n);
    for (size_t k = 0; k < x->n_tokens; k++)
      ck_assert_msg(x->recs[k].has_raw == y->recs[k].has_raw && (x->recs[k].raw_top == NULL) == (y->recs[k].raw_top == NULL),
                    "allocation %ld lost token %zu's logprobs", n, k);
  }
}

static void check_every_allocation(const char *decoder, int arm_at) {
  dk_error err;
  dk_error_clear(&err);
  dk_result *ref = NULL;
  allocs = 0;
  fail_at = 0;
  int rc = scenario(decoder, arm_at, &ref, &err);
  long total = allocs;
  ck_assert_msg(rc == DK_OK, "%s", err.msg);
  ck_assert_int_gt(total, 50);
  for (long n = 1; n <= total; n++) {
    dk_result *r = NULL;
    dk_error_clear(&err);
    allocs = 0;
    fail_at = n;
    rc = scenario(decoder, arm_at, &r, &err);
    if (rc == DK_OK)
      same_result(ref, r, n);
    else
      ck_assert_msg(rc < 0 && err.msg[0], "allocation %ld: status %d without a message", n, rc);
    dk_result_free(r);
  }
  dk_result_free(ref);
}

static void setup(void) {
  reg = dkh_registry();
  /* The libraries are opened before arming: the dynamic loader's own
   * allocations are not the host's to recover from. */
  char path[4096];
  const dk_component *c;
  dk_error err;
  snprintf(path, sizeof path, "%s/abi11.so", getenv("DECOKIT_FIXTURE_DIR"));
  ck_assert_msg(dk_registry_find(reg, DK_KIND_DECODER, path, &c, &err) == DK_OK, "%s", err.msg);
  static const char *const names[] = {"hashlm", "sample", "penalties", "top_k", "dist"};
  static const uint32_t kinds[] = {DK_KIND_MODEL, DK_KIND_DECODER, DK_KIND_SAMPLER,
                                   DK_KIND_SAMPLER, DK_KIND_SAMPLER};
  for (size_t i = 0; i < 5; i++)
    ck_assert_msg(dk_registry_find(reg, kinds[i], names[i], &c, &err) == DK_OK, "%s", err.msg);
}

static void teardown(void) { dk_registry_free(reg); }

START_TEST(test_sample_decoder) { check_every_allocation("", ARM_RUN); }
END_TEST

/* Reading and resolving the pipeline too (the libraries are open). */
START_TEST(test_pipeline_and_run) { check_every_allocation("", ARM_PARSE); }
END_TEST

START_TEST(test_branch_decoder) { check_every_allocation("decoder: { plugin: trio }\n", ARM_RUN); }
END_TEST

/* Drafts, draft distributions and metrics. */
START_TEST(test_verifier) {
  check_every_allocation("decoder: { plugin: verify_fx }\ndrafter: { plugin: qdraft }\n", ARM_RUN);
}
END_TEST

int main(void) {
  Suite *s = suite_create("oom");
  TCase *tc = tcase_create("oom");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_sample_decoder);
  tcase_add_test(tc, test_pipeline_and_run);
  tcase_add_test(tc, test_branch_decoder);
  tcase_add_test(tc, test_verifier);
  suite_add_tcase(s, tc);
  return dkh_run(s);
}
