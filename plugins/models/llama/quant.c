/* quant.c -- ggml block dequantisation, row dot products (portable + AVX2/FMA) and their dispatch, quantisers. */
#include "quant.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include "quant_x86.h"
#include "quant_hsum8_x86.h"
#define QUANT_X86 1
#endif

#include "quant_avx512.h"
#include "quant_kquant.h"

/* Inlined everywhere (including the AVX2 kernels, where a call into non-VEX code per block
   cost more than the block's arithmetic). */
static inline __attribute__((always_inline)) float f16_to_f32(uint16_t h)
{
    uint32_t s = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff, bits;
    float f;
    if (e == 0) {
        /* zero or subnormal: m * 2^-24 is exact in float */
        f = (float)m * 5.9604644775390625e-8f;
        return s ? -f : f;
    }
    if (e == 31)
        bits = s | 0x7f800000u | (m << 13);
    else
        bits = s | ((e + 112) << 23) | (m << 13);
    memcpy(&f, &bits, 4);
    return f;
}

float quant_f16_to_f32(uint16_t h)
{
    return f16_to_f32(h);
}

uint16_t quant_f32_to_f16(float v)
{
    uint32_t x;
    memcpy(&x, &v, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t a = x & 0x7fffffffu;
    if (a >= 0x7f800000u)
        return (uint16_t)(sign | 0x7c00 | (a > 0x7f800000u ? 0x200 : 0));
    if (a >= 0x477ff000u) /* rounds to >= 65520: infinity */
        return (uint16_t)(sign | 0x7c00);
    if (a < 0x38800000u) { /* below the smallest normal half */
        float f;
        memcpy(&f, &a, 4);
        return (uint16_t)(sign | (uint16_t)lrintf(f * 16777216.0f));
    }
    uint32_t mant = a & 0x7fffff, e = (a >> 23) - 112;
    uint32_t h = (e << 10) | (mant >> 13), rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
        h++;
    return (uint16_t)(sign | h);
}

static inline __attribute__((always_inline)) float bf16_to_f32_inl(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float quant_bf16_to_f32(uint16_t h)
{
    return bf16_to_f32_inl(h);
}

uint16_t quant_f32_to_bf16(float v)
{
    uint32_t x;
    memcpy(&x, &v, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40);
    return (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

int quant_supported(uint32_t type)
{
    switch (type) {
    case GGML_TYPE_F32: case GGML_TYPE_F16: case GGML_TYPE_BF16: case GGML_TYPE_Q8_0:
    case GGML_TYPE_Q4_0: case GGML_TYPE_Q4_K: case GGML_TYPE_Q6_K:
        return 1;
    default:
        return 0;
    }
}

size_t quant_row_bytes(uint32_t type, int64_t n)
{
    const ggml_type_traits *t = ggml_type_get(type);
    if (!t)
        return 0;
    return (size_t)(n / t->block_elems) * t->block_bytes;
}

static inline __attribute__((always_inline)) uint16_t rd16(const void *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static inline __attribute__((always_inline)) void dequant_q4_K_block(const uint8_t *blk, float *y)
{
    const float d = f16_to_f32(rd16(blk)), dmin = f16_to_f32(rd16(blk + 2));
    const uint8_t *scales = blk + 4, *q = blk + 16;
    for (int j = 0, is = 0; j < QK_K; j += 64, is += 2, q += 32) {
        uint8_t sc, m;
        scale_min_k4(is, scales, &sc, &m);
        const float d1 = d * sc, m1 = dmin * m;
        scale_min_k4(is + 1, scales, &sc, &m);
        const float d2 = d * sc, m2 = dmin * m;
        for (int l = 0; l < 32; l++)
            y[j + l] = d1 * (float)(q[l] & 0xF) - m1;
        for (int l = 0; l < 32; l++)
            y[j + 32 + l] = d2 * (float)(q[l] >> 4) - m2;
    }
}

static inline __attribute__((always_inline)) void dequant_q6_K_block(const uint8_t *blk, float *y)
{
    const uint8_t *ql = blk, *qh = blk + 128;
    const int8_t *sc = (const int8_t *)(blk + 192);
    const float d = f16_to_f32(rd16(blk + 208));
    for (int n = 0; n < QK_K; n += 128, ql += 64, qh += 32, sc += 8, y += 128) {
        for (int l = 0; l < 32; l++) {
            int is = l / 16;
            int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
            int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * sc[is] * (float)q1;
            y[l + 32] = d * sc[is + 2] * (float)q2;
            y[l + 64] = d * sc[is + 4] * (float)q3;
            y[l + 96] = d * sc[is + 6] * (float)q4;
        }
    }
}

void quant_dequant_row(uint32_t type, const void *row, float *out, int64_t n)
{
    const uint8_t *p = row;
    switch (type) {
    case GGML_TYPE_F32:
        memcpy(out, row, (size_t)n * 4);
        break;
    case GGML_TYPE_F16:
        for (int64_t i = 0; i < n; i++)
            out[i] = f16_to_f32(rd16(p + 2 * i));
        break;
    case GGML_TYPE_BF16:
        for (int64_t i = 0; i < n; i++)
            out[i] = bf16_to_f32_inl(rd16(p + 2 * i));
        break;
    case GGML_TYPE_Q8_0:
        for (int64_t b = 0; b < n / QK8_0; b++, p += 34) {
            const float d = f16_to_f32(rd16(p));
            for (int j = 0; j < QK8_0; j++)
                out[b * QK8_0 + j] = d * (float)(int8_t)p[2 + j];
        }
        break;
    case GGML_TYPE_Q4_0:
        for (int64_t b = 0; b < n / QK4_0; b++, p += 18) {
            const float d = f16_to_f32(rd16(p));
            for (int j = 0; j < 16; j++) {
                out[b * QK4_0 + j] = d * (float)((p[2 + j] & 0xF) - 8);
                out[b * QK4_0 + j + 16] = d * (float)((p[2 + j] >> 4) - 8);
            }
        }
        break;
    case GGML_TYPE_Q4_K:
        for (int64_t b = 0; b < n / QK_K; b++)
            dequant_q4_K_block(p + b * 144, out + b * QK_K);
        break;
    case GGML_TYPE_Q6_K:
        for (int64_t b = 0; b < n / QK_K; b++)
            dequant_q6_K_block(p + b * 210, out + b * QK_K);
        break;
    case GGML_TYPE_Q8_K:
        for (int64_t b = 0; b < n / QK_K; b++, p += sizeof(block_q8_K)) {
            float d;
            memcpy(&d, p, 4);
            for (int j = 0; j < QK_K; j++)
                out[b * QK_K + j] = d * (float)(int8_t)p[4 + j];
        }
        break;
    default:
        memset(out, 0, (size_t)n * sizeof *out);
        break;
    }
}

/* ---- activations in the weight's dot-product format --------------------------------------
   The reference CPU kernels never multiply a quantised weight by float activations: they first
   convert the activation row to a companion type (Q8_0 for Q8_0/Q4_0, Q8_K for the K-quants,
   half for F16, bfloat for BF16) and take an integer or low-precision dot product. Doing the
   same is what keeps our logits within float-rounding distance of theirs, and the integer
   kernels are faster than widening every weight to float. */

uint32_t quant_vec_dot_type(uint32_t wtype)
{
    switch (wtype) {
    case GGML_TYPE_F16: return GGML_TYPE_F16;
    case GGML_TYPE_BF16: return GGML_TYPE_BF16;
    case GGML_TYPE_Q8_0: case GGML_TYPE_Q4_0: return GGML_TYPE_Q8_0;
    case GGML_TYPE_Q4_K: case GGML_TYPE_Q6_K: return GGML_TYPE_Q8_K;
    default: return GGML_TYPE_F32;
    }
}

#ifdef QUANT_X86
/* act_q8_0 eight lanes at a time: the maximum is order-free, the scale is formed by the same
   scalar code, and cvtps_epi32 rounds to nearest even as lrintf does in the default mode, so
   the blocks are byte-identical. */
__attribute__((target("avx2,fma,f16c"))) static void act_q8_0_avx2(const float *x, uint8_t *p, int64_t n)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t b = 0; b < n / QK8_0; b++, p += 34, x += QK8_0) {
        __m256 v[4], m = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) {
            v[k] = _mm256_loadu_ps(x + 8 * k);
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[k]));
        }
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        const float amax = _mm_cvtss_f32(h);
        const float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
        const uint16_t hd = quant_f32_to_f16(d);
        memcpy(p, &hd, 2);
        const __m256 s = _mm256_set1_ps(id);
        __m256i q[4];
        for (int k = 0; k < 4; k++)
            q[k] = _mm256_cvtps_epi32(_mm256_mul_ps(v[k], s));
        const __m256i w = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        _mm256_storeu_si256((__m256i *)(p + 2), _mm256_permutevar8x32_epi32(w, perm));
    }
}
#endif

