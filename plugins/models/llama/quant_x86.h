/* quant_x86.h -- the x86 helpers every vector kernel file shares, so their sums reduce alike. */
#ifndef DECOKIT_LLAMA_QUANT_X86_H
#define DECOKIT_LLAMA_QUANT_X86_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define QX_AVX2 __attribute__((target("avx2,fma,f16c")))

/* The reference's 8-lane horizontal sum: halves, then pairs, then the last two. */
static inline QX_AVX2 __attribute__((always_inline)) float qx_hsum256(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

/* one half-precision scale through F16C: the generic conversion's branches cost more than a
   block's arithmetic */
static inline QX_AVX2 __attribute__((always_inline)) float qx_h2f(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return _cvtsh_ss(v);
}

#endif
