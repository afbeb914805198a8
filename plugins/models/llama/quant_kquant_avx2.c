/* quant_kquant_avx2.c -- Q4_K and Q6_K dot products with AVX2, for one or four activation rows. */
#include "quant_kquant.h"

#if defined(__x86_64__) || defined(__i386__)

#include "quant_x86.h"

/* A super-block of 256 weights as eight 32-byte vectors of unsigned values (Q4_K: 0..15;
   Q6_K: the value +32, 0..63) and, per vector, its 16 int16 multipliers: maddubs pairs
   bytes (2i, 2i+1), so lanes 0..7 cover the vector's first 16 weights and 8..15 the next
   16. Q4_K has one scale per 32 weights, Q6_K one per 16. */
typedef struct kblock {
    __m256i w[8], sc[8];
} kblock;

/* Q4_K: mins[k] multiplies the sum of activations k*32 .. k*32+31 */
static inline QX_AVX2 __attribute__((always_inline)) void kblock_q4_K(const uint8_t *p, kblock *b, int *mins)
{
    const __m256i lo4 = _mm256_set1_epi8(0x0F);
    const uint8_t *q = p + 16;
    for (int g = 0; g < 4; g++, q += 32) {
        uint8_t s1, m1, s2, m2;
        scale_min_k4(2 * g, p + 4, &s1, &m1);
        scale_min_k4(2 * g + 1, p + 4, &s2, &m2);
        const __m256i v = _mm256_loadu_si256((const __m256i *)q);
        b->w[2 * g] = _mm256_and_si256(v, lo4);
        b->w[2 * g + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), lo4);
        b->sc[2 * g] = _mm256_set1_epi16(s1);
        b->sc[2 * g + 1] = _mm256_set1_epi16(s2);
        mins[2 * g] = m1;
        mins[2 * g + 1] = m2;
    }
}

static inline QX_AVX2 __attribute__((always_inline)) void kblock_q6_K(const uint8_t *p, kblock *b)
{
    const __m256i lo4 = _mm256_set1_epi8(0x0F), hi2 = _mm256_set1_epi8(0x30);
    const uint8_t *ql = p, *qh = p + 128;
    const int8_t *sc = (const int8_t *)(p + 192);
    for (int h = 0; h < 2; h++, ql += 64, qh += 32) {
        const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql), l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
        const __m256i hb = _mm256_loadu_si256((const __m256i *)qh);
        /* the four 32-weight runs of this half, in element order */
        b->w[4 * h] = _mm256_or_si256(_mm256_and_si256(l0, lo4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), hi2));
        b->w[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(l1, lo4), _mm256_and_si256(_mm256_slli_epi16(hb, 2), hi2));
        b->w[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), lo4), _mm256_and_si256(hb, hi2));
        b->w[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), lo4),
                                          _mm256_and_si256(_mm256_srli_epi16(hb, 2), hi2));
    }
    for (int k = 0; k < 8; k++)
        b->sc[k] = _mm256_setr_m128i(_mm_set1_epi16(sc[2 * k]), _mm_set1_epi16(sc[2 * k + 1]));
}

static inline QX_AVX2 __attribute__((always_inline)) int hsum_i32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

/* sum over the block of multiplier * weight * activation, plus the products in acc0, exactly
   (int32 throughout: |multiplier| < 128 and the pair sums below 2 * 63 * 127) */
static inline QX_AVX2 __attribute__((always_inline)) int kblock_dot_plus(const kblock *b, const int8_t *q8, __m256i acc0)
{
    __m256i acc = acc0;
    for (int k = 0; k < 8; k++) {
        const __m256i pr = _mm256_maddubs_epi16(b->w[k], _mm256_loadu_si256((const __m256i *)(q8 + 32 * k)));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pr, b->sc[k]));
    }
    return hsum_i32(acc);
}

static inline QX_AVX2 __attribute__((always_inline)) int kblock_dot(const kblock *b, const int8_t *q8)
{
    return kblock_dot_plus(b, q8, _mm256_setzero_si256());
}

/* The Q8_K activation block's fields (see block_q8_K) */
static inline QX_AVX2 __attribute__((always_inline)) float q8k_d(const uint8_t *y)
{
    float d;
    memcpy(&d, y, 4);
    return d;
}
#define Q8K_QS(y) ((const int8_t *)((y) + 4))

static inline QX_AVX2 __attribute__((always_inline)) __m256i q8k_bsums(const uint8_t *y)
{
    return _mm256_loadu_si256((const __m256i *)(y + 4 + QK_K));
}

/* C activation rows xs bytes apart; the portable kernel's integer sums and its float
   expression per block, so the results are bit-identical to it */
