/* forward.c -- the llama block forward pass over rows of (sequence, position, cache slot), and
   the sequence operations built on it: tree, accept, truncate, fork, stateless masked. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decokit/plugin.h"
#include "forward.h"
#include "quant.h"
#include "quant_amx.h"

/* Floats of attention scratch per thread: rounded query and accumulator, then scores,
   running maxima and visible slot ids (int32, same size as float) for up to n_ctx rows. */
/* a query and an accumulator, then slots, weights and maxima for up to four rows at once */
static size_t scratch_per_thread(const llm_hparams *hp, int n_ctx)
{
    return 2 * (size_t)hp->head_dim + 12 * (size_t)n_ctx;
}

llm_ctx *llm_ctx_create(const llm_model *m, int n_threads, int n_ctx, char *err, size_t errlen)
{
    const llm_hparams *hp = &m->hp;
    llm_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        gguf_errf(err, errlen, "out of memory");
        return NULL;
    }
    c->m = m;
    c->n_ctx = n_ctx > 0 ? n_ctx : hp->n_ctx_train;
    if (n_threads < 1)
        n_threads = 1;
    c->pool = llm_pool_create(n_threads);
    c->scores = malloc((size_t)n_threads * scratch_per_thread(hp, c->n_ctx) * sizeof *c->scores);
    if (!c->pool || !c->scores) {
        gguf_errf(err, errlen, "out of memory (context of %d positions, %d threads)", c->n_ctx, n_threads);
        llm_ctx_free(c);
        return NULL;
    }
    c->mc.pool = c->pool;
    c->mc.isa = quant_isa();
    c->mc.amx = c->mc.isa >= QUANT_ISA_AVX512 && quant_have_amx();
    c->attn_avx2 = c->mc.isa >= QUANT_ISA_AVX2 && hp->head_dim % 8 == 0;
    c->theta_scale = powf(hp->rope_theta, -2.0f / (float)hp->n_rot);
    kv_init(&c->kv, hp->n_layer, hp->n_head_kv * hp->head_dim, c->n_ctx);
    return c;
}

void llm_ctx_free(llm_ctx *c)
{
    if (!c)
        return;
    kv_destroy(&c->kv);
    llm_pool_free(c->pool);
    free(c->mc.tile);
    free(c->mc.act);
    free(c->mc.actf);
    free(c->mc.pack);
    free(c->mc.kpack);
    free(c->scores);
    free(c->bk);
    free(c->bv);
    free(c->bq);
    free(c->bs);
    free(c->x);
    free(c->xn);
    free(c->q);
    free(c->k);
    free(c->v);
    free(c->att);
    free(c->g);
    free(c->u);
    free(c->tmp);
    free(c);
}

int llm_ctx_n_ctx(const llm_ctx *c)
{
    return c->n_ctx;
}

static int grow(float **p, size_t n)
{
    float *q = realloc(*p, n * sizeof *q);
    if (!q)
        return -1;
    *p = q;
    return 0;
}

static int ensure_rows(llm_ctx *c, int n)
{
    if (n <= c->cap_rows)
        return 0;
    const llm_hparams *hp = &c->m->hp;
    size_t d = (size_t)hp->n_embd, qd = (size_t)hp->n_head * hp->head_dim,
           kvd = (size_t)hp->n_head_kv * hp->head_dim, ff = (size_t)hp->n_ff, r = (size_t)n;
    if (grow(&c->x, r * d) || grow(&c->xn, r * d) || grow(&c->q, r * qd) || grow(&c->k, r * kvd) ||
        grow(&c->v, r * kvd) || grow(&c->att, r * qd) || grow(&c->g, r * ff) || grow(&c->u, r * ff) ||
        grow(&c->tmp, r * d))
        return -1;
    c->cap_rows = n;
    return 0;
}

static void rmsnorm(const float *x, const float *w, float *out, int n, float eps)
{
    double ss = 0.0;
    for (int i = 0; i < n; i++)
        ss += (double)(x[i] * x[i]);
    const float mean = (float)(ss / n), scale = 1.0f / sqrtf(mean + eps);
    for (int i = 0; i < n; i++)
        out[i] = x[i] * scale * w[i];
}

static void rope(const llm_ctx *c, float *v, int n_heads, int pos)
{
    const llm_hparams *hp = &c->m->hp;
    const int hd = hp->head_dim, half = hp->n_rot / 2;
    const float *ff = c->m->rope_freq_factors;
    /* the angle advances by repeated float products, as the reference forms it */
    float theta = (float)pos;
    for (int i = 0; i < half; i++, theta *= c->theta_scale) {
        const float a = hp->rope_freq_scale * (ff ? theta / ff[i] : theta), cs = cosf(a), sn = sinf(a);
        for (int h = 0; h < n_heads; h++) {
            float *p = v + (size_t)h * hd;
            const int i0 = hp->rope_neox ? i : 2 * i, i1 = hp->rope_neox ? i + half : 2 * i + 1;
            const float x0 = p[i0], x1 = p[i1];
            p[i0] = fmaf(x0, cs, -(x1 * sn));
            p[i1] = fmaf(x0, sn, x1 * cs);
        }
    }
}

typedef struct attn_job {
    llm_ctx *c;
    const fw_row *rows;
    int n, layer;
} attn_job;

static float round_half(float x)
{
    return quant_f16_to_f32(quant_f32_to_f16(x));
}

/* element i of a cached key: halves in the cache, float in the batched copy */
static float kq_elem(const void *k, int half, size_t i)
{
    return half ? quant_f16_to_f32(((const uint16_t *)k)[i]) : ((const float *)k)[i];
}

/* q . k for a query rounded to half and a key k[t * kstride], summed as the reference's
   half-precision dot product sums: four 8-lane accumulators over 32-element steps, a fixed
   reduction tree, then the tail in double. Products of two halves are exact in float, so this
   reproduces its scores bit for bit; the quantised activations downstream amplify any
   difference in the last bit. */
static float kq_dot(const float *q, const void *k, int half, size_t kstride, int hd)
{
    const int np = hd & ~31;
    double sum = 0.0;
    if (np) {
        float a[4][8] = { { 0 } };
        for (int i = 0; i < np; i += 32)
            for (int j = 0; j < 4; j++)
                for (int l = 0; l < 8; l++)
                    a[j][l] = fmaf(q[i + 8 * j + l], kq_elem(k, half, (size_t)(i + 8 * j + l) * kstride), a[j][l]);
        float t[4];
        for (int l = 0; l < 8; l++)
            a[0][l] = (a[0][l] + a[2][l]) + (a[1][l] + a[3][l]);
        for (int l = 0; l < 4; l++)
            t[l] = a[0][l] + a[0][l + 4];
        sum = (t[0] + t[1]) + (t[2] + t[3]);
    }
    for (int i = np; i < hd; i++)
        sum += (double)(q[i] * kq_elem(k, half, (size_t)i * kstride));
    return (float)sum;
}

/* Visits one cached row for the online softmax. The rounding mirrors the reference CPU
   flash-attention kernel over an F16 cache (Q converted to half for the dot product, the V
   accumulator kept in half), which is what keeps logits within 1e-3 of its outputs. */
static void attend_slot(const uint16_t *k, const uint16_t *v, const float *qh, float *acc, int hd, float scale,
                        float *M, float *S)
{
    const float d = kq_dot(qh, k, 1, 1, hd) * scale;
    float ms = 1.0f, vs = 1.0f;
    if (d > *M) {
        ms = expf(*M - d);
        *M = d;
        for (int t = 0; t < hd; t++)
            acc[t] = round_half(acc[t] * ms);
    } else {
        vs = expf(d - *M);
    }
    for (int t = 0; t < hd; t++)
        acc[t] = round_half(fmaf(quant_f16_to_f32(v[t]), vs, acc[t]));
    *S = fmaf(*S, ms, vs); /* the reference's compiler contracts S * ms + vs */
}

