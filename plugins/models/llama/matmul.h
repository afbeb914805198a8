/* matmul.h -- Y = X . W^T for a quantised weight: GEMV rows over threads, or SGEMM on tiles. */
#ifndef DECOKIT_LLAMA_MATMUL_H
#define DECOKIT_LLAMA_MATMUL_H

#include "model.h"
#include "pool.h"

#define LLM_MATMUL_MAX 4 /* weights per llm_matmul_multi call */

typedef struct llm_matmul_ctx {
    llm_pool *pool;
    int isa; /* QUANT_ISA_*: the kernels' instruction set */
    int amx; /* batches of Q8_0, Q4_0, Q4_K and Q6_K weights on AMX tiles (quant_have_amx()) */
    float *tile; /* dequantised weight rows for SGEMM */
    size_t tile_cap;
    uint8_t *act; /* activations converted to the weights' dot-product formats */
    size_t act_cap;
    float *actf; /* the same, widened back to float for SGEMM */
    size_t actf_cap;
    uint8_t *pack; /* Q8_0 activations packed for AMX tiles */
    size_t pack_cap;
    uint8_t *kpack; /* Q8_K activations packed for AMX tiles */
    size_t kpack_cap;
} llm_matmul_ctx;

/* X: n rows of w->cols floats; Y: n rows of w->rows floats. The activations are first rounded
   to the weight type's dot-product format (see quant_vec_dot_type); single rows, Q8_0 weights,
   (with AVX2) F32, F16 and Q6_K weights and (with AVX-512 VNNI) Q4_0 weights then take row
   dot products summed in the reference's order (with AVX2, F32 and F16 rows alone in the order
   of its batches, so that a row gets the same values in a call of any size), other batches go
   through cblas_sgemm. With mc->amx, batches (n >= 2) of Q8_0 and Q4_0 weights run on AMX
   tiles in the order of quant_amx.h instead, and Q4_K and Q6_K batches on AMX tiles with the
   sums of their row kernels. A view of scattered rows (w->ids) gives the values those rows
   give in the whole matrix. Returns 0, or -1 when out of memory. */
int llm_matmul(llm_matmul_ctx *mc, const llm_weight *w, const float *X, int n, float *Y);
/* The same for up to LLM_MATMUL_MAX weights sharing the input X (same cols): each format of X
   is made once, and the single-row products run as one threaded job. */
int llm_matmul_multi(llm_matmul_ctx *mc, const llm_weight *const *ws, float *const *Ys, int count, const float *X,
                     int n);

#endif
