/* llm.h -- the llama-family inference engine behind the llama model plugin. */
#ifndef DECOKIT_LLAMA_LLM_H
#define DECOKIT_LLAMA_LLM_H

#include <stddef.h>
#include <stdint.h>

#include "decokit/plugin.h"
#include "gguf.h"

/* Functions return 0 or a negative decokit status (DK_ERR_*); errors also fill err. */

typedef struct llm_hparams {
    char arch[32];
    int32_t n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_rot, n_ctx_train;
    float rope_theta, rope_freq_scale, rms_eps;
    int rope_neox;   /* 1: rotate pairs (i, i + n_rot/2); 0: adjacent pairs (2i, 2i+1) */
    int causal;      /* 0 when the metadata declares bidirectional attention */
    int shift_logits; /* masked evaluation: row i predicts position i + 1 (diffusion.shift_logits) */
    int tied_output; /* output projection is token_embd */
    int has_qkv_bias;
} llm_hparams;

typedef struct llm_model llm_model;
typedef struct llm_ctx llm_ctx;

#define LLM_MAX_WARNINGS 8

/* Takes ownership of f (closed on failure too). */
llm_model *llm_model_from_gguf(gguf_file *f, char *err, size_t errlen);
llm_model *llm_model_load(const char *path, char *err, size_t errlen);
void llm_model_free(llm_model *m);
const llm_hparams *llm_model_hparams(const llm_model *m);
const gguf_file *llm_model_gguf(const llm_model *m);
int llm_model_n_warnings(const llm_model *m);
const char *llm_model_warning(const llm_model *m, int i);

/* n_ctx <= 0: the trained context length. n_threads >= 1. */
llm_ctx *llm_ctx_create(const llm_model *m, int n_threads, int n_ctx, char *err, size_t errlen);
void llm_ctx_free(llm_ctx *c);
int llm_ctx_n_ctx(const llm_ctx *c);

int llm_seq_new(llm_ctx *c, int32_t *out, char *err, size_t errlen);
void llm_seq_free(llm_ctx *c, int32_t seq);
size_t llm_seq_len(const llm_ctx *c, int32_t seq);

/* Polled from the calling thread before every layer of every forward pass; nonzero stops the
   evaluation, which then fails with DK_ERR_CANCELLED and leaves every sequence as it was. */
typedef int (*llm_abort_fn)(void *user);
void llm_set_abort(llm_ctx *c, llm_abort_fn fn, void *user);

/* The evaluations below change nothing when they fail: every sequence keeps its length, cache
   contents, hidden rows and pending tree. */

/* Append n tokens; logits for the last position, or for all n when all_logits. */
int llm_eval(llm_ctx *c, int32_t seq, const int32_t *toks, size_t n, float *logits, int all_logits,
             char *err, size_t errlen);
/* One token for each of n distinct sequences, in one batched pass; logits n*n_vocab. */
int llm_eval_batch(llm_ctx *c, const int32_t *seqs, const int32_t *toks, size_t n, float *logits,
                   char *err, size_t errlen);
/* Several distinct sequences, each with >= 1 new tokens, in shared forward passes (see dk_batch;
   struct_size is not read). */
int llm_eval_ragged(llm_ctx *c, const dk_batch *b, char *err, size_t errlen);
/* A draft tree after the committed positions; stays pending until llm_accept_path. */
int llm_eval_tree(llm_ctx *c, int32_t seq, const int32_t *toks, const int32_t *parents, size_t n,
                  float *logits, char *err, size_t errlen);
int llm_accept_path(llm_ctx *c, int32_t seq, const int32_t *path, size_t n, char *err, size_t errlen);
int llm_truncate(llm_ctx *c, int32_t seq, size_t n_keep, char *err, size_t errlen);
int llm_fork(llm_ctx *c, int32_t src, int32_t *out, char *err, size_t errlen);
/* Bidirectional pass over toks (only for models whose metadata says non-causal). */
int llm_eval_masked(llm_ctx *c, const int32_t *toks, size_t n, float *logits, char *err, size_t errlen);
/* Masked evaluation of a canvas after a sequence's cached positions (see dk_masked_eval;
   struct_size is not read). Runs on any model, whatever its metadata says about attention.
   rows NULL returns all n rows, so a REUSE call over part of the canvas names its rows. A
   REUSE call leaves the stored canvas as it is unless it also has DK_MASKED_STORE (then the
   reused rows and the recomputed active ones are stored). Committing rows (n_commit > 0),
   truncating below the canvas or forking discards or does not carry the stored canvas. */
int llm_eval_masked_seq(llm_ctx *c, const dk_masked_eval *me, char *err, size_t errlen);
/* Alternative canvases after the sequence's cached positions in one forward (see
   dk_masked_batch; struct_size is not read); the sequence and its stored canvas are unchanged. */
int llm_eval_masked_batch(llm_ctx *c, const dk_masked_batch *mb, char *err, size_t errlen);
/* Final-norm hidden states of the last n rows of the sequence's latest eval/eval_tree. */
int llm_hidden(llm_ctx *c, int32_t seq, size_t n, float *out, char *err, size_t errlen);

#endif