/* The slots row r attends to, in position order: the prefix, then its tree ancestors from the
   root down to itself (the order fixes how the half-precision accumulator rounds). */
static int visible_slots(const fw_row *r, int32_t *slots)
{
    int nv = 0;
    for (int32_t j = 0; j < r->n_prefix; j++)
        slots[nv++] = j;
    if (r->parents) {
        const int first = nv;
        for (int32_t a = r->node; a >= 0; a = r->parents[a])
            slots[nv++] = r->tree_base + a;
        for (int i = first, k = nv - 1; i < k; i++, k--) {
            const int32_t t = slots[i];
            slots[i] = slots[k];
            slots[k] = t;
        }
    }
    return nv;
}

static void attend_one(llm_ctx *c, const fw_row *r, int layer, const float *q, float *out, float *buf, int h)
{
    const llm_hparams *hp = &c->m->hp;
    const int hd = hp->head_dim, kvh = h / (hp->n_head / hp->n_head_kv);
    const kv_seq *s = &c->kv.seqs[r->seq];
    const float scale = 1.0f / sqrtf((float)hd);
    float *qh = buf, *acc = buf + hd, M = -INFINITY, S = 0.0f;
    int32_t *slots = (int32_t *)(buf + 2 * hd + 2 * (size_t)c->n_ctx);
    for (int t = 0; t < hd; t++) {
        qh[t] = round_half(q[t]);
        acc[t] = 0.0f;
    }
    const size_t off = (size_t)kvh * hd;
    const int nv = visible_slots(r, slots);
    for (int j = 0; j < nv; j++)
        attend_slot(kv_k(&c->kv, s, layer, slots[j]) + off, kv_v(&c->kv, s, layer, slots[j]) + off, qh, acc, hd,
                    scale, &M, &S);
    const float inv = 1.0f / S;
    for (int t = 0; t < hd; t++)
        out[t] = acc[t] * inv;
}

#if defined(__x86_64__)
#include <immintrin.h>
#define ATTN_AVX2 __attribute__((target("avx2,fma,f16c")))

ATTN_AVX2 static __m256 round_half8(__m256 v)
{
    return _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

/* expf over an array, eight at a time: exp in double (range reduction by k ln2, degree-11
   Taylor polynomial, relative error far below 1e-12), rounded to float only where every value
   within 2^-30 relative of it rounds to the same float. The libm expf is within 0.502 ulp, so
   its result is that same float; lanes near a rounding boundary, and arguments outside
   [-103, 0], take expf itself. Results therefore equal expf's bit for bit. */
ATTN_AVX2 static __m256d exp4d(__m256d x)
{
    const __m256d k = _mm256_round_pd(_mm256_mul_pd(x, _mm256_set1_pd(1.4426950408889634)),
                                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256d r = _mm256_fnmadd_pd(k, _mm256_set1_pd(6.93147180369123816490e-01), x);
    r = _mm256_fnmadd_pd(k, _mm256_set1_pd(1.90821492927058770002e-10), r);
    __m256d p = _mm256_set1_pd(1.0 / 39916800.0);
    static const double inv_fact[] = { 1.0 / 3628800.0, 1.0 / 362880.0, 1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0,
                                       1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0 };
    for (int i = 0; i < 11; i++)
        p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(inv_fact[i]));
    const __m256i e = _mm256_slli_epi64(
        _mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(k)), _mm256_set1_epi64x(1023)), 52);
    return _mm256_mul_pd(p, _mm256_castsi256_pd(e));
}

ATTN_AVX2 static void expf_array(float *v, int n)
{
    /* a short tail goes through the vector path in a padded copy */
    const int tail = n & 7;
    if (tail) {
        float pad[8] = { 0 };
        memcpy(pad, v + n - tail, (size_t)tail * sizeof *v);
        expf_array(pad, 8);
        memcpy(v + n - tail, pad, (size_t)tail * sizeof *v);
        n -= tail;
    }
    const __m256d up = _mm256_set1_pd(1.0 + 0x1p-30), dn = _mm256_set1_pd(1.0 - 0x1p-30);
    for (int i = 0; i < n; i += 8) {
        const __m256 x = _mm256_loadu_ps(v + i);
        const __m256d lo = exp4d(_mm256_cvtps_pd(_mm256_castps256_ps128(x)));
        const __m256d hi = exp4d(_mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)));
        const __m256 y = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm256_cvtpd_ps(lo)), _mm256_cvtpd_ps(hi), 1);
        const __m256 yu = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm256_cvtpd_ps(_mm256_mul_pd(lo, up))),
                                               _mm256_cvtpd_ps(_mm256_mul_pd(hi, up)), 1);
        const __m256 yd = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm256_cvtpd_ps(_mm256_mul_pd(lo, dn))),
                                               _mm256_cvtpd_ps(_mm256_mul_pd(hi, dn)), 1);
        /* in range (NaN fails both) and unambiguous */
        const __m256 ok = _mm256_and_ps(
            _mm256_and_ps(_mm256_cmp_ps(x, _mm256_set1_ps(-103.0f), _CMP_GE_OQ), _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LE_OQ)),
            _mm256_cmp_ps(yu, yd, _CMP_EQ_OQ));
        const int m = _mm256_movemask_ps(ok);
        _mm256_storeu_ps(v + i, y);
        if (m != 0xff)
            for (int l = 0; l < 8; l++)
                if (!(m >> l & 1))
                    v[i + l] = expf(_mm256_cvtss_f32(_mm256_permutevar8x32_ps(x, _mm256_set1_epi32(l))));
    }
}

/* n (a multiple of 8) floats to halves with F16C: the same rounding as quant_f32_to_f16 for
   every float but NaN */
ATTN_AVX2 static void store_half_avx2(uint16_t *dst, const float *src, int n)
{
    for (int t = 0; t < n; t += 8)
        _mm_storeu_si128((__m128i *)(dst + t),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + t), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

/* kq_dot for a half-precision key with F16C: the same lanes, steps and reduction tree (the
   horizontal adds pair t0+t1 and t2+t3 before adding them), so the scores are identical. */
ATTN_AVX2 static float kq_dot_half(const float *q, const uint16_t *k, int hd)
{
    const int np = hd & ~31;
    double sum = 0.0;
    if (np) {
        __m256 a[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() };
        for (int i = 0; i < np; i += 32)
            for (int j = 0; j < 4; j++)
                a[j] = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8 * j),
                                       _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + i + 8 * j))), a[j]);
        const __m256 r = _mm256_add_ps(_mm256_add_ps(a[0], a[2]), _mm256_add_ps(a[1], a[3]));
        __m128 t = _mm_add_ps(_mm256_castps256_ps128(r), _mm256_extractf128_ps(r, 1));
        t = _mm_hadd_ps(t, t);
        sum = _mm_cvtss_f32(_mm_hadd_ps(t, t));
    }
    int i = np;
    for (; i + 8 <= hd; i += 8) {
        float p[8];
        _mm256_storeu_ps(p, _mm256_mul_ps(_mm256_loadu_ps(q + i), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + i)))));
        for (int e = 0; e < 8; e++)
            sum += (double)p[e];
    }
    for (; i < hd; i++)
        sum += (double)(q[i] * quant_f16_to_f32(k[i]));
    return (float)sum;
}

/* kq_dot_half with hd == 8 for eight keys at once: the products of each key are transposed so
   each lane sums one key's eight products in double, in order, exactly as kq_dot's tail. */