#ifdef QUANT_X86
/* cvtps_ph rounds as quant_f32_to_f16 does for every float but NaN (checked over all 2^32) */
__attribute__((target("avx2,fma,f16c"))) static void act_f16_avx2(const float *x, uint8_t *p, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(p + 2 * i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; i++) {
        const uint16_t h = quant_f32_to_f16(x[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}
#endif

static void act_q8_0(const float *x, uint8_t *p, int64_t n)
{
#ifdef QUANT_X86
    if (quant_have_avx2()) {
        act_q8_0_avx2(x, p, n);
        return;
    }
#endif
    for (int64_t b = 0; b < n / QK8_0; b++, p += 34, x += QK8_0) {
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        /* the scale and its inverse are formed as the reference's vector path forms them */
        const float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
        const uint16_t hd = quant_f32_to_f16(d);
        memcpy(p, &hd, 2);
        for (int j = 0; j < QK8_0; j++)
            p[2 + j] = (uint8_t)(int8_t)lrintf(x[j] * id);
    }
}

static void act_q8_K(const float *x, uint8_t *p, int64_t n)
{
    for (int64_t b = 0; b < n / QK_K; b++, p += sizeof(block_q8_K), x += QK_K) {
        block_q8_K blk;
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK_K; j++)
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        memset(&blk, 0, sizeof blk);
        if (amax != 0.0f) {
            const float iscale = -127.0f / max;
            for (int j = 0; j < QK_K; j++) {
                const long v = lrintf(iscale * x[j]);
                blk.qs[j] = (int8_t)(v > 127 ? 127 : v);
            }
            for (int j = 0; j < QK_K / 16; j++) {
                int sum = 0;
                for (int l = 0; l < 16; l++)
                    sum += blk.qs[16 * j + l];
                blk.bsums[j] = (int16_t)sum;
            }
            blk.d = 1.0f / iscale;
        }
        memcpy(p, &blk, sizeof blk);
    }
}

void quant_act_row(uint32_t vtype, const float *x, void *out, int64_t n)
{
    uint8_t *p = out;
    switch (vtype) {
    case GGML_TYPE_F16:
#ifdef QUANT_X86
        if (quant_have_avx2()) {
            act_f16_avx2(x, p, n);
            break;
        }
#endif
        for (int64_t i = 0; i < n; i++) {
            const uint16_t h = quant_f32_to_f16(x[i]);
            memcpy(p + 2 * i, &h, 2);
        }
        break;
    case GGML_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) {
            const uint16_t h = quant_f32_to_bf16(x[i]);
            memcpy(p + 2 * i, &h, 2);
        }
        break;
    case GGML_TYPE_Q8_0:
        act_q8_0(x, p, n);
        break;
    case GGML_TYPE_Q8_K:
        act_q8_K(x, p, n);
        break;
    default:
        memcpy(out, x, (size_t)n * sizeof *x);
        break;
    }
}

/* ---- portable dot products of a weight row with converted activations ------------------- */

static float vd_f32(const void *w, const void *x, int64_t n)
{
    const uint8_t *a = w, *b = x;
    float sum = 0.0f, u, v;
    for (int64_t i = 0; i < n; i++) {
        memcpy(&u, a + 4 * i, 4);
        memcpy(&v, b + 4 * i, 4);
        sum += u * v;
    }
    return sum;
}

static float vd_f16(const void *w, const void *x, int64_t n)
{
    const uint8_t *a = w, *b = x;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++)
        sum += f16_to_f32(rd16(a + 2 * i)) * f16_to_f32(rd16(b + 2 * i));
    return sum;
}

