/* quant_avx512.c -- Q8_0 and Q4_0 dot products with AVX-512 VNNI, bit-identical to the AVX2 ones. */
#include "quant_avx512.h"

#if defined(__x86_64__) || defined(__i386__)

#include "quant_x86.h"

#define VNNI_FN __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")))

/* The integer part of a block product, 32 weights by 32 activations, as 8 int32 lanes of four
   consecutive products each: the lanes the AVX2 kernels' maddubs/madd pair makes, so the
   float accumulation after it rounds identically. VPDPBUSD multiplies unsigned by signed
   bytes, so the weights are offset into 0..255 (Q8_0: +128; Q4_0: the raw nibbles, which are
   the values +8) and the offset times the activations' sums is taken away first: `corr` is
   -offset * (the sum of each lane's four activations), the same for every weight row. */
static inline VNNI_FN __attribute__((always_inline)) __m256i act_corr(__m256i x, int q4)
{
    const __m256i off = _mm256_set1_epi8(q4 ? 8 : (char)0x80);
    return _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_dpbusd_epi32(_mm256_setzero_si256(), off, x));
}

static inline VNNI_FN __attribute__((always_inline)) __m256i weights_u8(const uint8_t *blk, int q4)
{
    if (q4) {
        /* elements 0..15 are the low nibbles, 16..31 the high ones */
        const __m128i v = _mm_loadu_si128((const __m128i *)(blk + 2));
        return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0F));
    }
    return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(blk + 2)), _mm256_set1_epi8((char)0x80));
}

/* R weight rows (rs bytes apart) by C activation rows (xs bytes apart), Q8_0 activations:
   out[r * C + c]. Every product keeps its own accumulator in block order, as the single-row
   kernel does; R and C are constants after inlining, so the accumulators stay in registers. */
static inline VNNI_FN __attribute__((always_inline)) void grid(const uint8_t *w, size_t rs, const uint8_t *x,
                                                                size_t xs, int64_t n, float *out, const int R,
                                                                const int C, const int q4)
{
    const size_t wb = q4 ? 18 : 34;
    __m256 acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int c = 0; c < C; c++)
            acc[r][c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / QK8_0; b++) {
        __m256i xv[4], corr[4];
        __m256 dx[4];
#pragma GCC unroll 4
        for (int c = 0; c < C; c++) {
            const uint8_t *q = x + (size_t)c * xs + (size_t)b * 34;
            xv[c] = _mm256_loadu_si256((const __m256i *)(q + 2));
            corr[c] = act_corr(xv[c], q4);
            dx[c] = _mm256_set1_ps(qx_h2f(q));
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const uint8_t *p = w + (size_t)r * rs + (size_t)b * wb;
            const __m256i wu = weights_u8(p, q4);
            /* the scale product dw * dx of the single-row kernel, made in vector lanes so that
               one multiply replaces a scalar multiply and a broadcast per product */
            const __m256 dw = _mm256_set1_ps(qx_h2f(p));
#pragma GCC unroll 4
            for (int c = 0; c < C; c++) {
                const __m256i s = _mm256_dpbusd_epi32(corr[c], wu, xv[c]);
                acc[r][c] = _mm256_fmadd_ps(_mm256_mul_ps(dw, dx[c]), _mm256_cvtepi32_ps(s), acc[r][c]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int c = 0; c < C; c++)
            out[r * C + c] = qx_hsum256(acc[r][c]);
}

static VNNI_FN float q8_0_1x1(const void *w, const void *x, int64_t n)
{
    float o;
    grid(w, 0, x, 0, n, &o, 1, 1, 0);
    return o;
}
static VNNI_FN void q8_0_1x4(const void *w, const void *x, size_t xs, int64_t n, float *out)
{
    grid(w, 0, x, xs, n, out, 1, 4, 0);
}
static VNNI_FN void q8_0_2x4(const void *w, size_t rs, const void *x, size_t xs, int64_t n, float *out)
{
    grid(w, rs, x, xs, n, out, 2, 4, 0);
}
static VNNI_FN void q8_0_4x1(const void *w, size_t rs, const void *x, int64_t n, float *out)
{
    grid(w, rs, x, 0, n, out, 4, 1, 0);
}

static VNNI_FN float q4_0_1x1(const void *w, const void *x, int64_t n)
{
    float o;
    grid(w, 0, x, 0, n, &o, 1, 1, 1);
    return o;
}
static VNNI_FN void q4_0_1x4(const void *w, const void *x, size_t xs, int64_t n, float *out)
{
    grid(w, 0, x, xs, n, out, 1, 4, 1);
}
static VNNI_FN void q4_0_2x4(const void *w, size_t rs, const void *x, size_t xs, int64_t n, float *out)
{
    grid(w, rs, x, xs, n, out, 2, 4, 1);
}
static VNNI_FN void q4_0_4x1(const void *w, size_t rs, const void *x, int64_t n, float *out)
{
    grid(w, rs, x, 0, n, out, 4, 1, 1);
}

int quant_have_avx512vnni(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c") &&
           __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni");
}

quant_vec_dot_fn quant_avx512_dot(uint32_t wtype)
{
    switch (wtype) {
    case GGML_TYPE_Q8_0: return q8_0_1x1;
    case GGML_TYPE_Q4_0: return q4_0_1x1;
    default: return NULL;
    }
}

quant_vec_dot4_fn quant_avx512_dot4(quant_vec_dot_fn single)
{
    return single == q8_0_1x1 ? q8_0_1x4 : single == q4_0_1x1 ? q4_0_1x4 : NULL;
}

quant_vec_dot4x2_fn quant_avx512_dot4x2(quant_vec_dot_fn single)
{
    return single == q8_0_1x1 ? q8_0_2x4 : single == q4_0_1x1 ? q4_0_2x4 : NULL;
}

quant_vec_rows4_fn quant_avx512_rows4(quant_vec_dot_fn single)
{
    return single == q8_0_1x1 ? q8_0_4x1 : single == q4_0_1x1 ? q4_0_4x1 : NULL;
}

#else

int quant_have_avx512vnni(void)
{
    return 0;
}

quant_vec_dot_fn quant_avx512_dot(uint32_t wtype)
{
    (void)wtype;
    return NULL;
}

quant_vec_dot4_fn quant_avx512_dot4(quant_vec_dot_fn single)
{
    (void)single;
    return NULL;
}

quant_vec_dot4x2_fn quant_avx512_dot4x2(quant_vec_dot_fn single)
{
    (void)single;
    return NULL;
}

quant_vec_rows4_fn quant_avx512_rows4(quant_vec_dot_fn single)
{
    (void)single;
    return NULL;
}

#endif