ATTN_AVX2 static __m256 kq_dot_hd8x8(const float *q, const uint16_t *const *k)
{
    const __m256 qv = _mm256_loadu_ps(q);
    __m256 r[8];
    for (int e = 0; e < 8; e++)
        r[e] = _mm256_mul_ps(qv, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)k[e])));
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    const __m256 c[8] = { _mm256_permute2f128_ps(u0, u4, 0x20), _mm256_permute2f128_ps(u1, u5, 0x20),
                          _mm256_permute2f128_ps(u2, u6, 0x20), _mm256_permute2f128_ps(u3, u7, 0x20),
                          _mm256_permute2f128_ps(u0, u4, 0x31), _mm256_permute2f128_ps(u1, u5, 0x31),
                          _mm256_permute2f128_ps(u2, u6, 0x31), _mm256_permute2f128_ps(u3, u7, 0x31) };
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
    /* unrolled, so c stays in registers instead of a round trip through the stack */
#pragma GCC unroll 8
    for (int t = 0; t < 8; t++) {
        lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(c[t])));
        hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(c[t], 1)));
    }
    return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm256_cvtpd_ps(lo)), _mm256_cvtpd_ps(hi), 1);
}

/* kq_dot of one query against eight consecutive slots of the transposed float cache
   (element t of slot q at k[t * L + q]): each lane carries one slot through exactly the
   scalar sequence of operations, the tail in double lanes. */
ATTN_AVX2 static __m256 kq_dot8_t(const float *q, const float *k, size_t L, int hd)
{
    const int np = hd & ~31;
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
    if (np) {
        __m256 t[4];
        for (int l = 0; l < 4; l++) {
            __m256 A[2];
#pragma GCC unroll 2
            for (int e = 0; e < 2; e++) {
                const int ll = l + 4 * e;
                __m256 a[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() };
                for (int i = 0; i < np; i += 32)
#pragma GCC unroll 4
                    for (int j = 0; j < 4; j++) {
                        const size_t idx = (size_t)(i + 8 * j + ll);
                        a[j] = _mm256_fmadd_ps(_mm256_set1_ps(q[idx]), _mm256_loadu_ps(k + idx * L), a[j]);
                    }
                A[e] = _mm256_add_ps(_mm256_add_ps(a[0], a[2]), _mm256_add_ps(a[1], a[3]));
            }
            t[l] = _mm256_add_ps(A[0], A[1]);
        }
        const __m256 s = _mm256_add_ps(_mm256_add_ps(t[0], t[1]), _mm256_add_ps(t[2], t[3]));
        lo = _mm256_cvtps_pd(_mm256_castps256_ps128(s));
        hi = _mm256_cvtps_pd(_mm256_extractf128_ps(s, 1));
    }
    for (int i = np; i < hd; i++) {
        const __m256 p = _mm256_mul_ps(_mm256_set1_ps(q[i]), _mm256_loadu_ps(k + (size_t)i * L));
        lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(p)));
        hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(p, 1)));
    }
    return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm256_cvtpd_ps(lo)), _mm256_cvtpd_ps(hi), 1);
}

/* attend_one_avx2's first pass for row r and head h: the visible slots, and for each its weight
   sc[j] = exp(score - running maximum) and the running maximum mr[j]; qh gets the query rounded
   to half. Returns the number of slots. */
ATTN_AVX2 static int attn_weights_avx2(llm_ctx *c, const fw_row *r, int layer, const float *q, int h, float *qh,
                                       float *sc, float *mr, int32_t *slots)
{
    const llm_hparams *hp = &c->m->hp;
    const int hd = hp->head_dim, kvh = h / (hp->n_head / hp->n_head_kv);
    const kv_seq *s = &c->kv.seqs[r->seq];
    const float scale = 1.0f / sqrtf((float)hd);
    const int nv = visible_slots(r, slots);
    for (int t = 0; t < hd; t += 8)
        _mm256_storeu_ps(qh + t, round_half8(_mm256_loadu_ps(q + t)));
    const size_t off = (size_t)kvh * hd;
    float M = -INFINITY;
    int j0 = 0;
    /* a row without a tree sees slots 0..nv-1: eight of them share one cache block */
    const int in_order = !r->parents;
    if (hd == 8)
        for (; j0 + 8 <= nv; j0 += 8) {
            const uint16_t *k8[8];
            for (int e = 0; e < 8; e++)
                k8[e] = in_order ? kv_k(&c->kv, s, layer, j0) + off + (size_t)e * c->kv.kv_dim
                                 : kv_k(&c->kv, s, layer, slots[j0 + e]) + off;
            _mm256_storeu_ps(sc + j0, kq_dot_hd8x8(qh, k8));
        }
    for (int j = j0; j < nv; j++)
        sc[j] = kq_dot_half(qh, kv_k(&c->kv, s, layer, slots[j]) + off, hd);
    /* The running maximum eight slots at a time by a prefix scan: max_ps(x, m) keeps m on
       ties, as the scalar x > M ? x : M does, so every maximum (and its zero's sign) is the
       scalar one. */
    const __m256 ninf = _mm256_set1_ps(-INFINITY), scale8 = _mm256_set1_ps(scale);
    const __m256i sh1 = _mm256_setr_epi32(0, 0, 1, 2, 3, 4, 5, 6), sh2 = _mm256_setr_epi32(0, 0, 0, 1, 2, 3, 4, 5),
                  sh4 = _mm256_setr_epi32(0, 0, 0, 0, 0, 1, 2, 3);
    int j = 0;
    for (; j + 8 <= nv; j += 8) {
        const __m256 x = _mm256_mul_ps(_mm256_loadu_ps(sc + j), scale8);
        __m256 m = x;
        m = _mm256_max_ps(m, _mm256_blend_ps(_mm256_permutevar8x32_ps(m, sh1), ninf, 0x01));
        m = _mm256_max_ps(m, _mm256_blend_ps(_mm256_permutevar8x32_ps(m, sh2), ninf, 0x03));
        m = _mm256_max_ps(m, _mm256_blend_ps(_mm256_permutevar8x32_ps(m, sh4), ninf, 0x0f));
        m = _mm256_max_ps(m, _mm256_set1_ps(M));
        _mm256_storeu_ps(mr + j, m);
        _mm256_storeu_ps(sc + j, _mm256_sub_ps(x, m));
        M = mr[j + 7];
    }
    for (; j < nv; j++) {
        const float x = sc[j] * scale;
        M = x > M ? x : M;
        mr[j] = M;
        sc[j] = x - M;
    }
    expf_array(sc, nv);
    return nv;
}

/* The same online softmax as attend_one in two passes: scores, running maxima and weights
   first, then the sequential half-precision accumulation. */
