/* quant_kquant.h -- K-quant scale unpacking shared by the kernels, and the AVX2 K-quant kernels. */
#ifndef DECOKIT_LLAMA_QUANT_KQUANT_H
#define DECOKIT_LLAMA_QUANT_KQUANT_H

#include "quant.h"

/* Scale and min j (0..7) of a Q4_K block from its 12 packed 6-bit bytes. */
static inline __attribute__((always_inline)) void scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Bit-identical to the portable Q4_K and Q6_K kernels (their integer sums are exact and the
   float expression per block is the same); NULL for other types. Only when
   quant_have_avx2() is true. */
quant_vec_dot_fn quant_kquant_avx2_dot(uint32_t wtype);
/* The four-activation-row form of a kernel above, or NULL. */
quant_vec_dot4_fn quant_kquant_avx2_dot4(quant_vec_dot_fn single);

#endif