static float vd_bf16(const void *w, const void *x, int64_t n)
{
    const uint8_t *a = w, *b = x;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++)
        sum += bf16_to_f32_inl(rd16(a + 2 * i)) * bf16_to_f32_inl(rd16(b + 2 * i));
    return sum;
}

static inline __attribute__((always_inline)) float vd_q8_0_q8_0_inl(const void *w, const void *x, int64_t n)
{
    const uint8_t *p = w, *q = x;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK8_0; b++, p += 34, q += 34) {
        int s = 0;
        for (int j = 0; j < QK8_0; j++)
            s += (int8_t)p[2 + j] * (int8_t)q[2 + j];
        sum += f16_to_f32(rd16(p)) * f16_to_f32(rd16(q)) * (float)s;
    }
    return sum;
}

static inline __attribute__((always_inline)) float vd_q4_0_q8_0_inl(const void *w, const void *x, int64_t n)
{
    const uint8_t *p = w, *q = x;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK4_0; b++, p += 18, q += 34) {
        int s = 0;
        for (int j = 0; j < 16; j++)
            s += ((p[2 + j] & 0xF) - 8) * (int8_t)q[2 + j] + ((p[2 + j] >> 4) - 8) * (int8_t)q[2 + 16 + j];
        sum += f16_to_f32(rd16(p)) * f16_to_f32(rd16(q)) * (float)s;
    }
    return sum;
}

static inline __attribute__((always_inline)) float vd_q4_K_q8_K_inl(const void *w, const void *x, int64_t n)
{
    const uint8_t *p = w, *y = x;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++, p += 144, y += sizeof(block_q8_K)) {
        float dy;
        int16_t bs[QK_K / 16];
        memcpy(&dy, y, 4);
        memcpy(bs, y + 4 + QK_K, sizeof bs);
        const int8_t *q8 = (const int8_t *)(y + 4);
        const uint8_t *scales = p + 4, *q = p + 16;
        int sumi = 0, summ = 0;
        for (int j = 0, is = 0; j < QK_K; j += 64, is += 2, q += 32) {
            uint8_t sc1, m1, sc2, m2;
            scale_min_k4(is, scales, &sc1, &m1);
            scale_min_k4(is + 1, scales, &sc2, &m2);
            int s1 = 0, s2 = 0;
            for (int l = 0; l < 32; l++) {
                s1 += (q[l] & 0xF) * q8[j + l];
                s2 += (q[l] >> 4) * q8[j + 32 + l];
            }
            sumi += sc1 * s1 + sc2 * s2;
            summ += m1 * (bs[j / 16] + bs[j / 16 + 1]) + m2 * (bs[j / 16 + 2] + bs[j / 16 + 3]);
        }
        sum += dy * f16_to_f32(rd16(p)) * (float)sumi - dy * f16_to_f32(rd16(p + 2)) * (float)summ;
    }
    return sum;
}

static inline __attribute__((always_inline)) float vd_q6_K_q8_K_inl(const void *w, const void *x, int64_t n)
{
    const uint8_t *p = w, *y = x;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++, p += 210, y += sizeof(block_q8_K)) {
        float dy;
        memcpy(&dy, y, 4);
        const int8_t *q8 = (const int8_t *)(y + 4);
        const uint8_t *ql = p, *qh = p + 128;
        const int8_t *sc = (const int8_t *)(p + 192);
        int8_t v[QK_K];
        for (int h = 0; h < QK_K; h += 128, ql += 64, qh += 32)
            for (int l = 0; l < 32; l++) {
                v[h + l] = (int8_t)(((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32);
                v[h + l + 32] = (int8_t)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
                v[h + l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                v[h + l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
        int sumi = 0;
        for (int s = 0; s < QK_K / 16; s++) {
            int t = 0;
            for (int l = 0; l < 16; l++)
                t += v[16 * s + l] * q8[16 * s + l];
            sumi += sc[s] * t;
        }
        sum += dy * f16_to_f32(rd16(p + 208)) * (float)sumi;
    }
    return sum;
}

static float vd_q8_0_q8_0(const void *w, const void *x, int64_t n) { return vd_q8_0_q8_0_inl(w, x, n); }
static float vd_q4_0_q8_0(const void *w, const void *x, int64_t n) { return vd_q4_0_q8_0_inl(w, x, n); }
static float vd_q4_K_q8_K(const void *w, const void *x, int64_t n) { return vd_q4_K_q8_K_inl(w, x, n); }
static float vd_q6_K_q8_K(const void *w, const void *x, int64_t n) { return vd_q6_K_q8_K_inl(w, x, n); }

static float vd_none(const void *w, const void *x, int64_t n)
{
    (void)w, (void)x, (void)n;
    return 0.0f;
}

#ifdef QUANT_X86

#define AVX2_FN __attribute__((target("avx2,fma,f16c")))

/* Rows of Q8_0 and F16 weights widened for SGEMM tiles. */
AVX2_FN static void dequant_q8_0_avx2(const uint8_t *p, float *out, int64_t n)
{
    for (int64_t b = 0; b < n / QK8_0; b++, p += 34, out += QK8_0) {
        const __m256 d = _mm256_set1_ps(qx_h2f(p));
        for (int j = 0; j < QK8_0; j += 8)
            _mm256_storeu_ps(out + j, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
                                                       _mm_loadl_epi64((const __m128i *)(p + 2 + j))))));
    }
}

AVX2_FN static void dequant_f16_avx2(const uint8_t *p, float *out, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 2 * i))));
    for (; i < n; i++)
        out[i] = f16_to_f32(rd16(p + 2 * i));
}

int quant_dequant_row_fast(uint32_t type, const void *row, float *out, int64_t n)
{
    if (type == GGML_TYPE_Q8_0)
        dequant_q8_0_avx2(row, out, n);
    else if (type == GGML_TYPE_F16)
        dequant_f16_avx2(row, out, n);
    else
        return 0;
    return 1;
}

/* Four accumulators over 32-element steps, the pairwise reduction with horizontal adds, then a
   fused tail: the reference's single-row order. */
