/* test_vocab.h -- test vocabularies for the grammar engine: a GGUF token list or a synthetic one */
#ifndef DK_TEST_VOCAB_H
#define DK_TEST_VOCAB_H

#include <stddef.h>
#include <stdint.h>

typedef struct tvocab {
  int32_t n, eos;
  char **piece;        /* decoded bytes */
  uint32_t *len;
  uint8_t *special;
} tvocab;

/* Reads tokenizer.ggml.tokens / token_type / eos_token_id of a SentencePiece GGUF
 * and decodes pieces the way a host does ("\xe2\x96\x81" -> ' ', <0xXX> -> byte).
 * Returns NULL with a message when the file is missing or malformed. */
tvocab *tvocab_load_gguf(const char *path, char *err, size_t errlen);
/* A deterministic byte vocabulary of about n tokens: all single bytes, JSON and
 * number fragments, words with and without a leading space, multi-byte UTF-8 and
 * pieces that end inside a character. */
tvocab *tvocab_synthetic(int32_t n, uint64_t seed);
void tvocab_free(tvocab *v);
/* The directory with reference models ($DECOKIT_TEST_MODELS or ../shared/models). */
const char *tvocab_models_dir(void);
/* A whole file as a NUL-terminated string (caller frees); NULL if unreadable. */
char *tvocab_slurp(const char *path);

#endif
