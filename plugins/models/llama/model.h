/* model.h -- loaded llama-family weights: hyper-parameters and tensor views into the map. */
#ifndef DECOKIT_LLAMA_MODEL_H
#define DECOKIT_LLAMA_MODEL_H

#include "llm.h"

/* A weight matrix of `rows` output features by `cols` inputs, rows stored contiguously. */
typedef struct llm_weight {
    const uint8_t *data;
    uint32_t type;
    int64_t rows, cols;
    size_t row_bytes;
    /* NULL, or a view of some rows: row r is row ids[r] of the matrix at data */
    const int32_t *ids;
} llm_weight;

typedef struct llm_layer {
    float *attn_norm, *ffn_norm; /* owned float copies */
    float *bq, *bk, *bv;         /* owned; NULL without biases */
    llm_weight wq, wk, wv, wo, wgate, wup, wdown;
} llm_layer;

struct llm_model {
    gguf_file *f;
    llm_hparams hp;
    llm_weight tok_embd, output;
    float *output_norm;
    float *rope_freq_factors; /* NULL or n_rot/2 divisors of the rotation frequencies */
    llm_layer *layers;
    int n_warnings;
    char warnings[LLM_MAX_WARNINGS][200];
};

#endif