AVX2_FN static float vd_f32_avx2(const void *wv, const void *xv, int64_t n)
{
    const float *w = wv, *x = xv;
    __m256 a[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() };
    const int64_t np = n & ~(int64_t)31;
    for (int64_t i = 0; i < np; i += 32)
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++)
            a[k] = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8 * k), _mm256_loadu_ps(x + i + 8 * k), a[k]);
    a[0] = _mm256_add_ps(_mm256_add_ps(a[0], a[2]), _mm256_add_ps(a[1], a[3]));
    __m128 t = _mm_add_ps(_mm256_castps256_ps128(a[0]), _mm256_extractf128_ps(a[0], 1));
    t = _mm_hadd_ps(t, t);
    float s = _mm_cvtss_f32(_mm_hadd_ps(t, t));
    for (int64_t i = np; i < n; i++)
        s = fmaf(w[i], x[i], s);
    return s;
}

/* Batched rows of float weights against float activations, or half against half (n a multiple
   of 8): one 8-lane accumulator and a horizontal sum, the order of the reference's tiled
   kernel. */
AVX2_FN static float vd_f32_tile_avx2(const void *wv, const void *xv, int64_t n)
{
    const float *w = wv, *x = xv;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8)
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), acc);
    return qx_hsum256(acc);
}

AVX2_FN static float vd_f16_tile_avx2(const void *wv, const void *xv, int64_t n)
{
    const uint8_t *w = wv, *x = xv;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8)
        acc = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + 2 * i))),
                              _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + 2 * i))), acc);
    return qx_hsum256(acc);
}

/* Four accumulators over 32-element steps, reduced pairwise with horizontal adds, and a tail
   summed in double: the reference's order, so single rows round as its kernel does. */
AVX2_FN static float vd_f16_avx2(const void *wv, const void *xv, int64_t n)
{
    const uint8_t *w = wv, *x = xv;
    __m256 a[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() };
    const int64_t np = n & ~(int64_t)31;
    for (int64_t i = 0; i < np; i += 32)
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++)
            a[k] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + 2 * (i + 8 * k)))),
                                   _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + 2 * (i + 8 * k)))), a[k]);
    a[0] = _mm256_add_ps(a[0], a[2]);
    a[1] = _mm256_add_ps(a[1], a[3]);
    a[0] = _mm256_add_ps(a[0], a[1]);
    __m128 t = _mm_add_ps(_mm256_castps256_ps128(a[0]), _mm256_extractf128_ps(a[0], 1));
    t = _mm_hadd_ps(t, t);
    double s = _mm_cvtss_f32(_mm_hadd_ps(t, t));
    for (int64_t i = np; i < n; i++)
        s += (double)(f16_to_f32(rd16(w + 2 * i)) * f16_to_f32(rd16(x + 2 * i)));
    return (float)s;
}

AVX2_FN static __m256 bf16x8(const uint8_t *p)
{
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}

AVX2_FN static float vd_bf16_avx2(const void *wv, const void *xv, int64_t n)
{
    const uint8_t *w = wv, *x = xv;
    __m256 a0 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(bf16x8(w + 2 * i), bf16x8(x + 2 * i), a0);
    float s = qx_hsum256(a0);
    for (; i < n; i++)
        s += bf16_to_f32_inl(rd16(w + 2 * i)) * bf16_to_f32_inl(rd16(x + 2 * i));
    return s;
}

/* 32 signed bytes times 32 signed bytes, as 8 int32 partial sums. maddubs wants one unsigned
   operand, so the sign of w moves onto x; |w| <= 128 and |x| <= 127 keep the pairwise int16
   sums below saturation. */
AVX2_FN static __m256i dot_i8x32(__m256i w, __m256i x)
{
    const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* One accumulator in block order, as the reference's kernels (single-row and tiled) keep it:
   the quantised activations downstream are sensitive to the last bit of these sums. */
AVX2_FN static float vd_q8_0_q8_0_avx2(const void *wv, const void *xv, int64_t n)
{
    const uint8_t *p = wv, *q = xv;
    const int64_t nb = n / QK8_0;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++, p += 34, q += 34) {
        const __m256i s = dot_i8x32(_mm256_loadu_si256((const __m256i *)(p + 2)),
                                    _mm256_loadu_si256((const __m256i *)(q + 2)));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(qx_h2f(p) * qx_h2f(q)), _mm256_cvtepi32_ps(s), acc);
    }
    return qx_hsum256(acc);
}

/* Four activation rows against one weight row: each row keeps its own accumulator and
   exactly the operations of the single-row kernel above it, so the sums are identical; the
   independent chains hide the FMA latency and each weight vector is loaded once. */
AVX2_FN static void vd4_f32_tile_avx2(const void *wv, const void *xv, size_t xs, int64_t n, float *out)
{
    const float *w = wv;
    const uint8_t *xb = xv;
    const float *x0 = (const float *)xb, *x1 = (const float *)(xb + xs), *x2 = (const float *)(xb + 2 * xs),
                *x3 = (const float *)(xb + 3 * xs);
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8) {
        const __m256 wv8 = _mm256_loadu_ps(w + i);
        a0 = _mm256_fmadd_ps(wv8, _mm256_loadu_ps(x0 + i), a0);
        a1 = _mm256_fmadd_ps(wv8, _mm256_loadu_ps(x1 + i), a1);
        a2 = _mm256_fmadd_ps(wv8, _mm256_loadu_ps(x2 + i), a2);
        a3 = _mm256_fmadd_ps(wv8, _mm256_loadu_ps(x3 + i), a3);
    }
    out[0] = qx_hsum256(a0);
    out[1] = qx_hsum256(a1);
    out[2] = qx_hsum256(a2);
    out[3] = qx_hsum256(a3);
}

/* One activation row against four weight rows (rs bytes apart): the single-row kernel's one
   accumulator per weight row, so a row alone sums exactly as it does in a batch, with four
   independent chains to hide the FMA latency. */
AVX2_FN static void rows4_f32_tile_avx2(const void *wv, size_t rs, const void *xv, int64_t n, float *out)
{
    const uint8_t *w = wv;
    const float *x = xv, *w0 = (const float *)w, *w1 = (const float *)(w + rs), *w2 = (const float *)(w + 2 * rs),
                *w3 = (const float *)(w + 3 * rs);
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8) {
        const __m256 xv8 = _mm256_loadu_ps(x + i);
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + i), xv8, a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + i), xv8, a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w2 + i), xv8, a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w3 + i), xv8, a3);
    }
    out[0] = qx_hsum256(a0);
    out[1] = qx_hsum256(a1);
    out[2] = qx_hsum256(a2);
    out[3] = qx_hsum256(a3);
}

