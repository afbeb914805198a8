/* metrics.c -- request, token, queue and latency counters in the Prometheus text format. */
#include "metrics.h"

#include "params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double bounds[DK_METRICS_BUCKETS] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                   1,    2.5,   5,    10,  30,   60};
static const int statuses[5] = {200, 400, 404, 413, 503};

void dk_metrics_init(dk_metrics *m) {
  memset(m, 0, sizeof *m);
  pthread_mutex_init(&m->mu, NULL);
}

void dk_metrics_destroy(dk_metrics *m) { pthread_mutex_destroy(&m->mu); }

void dk_metrics_status(dk_metrics *m, int status) {
  size_t i = 0;
  while (i < 5 && statuses[i] != status) i++;
  pthread_mutex_lock(&m->mu);
  m->by_status[i]++;
  pthread_mutex_unlock(&m->mu);
}

void dk_metrics_generation(dk_metrics *m, double seconds, size_t prompt, size_t completion) {
  size_t b = 0;
  while (b < DK_METRICS_BUCKETS && seconds > bounds[b]) b++;
  pthread_mutex_lock(&m->mu);
  m->hist[b]++;
  m->n_latency++;
  m->sum_latency += seconds;
  m->prompt_tokens += prompt;
  m->completion_tokens += completion;
  pthread_mutex_unlock(&m->mu);
}

#define ADD(...)                                                                                 \
  do {                                                                                           \
    char line[256];                                                                              \
    int k_ = snprintf(line, sizeof line, __VA_ARGS__);                                           \
    dk_buf_append(&buf, &len, &cap, line, (size_t)k_);                                           \
  } while (0)

char *dk_metrics_text(dk_metrics *m, size_t active, size_t queued, size_t max_sessions,
                      const dk_batch_stats *batch, size_t live_seqs) {
  char *buf = NULL;
  size_t len = 0, cap = 0;
  pthread_mutex_lock(&m->mu);
  dk_metrics snap = *m;
  pthread_mutex_unlock(&m->mu);
  ADD("# HELP decokit_requests_total Responses sent, by HTTP status.\n");
  ADD("# TYPE decokit_requests_total counter\n");
  for (size_t i = 0; i < 5; i++)
    ADD("decokit_requests_total{code=\"%d\"} %llu\n", statuses[i], (unsigned long long)snap.by_status[i]);
  ADD("decokit_requests_total{code=\"other\"} %llu\n", (unsigned long long)snap.by_status[5]);
  ADD("# HELP decokit_prompt_tokens_total Prompt tokens evaluated.\n");
  ADD("# TYPE decokit_prompt_tokens_total counter\n");
  ADD("decokit_prompt_tokens_total %llu\n", (unsigned long long)snap.prompt_tokens);
  ADD("# HELP decokit_completion_tokens_total Tokens generated.\n");
  ADD("# TYPE decokit_completion_tokens_total counter\n");
  ADD("decokit_completion_tokens_total %llu\n", (unsigned long long)snap.completion_tokens);
  ADD("# HELP decokit_active_sessions Generations running now.\n");
  ADD("# TYPE decokit_active_sessions gauge\n");
  ADD("decokit_active_sessions %zu\n", active);
  ADD("# HELP decokit_max_sessions Generations that may run at once.\n");
  ADD("# TYPE decokit_max_sessions gauge\n");
  ADD("decokit_max_sessions %zu\n", max_sessions);
  ADD("# HELP decokit_queue_depth Requests waiting for a session.\n");
  ADD("# TYPE decokit_queue_depth gauge\n");
  ADD("decokit_queue_depth %zu\n", queued);
  ADD("# HELP decokit_kv_sequences Sequences (KV caches) held in the loaded models.\n");
  ADD("# TYPE decokit_kv_sequences gauge\n");
  ADD("decokit_kv_sequences %zu\n", live_seqs);
  ADD("# HELP decokit_model_calls_total Model calls the batchers issued.\n");
  ADD("# TYPE decokit_model_calls_total counter\n");
  ADD("decokit_model_calls_total %llu\n", (unsigned long long)batch->calls);
  ADD("# HELP decokit_model_evals_total Evaluations the runs asked for (merged into the calls).\n");
  ADD("# TYPE decokit_model_evals_total counter\n");
  ADD("decokit_model_evals_total %llu\n", (unsigned long long)batch->evals);
  ADD("# HELP decokit_request_duration_seconds Time from a generation's start to its end.\n");
  ADD("# TYPE decokit_request_duration_seconds histogram\n");
  uint64_t cum = 0;
  for (size_t b = 0; b < DK_METRICS_BUCKETS; b++) {
    cum += snap.hist[b];
    ADD("decokit_request_duration_seconds_bucket{le=\"%g\"} %llu\n", bounds[b], (unsigned long long)cum);
  }
  cum += snap.hist[DK_METRICS_BUCKETS];
  ADD("decokit_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
  ADD("decokit_request_duration_seconds_sum %.6f\n", snap.sum_latency);
  ADD("decokit_request_duration_seconds_count %llu\n", (unsigned long long)snap.n_latency);
  return cap == DK_BUF_FAILED ? NULL : buf;
}
