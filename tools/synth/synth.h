/* synth.h -- writes llama-architecture GGUF files with random weights (tests, benchmarks). */
#ifndef DECOKIT_SYNTH_H
#define DECOKIT_SYNTH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct synth_opts {
    const char *arch;   /* "llama" (default), "qwen2" (NeoX RoPE, Q/K/V biases), and the diffusion LMs
                           "llada" (llama layout) and "dream" (qwen2 layout) */
    int n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
    uint32_t type;      /* ggml type of the weight matrices; rows that do not fit its block use F16 */
    uint64_t seed;
    int tied;           /* 1: no output.weight (tied to token_embd) */
    int qkv_bias;       /* 1: write attn_{q,k,v}.bias even for llama */
    int non_causal;     /* 1: write <arch>.attention.causal = false */
    float rope_theta, rms_eps; /* 0 = defaults 10000, 1e-5 */
    const char *vocab_path; /* NULL, or a GGUF whose tokenizer.* keys are copied (sets n_vocab) */
} synth_opts;

/* Diffusion-LM keys and deliberately broken files; all zero writes none of them. Kept apart from
   synth_opts, which callers fill positionally. */
typedef struct synth_extra {
    int set_mask, mask_token;    /* set_mask: write tokenizer.ggml.mask_token_id = mask_token */
    int set_shift, shift_logits; /* set_shift: write diffusion.shift_logits = shift_logits */
    int causal_true;             /* write <arch>.attention.causal = true (instead of non_causal's false) */
    const char *omit;            /* NULL, or a key or tensor name left out of the file */
} synth_extra;

/* Returns 0, or -1 with a message. x may be NULL. */
int synth_write(FILE *out, const synth_opts *o, char *err, size_t errlen);
int synth_write_ex(FILE *out, const synth_opts *o, const synth_extra *x, char *err, size_t errlen);
int synth_write_file(const char *path, const synth_opts *o, char *err, size_t errlen);
int synth_write_file_ex(const char *path, const synth_opts *o, const synth_extra *x, char *err, size_t errlen);
/* The whole file in a malloc'd buffer (for tests). */
int synth_write_memory(const synth_opts *o, uint8_t **buf, size_t *size, char *err, size_t errlen);
int synth_write_memory_ex(const synth_opts *o, const synth_extra *x, uint8_t **buf, size_t *size, char *err,
                          size_t errlen);

#endif
