/* fuzz_tokenizer.c -- fuzz target: SentencePiece and byte-level BPE tokenizers, against the round trip and the reference vectors. */
/*
 * The vocabularies are llama.cpp's vocabulary-only files with reference
 * vectors (read from $DECOKIT_TEST_MODELS/vocab): SentencePiece and four
 * byte-level BPE pre-tokenizers.  The first byte b picks the vocabulary
 * (b % 5), whether special-token texts are parsed (b / 5 odd) and whether
 * the input is spliced into a reference string (b / 10 odd; then the next
 * byte picks the string and the one after it where the rest goes in).
 *
 * Oracles: detokenize(tokenize(text)) == text (the tokenizers fall back to
 * bytes; SentencePiece reads U+2581 as its own space mark, which is
 * replaced first; bytes a vocabulary cannot give back are exempt), and a text that is one of the vocabulary's reference
 * strings gives exactly its reference ids.  Splicing keeps the fuzzer near
 * the reference strings, whose Unicode and whitespace are the hard cases.
 */
#include "fuzz.h"

#include "vectors.h"
#include "vocab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_VOCABS 5
static const char *const names[N_VOCABS] = {"llama-spm", "gpt-2", "starcoder", "deepseek-llm", "mpt"};
static llm_vocab *vocabs[N_VOCABS];
static ref_vectors refs[N_VOCABS];
/* Bytes a vocabulary gives back when tokenized alone.  Some byte-level
 * vocabularies have no token for bytes that never occur in UTF-8 (or only a
 * user-defined look-alike); such input is lost, as in the reference
 * tokenizers, so a text holding one is not held to the round trip. */
static uint8_t lossless[N_VOCABS][256];
static const char *unavailable = "$DECOKIT_TEST_MODELS is not set";

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  static char why[4600];
  const char *dir = getenv("DECOKIT_TEST_MODELS");
  if (!dir || !*dir) return 0;
  for (int i = 0; i < N_VOCABS; i++) {
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/vocab/ggml-vocab-%s.gguf", dir, names[i]);
    gguf_file *f = gguf_open(path, err, sizeof err);
    if (f) {
      vocabs[i] = llm_vocab_load(f, err, sizeof err);
      gguf_close(f);
    }
    if (!vocabs[i] || ref_vectors_load(&refs[i], path, err, sizeof err)) {
      snprintf(why, sizeof why, "%s: %s", names[i], err);
      unavailable = why;
      return 0;
    }
    for (int b = 0; b < 256; b++) {
      char c = (char)b, back[64];
      int32_t ids[8];
      size_t n = 0, bl = 0;
      lossless[i][b] = llm_tokenize(vocabs[i], &c, 1, 0, 0, ids, 8, &n) == 0 && n <= 8 &&
                       llm_detokenize(vocabs[i], ids, n, 0, back, sizeof back, &bl) == 0 &&
                       bl == 1 && back[0] == c;
    }
  }
  unavailable = NULL;
  return 0;
}

const char *fuzz_unavailable(void) { return unavailable; }

static void check_reference(int which, const ref_case *rc) {
  const llm_vocab *v = vocabs[which];
  size_t cap = rc->len * 2 + 8, n = 0;
  int32_t *ids = malloc(cap * sizeof *ids);
  if (!ids) return;
  if (llm_tokenize(v, rc->text, rc->len, 0, 0, ids, cap, &n) != 0 || n > cap)
    fuzz_fail("%s: tokenize failed on a reference string", names[which]);
  int same = n == rc->n_ids;
  for (size_t i = 0; same && i < n; i++) same = ids[i] == rc->ids[i];
  if (!same) {
    char got[256] = "", want[256] = "";
    for (size_t i = 0; i < n && strlen(got) < 200; i++)
      snprintf(got + strlen(got), sizeof got - strlen(got), " %d", ids[i]);
    for (size_t i = 0; i < rc->n_ids && strlen(want) < 200; i++)
      snprintf(want + strlen(want), sizeof want - strlen(want), " %d", rc->ids[i]);
    fuzz_fail("%s '%.*s': ids%s, reference%s", names[which], (int)(rc->len < 80 ? rc->len : 80),
              rc->text, got, want);
  }
  free(ids);
}

static void check_text(int which, char *text, size_t len, int parse_special) {
  const llm_vocab *v = vocabs[which];
  const ref_case *rc = parse_special ? NULL : ref_vectors_find(&refs[which], text, len);
  if (llm_vocab_type(v) == LLM_VOCAB_SPM)
    for (size_t i = 0; i + 2 < len; i++)
      if (memcmp(text + i, "\xe2\x96\x81", 3) == 0) text[i] = '_';
  size_t cap = len * 2 + 8, n = 0, bl = 0;
  int32_t *ids = malloc(cap * sizeof *ids);
  char *back = malloc(len * 4 + 64);
  if (!ids || !back) fuzz_fail("out of memory");
  if (llm_tokenize(v, text, len, !parse_special, parse_special, ids, cap, &n) != 0)
    fuzz_fail("%s: tokenize failed on %zu bytes", names[which], len);
  if (n > cap) fuzz_fail("%zu tokens for %zu bytes", n, len);
  for (size_t i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= llm_vocab_n(v)) fuzz_fail("token id %d out of range", ids[i]);
  if (llm_detokenize(v, ids, n, parse_special, back, len * 4 + 64, &bl) != 0)
    fuzz_fail("detokenize failed");
  /* Special-token texts (parse_special) are exercised for safety only: how
   * spaces around them come back is the tokenizer's convention, not bytes. */
  int exact = !parse_special;
  for (size_t i = 0; i < len && exact; i++) exact = lossless[which][(unsigned char)text[i]];
  if (exact && (bl != len || memcmp(back, text, len) != 0))
    fuzz_fail("%s: %zu bytes come back as %zu bytes", names[which], len, bl);
  if (rc) check_reference(which, rc);
  free(back);
  free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 4096 || unavailable) return 0;
  int which = data[0] % N_VOCABS, parse_special = data[0] / N_VOCABS & 1;
  int splice = data[0] / (2 * N_VOCABS) & 1;
  const uint8_t *in = data + 1;
  size_t n_in = size - 1;
  const ref_case *rc = NULL;
  size_t at = 0;
  if (splice) {
    if (n_in < 2) return 0;
    rc = &refs[which].cases[in[0] % refs[which].n];
    at = in[1] % (rc->len + 1);
    in += 2;
    n_in -= 2;
  }
  size_t len = n_in + (rc ? rc->len : 0);
  char *text = malloc(len + 1);
  if (!text) return 0;
  if (rc) {
    memcpy(text, rc->text, at);
    memcpy(text + at, in, n_in);
    memcpy(text + at + n_in, rc->text + at, rc->len - at);
  } else {
    memcpy(text, in, n_in);
  }
  text[len] = '\0';
  check_text(which, text, len, parse_special);
  free(text);
  return 0;
}
