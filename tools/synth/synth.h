/* synth.h -- writes llama-architecture GGUF files with random weights (tests, benchmarks). */
#ifndef DECOKIT_SYNTH_H
#define DECOKIT_SYNTH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct synth_opts {
    const char *arch;   /* "llama" (default) or "qwen2" (NeoX RoPE, Q/K/V biases) */
    int n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
    uint32_t type;      /* ggml type of the weight matrices; rows that do not fit its block use F16 */
    uint64_t seed;
    int tied;           /* 1: no output.weight (tied to token_embd) */
    int qkv_bias;       /* 1: write attn_{q,k,v}.bias even for llama */
    int non_causal;     /* 1: write <arch>.attention.causal = false */
    float rope_theta, rms_eps; /* 0 = defaults 10000, 1e-5 */
    const char *vocab_path; /* NULL, or a GGUF whose tokenizer.* keys are copied (sets n_vocab) */
} synth_opts;

/* Returns 0, or -1 with a message. */
int synth_write(FILE *out, const synth_opts *o, char *err, size_t errlen);
int synth_write_file(const char *path, const synth_opts *o, char *err, size_t errlen);
/* The whole file in a malloc'd buffer (for tests). */
int synth_write_memory(const synth_opts *o, uint8_t **buf, size_t *size, char *err, size_t errlen);

#endif
