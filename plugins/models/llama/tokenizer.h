/* tokenizer.h -- internals shared by the vocabulary loader and the tokenizer algorithms. */
#ifndef DECOKIT_LLAMA_TOKENIZER_H
#define DECOKIT_LLAMA_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "vocab.h"

/* Pre-tokenizers of byte-level BPE vocabularies (tokenizer.ggml.pre). */
enum llm_pre {
    LLM_PRE_DEFAULT = 0,
    LLM_PRE_GPT2,
    LLM_PRE_LLAMA3,
    LLM_PRE_QWEN2,
    LLM_PRE_STARCODER,
    LLM_PRE_DEEPSEEK_LLM,
    LLM_PRE_DEEPSEEK_CODER,
    LLM_PRE_FALCON
};

/* Growable token list. */
typedef struct llm_tokbuf {
    int32_t *v;
    size_t n, cap;
} llm_tokbuf;

int llm_tokbuf_push(llm_tokbuf *b, int32_t id);

/* A byte range of the input. */
typedef struct llm_span {
    size_t off, len;
} llm_span;

struct llm_vocab {
    int type;      /* LLM_VOCAB_SPM / LLM_VOCAB_BPE */
    int pre;       /* enum llm_pre, BPE only */
    const char *pre_name;
    int32_t n;

    char *text;            /* all token texts, each NUL-terminated */
    uint32_t *text_off, *text_len;
    float *score;
    uint32_t *attr;
    char *piece;           /* decoded pieces, concatenated */
    uint32_t *piece_off, *piece_len;

    /* text -> id, open addressing; slots hold id or -1 */
    int32_t *tab;
    uint32_t *tab_hash;
    size_t tab_mask;

    /* BPE merges: (left id, right id) -> rank and result id */
    uint64_t *mkey;        /* 0 = empty slot; key is ((left+1) << 32) | (right+1) */
    int32_t *mrank, *mres;
    size_t m_mask;
    size_t n_merges;

    int32_t byte_tok[256]; /* token of each raw byte (SPM: <0xNN>, BPE: mapped char); -1 if none */

    int32_t bos, eos, eot, unk, pad, sep;
    int add_bos, add_eos, add_space_prefix, ignore_merges;
    int spm_word_split; /* SPM: no token has U+2581 right after another character */

    int32_t *special;      /* control / user-defined / unknown ids, longest text first */
    size_t n_special;
    /* byte trie over special texts for a one-pass presence scan */
    int32_t *trie_child;   /* node*256+byte would be too big: hashed, see tokenizer_special.c */
    uint64_t *trie_key;
    int32_t *trie_tok;     /* per node: index into special[] ending here, or -1 */
    size_t trie_mask, n_trie_nodes;

    char warn[512];
};

/* text -> id lookup; -1 if absent. */
int32_t llm_vocab_lookup(const llm_vocab *v, const char *s, size_t len);

/* BPE merge lookup: rank (>= 0) and result id, or -1. */
int32_t llm_merge_rank(const llm_vocab *v, int32_t left, int32_t right, int32_t *result);

/* Algorithms: append the ids of raw text (no special tokens inside) to out. 0 ok, <0 no memory. */
int llm_spm_tokenize(const llm_vocab *v, const char *text, size_t len, llm_tokbuf *out);
int llm_bpe_tokenize(const llm_vocab *v, const char *text, size_t len, llm_tokbuf *out);

/* Splits text into pre-tokenizer words (byte ranges) per enum llm_pre. *words is malloc'ed. */
int llm_pretokenize(int pre, const char *text, size_t len, llm_span **words, size_t *n_words);
/* Maps a tokenizer.ggml.pre name to enum llm_pre plus flags; -1 if unknown. */
int llm_pre_from_name(const char *name, size_t len, int *ignore_merges, int *add_bos);
const char *llm_pre_canonical_name(int pre);

/* Byte-level BPE's byte <-> code point mapping (printable bytes map to themselves). */
uint32_t llm_byte_to_cp(uint8_t b);
int llm_cp_to_byte(uint32_t cp); /* -1 if cp is not the image of a byte */

/* Special-token partition: fragments of text that are raw (id < 0) or one special token. */
typedef struct llm_frag {
    size_t off, len;
    int32_t id; /* -1 for raw text */
} llm_frag;
int llm_special_build(llm_vocab *v);
int llm_special_partition(const llm_vocab *v, const char *text, size_t len, int parse_special,
                          llm_frag **frags, size_t *n_frags);

#endif
