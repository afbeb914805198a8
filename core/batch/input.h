/* input.h -- a batch's JSONL input: its lines, their ids, and the lines of one shard. */
#ifndef DK_BATCH_INPUT_H
#define DK_BATCH_INPUT_H

#include <jansson.h>
#include <stddef.h>

/* One request line of the shard. */
typedef struct dk_batch_line {
  size_t lineno; /* counted from 1 over every line of the input */
  char *id;      /* its "id", or "line-N" when it has none or cannot be read */
  json_t *body;  /* the request without its id; NULL when the line is bad */
  char error[512]; /* why the line is bad ("" when body is set) */
  char param[16];  /* the field at fault, "" when none */
} dk_batch_line;

typedef struct dk_batch_input {
  dk_batch_line *lines; /* the shard's non-blank lines, in input order */
  size_t n;
  size_t n_all; /* non-blank lines of the whole input */
} dk_batch_input;

/* Split text into lines and keep those of shard i of n: line N (from 1) is
 * the shard's when (N - 1) mod n == i.  Blank lines make no request but
 * keep their number.  Every line of the whole input is read, so that an id
 * that repeats an earlier line's is reported in every shard alike.  0, or
 * -1 when memory runs out. */
int dk_batch_input_read(const char *text, size_t len, size_t shard, size_t n_shards,
                        dk_batch_input *out);
void dk_batch_input_free(dk_batch_input *in);

#endif
