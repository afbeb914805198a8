/* check_serve_batch.c -- the server's shared model: clients keep to their sequences, concurrent evals merge and match evals alone. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "harness.h"
#include "instance.h"
#include "loader.h"
#include "pipeline.h"
#include "serve/batch_model.h"

#define N_RUNS 4
#define N_STEPS 16

static dk_registry *reg;
static dk_pipeline *p;
static dk_batch_model *bm;
static dk_error err;

static void setup(void) {
  reg = dkh_registry();
  dk_error_clear(&err);
  char yaml[4096];
  const char *src = getenv("DECOKIT_SRCDIR");
  snprintf(yaml, sizeof yaml, "decokit: 1\nmodel: { plugin: llama, path: \"%s/models/decokit-tiny.gguf\" }\n",
           src ? src : ".");
  ck_assert_msg(dk_pipeline_parse(yaml, strlen(yaml), "t.yaml", ".", &p, &err) == DK_OK, "%s", err.msg);
  ck_assert_msg(dk_pipeline_resolve(p, reg, NULL, &err) == DK_OK, "%s", err.msg);
  /* A long window: the runs below always meet in one call. */
  ck_assert_msg(dk_batch_model_open(p, 1, 200000, &bm, &err) == DK_OK, "%s", err.msg);
  dk_batch_model_attach(bm, p);
}

static void teardown(void) {
  dk_batch_model_close(bm);
  dk_pipeline_free(p);
  dk_registry_free(reg);
}

static const struct dk_model_iface *iface(void) { return &p->model->comp->copy.model; }

static dk_instance *client(void) {
  dk_instance *in;
  ck_assert_msg(dk_instance_create(p->model->comp, &p->model->cfg, 0, 0, NULL, 1, &in, &err) == DK_OK,
                "%s", err.msg);
  return in;
}

START_TEST(test_own_sequences_only) {
  dk_instance *a = client(), *b = client();
  const struct dk_model_iface *mi = iface();
  dk_seq sa, sb;
  ck_assert_int_eq(mi->seq_new(a->inst, &sa, &err), DK_OK);
  ck_assert_int_eq(mi->seq_new(b->inst, &sb, &err), DK_OK);
  ck_assert_uint_eq(dk_batch_model_live_seqs(bm), 2);
  dk_token t[2] = {1, 5};
  ck_assert_int_eq(mi->eval(a->inst, sa, t, 2, NULL, 0, &err), DK_OK);
  /* b may neither evaluate, free nor measure a's sequence. */
  ck_assert_int_eq(mi->eval(b->inst, sa, t, 1, NULL, 0, &err), DK_ERR_INVALID);
  ck_assert_ptr_nonnull(strstr(err.msg, "not one of this run's"));
  mi->seq_free(b->inst, sa);
  ck_assert_uint_eq(mi->seq_len(b->inst, sa), 0);
  ck_assert_uint_eq(mi->seq_len(a->inst, sa), 2);
  ck_assert_int_eq(mi->eval(a->inst, sa, t, 0, NULL, 0, &err), DK_ERR_INVALID);
  /* A client's sequences go with it: its KV is freed when its run ends. */
  dk_instance_destroy(a);
  ck_assert_uint_eq(dk_batch_model_live_seqs(bm), 1);
  dk_instance_destroy(b);
  ck_assert_uint_eq(dk_batch_model_live_seqs(bm), 0);
}
END_TEST

typedef struct greedy_run {
  dk_instance *in;
  int k;
  dk_token out[N_STEPS];
  pthread_barrier_t *start;
} greedy_run;

/* A prompt of k + 2 tokens, then N_STEPS greedy tokens, one eval each. */
static void *greedy(void *arg) {
  greedy_run *g = arg;
  const struct dk_model_iface *mi = iface();
  dk_model_info info = {.struct_size = sizeof info};
  mi->info(g->in->inst, &info);
  size_t nv = (size_t)info.n_vocab;
  float *logits = malloc(nv * sizeof *logits);
  dk_seq s;
  dk_error e;
  dk_error_clear(&e);
  int rc = mi->seq_new(g->in->inst, &s, &e);
  dk_token prompt[8] = {1, 10, 20, 30, 40, 50, 60, 70};
  if (g->start) pthread_barrier_wait(g->start);
  if (!rc) rc = mi->eval(g->in->inst, s, prompt, (size_t)g->k + 2, logits, 0, &e);
  for (int i = 0; !rc && i < N_STEPS; i++) {
    size_t best = 0;
    for (size_t v = 1; v < nv; v++)
      if (logits[v] > logits[best]) best = v;
    g->out[i] = (dk_token)best;
    rc = mi->eval(g->in->inst, s, &g->out[i], 1, logits, 0, &e);
  }
  free(logits);
  return rc ? (void *)1 : NULL;
}

START_TEST(test_concurrent_runs_merge) {
  greedy_run alone[N_RUNS], together[N_RUNS];
  dk_batch_stats st0, st1;
  for (int k = 0; k < N_RUNS; k++) {
    alone[k] = (greedy_run){.in = client(), .k = k};
    ck_assert_ptr_null(greedy(&alone[k]));
    dk_instance_destroy(alone[k].in);
  }
  dk_batch_model_stats(bm, &st0);
  pthread_barrier_t start;
  pthread_barrier_init(&start, NULL, N_RUNS);
  pthread_t th[N_RUNS];
  for (int k = 0; k < N_RUNS; k++) {
    together[k] = (greedy_run){.in = client(), .k = k, .start = &start};
  }
  for (int k = 0; k < N_RUNS; k++) ck_assert_int_eq(pthread_create(&th[k], NULL, greedy, &together[k]), 0);
  for (int k = 0; k < N_RUNS; k++) {
    void *r;
    pthread_join(th[k], &r);
    ck_assert_ptr_null(r);
  }
  dk_batch_model_stats(bm, &st1);
  pthread_barrier_destroy(&start);
  for (int k = 0; k < N_RUNS; k++) {
    for (int i = 0; i < N_STEPS; i++)
      ck_assert_msg(together[k].out[i] == alone[k].out[i], "run %d token %d: %d together, %d alone", k, i,
                    together[k].out[i], alone[k].out[i]);
    dk_instance_destroy(together[k].in);
  }
  uint64_t evals = st1.evals - st0.evals, calls = st1.calls - st0.calls;
  ck_assert_uint_eq(evals, N_RUNS * (N_STEPS + 1));
  /* Every run waits for the others: far fewer calls than evals. */
  ck_assert_msg(calls * 2 <= evals, "%llu calls for %llu evals", (unsigned long long)calls,
                (unsigned long long)evals);
  ck_assert_uint_eq(dk_batch_model_live_seqs(bm), 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("serve_batch");
  TCase *tc = tcase_create("batch_model");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_own_sequences_only);
  tcase_add_test(tc, test_concurrent_runs_merge);
  suite_add_tcase(s, tc);
  return dkh_run(s);
}
