/* describe.h -- a "key: value" report of a loaded model, for `decokit model info`. */
#ifndef DECOKIT_LLAMA_DESCRIBE_H
#define DECOKIT_LLAMA_DESCRIBE_H

#include <stddef.h>

#include "llm.h"
#include "vocab.h"

/* Writes up to cap bytes of the report (no NUL) to out and returns its full length; v may be
   NULL (no tokenizer), path may be NULL. n_ctx is the context the caller runs with. */
size_t llm_describe(const llm_model *m, const llm_vocab *v, int n_ctx, const char *path, char *out, size_t cap);

#endif
