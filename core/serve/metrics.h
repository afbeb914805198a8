/* metrics.h -- the server's counters, and their Prometheus text exposition. */
#ifndef DK_SERVE_METRICS_H
#define DK_SERVE_METRICS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "batch_model.h"

#define DK_METRICS_BUCKETS 12

typedef struct dk_metrics {
  pthread_mutex_t mu;
  uint64_t by_status[6]; /* 200, 400, 404, 413, 503, any other */
  uint64_t prompt_tokens, completion_tokens;
  uint64_t hist[DK_METRICS_BUCKETS + 1]; /* per bucket (not cumulative); last: above every bound */
  uint64_t n_latency;
  double sum_latency;
} dk_metrics;

void dk_metrics_init(dk_metrics *m);
void dk_metrics_destroy(dk_metrics *m);
/* A response was sent with this status. */
void dk_metrics_status(dk_metrics *m, int status);
/* A generation ended after seconds, with these token counts. */
void dk_metrics_generation(dk_metrics *m, double seconds, size_t prompt, size_t completion);
/* The exposition text (caller frees), with the gauges given here. */
char *dk_metrics_text(dk_metrics *m, size_t active, size_t queued, size_t max_sessions,
                      const dk_batch_stats *batch, size_t live_seqs);

#endif