ATTN_AVX2 static void attend_one_avx2(llm_ctx *c, const fw_row *r, int layer, const float *q, float *out, float *buf,
                                      int h)
{
    const llm_hparams *hp = &c->m->hp;
    const int hd = hp->head_dim, kvh = h / (hp->n_head / hp->n_head_kv);
    const kv_seq *s = &c->kv.seqs[r->seq];
    float *qh = buf, *acc = buf + hd, *sc = buf + 2 * hd, *mr = sc + c->n_ctx;
    int32_t *slots = (int32_t *)(mr + c->n_ctx);
    const int nv = attn_weights_avx2(c, r, layer, q, h, qh, sc, mr, slots);
    for (int t = 0; t < hd; t += 8)
        _mm256_storeu_ps(acc + t, _mm256_setzero_ps());
    const size_t off = (size_t)kvh * hd;
    int j;
    float S = 0.0f;
    if (hd == 8) {
        /* one register of accumulator, as in battn_part */
        __m256 a8 = _mm256_setzero_ps();
        for (j = 0; j < nv; j++) {
            float ms = 1.0f;
            if (j > 0 && mr[j] != mr[j - 1]) {
                ms = expf(mr[j - 1] - mr[j]);
                a8 = round_half8(_mm256_mul_ps(a8, _mm256_set1_ps(ms)));
            }
            const uint16_t *v = kv_v(&c->kv, s, layer, slots[j]) + off;
            a8 = round_half8(_mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)v)), _mm256_set1_ps(sc[j]), a8));
            S = fmaf(S, ms, sc[j]);
        }
        _mm256_storeu_ps(out, _mm256_mul_ps(a8, _mm256_set1_ps(1.0f / S)));
        return;
    }
    for (j = 0; j < nv; j++) {
        const uint16_t *v = kv_v(&c->kv, s, layer, slots[j]) + off;
        float ms = 1.0f;
        if (j > 0 && mr[j] != mr[j - 1]) {
            ms = expf(mr[j - 1] - mr[j]);
            const __m256 m8 = _mm256_set1_ps(ms);
            for (int t = 0; t < hd; t += 8)
                _mm256_storeu_ps(acc + t, round_half8(_mm256_mul_ps(_mm256_loadu_ps(acc + t), m8)));
        }
        const __m256 v8 = _mm256_set1_ps(sc[j]);
        for (int t = 0; t < hd; t += 8)
            _mm256_storeu_ps(acc + t, round_half8(_mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + t))),
                                                                  v8, _mm256_loadu_ps(acc + t))));
        S = fmaf(S, ms, sc[j]);
    }
    const __m256 inv = _mm256_set1_ps(1.0f / S);
    for (int t = 0; t < hd; t += 8)
        _mm256_storeu_ps(out + t, _mm256_mul_ps(_mm256_loadu_ps(acc + t), inv));
}

/* One slot of a row's half-precision accumulation (attend_one_avx2's hd == 8 loop body): rescale
   when the running maximum moved, then add the slot's V at weight sc[j]. */
ATTN_AVX2 static inline void acc_slot_hd8(__m256 *a, float *S, const float *mr, const float *sc, int j,
                                          const uint16_t *v)
{
    float ms = 1.0f;
    if (j > 0 && mr[j] != mr[j - 1]) {
        ms = expf(mr[j - 1] - mr[j]);
        *a = round_half8(_mm256_mul_ps(*a, _mm256_set1_ps(ms)));
    }
    *a = round_half8(_mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)v)), _mm256_set1_ps(sc[j]), *a));
    *S = fmaf(*S, ms, sc[j]);
}

/* attend_one_avx2 for up to four rows (the beams or drafts of a ragged batch) and one head of 8:
   the same weights per row, then the rows' half-precision accumulations interleaved, so the
   latency of one row's chain of roundings hides behind the others'. Each row goes through
   exactly the single-row sequence of operations. */
ATTN_AVX2 static void attend_four_hd8_avx2(llm_ctx *c, const fw_row *const *r, int cnt, int layer, const float *const *q,
                                           float *const *out, float *buf, int h)
{
    const llm_hparams *hp = &c->m->hp;
    const size_t off = (size_t)(h / (hp->n_head / hp->n_head_kv)) * 8, per = 3 * (size_t)c->n_ctx;
    float *sc[4], *mr[4];
    int32_t *slots[4];
    const kv_seq *s[4];
    int nv[4], lo = INT32_MAX;
    for (int g = 0; g < cnt; g++) {
        sc[g] = buf + 8 + (size_t)g * per;
        mr[g] = sc[g] + c->n_ctx;
        slots[g] = (int32_t *)(mr[g] + c->n_ctx);
        s[g] = &c->kv.seqs[r[g]->seq];
        nv[g] = attn_weights_avx2(c, r[g], layer, q[g], h, buf, sc[g], mr[g], slots[g]);
        lo = nv[g] < lo ? nv[g] : lo;
    }
    __m256 a[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() };
    float S[4] = { 0.0f, 0.0f, 0.0f, 0.0f };
    int j0 = 0;
    if (cnt == 4) { /* four named chains the compiler keeps in registers */
        __m256 a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
        float S0 = 0.0f, S1 = 0.0f, S2 = 0.0f, S3 = 0.0f;
        for (; j0 < lo; j0++) {
            acc_slot_hd8(&a0, &S0, mr[0], sc[0], j0, kv_v(&c->kv, s[0], layer, slots[0][j0]) + off);
            acc_slot_hd8(&a1, &S1, mr[1], sc[1], j0, kv_v(&c->kv, s[1], layer, slots[1][j0]) + off);
            acc_slot_hd8(&a2, &S2, mr[2], sc[2], j0, kv_v(&c->kv, s[2], layer, slots[2][j0]) + off);
            acc_slot_hd8(&a3, &S3, mr[3], sc[3], j0, kv_v(&c->kv, s[3], layer, slots[3][j0]) + off);
        }
        a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3;
        S[0] = S0, S[1] = S1, S[2] = S2, S[3] = S3;
    }
    for (int g = 0; g < cnt; g++) {
        for (int j = j0; j < nv[g]; j++)
            acc_slot_hd8(&a[g], &S[g], mr[g], sc[g], j, kv_v(&c->kv, s[g], layer, slots[g][j]) + off);
        _mm256_storeu_ps(out[g], _mm256_mul_ps(a[g], _mm256_set1_ps(1.0f / S[g])));
    }
}

/* ---- batched attention: the rows of one sequence at once ----------------------------------
   The cache of a layer is widened to float once for all rows; scores, softmax and the
   half-precision V accumulation then run per row exactly as in attend_one_avx2. */

typedef struct battn_job {
    llm_ctx *c;
    const fw_row *rows;
    int n, layer, L;
} battn_job;

/* float copies of slots [0, L) of the layer, split by slot range */
ATTN_AVX2 static void bconvert_part(void *arg, int ith, int nth)
{
    const battn_job *j = arg;
    llm_ctx *c = j->c;
    const llm_hparams *hp = &c->m->hp;
    const int hd = hp->head_dim, nkv = hp->n_head_kv, L = j->L;
    const kv_seq *s = &c->kv.seqs[j->rows[0].seq];
    const int a = L * ith / nth, b = L * (ith + 1) / nth;
    for (int slot = a; slot < b; slot++) {
        const uint16_t *k = kv_k(&c->kv, s, j->layer, slot), *v = kv_v(&c->kv, s, j->layer, slot);
        for (int h = 0; h < nkv; h++)
            for (int t = 0; t < hd; t += 8) {
                float tmp[8];
                _mm256_storeu_ps(tmp, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + h * hd + t))));
                for (int e = 0; e < 8; e++)
                    c->bk[((size_t)h * hd + t + e) * L + slot] = tmp[e];
                _mm256_storeu_ps(c->bv + ((size_t)h * L + slot) * hd + t,
                                 _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + h * hd + t))));
            }
    }
}

/* Four consecutive prompt rows of a head of 8 (rows i..i+3, scores S[g * L + q]): the same
   softmax and half-precision accumulation as the single-row code in battn_part, with the four
   rows' dependency chains interleaved so their latencies overlap. The weights overwrite the
   scores in place; ms[g * L + q] holds the rescaling factor, exactly 1 where the running
   maximum did not change (multiplying a half-exact accumulator by 1 changes nothing, so
   skipping it there is the same as the single-row code's test). */
