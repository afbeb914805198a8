/* quant_f32_avx512.c -- the float tile kernel over four weight rows, for CPUs with AVX-512VL. */
#include "quant_f32_avx512.h"

#if defined(__x86_64__) || defined(__i386__)

#include "quant_hsum8_x86.h"

/* as far ahead as matmul.c asks for the quantised types' weights */
#define PREFETCH_AHEAD 8192

/* 256-bit vectors still, so every product keeps the AVX2 kernel's lanes; AVX-512VL only lends
   the sixteen more registers (ymm16-31) that sixteen accumulators and eight loads need. */
#define VL_FN __attribute__((target("avx2,fma,f16c,avx512f,avx512vl")))

VL_FN static void f32_tile_4x4(const void *wv, size_t rs, const void *xv, size_t xs, int64_t n, float *out)
{
    const uint8_t *wb = wv, *xb = xv;
    const float *w0 = (const float *)wb, *w1 = (const float *)(wb + rs), *w2 = (const float *)(wb + 2 * rs),
                *w3 = (const float *)(wb + 3 * rs);
    const float *x0 = (const float *)xb, *x1 = (const float *)(xb + xs), *x2 = (const float *)(xb + 2 * xs),
                *x3 = (const float *)(xb + 3 * xs);
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
    __m256 a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
    for (int64_t i = 0; i < n; i += 8) {
        __m256 y0 = _mm256_loadu_ps(x0 + i), y1 = _mm256_loadu_ps(x1 + i), y2 = _mm256_loadu_ps(x2 + i),
               y3 = _mm256_loadu_ps(x3 + i);
        /* each activation vector loaded once for all four weight rows (see quant.c's
           vd8_f32_tile_avx2) */
        __asm__("" : "+v"(y0), "+v"(y1), "+v"(y2), "+v"(y3));
        /* the weights 8 KiB on, where a matrix's next rows follow (4 rows x 32 bytes a step),
           spread over the loop: asked for in a burst before each call they queue up (beam
           width 4 on a 15M F32 model: about 15% more tokens a second than the burst) */
        _mm_prefetch((const char *)wb + PREFETCH_AHEAD + 16 * i, _MM_HINT_T0);
        _mm_prefetch((const char *)wb + PREFETCH_AHEAD + 16 * i + 64, _MM_HINT_T0);
        const __m256 u0 = _mm256_loadu_ps(w0 + i), u1 = _mm256_loadu_ps(w1 + i), u2 = _mm256_loadu_ps(w2 + i),
                     u3 = _mm256_loadu_ps(w3 + i);
        a00 = _mm256_fmadd_ps(u0, y0, a00);
        a01 = _mm256_fmadd_ps(u0, y1, a01);
        a02 = _mm256_fmadd_ps(u0, y2, a02);
        a03 = _mm256_fmadd_ps(u0, y3, a03);
        a10 = _mm256_fmadd_ps(u1, y0, a10);
        a11 = _mm256_fmadd_ps(u1, y1, a11);
        a12 = _mm256_fmadd_ps(u1, y2, a12);
        a13 = _mm256_fmadd_ps(u1, y3, a13);
        a20 = _mm256_fmadd_ps(u2, y0, a20);
        a21 = _mm256_fmadd_ps(u2, y1, a21);
        a22 = _mm256_fmadd_ps(u2, y2, a22);
        a23 = _mm256_fmadd_ps(u2, y3, a23);
        a30 = _mm256_fmadd_ps(u3, y0, a30);
        a31 = _mm256_fmadd_ps(u3, y1, a31);
        a32 = _mm256_fmadd_ps(u3, y2, a32);
        a33 = _mm256_fmadd_ps(u3, y3, a33);
    }
    qx_hsum256x8(a00, a01, a02, a03, a10, a11, a12, a13, out);
    qx_hsum256x8(a20, a21, a22, a23, a30, a31, a32, a33, out + 8);
}

quant_vec_dot4x4_fn quant_f32_tile_4x4_kernel(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c") &&
                   __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")
               ? f32_tile_4x4
               : NULL;
}

#else

quant_vec_dot4x4_fn quant_f32_tile_4x4_kernel(void)
{
    return NULL;
}

#endif