/* Two weight rows (rs bytes apart) by four activation rows: eight independent accumulators,
   out[0..3] for the first weight row, out[4..7] for the second. */
AVX2_FN static void vd8_f32_tile_avx2(const void *wv, size_t rs, const void *xv, size_t xs, int64_t n, float *out)
{
    const float *w0 = wv, *w1 = (const float *)((const uint8_t *)wv + rs);
    const uint8_t *xb = xv;
    const float *x0 = (const float *)xb, *x1 = (const float *)(xb + xs), *x2 = (const float *)(xb + 2 * xs),
                *x3 = (const float *)(xb + 3 * xs);
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps(), b2 = _mm256_setzero_ps(), b3 = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8) {
        /* the weights 8 KiB on, where a matrix's next rows follow (two rows of 32 bytes a
           step): one request a step keeps a memory-bound batch streaming (beam width 4 on a
           15M F32 model: about twice the tokens a second of no prefetch) */
        _mm_prefetch((const char *)w0 + 8192 + 8 * i, _MM_HINT_T0);
        const __m256 u = _mm256_loadu_ps(w0 + i), v = _mm256_loadu_ps(w1 + i);
        __m256 y0 = _mm256_loadu_ps(x0 + i), y1 = _mm256_loadu_ps(x1 + i), y2 = _mm256_loadu_ps(x2 + i),
               y3 = _mm256_loadu_ps(x3 + i);
        /* keep each activation vector in a register for both weight rows: folded into the
           FMAs as memory operands they are loaded twice and the loop becomes load-bound */
        __asm__("" : "+x"(y0), "+x"(y1), "+x"(y2), "+x"(y3));
        a0 = _mm256_fmadd_ps(u, y0, a0);
        a1 = _mm256_fmadd_ps(u, y1, a1);
        a2 = _mm256_fmadd_ps(u, y2, a2);
        a3 = _mm256_fmadd_ps(u, y3, a3);
        b0 = _mm256_fmadd_ps(v, y0, b0);
        b1 = _mm256_fmadd_ps(v, y1, b1);
        b2 = _mm256_fmadd_ps(v, y2, b2);
        b3 = _mm256_fmadd_ps(v, y3, b3);
    }
    qx_hsum256x8(a0, a1, a2, a3, b0, b1, b2, b3, out);
}

AVX2_FN static __m256 f16x8(const uint8_t *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

/* rows4_f32_tile_avx2 for half weights and activations */
AVX2_FN static void rows4_f16_tile_avx2(const void *wv, size_t rs, const void *xv, int64_t n, float *out)
{
    const uint8_t *w = wv, *x = xv;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8) {
        const __m256 xv8 = f16x8(x + 2 * i);
        a0 = _mm256_fmadd_ps(f16x8(w + 2 * i), xv8, a0);
        a1 = _mm256_fmadd_ps(f16x8(w + rs + 2 * i), xv8, a1);
        a2 = _mm256_fmadd_ps(f16x8(w + 2 * rs + 2 * i), xv8, a2);
        a3 = _mm256_fmadd_ps(f16x8(w + 3 * rs + 2 * i), xv8, a3);
    }
    out[0] = qx_hsum256(a0);
    out[1] = qx_hsum256(a1);
    out[2] = qx_hsum256(a2);
    out[3] = qx_hsum256(a3);
}

AVX2_FN static void vd4_f16_tile_avx2(const void *wv, const void *xv, size_t xs, int64_t n, float *out)
{
    const uint8_t *w = wv, *x = xv;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8) {
        const __m256 wv8 = f16x8(w + 2 * i);
        a0 = _mm256_fmadd_ps(wv8, f16x8(x + 2 * i), a0);
        a1 = _mm256_fmadd_ps(wv8, f16x8(x + xs + 2 * i), a1);
        a2 = _mm256_fmadd_ps(wv8, f16x8(x + 2 * xs + 2 * i), a2);
        a3 = _mm256_fmadd_ps(wv8, f16x8(x + 3 * xs + 2 * i), a3);
    }
    out[0] = qx_hsum256(a0);
    out[1] = qx_hsum256(a1);
    out[2] = qx_hsum256(a2);
    out[3] = qx_hsum256(a3);
}

/* vd4_f16_tile_avx2 for two weight rows: each activation vector is widened once for both. */
AVX2_FN static void vd8_f16_tile_avx2(const void *wv, size_t rs, const void *xv, size_t xs, int64_t n, float *out)
{
    const uint8_t *w0 = wv, *w1 = w0 + rs, *x = xv;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps(), b2 = _mm256_setzero_ps(), b3 = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8) {
        const __m256 u = f16x8(w0 + 2 * i), v = f16x8(w1 + 2 * i);
        const __m256 y0 = f16x8(x + 2 * i), y1 = f16x8(x + xs + 2 * i), y2 = f16x8(x + 2 * xs + 2 * i),
                     y3 = f16x8(x + 3 * xs + 2 * i);
        a0 = _mm256_fmadd_ps(u, y0, a0);
        a1 = _mm256_fmadd_ps(u, y1, a1);
        a2 = _mm256_fmadd_ps(u, y2, a2);
        a3 = _mm256_fmadd_ps(u, y3, a3);
        b0 = _mm256_fmadd_ps(v, y0, b0);
        b1 = _mm256_fmadd_ps(v, y1, b1);
        b2 = _mm256_fmadd_ps(v, y2, b2);
        b3 = _mm256_fmadd_ps(v, y3, b3);
    }
    qx_hsum256x8(a0, a1, a2, a3, b0, b1, b2, b3, out);
}

/* The half-weight tile kernels again, on activations widened to float beforehand (exactly:
   every half is a float), so the sums are the same bit for bit and the loop converts only
   the weights. */
AVX2_FN static float vd_f16_f32x_tile_avx2(const void *wv, const void *xv, int64_t n)
{
    const uint8_t *w = wv;
    const float *x = xv;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8)
        acc = _mm256_fmadd_ps(f16x8(w + 2 * i), _mm256_loadu_ps(x + i), acc);
    return qx_hsum256(acc);
}