ATTN_AVX2 static void battn_prompt4_hd8(const battn_job *j, float *S, float *ms, const float *vbase, float scale,
                                        float *out, int i)
{
    const int L = j->L, qd = j->c->m->hp.n_head * 8;
    int nv[4];
    for (int g = 0; g < 4; g++) {
        float *sc = S + (size_t)g * L, *m = ms + (size_t)g * L;
        nv[g] = j->rows[i + g].n_prefix;
        float M = -INFINITY;
        for (int q = 0; q < nv[g]; q++) {
            const float x = sc[q] * scale, prev = M;
            M = x > M ? x : M;
            m[q] = q > 0 && M != prev ? expf(prev - M) : 1.0f;
            sc[q] = x - M;
        }
        expf_array(sc, nv[g]);
    }
    int lo = nv[0];
    for (int g = 1; g < 4; g++)
        lo = nv[g] < lo ? nv[g] : lo;
    __m256 a[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() };
    float sum[4] = { 0.0f, 0.0f, 0.0f, 0.0f };
    for (int q = 0; q < lo; q++) {
        const __m256 v = _mm256_loadu_ps(vbase + (size_t)q * 8);
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) {
            const float mg = ms[(size_t)g * L + q], w = S[(size_t)g * L + q];
            if (mg != 1.0f)
                a[g] = round_half8(_mm256_mul_ps(a[g], _mm256_set1_ps(mg)));
            a[g] = round_half8(_mm256_fmadd_ps(v, _mm256_set1_ps(w), a[g]));
            sum[g] = fmaf(sum[g], mg, w);
        }
    }
    for (int g = 0; g < 4; g++) {
        __m256 ag = a[g];
        float sg = sum[g];
        for (int q = lo; q < nv[g]; q++) {
            const float mg = ms[(size_t)g * L + q], w = S[(size_t)g * L + q];
            if (mg != 1.0f)
                ag = round_half8(_mm256_mul_ps(ag, _mm256_set1_ps(mg)));
            ag = round_half8(_mm256_fmadd_ps(_mm256_loadu_ps(vbase + (size_t)q * 8), _mm256_set1_ps(w), ag));
            sg = fmaf(sg, mg, w);
        }
        _mm256_storeu_ps(out + (size_t)g * qd, _mm256_mul_ps(ag, _mm256_set1_ps(1.0f / sg)));
    }
}

ATTN_AVX2 static void battn_part(void *arg, int ith, int nth)
{
    const battn_job *j = arg;
    llm_ctx *c = j->c;
    const llm_hparams *hp = &c->m->hp;
    const int nh = hp->n_head, hd = hp->head_dim, qd = nh * hd, L = j->L, n = j->n;
    const float scale = 1.0f / sqrtf((float)hd);
    float *S = c->bs + (size_t)ith * ((size_t)n * L + 4 * (size_t)L), *ms4 = S + (size_t)n * L;
    float *buf = c->scores + (size_t)ith * scratch_per_thread(hp, c->n_ctx);
    float *acc = buf + hd, *sc = buf + 2 * hd, *mr = sc + c->n_ctx;
    int32_t *slots = (int32_t *)(mr + c->n_ctx);
    for (int h = nh * ith / nth; h < nh * (ith + 1) / nth; h++) {
        const int kvh = h / (nh / hp->n_head_kv);
        const float *kb = c->bk + (size_t)kvh * hd * L;
        for (int i = 0; i < n; i++) {
            /* a prompt row reads only its prefix; a tree row may read any slot */
            const int need = j->rows[i].parents ? L : j->rows[i].n_prefix;
            const float *qi = c->bq + (size_t)i * qd + (size_t)h * hd;
            int q = 0;
            for (; q + 8 <= need; q += 8)
                _mm256_storeu_ps(S + (size_t)i * L + q, kq_dot8_t(qi, kb + q, (size_t)L, hd));
            /* the last slots: an overlapping window recomputes a few scores, identically */
            if (q < need && need >= 8) {
                _mm256_storeu_ps(S + (size_t)i * L + need - 8, kq_dot8_t(qi, kb + need - 8, (size_t)L, hd));
                q = need;
            }
            for (; q < need; q++)
                S[(size_t)i * L + q] = kq_dot(qi, kb + q, 0, (size_t)L, hd);
        }
        const float *vbase = c->bv + (size_t)kvh * L * hd;
        for (int i = 0; i < n; i++) {
            if (hd == 8 && i + 4 <= n && !j->rows[i].parents && !j->rows[i + 1].parents && !j->rows[i + 2].parents &&
                !j->rows[i + 3].parents) {
                battn_prompt4_hd8(j, S + (size_t)i * L, ms4, vbase, scale, c->att + (size_t)i * qd + (size_t)h * hd, i);
                i += 3;
                continue;
            }
            const fw_row *r = &j->rows[i];
            const float *Si = S + (size_t)i * L;
            /* a prompt row sees slots 0..n_prefix-1 in order; a tree row needs its list */
            const int listed = r->parents != NULL;
            const int nv = listed ? visible_slots(r, slots) : r->n_prefix;
            float M = -INFINITY;
            for (int q = 0; q < nv; q++) {
                sc[q] = Si[listed ? slots[q] : q] * scale;
                M = sc[q] > M ? sc[q] : M;
                mr[q] = M;
            }
            int q = 0;
            for (; q < nv; q++)
                sc[q] -= mr[q];
            expf_array(sc, nv);
            float *out = c->att + (size_t)i * qd + (size_t)h * hd;
            if (hd == 8) {
                /* one register of accumulator: the common small-head case without stores */
                __m256 a8 = _mm256_setzero_ps();
                float sum = 0.0f;
                for (q = 0; q < nv; q++) {
                    float ms = 1.0f;
                    if (q > 0 && mr[q] != mr[q - 1]) {
                        ms = expf(mr[q - 1] - mr[q]);
                        a8 = round_half8(_mm256_mul_ps(a8, _mm256_set1_ps(ms)));
                    }
                    const float *v = vbase + (size_t)(listed ? slots[q] : q) * 8;
                    a8 = round_half8(_mm256_fmadd_ps(_mm256_loadu_ps(v), _mm256_set1_ps(sc[q]), a8));
                    sum = fmaf(sum, ms, sc[q]);
                }
                _mm256_storeu_ps(out, _mm256_mul_ps(a8, _mm256_set1_ps(1.0f / sum)));
                continue;
            }
            for (int t = 0; t < hd; t += 8)
                _mm256_storeu_ps(acc + t, _mm256_setzero_ps());
            float sum = 0.0f;
            for (q = 0; q < nv; q++) {
                const float *v = vbase + (size_t)(listed ? slots[q] : q) * hd;
                float ms = 1.0f;
                if (q > 0 && mr[q] != mr[q - 1]) {
                    ms = expf(mr[q - 1] - mr[q]);
                    const __m256 m8 = _mm256_set1_ps(ms);
                    for (int t = 0; t < hd; t += 8)
                        _mm256_storeu_ps(acc + t, round_half8(_mm256_mul_ps(_mm256_loadu_ps(acc + t), m8)));
                }
                const __m256 w8 = _mm256_set1_ps(sc[q]);
                for (int t = 0; t < hd; t += 8)
                    _mm256_storeu_ps(acc + t, round_half8(_mm256_fmadd_ps(_mm256_loadu_ps(v + t), w8,
                                                                          _mm256_loadu_ps(acc + t))));
                sum = fmaf(sum, ms, sc[q]);
            }
            const __m256 inv = _mm256_set1_ps(1.0f / sum);
            for (int t = 0; t < hd; t += 8)
                _mm256_storeu_ps(out + t, _mm256_mul_ps(_mm256_loadu_ps(acc + t), inv));
        }
    }
}

