/* api_impl.h -- what is behind decokit.h's handles, for the library's own files and the CLI. */
#ifndef DK_CORE_API_IMPL_H
#define DK_CORE_API_IMPL_H

#include <decokit/decokit.h>

#include <stdatomic.h>

#include "error.h"
#include "loader.h"
#include "pipeline.h"
#include "session.h"

struct decokit_pipeline {
  dk_pipeline *p;
  dk_registry *reg; /* built when resolving */
  char *plugin_path, *bundled_plugin_dir, *default_model;
  int reads_draft; /* the caller reads `draft:` itself (perplexity --draft) */
};

struct decokit_run {
  decokit_pipeline *pl;
  dk_run *run;
  decokit_run_opts opts;
  atomic_int cancel;
};

struct decokit_result {
  dk_result *r;
  long long seed;
};

/* Fill the caller's error (as much of it as its struct_size holds) from an
 * internal one; returns code. */
int dk_api_error(decokit_error *out, int code, const dk_error *in);
/* The same with a message made here. */
int dk_api_fail(decokit_error *out, int code, const char *fmt, ...) DK_PRINTF(3, 4);
/* Check a caller's options struct: at least min bytes, and any bytes past
 * known (a newer caller's fields) zero.  Copies the known part into dst
 * (zeroed first); src NULL leaves dst zero. */
int dk_api_opts(void *dst, size_t known, size_t min, const void *src, const char *what,
                decokit_error *err);

/* The CLI's ways in, for what the public API does not show (the JSON
 * printer, bench, model info): the objects behind the handles. */
static inline dk_pipeline *dk_api_pipeline(decokit_pipeline *p) { return p->p; }
static inline dk_run *dk_api_run(decokit_run *r) { return r->run; }
static inline dk_result *dk_api_result(decokit_result *r) { return r->r; }
/* Hand the pipeline and its registry to the caller and free the handle. */
void dk_api_pipeline_take(decokit_pipeline *p, dk_registry **reg, dk_pipeline **out);
/* Set before resolving: the caller reads the draft model itself. */
void dk_api_pipeline_reads_draft(decokit_pipeline *p, int on);

#endif
