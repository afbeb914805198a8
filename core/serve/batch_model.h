/* batch_model.h -- one loaded model shared by concurrent runs, their evaluations merged into ragged batches. */
#ifndef DK_SERVE_BATCH_MODEL_H
#define DK_SERVE_BATCH_MODEL_H

#include <decokit/plugin.h>

#include <stdint.h>

#include "pipeline.h"

typedef struct dk_batch_model dk_batch_model;

typedef struct dk_batch_stats {
  uint64_t calls;  /* model calls issued for the evals */
  uint64_t evals;  /* eval requests the runs made */
  uint64_t tokens; /* positions they evaluated */
} dk_batch_stats;

/* Load the model of resolved pipeline p once.  Runs whose pipeline is
 * attached to it evaluate through it: the first waiting run collects every
 * pending eval, after waiting up to window_us for each live run's next one,
 * and issues them as one eval_ragged (a lone eval runs as a plain eval, as
 * it would alone).  No thread of its own: a run alone never hands over. */
int dk_batch_model_open(const dk_pipeline *p, int threads, unsigned window_us,
                        dk_batch_model **out, dk_error *err);
void dk_batch_model_close(dk_batch_model *m);
/* Make the model block of p (resolved, same model as at open) create a
 * client of m instead of loading the file again: dk_run_new(p) is then cheap
 * and its sequences live in the shared instance until the run is freed. */
void dk_batch_model_attach(dk_batch_model *m, dk_pipeline *p);
void dk_batch_model_stats(dk_batch_model *m, dk_batch_stats *out);
/* Sequences alive in the shared instance (KV caches held by runs). */
size_t dk_batch_model_live_seqs(dk_batch_model *m);

#endif