static int reserve_f(float **p, size_t *cap, size_t n)
{
    if (n <= *cap)
        return 0;
    float *q = realloc(*p, n * sizeof *q);
    if (!q)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

/* Attention for rows that all belong to one sequence (a prompt chunk or a tree). Returns 1 when
   it ran, 0 when the rows do not qualify, -1 when out of memory. */
ATTN_AVX2 static int batched_attention(llm_ctx *c, const fw_row *rows, int n, int layer)
{
    const llm_hparams *hp = &c->m->hp;
    if (!c->attn_avx2 || n < 2)
        return 0;
    int L = 0;
    for (int i = 0; i < n; i++) {
        if (rows[i].seq != rows[0].seq)
            return 0;
        const int top = rows[i].parents ? rows[i].tree_base + rows[i].node + 1 : rows[i].n_prefix;
        L = top > L ? top : L;
        L = rows[i].n_prefix > L ? rows[i].n_prefix : L;
    }
    const int nth = llm_pool_size(c->pool), hd = hp->head_dim, qd = hp->n_head * hd;
    const size_t kvL = (size_t)L * hp->n_head_kv * hd;
    if (reserve_f(&c->bk, &c->cap_bk, kvL) || reserve_f(&c->bv, &c->cap_bv, kvL) ||
        reserve_f(&c->bq, &c->cap_bq, (size_t)n * qd) || reserve_f(&c->bs, &c->cap_bs, (size_t)nth * ((size_t)n * L + 4 * (size_t)L)))
        return -1;
    for (size_t i = 0; i < (size_t)n * qd; i += 8)
        _mm256_storeu_ps(c->bq + i, round_half8(_mm256_loadu_ps(c->q + i)));
    battn_job j = { c, rows, n, layer, L };
    const long work = (long)L * n * qd;
    llm_pool_run(c->pool, bconvert_part, &j, (long)L * hp->n_head_kv * hd >= (1 << 14) ? nth : 1);
    llm_pool_run(c->pool, battn_part, &j, work >= (1 << 15) ? nth : 1);
    return 1;
}
#endif

static void attn_part(void *arg, int ith, int nth)
{
    attn_job *j = arg;
    llm_ctx *c = j->c;
    const llm_hparams *hp = &c->m->hp;
    const int nh = hp->n_head, hd = hp->head_dim;
    const long total = (long)j->n * nh, a = total * ith / nth, b = total * (ith + 1) / nth;
    float *sc = c->scores + (size_t)ith * scratch_per_thread(hp, c->n_ctx);
#if defined(__x86_64__)
    if (c->attn_avx2 && hd == 8 && j->n > 1) {
        /* head by head, up to four rows of the head at a time */
        for (long idx = a; idx < b;) {
            const int h = (int)(idx / j->n), i0 = (int)(idx % j->n);
            int cnt = j->n - i0;
            cnt = cnt > 4 ? 4 : cnt;
            cnt = b - idx < cnt ? (int)(b - idx) : cnt;
            const fw_row *r[4];
            const float *q[4];
            float *out[4];
            for (int g = 0; g < cnt; g++) {
                const size_t off = (size_t)(i0 + g) * nh * hd + (size_t)h * hd;
                r[g] = &j->rows[i0 + g];
                q[g] = c->q + off;
                out[g] = c->att + off;
            }
            attend_four_hd8_avx2(c, r, cnt, j->layer, q, out, sc, h);
            idx += cnt;
        }
        return;
    }
#endif
    for (long idx = a; idx < b; idx++) {
        const int i = (int)(idx / nh), h = (int)(idx % nh);
        const size_t off = (size_t)i * nh * hd + (size_t)h * hd;
#if defined(__x86_64__)
        if (c->attn_avx2) {
            attend_one_avx2(c, &j->rows[i], j->layer, c->q + off, c->att + off, sc, h);
            continue;
        }
#endif
        attend_one(c, &j->rows[i], j->layer, c->q + off, c->att + off, sc, h);
    }
}

static void add_bias(float *y, const float *b, int n, int dim)
{
    if (!b)
        return;
    for (int i = 0; i < n; i++)
        for (int t = 0; t < dim; t++)
            y[(size_t)i * dim + t] += b[t];
}

/* Attention output projection, residual, and the feed-forward block for rows [r0, r0 + cnt). */
static int layer_tail(llm_ctx *c, const llm_layer *L, int r0, int cnt)
{
    const llm_hparams *hp = &c->m->hp;
    const size_t d = (size_t)hp->n_embd, qd = (size_t)hp->n_head * hp->head_dim, ff = (size_t)hp->n_ff;
    float *x = c->x + r0 * d, *xn = c->xn + r0 * d, *tmp = c->tmp + r0 * d, *g = c->g + r0 * ff, *u = c->u + r0 * ff;
    if (llm_matmul(&c->mc, &L->wo, c->att + r0 * qd, cnt, tmp))
        return -1;
    for (size_t i = 0; i < (size_t)cnt * d; i++)
        x[i] += tmp[i];
    for (int i = 0; i < cnt; i++)
        rmsnorm(x + i * d, L->ffn_norm, xn + i * d, (int)d, hp->rms_eps);
    const llm_weight *gu[2] = { &L->wgate, &L->wup };
    float *const gu_out[2] = { g, u };
    if (llm_matmul_multi(&c->mc, gu, gu_out, 2, xn, cnt))
        return -1;
    for (size_t i = 0; i < (size_t)cnt * ff; i++) {
        const float gv = g[i];
        g[i] = gv / (1.0f + expf(-gv)) * u[i];
    }
    if (llm_matmul(&c->mc, &L->wdown, g, cnt, tmp))
        return -1;
    for (size_t i = 0; i < (size_t)cnt * d; i++)
        x[i] += tmp[i];
    return 0;
}

int fw_forward(llm_ctx *c, const fw_row *rows, const int32_t *toks, int n, const fw_out *o)
{
    const llm_model *m = c->m;
    const llm_hparams *hp = &m->hp;
    const int d = hp->n_embd, hd = hp->head_dim, qd = hp->n_head * hd, kvd = hp->n_head_kv * hd;
    const int out_from = o->from;
    if (ensure_rows(c, n))
        return DK_ERR_NOMEM;
    for (int i = 0; i < n; i++)
        quant_dequant_row(m->tok_embd.type, m->tok_embd.data + (size_t)toks[i] * m->tok_embd.row_bytes,
                          c->x + (size_t)i * d, d);
    long visible = 0;
    for (int i = 0; i < n; i++)
        visible += rows[i].n_prefix + 1;
    const int attn_threads = visible * (long)qd >= (1 << 15) ? llm_pool_size(c->pool) : 1;

    for (int l = 0; l < hp->n_layer; l++) {
        if (c->abort_fn && c->abort_fn(c->abort_user))
            return DK_ERR_CANCELLED;
        const llm_layer *L = &m->layers[l];
        for (int i = 0; i < n; i++)
            rmsnorm(c->x + (size_t)i * d, L->attn_norm, c->xn + (size_t)i * d, d, hp->rms_eps);
        const llm_weight *qkv[3] = { &L->wq, &L->wk, &L->wv };
        float *const qkv_out[3] = { c->q, c->k, c->v };
        if (llm_matmul_multi(&c->mc, qkv, qkv_out, 3, c->xn, n))
            return DK_ERR_NOMEM;
        add_bias(c->q, L->bq, n, qd);
        add_bias(c->k, L->bk, n, kvd);
        add_bias(c->v, L->bv, n, kvd);
        for (int i = 0; i < n; i++) {
            const fw_row *r = &rows[i];
            rope(c, c->q + (size_t)i * qd, hp->n_head, r->pos);
            rope(c, c->k + (size_t)i * kvd, hp->n_head_kv, r->pos);
            const kv_seq *s = &c->kv.seqs[r->seq];
            uint16_t *kd = kv_k(&c->kv, s, l, r->slot), *vd = kv_v(&c->kv, s, l, r->slot);
#if defined(__x86_64__)
            if (c->attn_avx2) {
                store_half_avx2(kd, c->k + (size_t)i * kvd, kvd);
                store_half_avx2(vd, c->v + (size_t)i * kvd, kvd);
                continue;
            }
#endif
            for (int t = 0; t < kvd; t++) {
                kd[t] = quant_f32_to_f16(c->k[(size_t)i * kvd + t]);
                vd[t] = quant_f32_to_f16(c->v[(size_t)i * kvd + t]);
            }
        }
        int done = 0;
#if defined(__x86_64__)
        done = batched_attention(c, rows, n, l);
        if (done < 0)
            return DK_ERR_NOMEM;
#endif
        if (!done) {
            attn_job aj = { c, rows, n, l };
            llm_pool_run(c->pool, attn_part, &aj, attn_threads);
        }
        /* The reference drops the rows without outputs before the rest of the last layer, so
           its output rows are multiplied as a batch of their own (often a single row, which
           takes another kernel); the other rows still run for their hidden states, unless
           the caller wants the output rows only. */
        const int last = l == hp->n_layer - 1, lo = last && o->only ? out_from : 0;
        const int split = last && out_from > lo && out_from < n, r0 = split ? out_from : lo;
        if ((split && layer_tail(c, L, lo, out_from - lo)) || (n > r0 && layer_tail(c, L, r0, n - r0)))
            return DK_ERR_NOMEM;
    }
    for (int i = o->only ? out_from : 0; i < n; i++)
        rmsnorm(c->x + (size_t)i * d, m->output_norm, c->xn + (size_t)i * d, d, hp->rms_eps);
    if (o->logits && out_from < n &&
        llm_matmul(&c->mc, o->head ? o->head : &m->output, c->xn + (size_t)out_from * d, n - out_from, o->logits))
        return DK_ERR_NOMEM;
    return 0;
}

const char *fw_failure(int rc)
{
    return rc == DK_ERR_CANCELLED ? "evaluation cancelled by the abort callback" : "out of memory during evaluation";
}

/* The plain form: logits for rows [out_from, n) from the model's own head. */
static int forward(llm_ctx *c, const fw_row *rows, const int32_t *toks, int n, int out_from, float *logits)
{
    const fw_out o = { out_from, logits, NULL, 0 };
    return fw_forward(c, rows, toks, n, &o);
}

int fw_reserve_hidden(llm_ctx *c, kv_seq *s, int32_t rows)
{
    const int32_t cap = s->n_hidden + rows;
    if (cap <= s->cap_hidden)
        return 0;
    float *h = realloc(s->hidden, (size_t)cap * (size_t)c->m->hp.n_embd * sizeof *h);
    if (!h)
        return -1;
    s->hidden = h;
    s->cap_hidden = cap;
    return 0;
}

float *fw_new_hidden(llm_ctx *c, kv_seq *s, int32_t j)
{
    return s->hidden + (size_t)(s->n_hidden + j) * (size_t)c->m->hp.n_embd;
}

void fw_take_hidden(llm_ctx *c, kv_seq *s, int32_t rows)
{
    const size_t d = (size_t)c->m->hp.n_embd;
    memmove(s->hidden, s->hidden + (size_t)s->n_hidden * d, (size_t)rows * d * sizeof *s->hidden);
    s->n_hidden = rows;
}

int fw_keep_pending(llm_ctx *c, int32_t seq, int32_t from, int32_t to, fw_keep *k)
{
    const kv_seq *s = &c->kv.seqs[seq];
    const int32_t end = s->len + s->n_pending, hi = to < end ? to : end;
    k->from = from;
    k->n = hi > from ? hi - from : 0;
    k->rows = NULL;
    if (k->n == 0)
        return 0;
    k->rows = malloc((size_t)c->kv.n_layer * 2 * (size_t)k->n * (size_t)c->kv.kv_dim * sizeof *k->rows);
    if (!k->rows) {
        k->n = 0;
        return -1;
    }
    kv_copy_rows(&c->kv, s, from, k->n, k->rows, k->n, 0, 0);
    return 0;
}

void fw_rollback(llm_ctx *c, int32_t seq, fw_keep *keep)
{
    kv_seq *s = &c->kv.seqs[seq];
    if (keep) {
        if (keep->n)
            kv_copy_rows(&c->kv, s, keep->from, keep->n, keep->rows, keep->n, 0, 1);
        free(keep->rows);
        keep->rows = NULL;
        keep->n = 0;
    }
    kv_release_after(&c->kv, seq, s->len + s->n_pending);
}

int fw_check_tokens(const llm_ctx *c, const int32_t *toks, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++)
        if (toks[i] < 0 || toks[i] >= c->m->hp.n_vocab) {
            gguf_errf(err, errlen, "token %zu: id %d is outside the vocabulary (%d)", i, toks[i], c->m->hp.n_vocab);
            return DK_ERR_INVALID;
        }
    return 0;
}