AVX2_FN static void vd4_f16_f32x_tile_avx2(const void *wv, const void *xv, size_t xs, int64_t n, float *out)
{
    const uint8_t *w = wv, *xb = xv;
    const float *x0 = (const float *)(const void *)xb, *x1 = (const float *)(const void *)(xb + xs),
                *x2 = (const float *)(const void *)(xb + 2 * xs), *x3 = (const float *)(const void *)(xb + 3 * xs);
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8) {
        const __m256 u = f16x8(w + 2 * i);
        a0 = _mm256_fmadd_ps(u, _mm256_loadu_ps(x0 + i), a0);
        a1 = _mm256_fmadd_ps(u, _mm256_loadu_ps(x1 + i), a1);
        a2 = _mm256_fmadd_ps(u, _mm256_loadu_ps(x2 + i), a2);
        a3 = _mm256_fmadd_ps(u, _mm256_loadu_ps(x3 + i), a3);
    }
    out[0] = qx_hsum256(a0);
    out[1] = qx_hsum256(a1);
    out[2] = qx_hsum256(a2);
    out[3] = qx_hsum256(a3);
}

AVX2_FN static void vd8_f16_f32x_tile_avx2(const void *wv, size_t rs, const void *xv, size_t xs, int64_t n,
                                           float *out)
{
    const uint8_t *w0 = wv, *w1 = w0 + rs, *xb = xv;
    const float *x0 = (const float *)(const void *)xb, *x1 = (const float *)(const void *)(xb + xs),
                *x2 = (const float *)(const void *)(xb + 2 * xs), *x3 = (const float *)(const void *)(xb + 3 * xs);
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps(), b2 = _mm256_setzero_ps(), b3 = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8) {
        const __m256 u = f16x8(w0 + 2 * i), v = f16x8(w1 + 2 * i);
        __m256 y0 = _mm256_loadu_ps(x0 + i), y1 = _mm256_loadu_ps(x1 + i), y2 = _mm256_loadu_ps(x2 + i),
               y3 = _mm256_loadu_ps(x3 + i);
        /* loaded once for both weight rows (see vd8_f32_tile_avx2) */
        __asm__("" : "+x"(y0), "+x"(y1), "+x"(y2), "+x"(y3));
        a0 = _mm256_fmadd_ps(u, y0, a0);
        a1 = _mm256_fmadd_ps(u, y1, a1);
        a2 = _mm256_fmadd_ps(u, y2, a2);
        a3 = _mm256_fmadd_ps(u, y3, a3);
        b0 = _mm256_fmadd_ps(v, y0, b0);
        b1 = _mm256_fmadd_ps(v, y1, b1);
        b2 = _mm256_fmadd_ps(v, y2, b2);
        b3 = _mm256_fmadd_ps(v, y3, b3);
    }
    qx_hsum256x8(a0, a1, a2, a3, b0, b1, b2, b3, out);
}

AVX2_FN static void vd4_q8_0_q8_0_avx2(const void *wv, const void *xv, size_t xs, int64_t n, float *out)
{
    const uint8_t *p = wv, *q = xv;
    const int64_t nb = n / QK8_0;
    __m256 a[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() };
    for (int64_t b = 0; b < nb; b++, p += 34, q += 34) {
        const __m256i w = _mm256_loadu_si256((const __m256i *)(p + 2));
        const float dw = qx_h2f(p);
        /* unrolled, so the accumulators stay in registers */
#pragma GCC unroll 4
        for (int e = 0; e < 4; e++) {
            const uint8_t *qe = q + (size_t)e * xs;
            const __m256i s = dot_i8x32(w, _mm256_loadu_si256((const __m256i *)(qe + 2)));
            a[e] = _mm256_fmadd_ps(_mm256_set1_ps(dw * qx_h2f(qe)), _mm256_cvtepi32_ps(s), a[e]);
        }
    }
    for (int e = 0; e < 4; e++)
        out[e] = qx_hsum256(a[e]);
}

/* vd_f32_avx2 and vd_f16_avx2 for four activation rows: each row's vector part exactly as
   there, and the rows' sequential tails interleaved so their dependency chains overlap. */
AVX2_FN static void vd4_f32_avx2(const void *wv, const void *xv, size_t xs, int64_t n, float *out)
{
    const float *w = wv;
    const int64_t np = n & ~(int64_t)31;
    float s[4];
    const float *x[4];
    for (int r = 0; r < 4; r++) {
        x[r] = (const float *)((const uint8_t *)xv + (size_t)r * xs);
        __m256 a[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() };
        for (int64_t i = 0; i < np; i += 32)
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++)
                a[k] = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8 * k), _mm256_loadu_ps(x[r] + i + 8 * k), a[k]);
        a[0] = _mm256_add_ps(_mm256_add_ps(a[0], a[2]), _mm256_add_ps(a[1], a[3]));
        __m128 t = _mm_add_ps(_mm256_castps256_ps128(a[0]), _mm256_extractf128_ps(a[0], 1));
        t = _mm_hadd_ps(t, t);
        s[r] = _mm_cvtss_f32(_mm_hadd_ps(t, t));
    }
    for (int64_t i = np; i < n; i++) {
        const float wi = w[i];
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
            s[r] = fmaf(wi, x[r][i], s[r]);
    }
    for (int r = 0; r < 4; r++)
        out[r] = s[r];
}

AVX2_FN static void vd4_f16_avx2(const void *wv, const void *xv, size_t xs, int64_t n, float *out)
{
    const uint8_t *w = wv;
    const int64_t np = n & ~(int64_t)31;
    double s[4];
    const uint8_t *x[4];
    for (int r = 0; r < 4; r++) {
        x[r] = (const uint8_t *)xv + (size_t)r * xs;
        __m256 a[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() };
        for (int64_t i = 0; i < np; i += 32)
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++)
                a[k] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + 2 * (i + 8 * k)))),
                                       _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x[r] + 2 * (i + 8 * k)))), a[k]);
        a[0] = _mm256_add_ps(a[0], a[2]);
        a[1] = _mm256_add_ps(a[1], a[3]);
        a[0] = _mm256_add_ps(a[0], a[1]);
        __m128 t = _mm_add_ps(_mm256_castps256_ps128(a[0]), _mm256_extractf128_ps(a[0], 1));
        t = _mm_hadd_ps(t, t);
        s[r] = _mm_cvtss_f32(_mm_hadd_ps(t, t));
    }
    for (int64_t i = np; i < n; i++) {
        const float wi = qx_h2f(w + 2 * i);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
            s[r] += (double)(wi * qx_h2f(x[r] + 2 * i));
    }
    for (int r = 0; r < 4; r++)
        out[r] = (float)s[r];
}

