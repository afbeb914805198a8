/* output.h -- a batch's JSONL output: locked, resumed after a kill, appended a whole line at a time. */
#ifndef DK_BATCH_OUTPUT_H
#define DK_BATCH_OUTPUT_H

#include <jansson.h>
#include <stddef.h>

typedef struct dk_batch_output {
  int fd;
  json_t *done; /* id -> how many results with it the file holds (resume) */
  size_t n_results;
  size_t dropped; /* bytes of a partial last line removed on resume */
} dk_batch_output;

/* Open path for appending, locked against a second writer.  Without resume
 * the file must be empty or absent; with resume its results are counted and
 * a partial last line (a run killed while writing) is cut off.  0, or -1
 * with the reason in err. */
int dk_batch_output_open(const char *path, int resume, dk_batch_output *out, char *err, size_t errlen);
/* 1 when a result for id is already there (resume): it is then counted off,
 * so that an id used twice is skipped once per result written. */
int dk_batch_output_take(dk_batch_output *o, const char *id);
/* Append result as one line.  0, or -1 with errno set. */
int dk_batch_output_write(dk_batch_output *o, json_t *result);
/* Flush to disk and close.  0, or -1 with errno set. */
int dk_batch_output_close(dk_batch_output *o);

#endif