kv_seq *fw_get_seq(llm_ctx *c, int32_t seq, char *err, size_t errlen)
{
    kv_seq *s = kv_get(&c->kv, seq);
    if (!s)
        gguf_errf(err, errlen, "sequence %d does not exist", seq);
    return s;
}

int fw_need_causal(const llm_ctx *c, const char *op, char *err, size_t errlen)
{
    if (c->m->hp.causal)
        return 0;
    gguf_errf(err, errlen, "%s: the model's attention is bidirectional (a diffusion LM); only masked evaluation "
              "(eval_masked, eval_masked_seq) runs it", op);
    return DK_ERR_UNSUPPORTED;
}

void llm_set_abort(llm_ctx *c, llm_abort_fn fn, void *user)
{
    c->abort_fn = fn;
    c->abort_user = fn ? user : NULL;
}

int llm_seq_new(llm_ctx *c, int32_t *out, char *err, size_t errlen)
{
    if (kv_seq_new(&c->kv, out)) {
        gguf_errf(err, errlen, "cannot create a sequence (out of memory or too many sequences)");
        return DK_ERR_NOMEM;
    }
    return 0;
}

void llm_seq_free(llm_ctx *c, int32_t seq)
{
    kv_seq_free(&c->kv, seq);
}

size_t llm_seq_len(const llm_ctx *c, int32_t seq)
{
    const kv_seq *s = kv_get((kv_cache *)&c->kv, seq);
    return s ? (size_t)s->len : 0;
}