AVX2_FN static float vd_q4_0_q8_0_avx2(const void *wv, const void *xv, int64_t n)
{
    const uint8_t *p = wv, *q = xv;
    const __m256i lo4 = _mm256_set1_epi8(0x0F), eight = _mm256_set1_epi8(8);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / QK4_0; b++, p += 18, q += 34) {
        const __m128i v = _mm_loadu_si128((const __m128i *)(p + 2));
        /* elements 0..15 are the low nibbles, 16..31 the high ones */
        __m256i w = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), lo4);
        w = _mm256_sub_epi8(w, eight);
        const __m256i s = dot_i8x32(w, _mm256_loadu_si256((const __m256i *)(q + 2)));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(qx_h2f(p) * qx_h2f(q)), _mm256_cvtepi32_ps(s), acc);
    }
    return qx_hsum256(acc);
}

int quant_have_avx2(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
}

#else

int quant_have_avx2(void)
{
    return 0;
}

int quant_dequant_row_fast(uint32_t type, const void *row, float *out, int64_t n)
{
    (void)type, (void)row, (void)out, (void)n;
    return 0;
}

#endif

quant_vec_dot4_fn quant_dot4_kernel(quant_vec_dot_fn single)
{
#ifdef QUANT_X86
    const quant_vec_dot4_fn v = quant_avx512_dot4(single), k = quant_kquant_avx2_dot4(single);
    if (v || k)
        return v ? v : k;
    if (single == vd_f32_tile_avx2)
        return vd4_f32_tile_avx2;
    if (single == vd_f16_tile_avx2)
        return vd4_f16_tile_avx2;
    if (single == vd_f16_f32x_tile_avx2)
        return vd4_f16_f32x_tile_avx2;
    if (single == vd_q8_0_q8_0_avx2)
        return vd4_q8_0_q8_0_avx2;
    if (single == vd_f32_avx2)
        return vd4_f32_avx2;
    if (single == vd_f16_avx2)
        return vd4_f16_avx2;
#else
    (void)single;
#endif
    return NULL;
}

quant_vec_dot4x2_fn quant_dot4x2_kernel(quant_vec_dot_fn single)
{
#ifdef QUANT_X86
    const quant_vec_dot4x2_fn v = quant_avx512_dot4x2(single);
    if (v)
        return v;
    if (single == vd_f32_tile_avx2)
        return vd8_f32_tile_avx2;
    if (single == vd_f16_tile_avx2)
        return vd8_f16_tile_avx2;
    if (single == vd_f16_f32x_tile_avx2)
        return vd8_f16_f32x_tile_avx2;
#else
    (void)single;
#endif
    return NULL;
}

quant_vec_rows4_fn quant_rows4_kernel(quant_vec_dot_fn single)
{
#ifdef QUANT_X86
    if (single == vd_f32_tile_avx2)
        return rows4_f32_tile_avx2;
    if (single == vd_f16_tile_avx2)
        return rows4_f16_tile_avx2;
#endif
    return quant_avx512_rows4(single);
}

int quant_isa(void)
{
    return quant_have_avx512vnni() ? QUANT_ISA_AVX512 : quant_have_avx2() ? QUANT_ISA_AVX2 : QUANT_ISA_PORTABLE;
}

quant_vec_dot_fn quant_tile_dot_kernel(uint32_t wtype)
{
#ifdef QUANT_X86
    switch (wtype) {
    case GGML_TYPE_F32: return vd_f32_tile_avx2;
    case GGML_TYPE_F16: return vd_f16_tile_avx2;
    default: return NULL;
    }
#else
    (void)wtype;
    return NULL;
#endif
}

quant_vec_dot_fn quant_tile_dot_f32act_kernel(uint32_t wtype)
{
#ifdef QUANT_X86
    switch (wtype) {
    case GGML_TYPE_F32: return vd_f32_tile_avx2;
    case GGML_TYPE_F16: return vd_f16_f32x_tile_avx2;
    default: return NULL;
    }
#else
    (void)wtype;
    return NULL;
#endif
}

quant_vec_dot_fn quant_vec_dot_kernel(uint32_t wtype, int isa)
{
    if (isa >= QUANT_ISA_AVX512) {
        const quant_vec_dot_fn v = quant_avx512_dot(wtype);
        if (v)
            return v;
    }
#ifdef QUANT_X86
    if (isa >= QUANT_ISA_AVX2)
        switch (wtype) {
        case GGML_TYPE_F32: return vd_f32_avx2;
        case GGML_TYPE_F16: return vd_f16_avx2;
        case GGML_TYPE_BF16: return vd_bf16_avx2;
        case GGML_TYPE_Q8_0: return vd_q8_0_q8_0_avx2;
        case GGML_TYPE_Q4_0: return vd_q4_0_q8_0_avx2;
        case GGML_TYPE_Q4_K:
        case GGML_TYPE_Q6_K: return quant_kquant_avx2_dot(wtype);
        default: return vd_none;
        }
#endif
    switch (wtype) {
    case GGML_TYPE_F32: return vd_f32;
    case GGML_TYPE_F16: return vd_f16;
    case GGML_TYPE_BF16: return vd_bf16;
    case GGML_TYPE_Q8_0: return vd_q8_0_q8_0;
    case GGML_TYPE_Q4_0: return vd_q4_0_q8_0;
    case GGML_TYPE_Q4_K: return vd_q4_K_q8_K;
    case GGML_TYPE_Q6_K: return vd_q6_K_q8_K;
    default: return vd_none;
    }
}

static int nearest_int(float v)
{
    return (int)lrintf(v);
}

