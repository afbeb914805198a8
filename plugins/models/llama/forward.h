/* forward.h -- the engine context and its forward pass, shared by the evaluation entry points. */
#ifndef DECOKIT_LLAMA_FORWARD_H
#define DECOKIT_LLAMA_FORWARD_H

#include "kv.h"
#include "matmul.h"
#include "model.h"

#define EVAL_CHUNK 256 /* rows per forward pass when appending a long prompt */

struct llm_ctx {
    const llm_model *m;
    llm_pool *pool;
    llm_matmul_ctx mc;
    kv_cache kv;
    int n_ctx;
    int attn_avx2; /* F16C attention kernel usable (CPU support and head_dim % 8 == 0) */
    float theta_scale; /* rope_theta^(-2/n_rot): each rotation pair's angle step */
    int cap_rows;
    float *x, *xn, *q, *k, *v, *att, *g, *u, *tmp;
    float *scores; /* per thread: attention scratch (see scratch_per_thread) */
    /* batched attention over one sequence: K as float [kv head][dim][slot], V as float
       [kv head][slot][dim], the half-rounded queries, and per-thread score tiles */
    float *bk, *bv, *bq, *bs;
    size_t cap_bk, cap_bv, cap_bq, cap_bs;
    llm_abort_fn abort_fn; /* polled from the calling thread before every layer */
    void *abort_user;
};

/* One row of a forward pass: the token at rope position `pos`, whose K/V go to cache `slot`
   of `seq`. It attends to slots [0, n_prefix) and, for tree rows, to the slots
   tree_base + a of its ancestors a (and itself). */
typedef struct fw_row {
    int32_t seq, pos, slot, n_prefix, tree_base, node;
    const int32_t *parents;
} fw_row;

/* What a forward pass hands back besides the cache rows and the final-norm rows in ctx->xn. */
typedef struct fw_out {
    int from;               /* logits for rows [from, n) */
    float *logits;          /* (nullable) (n - from) rows of head->rows floats */
    const llm_weight *head; /* NULL: the model's output matrix */
    int only;               /* 1: rows before `from` skip the last layer's tail and the final norm */
} fw_out;

/* Runs rows through the network. Cache slots must already be writable. Returns 0,
   DK_ERR_NOMEM or DK_ERR_CANCELLED (the abort callback asked to stop). */
int fw_forward(llm_ctx *c, const fw_row *rows, const int32_t *toks, int n, const fw_out *out);
/* Text of a failure status of fw_forward, for the error message. */
const char *fw_failure(int rc);

int fw_check_tokens(const llm_ctx *c, const int32_t *toks, size_t n, char *err, size_t errlen);
kv_seq *fw_get_seq(llm_ctx *c, int32_t seq, char *err, size_t errlen);
/* DK_ERR_UNSUPPORTED with a message when the model's attention is not causal. */
int fw_need_causal(const llm_ctx *c, const char *op, char *err, size_t errlen);
/* Room for `rows` hidden rows after the sequence's current ones, so that new rows can be
   written beside the old and swapped in only when the call succeeds. 0 or -1. */
int fw_reserve_hidden(llm_ctx *c, kv_seq *s, int32_t rows);
/* Where new hidden row j goes (after fw_reserve_hidden). */
float *fw_new_hidden(llm_ctx *c, kv_seq *s, int32_t j);
/* The `rows` new rows replace the old ones. */
void fw_take_hidden(llm_ctx *c, kv_seq *s, int32_t rows);
/* The cache rows of a pending tree that a call is about to overwrite, kept so that a failed
   call can put the tree back. */
typedef struct fw_keep {
    int32_t from, n;
    uint16_t *rows; /* n_layer x {K, V} x n x kv_dim halves */
} fw_keep;
/* Keeps the pending tree's rows among slots [from, to), once they are writable. 0 or -1. */
int fw_keep_pending(llm_ctx *c, int32_t seq, int32_t from, int32_t to, fw_keep *k);
/* Undoes a failed call: the kept rows go back (keep nullable, then freed), and so do the pages
   past the committed positions and the pending tree. */
void fw_rollback(llm_ctx *c, int32_t seq, fw_keep *keep);

#endif