int llm_eval_tree(llm_ctx *c, int32_t seq, const int32_t *toks, const int32_t *parents, size_t n,
                  float *logits, char *err, size_t errlen)
{
    kv_seq *s = fw_get_seq(c, seq, err, errlen);
    if (!s)
        return DK_ERR_INVALID;
    int rc = fw_need_causal(c, "eval_tree", err, errlen);
    if (rc)
        return rc;
    if (n == 0 || n > (size_t)c->n_ctx) {
        gguf_errf(err, errlen, "eval_tree: %zu nodes", n);
        return DK_ERR_INVALID;
    }
    rc = fw_check_tokens(c, toks, n, err, errlen);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (parents[i] < -1 || parents[i] >= (int32_t)i) {
            gguf_errf(err, errlen, "eval_tree: node %zu has parent %d (parents must precede children)", i, parents[i]);
            return DK_ERR_INVALID;
        }
    const int32_t L = s->len;
    if ((size_t)L + n > (size_t)c->n_ctx) {
        gguf_errf(err, errlen, "context full: %d + %zu tree nodes exceed %d positions", L, n, c->n_ctx);
        return DK_ERR_RANGE;
    }
    /* everything that can fail is allocated before the sequence changes; the rows read the
       caller's parents, which replace the pending tree's only on success */
    if ((int32_t)n > s->cap_parents) {
        int32_t *p = realloc(s->parents, n * sizeof *p);
        if (!p) {
            gguf_errf(err, errlen, "out of memory");
            return DK_ERR_NOMEM;
        }
        s->parents = p;
        s->cap_parents = (int32_t)n;
    }
    fw_row *rows = malloc(n * sizeof *rows);
    int32_t *depth = malloc(n * sizeof *depth);
    fw_keep keep = { 0, 0, NULL };
    if (!rows || !depth || fw_reserve_hidden(c, s, (int32_t)n) || kv_prepare(&c->kv, seq, L, L + (int32_t)n) ||
        fw_keep_pending(c, seq, L, L + (int32_t)n, &keep)) {
        free(rows);
        free(depth);
        fw_rollback(c, seq, &keep);
        gguf_errf(err, errlen, "out of memory");
        return DK_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        depth[i] = parents[i] < 0 ? 0 : depth[parents[i]] + 1;
        rows[i] = (fw_row){ seq, L + depth[i], L + (int32_t)i, L, L, (int32_t)i, parents };
    }
    rc = forward(c, rows, toks, (int)n, 0, logits);
    free(rows);
    free(depth);
    if (rc) {
        fw_rollback(c, seq, &keep);
        gguf_errf(err, errlen, "%s", fw_failure(rc));
        return rc;
    }
    free(keep.rows);
    s = &c->kv.seqs[seq];
    memcpy(fw_new_hidden(c, s, 0), c->xn, n * (size_t)c->m->hp.n_embd * sizeof(float));
    fw_take_hidden(c, s, (int32_t)n);
    memcpy(s->parents, parents, n * sizeof *parents);
    s->n_pending = (int32_t)n;
    return 0;
}

int llm_accept_path(llm_ctx *c, int32_t seq, const int32_t *path, size_t n, char *err, size_t errlen)
{
    kv_seq *s = fw_get_seq(c, seq, err, errlen);
    if (!s)
        return DK_ERR_INVALID;
    if (n > (size_t)s->n_pending) {
        gguf_errf(err, errlen, "accept_path: %zu nodes but %d are pending", n, s->n_pending);
        return s->n_pending ? DK_ERR_INVALID : DK_ERR_STATE;
    }
    for (size_t j = 0; j < n; j++) {
        const int32_t want = j == 0 ? -1 : path[j - 1];
        if (path[j] < 0 || path[j] >= s->n_pending || s->parents[path[j]] != want) {
            gguf_errf(err, errlen, "accept_path: entry %zu (node %d) does not continue a root-to-node chain", j,
                    path[j]);
            return DK_ERR_INVALID;
        }
    }
    /* Node indices strictly increase along a chain and path[j] >= j, so moving rows in order
       never overwrites a row that is still to be moved. */
    const int32_t L = s->len, kvd = c->kv.kv_dim;
    for (size_t j = 0; j < n; j++) {
        if (path[j] == (int32_t)j)
            continue;
        for (int l = 0; l < c->kv.n_layer; l++) {
            memcpy(kv_k(&c->kv, s, l, L + (int32_t)j), kv_k(&c->kv, s, l, L + path[j]), (size_t)kvd * sizeof(uint16_t));
            memcpy(kv_v(&c->kv, s, l, L + (int32_t)j), kv_v(&c->kv, s, l, L + path[j]), (size_t)kvd * sizeof(uint16_t));
        }
    }
    s->len = L + (int32_t)n;
    kv_truncate(&c->kv, seq, s->len); /* releases blocks that only held rejected nodes */
    return 0;
}

int llm_truncate(llm_ctx *c, int32_t seq, size_t n_keep, char *err, size_t errlen)
{
    kv_seq *s = fw_get_seq(c, seq, err, errlen);
    if (!s)
        return DK_ERR_INVALID;
    if (n_keep > (size_t)s->len) {
        gguf_errf(err, errlen, "truncate: keeping %zu positions of %d", n_keep, s->len);
        return DK_ERR_RANGE;
    }
    kv_truncate(&c->kv, seq, (int32_t)n_keep);
    return 0;
}

int llm_fork(llm_ctx *c, int32_t src, int32_t *out, char *err, size_t errlen)
{
    if (!fw_get_seq(c, src, err, errlen))
        return DK_ERR_INVALID;
    int32_t id;
    if (kv_fork(&c->kv, src, &id)) {
        gguf_errf(err, errlen, "fork: out of memory or too many sequences");
        return DK_ERR_NOMEM;
    }
    /* the child answers hidden() as its parent would */
    kv_seq *s = &c->kv.seqs[src], *d = &c->kv.seqs[id];
    if (s->n_hidden > 0) {
        if (fw_reserve_hidden(c, d, s->n_hidden)) {
            kv_seq_free(&c->kv, id);
            gguf_errf(err, errlen, "fork: out of memory");
            return DK_ERR_NOMEM;
        }
        memcpy(fw_new_hidden(c, d, 0), s->hidden, (size_t)s->n_hidden * (size_t)c->m->hp.n_embd * sizeof(float));
        fw_take_hidden(c, d, s->n_hidden);
    }
    *out = id;
    return 0;
}

int llm_eval_masked(llm_ctx *c, const int32_t *toks, size_t n, float *logits, char *err, size_t errlen)
{
    if (c->m->hp.causal) {
        gguf_errf(err, errlen, "masked evaluation needs a model whose metadata declares non-causal attention");
        return DK_ERR_UNSUPPORTED;
    }
    if (n == 0 || n > (size_t)c->n_ctx) {
        gguf_errf(err, errlen, "eval_masked: %zu tokens (context %d)", n, c->n_ctx);
        return n ? DK_ERR_RANGE : DK_ERR_INVALID;
    }
    int rc = fw_check_tokens(c, toks, n, err, errlen);
    if (rc)
        return rc;
    int32_t seq;
    fw_row *rows = malloc(n * sizeof *rows);
    if (!rows || kv_seq_new(&c->kv, &seq)) {
        free(rows);
        gguf_errf(err, errlen, "out of memory");
        return DK_ERR_NOMEM;
    }
    if (kv_prepare(&c->kv, seq, 0, (int32_t)n)) {
        rc = DK_ERR_NOMEM;
    } else {
        for (size_t i = 0; i < n; i++)
            rows[i] = (fw_row){ seq, (int32_t)i, (int32_t)i, (int32_t)n, 0, -1, NULL };
        rc = forward(c, rows, toks, (int)n, 0, logits);
    }
    kv_seq_free(&c->kv, seq);
    free(rows);
    if (rc) {
        gguf_errf(err, errlen, "%s", fw_failure(rc));
        return rc;
    }
    return 0;
}

int llm_hidden(llm_ctx *c, int32_t seq, size_t n, float *out, char *err, size_t errlen)
{
    kv_seq *s = fw_get_seq(c, seq, err, errlen);
    if (!s)
        return DK_ERR_INVALID;
    if (n > (size_t)s->n_hidden) {
        gguf_errf(err, errlen, "hidden: %zu rows asked, the last evaluation kept %d", n, s->n_hidden);
        return DK_ERR_RANGE;
    }
    const size_t d = (size_t)c->m->hp.n_embd;
    memcpy(out, s->hidden + (size_t)(s->n_hidden - (int32_t)n) * d, n * d * sizeof *out);
    return 0;
}
