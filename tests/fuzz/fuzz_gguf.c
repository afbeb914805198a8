/* fuzz_gguf.c -- fuzz target: a GGUF file from memory, loaded as a model and evaluated on one token. */
#include "fuzz.h"

#include "llm.h"

#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  return 0;
}

const char *fuzz_unavailable(void) { return NULL; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[512];
  /* The reader keeps pointers into the buffer, and tensors are read in
   * place: give it the alignment a mapped file has. */
  void *buf = NULL;
  if (posix_memalign(&buf, 64, size ? size : 1)) return 0;
  for (size_t i = 0; i < size; i++) ((uint8_t *)buf)[i] = data[i];
  gguf_file *f = gguf_open_memory(buf, size, err, sizeof err);
  if (!f) {
    free(buf);
    return 0;
  }
  llm_model *m = llm_model_from_gguf(f, err, sizeof err);
  if (m) {
    const llm_hparams *hp = llm_model_hparams(m);
    /* Bounded work per input: a big but valid model is not a finding. */
    if ((int64_t)hp->n_embd * hp->n_layer <= (1 << 16) && hp->n_vocab <= (1 << 16)) {
      llm_ctx *c = llm_ctx_create(m, 1, 8, err, sizeof err);
      int32_t seq;
      if (c && llm_seq_new(c, &seq, err, sizeof err) == 0) {
        float *logits = malloc((size_t)(hp->n_vocab > 0 ? hp->n_vocab : 1) * sizeof *logits);
        int32_t tok = 0;
        if (logits) llm_eval(c, seq, &tok, 1, logits, 0, err, sizeof err);
        free(logits);
        llm_seq_free(c, seq);
      }
      llm_ctx_free(c);
    }
    llm_model_free(m);
  }
  free(buf);
  return 0;
}
