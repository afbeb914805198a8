/* quant_hsum8_x86.h -- eight horizontal sums at once, each in qx_hsum256's order. */
#ifndef DECOKIT_LLAMA_QUANT_HSUM8_X86_H
#define DECOKIT_LLAMA_QUANT_HSUM8_X86_H

#include "quant_x86.h"

/* out[k] = qx_hsum256(ak), bit for bit: ((v0 + v4) + (v2 + v6)) + ((v1 + v5) + (v3 + v7)).
   The three levels of additions run on transposed pairs of accumulators, in about half the
   instructions of eight single sums; float addition commutes, so only the pairing matters. */
static inline QX_AVX2 __attribute__((always_inline)) void qx_hsum256x8(__m256 a0, __m256 a1, __m256 a2, __m256 a3,
                                                                        __m256 a4, __m256 a5, __m256 a6, __m256 a7,
                                                                        float *out)
{
    /* halves: [a0 lo + a0 hi | a1 lo + a1 hi] */
    const __m256 t01 = _mm256_add_ps(_mm256_permute2f128_ps(a0, a1, 0x20), _mm256_permute2f128_ps(a0, a1, 0x31));
    const __m256 t23 = _mm256_add_ps(_mm256_permute2f128_ps(a2, a3, 0x20), _mm256_permute2f128_ps(a2, a3, 0x31));
    const __m256 t45 = _mm256_add_ps(_mm256_permute2f128_ps(a4, a5, 0x20), _mm256_permute2f128_ps(a4, a5, 0x31));
    const __m256 t67 = _mm256_add_ps(_mm256_permute2f128_ps(a6, a7, 0x20), _mm256_permute2f128_ps(a6, a7, 0x31));
    /* lanes 0 + 2 and 1 + 3: [u0 u0' u2 u2' | u1 u1' u3 u3'] */
    const __m256 u03 = _mm256_add_ps(_mm256_shuffle_ps(t01, t23, _MM_SHUFFLE(1, 0, 1, 0)),
                                     _mm256_shuffle_ps(t01, t23, _MM_SHUFFLE(3, 2, 3, 2)));
    const __m256 u47 = _mm256_add_ps(_mm256_shuffle_ps(t45, t67, _MM_SHUFFLE(1, 0, 1, 0)),
                                     _mm256_shuffle_ps(t45, t67, _MM_SHUFFLE(3, 2, 3, 2)));
    /* the last pair: [s0 s2 s4 s6 | s1 s3 s5 s7], put back in order */
    const __m256 s = _mm256_add_ps(_mm256_shuffle_ps(u03, u47, _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm256_shuffle_ps(u03, u47, _MM_SHUFFLE(3, 1, 3, 1)));
    _mm256_storeu_ps(out, _mm256_permutevar8x32_ps(s, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

#endif
