/* vocab.h -- vocabularies and tokenizers (SentencePiece-style and byte-level BPE) built from GGUF metadata. */
#ifndef DECOKIT_LLAMA_VOCAB_H
#define DECOKIT_LLAMA_VOCAB_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

typedef struct llm_vocab llm_vocab;

/* Token attributes (bit set), derived from tokenizer.ggml.token_type. */
enum {
    LLM_TOKEN_ATTR_UNDEFINED    = 0,
    LLM_TOKEN_ATTR_UNKNOWN      = 1u << 0,
    LLM_TOKEN_ATTR_UNUSED       = 1u << 1,
    LLM_TOKEN_ATTR_NORMAL       = 1u << 2,
    LLM_TOKEN_ATTR_CONTROL      = 1u << 3,
    LLM_TOKEN_ATTR_USER_DEFINED = 1u << 4,
    LLM_TOKEN_ATTR_BYTE         = 1u << 5,
    LLM_TOKEN_ATTR_LSTRIP       = 1u << 7,  /* whitespace before the token is dropped */
    LLM_TOKEN_ATTR_RSTRIP       = 1u << 8   /* whitespace after the token is dropped */
};

/* Tokenizer families (tokenizer.ggml.model). */
enum { LLM_VOCAB_SPM = 1, LLM_VOCAB_BPE = 2 };

/* Builds the vocabulary from the tokenizer.ggml.* keys. The vocabulary copies what it needs,
   so f may be closed afterwards. NULL + message on failure. Oddities that do not prevent use
   (special ids out of range, missing scores) are reported by llm_vocab_warnings(). */
llm_vocab *llm_vocab_load(const gguf_file *f, char *err, size_t errlen);
void llm_vocab_free(llm_vocab *v);

int32_t llm_vocab_n(const llm_vocab *v);
int llm_vocab_type(const llm_vocab *v);           /* LLM_VOCAB_SPM or LLM_VOCAB_BPE */
const char *llm_vocab_pre_name(const llm_vocab *v); /* pre-tokenizer in use, e.g. "gpt-2" */
const char *llm_vocab_warnings(const llm_vocab *v); /* "" when none; lines separated by '\n' */

/* Special token ids; -1 if none. */
int32_t llm_vocab_bos(const llm_vocab *v);
int32_t llm_vocab_eos(const llm_vocab *v);
int32_t llm_vocab_eot(const llm_vocab *v);
int32_t llm_vocab_unk(const llm_vocab *v);
int32_t llm_vocab_pad(const llm_vocab *v);
int llm_vocab_add_bos(const llm_vocab *v);
int llm_vocab_add_eos(const llm_vocab *v);
/* 1 if id ends generation (EOS, EOT or an end-of-turn-looking control token). */
int llm_vocab_is_eog(const llm_vocab *v, int32_t id);

/* LLM_TOKEN_ATTR_* bits; 0 for ids out of range. */
uint32_t llm_token_attr(const llm_vocab *v, int32_t id);
/* The token's text as stored in the vocabulary (e.g. "▁Hello", "Ġworld", "<0x0A>"). */
const char *llm_token_text(const llm_vocab *v, int32_t id, size_t *len);
/* Id of the token whose stored text is exactly s[0..len); -1 if none. */
int32_t llm_token_find(const llm_vocab *v, const char *s, size_t len);

/* 0 = ok; if *n_out > cap the output was truncated and *n_out is the needed size; <0 error.
   add_special: prepend BOS / append EOS as the vocabulary asks. parse_special: control and
   unknown token texts in the input become those tokens (user-defined ones always do). */
int llm_tokenize(const llm_vocab *v, const char *text, size_t len, int add_special, int parse_special,
                 int32_t *out, size_t cap, size_t *n_out);

/* Decoded bytes of one token ("▁" -> space, "<0x0A>" -> 0x0A, byte-level BPE mapping undone;
   control tokens give their text). Valid while v lives; NULL (len 0) for ids out of range.
   This is what incremental (streaming) output should concatenate. */
const char *llm_token_piece(const llm_vocab *v, int32_t id, size_t *len);

/* Concatenated pieces. Control and unknown tokens are rendered only if render_special. When the
   vocabulary adds a space prefix (SentencePiece), one leading space of the first written piece is
   dropped, so detokenize(tokenize(s)) == s. Same size contract as llm_tokenize (no NUL added).
   Returns <0 for an id out of range. */
int llm_detokenize(const llm_vocab *v, const int32_t *ids, size_t n, int render_special, char *out,
                   size_t cap, size_t *n_out);

#endif
