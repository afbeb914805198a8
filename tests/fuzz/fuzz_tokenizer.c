/* fuzz_tokenizer.c -- fuzz target: SentencePiece and byte-level BPE tokenizers, round trip as the oracle. */
/*
 * The first byte picks the vocabulary (reference llama SPM or GPT-2 BPE,
 * read from $DECOKIT_TEST_MODELS/vocab); the rest is the text.  Both
 * tokenizers fall back to bytes, so detokenize(tokenize(text)) must give the
 * text back exactly -- except that SentencePiece reads U+2581 as its own
 * space mark, which the target replaces first.
 */
#include "fuzz.h"

#include "vocab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static llm_vocab *vocabs[2];
static const char *const files[2] = {"vocab/ggml-vocab-llama-spm.gguf", "vocab/ggml-vocab-gpt-2.gguf"};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *dir = getenv("DECOKIT_TEST_MODELS");
  if (!dir || !*dir) return 0;
  for (int i = 0; i < 2; i++) {
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/%s", dir, files[i]);
    gguf_file *f = gguf_open(path, err, sizeof err);
    if (!f) return 0;
    vocabs[i] = llm_vocab_load(f, err, sizeof err);
    gguf_close(f);
  }
  return 0;
}

const char *fuzz_unavailable(void) {
  return vocabs[0] && vocabs[1] ? NULL : "reference vocabularies not found ($DECOKIT_TEST_MODELS)";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 4096 || !vocabs[0] || !vocabs[1]) return 0;
  const llm_vocab *v = vocabs[data[0] & 1];
  size_t len = size - 1;
  char *text = fuzz_text(data + 1, len);
  if (!text) return 0;
  if (llm_vocab_type(v) == LLM_VOCAB_SPM)
    for (size_t i = 0; i + 2 < len; i++)
      if (memcmp(text + i, "\xe2\x96\x81", 3) == 0) text[i] = '_';
  int parse_special = data[0] & 2 ? 1 : 0;
  size_t cap = len * 2 + 8, n = 0, bl = 0;
  int32_t *ids = malloc(cap * sizeof *ids);
  char *back = malloc(len * 4 + 64);
  if (llm_tokenize(v, text, len, !parse_special, parse_special, ids, cap, &n) != 0)
    fuzz_fail("tokenize failed on %zu bytes", len);
  if (n > cap) fuzz_fail("%zu tokens for %zu bytes", n, len);
  for (size_t i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= llm_vocab_n(v)) fuzz_fail("token id %d out of range", ids[i]);
  if (llm_detokenize(v, ids, n, parse_special, back, len * 4 + 64, &bl) != 0)
    fuzz_fail("detokenize failed");
  /* Special-token texts (parse_special) are exercised for safety only: how
   * spaces around them come back is the tokenizer's convention, not bytes. */
  if (!parse_special && (bl != len || memcmp(back, text, len) != 0))
    fuzz_fail("%s: %zu bytes come back as %zu bytes", files[data[0] & 1], len, bl);
  free(back);
  free(ids);
  free(text);
  return 0;
}