static inline QX_AVX2 __attribute__((always_inline)) void q4_K_rows(const void *wv, const void *xv, size_t xs,
                                                                     int64_t n, float *out, const int C)
{
    const uint8_t *p = wv, *x = xv;
    float sum[4] = { 0.0f, 0.0f, 0.0f, 0.0f };
    for (int64_t b = 0; b < n / QK_K; b++, p += 144) {
        kblock kb;
        int mins[8];
        kblock_q4_K(p, &kb, mins);
        /* each min against the two sums of 16 it covers, as int16 pairs for madd */
        const __m256i mv = _mm256_setr_epi16((int16_t)mins[0], (int16_t)mins[0], (int16_t)mins[1], (int16_t)mins[1],
                                             (int16_t)mins[2], (int16_t)mins[2], (int16_t)mins[3], (int16_t)mins[3],
                                             (int16_t)mins[4], (int16_t)mins[4], (int16_t)mins[5], (int16_t)mins[5],
                                             (int16_t)mins[6], (int16_t)mins[6], (int16_t)mins[7], (int16_t)mins[7]);
        uint16_t hd, hm;
        memcpy(&hd, p, 2);
        memcpy(&hm, p + 2, 2);
        const float d = _cvtsh_ss(hd), dmin = _cvtsh_ss(hm);
        for (int c = 0; c < C; c++) {
            const uint8_t *y = x + (size_t)c * xs + (size_t)b * sizeof(block_q8_K);
            const int sumi = kblock_dot(&kb, Q8K_QS(y));
            const int summ = hsum_i32(_mm256_madd_epi16(q8k_bsums(y), mv));
            const float dy = q8k_d(y);
            sum[c] += dy * d * (float)sumi - dy * dmin * (float)summ;
        }
    }
    for (int c = 0; c < C; c++)
        out[c] = sum[c];
}

static inline QX_AVX2 __attribute__((always_inline)) void q6_K_rows(const void *wv, const void *xv, size_t xs,
                                                                     int64_t n, float *out, const int C)
{
    const uint8_t *p = wv, *x = xv;
    float sum[4] = { 0.0f, 0.0f, 0.0f, 0.0f };
    for (int64_t b = 0; b < n / QK_K; b++, p += 210) {
        kblock kb;
        kblock_q6_K(p, &kb);
        /* the weights carry +32: -32 * scale against each sum of 16 activations takes it away */
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(p + 192)));
        const __m256i scm = _mm256_mullo_epi16(sc16, _mm256_set1_epi16(-32));
        uint16_t hd;
        memcpy(&hd, p + 208, 2);
        const float d = _cvtsh_ss(hd);
        for (int c = 0; c < C; c++) {
            const uint8_t *y = x + (size_t)c * xs + (size_t)b * sizeof(block_q8_K);
            const int sumi = kblock_dot_plus(&kb, Q8K_QS(y), _mm256_madd_epi16(q8k_bsums(y), scm));
            sum[c] += q8k_d(y) * d * (float)sumi;
        }
    }
    for (int c = 0; c < C; c++)
        out[c] = sum[c];
}

static QX_AVX2 float q4_K_1(const void *w, const void *x, int64_t n)
{
    float o;
    q4_K_rows(w, x, 0, n, &o, 1);
    return o;
}
static QX_AVX2 void q4_K_4(const void *w, const void *x, size_t xs, int64_t n, float *out)
{
    q4_K_rows(w, x, xs, n, out, 4);
}
static QX_AVX2 float q6_K_1(const void *w, const void *x, int64_t n)
{
    float o;
    q6_K_rows(w, x, 0, n, &o, 1);
    return o;
}
static QX_AVX2 void q6_K_4(const void *w, const void *x, size_t xs, int64_t n, float *out)
{
    q6_K_rows(w, x, xs, n, out, 4);
}

quant_vec_dot_fn quant_kquant_avx2_dot(uint32_t wtype)
{
    return wtype == GGML_TYPE_Q4_K ? q4_K_1 : wtype == GGML_TYPE_Q6_K ? q6_K_1 : NULL;
}

quant_vec_dot4_fn quant_kquant_avx2_dot4(quant_vec_dot_fn single)
{
    return single == q4_K_1 ? q4_K_4 : single == q6_K_1 ? q6_K_4 : NULL;
}

#else

quant_vec_dot_fn quant_kquant_avx2_dot(uint32_t wtype)
{
    (void)wtype;
    return NULL;
}

quant_vec_dot4_fn quant_kquant_avx2_dot4(quant_vec_dot_fn single)
{
    (void)single;
    return NULL;
}

#endif