static void quantize_q4_K_block(const float *x, uint8_t *blk)
{
    float scale[8], minv[8], dmax = 0.0f, mmax = 0.0f;
    uint8_t sc[8], mn[8];
    for (int j = 0; j < 8; j++) {
        float lo = 0.0f, hi = x[32 * j];
        for (int l = 0; l < 32; l++) {
            lo = fminf(lo, x[32 * j + l]);
            hi = fmaxf(hi, x[32 * j + l]);
        }
        scale[j] = (hi - lo) / 15.0f;
        minv[j] = -lo;
        dmax = fmaxf(dmax, scale[j]);
        mmax = fmaxf(mmax, minv[j]);
    }
    const float d = dmax / 63.0f, dmin = mmax / 63.0f;
    uint16_t hd = quant_f32_to_f16(d), hm = quant_f32_to_f16(dmin);
    memcpy(blk, &hd, 2);
    memcpy(blk + 2, &hm, 2);
    const float dq = f16_to_f32(hd), mq = f16_to_f32(hm);
    for (int j = 0; j < 8; j++) {
        int a = dq > 0 ? nearest_int(scale[j] / dq) : 0, b = mq > 0 ? nearest_int(minv[j] / mq) : 0;
        sc[j] = (uint8_t)(a < 0 ? 0 : a > 63 ? 63 : a);
        mn[j] = (uint8_t)(b < 0 ? 0 : b > 63 ? 63 : b);
    }
    uint8_t *s = blk + 4;
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)(sc[j] | ((sc[j + 4] >> 4) << 6));
        s[j + 4] = (uint8_t)(mn[j] | ((mn[j + 4] >> 4) << 6));
        s[j + 8] = (uint8_t)((sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4));
    }
    uint8_t *q = blk + 16;
    for (int j = 0; j < 8; j += 2) {
        uint8_t qq[2][32];
        for (int h = 0; h < 2; h++) {
            const float dd = dq * sc[j + h], mm = mq * mn[j + h];
            for (int l = 0; l < 32; l++) {
                int v = dd > 0 ? nearest_int((x[32 * (j + h) + l] + mm) / dd) : 0;
                qq[h][l] = (uint8_t)(v < 0 ? 0 : v > 15 ? 15 : v);
            }
        }
        for (int l = 0; l < 32; l++)
            q[16 * j + l] = (uint8_t)(qq[0][l] | (qq[1][l] << 4));
    }
}

static void quantize_q6_K_block(const float *x, uint8_t *blk)
{
    float sub[16], amax = 0.0f;
    for (int j = 0; j < 16; j++) {
        float m = 0.0f;
        for (int l = 0; l < 16; l++)
            m = fmaxf(m, fabsf(x[16 * j + l]));
        sub[j] = m / 31.0f;
        amax = fmaxf(amax, sub[j]);
    }
    const float d = amax / 127.0f;
    uint16_t hd = quant_f32_to_f16(d);
    const float dq = f16_to_f32(hd);
    int8_t *sc = (int8_t *)(blk + 192);
    for (int j = 0; j < 16; j++) {
        int v = dq > 0 ? nearest_int(sub[j] / dq) : 0;
        sc[j] = (int8_t)(v > 127 ? 127 : v);
    }
    uint8_t L[QK_K];
    for (int i = 0; i < QK_K; i++) {
        const float dd = dq * sc[i / 16];
        int v = dd > 0 ? nearest_int(x[i] / dd) : 0;
        v = v < -32 ? -32 : v > 31 ? 31 : v;
        L[i] = (uint8_t)(v + 32);
    }
    uint8_t *ql = blk, *qh = blk + 128;
    memset(blk, 0, 192);
    for (int n = 0; n < QK_K; n += 128, ql += 64, qh += 32)
        for (int l = 0; l < 32; l++) {
            const uint8_t q1 = L[n + l], q2 = L[n + l + 32], q3 = L[n + l + 64], q4 = L[n + l + 96];
            ql[l] = (uint8_t)((q1 & 0xF) | ((q3 & 0xF) << 4));
            ql[l + 32] = (uint8_t)((q2 & 0xF) | ((q4 & 0xF) << 4));
            qh[l] = (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
        }
    memcpy(blk + 208, &hd, 2);
}

size_t quant_quantize_row(uint32_t type, const float *x, void *out, int64_t n)
{
    uint8_t *p = out;
    switch (type) {
    case GGML_TYPE_F32:
        memcpy(out, x, (size_t)n * 4);
        return (size_t)n * 4;
    case GGML_TYPE_F16:
    case GGML_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = type == GGML_TYPE_F16 ? quant_f32_to_f16(x[i]) : quant_f32_to_bf16(x[i]);
            memcpy(p + 2 * i, &h, 2);
        }
        return (size_t)n * 2;
    case GGML_TYPE_Q8_0:
        for (int64_t b = 0; b < n / QK8_0; b++, p += 34, x += QK8_0) {
            float amax = 0.0f;
            for (int j = 0; j < QK8_0; j++)
                amax = fmaxf(amax, fabsf(x[j]));
            const float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
            uint16_t hd = quant_f32_to_f16(d);
            memcpy(p, &hd, 2);
            for (int j = 0; j < QK8_0; j++)
                p[2 + j] = (uint8_t)(int8_t)nearest_int(x[j] * id);
        }
        return quant_row_bytes(type, n);
    case GGML_TYPE_Q4_0:
        for (int64_t b = 0; b < n / QK4_0; b++, p += 18, x += QK4_0) {
            float amax = 0.0f, mx = 0.0f;
            for (int j = 0; j < QK4_0; j++)
                if (fabsf(x[j]) > amax) {
                    amax = fabsf(x[j]);
                    mx = x[j];
                }
            const float d = mx / -8.0f, id = d != 0 ? 1.0f / d : 0.0f;
            uint16_t hd = quant_f32_to_f16(d);
            memcpy(p, &hd, 2);
            for (int j = 0; j < 16; j++) {
                int a = nearest_int(x[j] * id) + 8, c = nearest_int(x[j + 16] * id) + 8;
                a = a < 0 ? 0 : a > 15 ? 15 : a;
                c = c < 0 ? 0 : c > 15 ? 15 : c;
                p[2 + j] = (uint8_t)(a | (c << 4));
            }
        }
        return quant_row_bytes(type, n);
    case GGML_TYPE_Q4_K:
        for (int64_t b = 0; b < n / QK_K; b++)
            quantize_q4_K_block(x + b * QK_K, p + b * 144);
        return quant_row_bytes(type, n);
    case GGML_TYPE_Q6_K:
        for (int64_t b = 0; b < n / QK_K; b++)
            quantize_q6_K_block(x + b * QK_K, p + b * 210);
        return quant_row_bytes(type, n);
    default:
        return 0;
    }
}
