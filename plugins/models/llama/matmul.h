/* matmul.h -- Y = X . W^T for a quantised weight: GEMV rows over threads, or SGEMM on tiles. */
#ifndef DECOKIT_LLAMA_MATMUL_H
#define DECOKIT_LLAMA_MATMUL_H

#include "model.h"
#include "pool.h"

typedef struct llm_matmul_ctx {
    llm_pool *pool;
    int use_avx2;
    float *tile; /* dequantised weight rows for SGEMM */
    size_t tile_cap;
} llm_matmul_ctx;

/* X: n rows of w->cols floats; Y: n rows of w->rows floats. n == 1 takes the quantised-dot
   path, n > 1 goes through cblas_sgemm. Returns 0, or -1 when out of memory. */
int llm_matmul(llm_matmul_ctx *mc, const llm_weight *w, const float *X, int n, float *Y);

#endif
