/* quant_amx.c -- batched Q8_0, Q4_0 and K-quant products on AMX tiles, and the same sums without AMX. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* syscall */
#endif
#include "quant_amx.h"

#include <string.h>

#if defined(__x86_64__) && defined(__linux__)

#include <sys/syscall.h>
#include <unistd.h>

#include "quant_kquant.h"
#include "quant_x86.h"

#define AMX_FN __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni,amx-tile,amx-int8")))
#define VNNI_FN __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")))

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

int quant_have_amx(void)
{
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512vl") ||
        !__builtin_cpu_supports("avx512bw") || !__builtin_cpu_supports("avx512vnni") ||
        !__builtin_cpu_supports("amx-tile") || !__builtin_cpu_supports("amx-int8"))
        return 0;
    /* Linux hands out the tile state only on request; asking again is harmless. */
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
}

/* the packed activations: per 16-row chunk and block, the B tile (8 rows of 16 x 4 bytes:
   row k4 holds elements 4k4..4k4+3 of each activation row) and the 16 scales */
#define PACK_TILE 512
#define PACK_BLOCK (PACK_TILE + 16 * sizeof(float))
/* chunks of 16 activation rows per pass over a group of 16 weight rows: the weights are
   loaded (and widened) once per pass */
#define KCHUNKS 8

size_t quant_amx_pack_bytes(int n, int64_t cols)
{
    return (size_t)((n + 15) / 16) * (size_t)(cols / QK8_0) * PACK_BLOCK;
}

void quant_amx_pack(const uint8_t *x, size_t xs, int n, int64_t cols, void *pack)
{
    const int64_t nb = cols / QK8_0;
    uint8_t *p = pack;
    memset(pack, 0, quant_amx_pack_bytes(n, cols)); /* rows past n multiply as zeros */
    for (int i = 0; i < n; i++) {
        const int chunk = i / 16, col = i % 16;
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *q = x + (size_t)i * xs + (size_t)b * 34;
            uint8_t *blk = p + ((size_t)chunk * (size_t)nb + (size_t)b) * PACK_BLOCK;
            for (int k4 = 0; k4 < 8; k4++)
                memcpy(blk + k4 * 64 + col * 4, q + 2 + 4 * k4, 4);
            uint16_t h;
            memcpy(&h, q, 2);
            const float d = quant_f16_to_f32(h);
            memcpy(blk + PACK_TILE + col * sizeof(float), &d, sizeof d);
        }
    }
}

/* The order both paths share: per block, the exact integer sum of its 32 products, then one
   fused multiply-add of it by (weight scale * activation scale) into a single accumulator. */
static inline VNNI_FN __attribute__((always_inline)) int block_isum(const uint8_t *wblk, const uint8_t *xq, int q4)
{
    const __m256i x = _mm256_loadu_si256((const __m256i *)xq);
    __m256i wu, off;
    if (q4) {
        const __m128i v = _mm_loadu_si128((const __m128i *)(wblk + 2));
        wu = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0F));
        off = _mm256_set1_epi8(8);
    } else {
        wu = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(wblk + 2)), _mm256_set1_epi8((char)0x80));
        off = _mm256_set1_epi8((char)0x80);
    }
    /* unsigned (w + offset) times x, less offset times x */
    const __m256i s = _mm256_sub_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), wu, x),
                                       _mm256_dpbusd_epi32(_mm256_setzero_si256(), off, x));
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
    return _mm_cvtsi128_si32(t);
}

static inline VNNI_FN __attribute__((always_inline)) float order_dot(const void *wv, const void *xv, int64_t n,
                                                                      int q4)
{
    const uint8_t *p = wv, *q = xv;
    const size_t wb = q4 ? 18 : 34;
    __m128 acc = _mm_setzero_ps();
    for (int64_t b = 0; b < n / QK8_0; b++, p += wb, q += 34) {
        const float sc = qx_h2f(p) * qx_h2f(q);
        acc = _mm_fmadd_ss(_mm_set_ss(sc), _mm_set_ss((float)block_isum(p, q + 2, q4)), acc);
    }
    return _mm_cvtss_f32(acc);
}

static VNNI_FN float order_q8_0(const void *w, const void *x, int64_t n)
{
    return order_dot(w, x, n, 0);
}
static VNNI_FN float order_q4_0(const void *w, const void *x, int64_t n)
{
    return order_dot(w, x, n, 1);
}

quant_vec_dot_fn quant_amx_order_dot(uint32_t wtype)
{
    return wtype == GGML_TYPE_Q8_0 ? order_q8_0 : wtype == GGML_TYPE_Q4_0 ? order_q4_0 : NULL;
}

typedef struct tilecfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tilecfg;

/* tmm0, tmm1: 16 x 16 int32 products of two consecutive blocks; tmm2, tmm3: their 16 weight
   rows x 32 bytes; tmm4, tmm5: their packed activations */
static AMX_FN void tiles_configure(void)
{
    tilecfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 6; t++) {
        cfg.colsb[t] = t < 2 ? 64 : t < 4 ? 32 : 64;
        cfg.rows[t] = t < 2 ? 16 : t < 4 ? 16 : 8;
    }
    __asm__ volatile("" ::: "memory"); /* the whole struct is in memory before ldtilecfg reads it */
    _tile_loadconfig(&cfg);
}

/* 16 Q4_0 weight rows of one block widened to signed bytes in element order */
static inline AMX_FN __attribute__((always_inline)) void unpack_q4_0(const uint8_t *w, size_t rb, int64_t b,
                                                                      int8_t *out)
{
    const __m128i lo4 = _mm_set1_epi8(0x0F), eight = _mm_set1_epi8(8);
    for (int r = 0; r < 16; r++) {
        const __m128i v = _mm_loadu_si128((const __m128i *)(w + (size_t)r * rb + (size_t)b * 18 + 2));
        _mm_storeu_si128((__m128i *)(out + 32 * r), _mm_sub_epi8(_mm_and_si128(v, lo4), eight));
        _mm_storeu_si128((__m128i *)(out + 32 * r + 16), _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), lo4), eight));
    }
}

/* acc[r] (16 activation lanes) += (dw[r] * dx) * C[r], the shared order */
static inline AMX_FN __attribute__((always_inline)) void scale_into(float (*acc)[16], const int32_t *c,
                                                                     const float *dw, const float *dx)
{
    const __m512 dxv = _mm512_loadu_ps(dx);
#pragma GCC unroll 16
    for (int r = 0; r < 16; r++) {
        const __m512 sc = _mm512_mul_ps(_mm512_set1_ps(dw[r]), dxv);
        _mm512_store_ps(acc[r], _mm512_fmadd_ps(sc, _mm512_cvtepi32_ps(_mm512_load_si512(c + 16 * r)),
                                                _mm512_load_ps(acc[r])));
    }
}

/* 16 weight rows at w against activation chunks [c0, c1) of the pack: y[i * yr + r]. Each
   block's weight tile and scales serve every chunk before the next block. */
static AMX_FN void group(const uint8_t *w, size_t rb, int64_t nb, int q4, const uint8_t *pack, int c0, int c1, int n,
                         float *y, size_t yr)
{
    const size_t wb = q4 ? 18 : 34;
    int32_t c[2][256] __attribute__((aligned(64)));
    int8_t a[2][512] __attribute__((aligned(64)));
    float acc[KCHUNKS][16][16] __attribute__((aligned(64)));
    memset(acc, 0, sizeof acc);
    for (int64_t b = 0; b < nb; b += 2) {
        const int two = b + 1 < nb; /* a second block in this step */
        float dw[2][16];
        for (int r = 0; r < 16; r++) {
            dw[0][r] = qx_h2f(w + (size_t)r * rb + (size_t)b * wb);
            dw[1][r] = two ? qx_h2f(w + (size_t)r * rb + (size_t)(b + 1) * wb) : 0.0f;
        }
        if (q4) {
            unpack_q4_0(w, rb, b, a[0]);
            if (two)
                unpack_q4_0(w, rb, b + 1, a[1]);
            __asm__ volatile("" ::: "memory");
            _tile_loadd(2, a[0], 32);
            if (two)
                _tile_loadd(3, a[1], 32);
        } else {
            _tile_loadd(2, w + (size_t)b * wb + 2, rb);
            if (two)
                _tile_loadd(3, w + (size_t)(b + 1) * wb + 2, rb);
        }
        for (int ch = c0; ch < c1; ch++) {
            const uint8_t *pb = pack + ((size_t)ch * (size_t)nb + (size_t)b) * PACK_BLOCK;
            _tile_zero(0);
            _tile_loadd(4, pb, 64);
            _tile_dpbssd(0, 2, 4);
            _tile_stored(0, c[0], 64);
            if (two) {
                _tile_zero(1);
                _tile_loadd(5, pb + PACK_BLOCK, 64);
                _tile_dpbssd(1, 3, 5);
                _tile_stored(1, c[1], 64);
            }
            scale_into(acc[ch - c0], c[0], dw[0], (const float *)(const void *)(pb + PACK_TILE));
            if (two)
                scale_into(acc[ch - c0], c[1], dw[1], (const float *)(const void *)(pb + PACK_BLOCK + PACK_TILE));
        }
    }
    /* acc[ch][r] lane i is activation row ch * 16 + i */
    for (int ch = c0; ch < c1; ch++)
        for (int i = 0; i < 16 && ch * 16 + i < n; i++)
            for (int r = 0; r < 16; r++)
                y[(size_t)(ch * 16 + i) * yr + (size_t)r] = acc[ch - c0][r][i];
}

AMX_FN void quant_amx_rows(uint32_t wtype, const uint8_t *w, size_t rb, int64_t r0, int64_t r1, int64_t cols,
                           const void *pack, const uint8_t *x, size_t xs, int n, float *y, size_t yr)
{
    const int q4 = wtype == GGML_TYPE_Q4_0;
    const int64_t nb = cols / QK8_0;
    int64_t r = r0;
    if (r1 - r0 >= 16) {
        tiles_configure();
        const int chunks = (n + 15) / 16;
        for (; r + 16 <= r1; r += 16)
            for (int c0 = 0; c0 < chunks; c0 += KCHUNKS)
                group(w + (size_t)r * rb, rb, nb, q4, pack, c0, c0 + KCHUNKS < chunks ? c0 + KCHUNKS : chunks, n,
                      y + r, yr);
        _tile_release();
    }
    /* the rows left over: the same sums, one product at a time */
    for (; r < r1; r++)
        for (int i = 0; i < n; i++)
            y[(size_t)i * yr + (size_t)r] = order_dot(w + (size_t)r * rb, x + (size_t)i * xs, cols, q4);
}

/* ---- Q4_K and Q6_K: the portable kernels' exact integer sums, scaled per sub-block ------- */

/* per 16-row chunk and super-block: the 8 sub-blocks' B tiles, the 16 scales, and per
   sub-block the 16 rows' activation sums (the two sums of 16 it covers) */
#define KPACK_TILES (8 * PACK_TILE)
#define KPACK_SB (KPACK_TILES + 16 * sizeof(float) + 8 * 16 * sizeof(int32_t))

size_t quant_amx_k_pack_bytes(int n, int64_t cols)
{
    return (size_t)((n + 15) / 16) * (size_t)(cols / QK_K) * KPACK_SB;
}

void quant_amx_k_pack(const uint8_t *x, size_t xs, int n, int64_t cols, void *pack)
{
    const int64_t nsb = cols / QK_K;
    uint8_t *p = pack;
    memset(pack, 0, quant_amx_k_pack_bytes(n, cols));
    for (int i = 0; i < n; i++) {
        const int chunk = i / 16, col = i % 16;
        for (int64_t sb = 0; sb < nsb; sb++) {
            const uint8_t *y = x + (size_t)i * xs + (size_t)sb * sizeof(block_q8_K);
            uint8_t *o = p + ((size_t)chunk * (size_t)nsb + (size_t)sb) * KPACK_SB;
            for (int k = 0; k < 8; k++)
                for (int k4 = 0; k4 < 8; k4++)
                    memcpy(o + k * PACK_TILE + k4 * 64 + col * 4, y + 4 + 32 * k + 4 * k4, 4);
            memcpy(o + KPACK_TILES + col * sizeof(float), y, sizeof(float));
            for (int k = 0; k < 8; k++) {
                int16_t b0, b1;
                memcpy(&b0, y + 4 + QK_K + 4 * k, 2);
                memcpy(&b1, y + 4 + QK_K + 4 * k + 2, 2);
                const int32_t s2 = b0 + b1;
                memcpy(o + KPACK_TILES + 16 * sizeof(float) + (k * 16 + col) * sizeof(int32_t), &s2, sizeof s2);
            }
        }
    }
}

/* 16 Q4_K weight rows at w against activation chunk `chunk`: y[i * yr + r] */
static AMX_FN void kgroup(const uint8_t *w, size_t rb, int64_t nsb, const uint8_t *pack, int c0, int c1, int n,
                          float *y, size_t yr)
{
    int32_t c[2][256] __attribute__((aligned(64)));
    int8_t a[8][512] __attribute__((aligned(64)));
    const __m512i lo4 = _mm512_set1_epi8(0x0F);
    /* per chunk of 16 activation rows, per weight row: 16 activation lanes */
    float acc[KCHUNKS][16][16] __attribute__((aligned(64)));
    memset(acc, 0, sizeof acc);
    for (int64_t sb = 0; sb < nsb; sb++) {
        int32_t sc[8][16], mn[8][16];
        float d[16], dmin[16];
        for (int r = 0; r < 16; r++) {
            const uint8_t *blk = w + (size_t)r * rb + (size_t)sb * 144;
            d[r] = qx_h2f(blk);
            dmin[r] = qx_h2f(blk + 2);
            for (int k = 0; k < 8; k++) {
                uint8_t s1, m1;
                scale_min_k4(k, blk + 4, &s1, &m1);
                sc[k][r] = s1;
                mn[k][r] = m1;
            }
            /* sub-block 2g: the low nibbles of bytes g*32.., 2g+1: the high ones */
            for (int g = 0; g < 4; g++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(blk + 16 + 32 * g));
                _mm256_storeu_si256((__m256i *)(a[2 * g] + 32 * r), _mm256_and_si256(v, _mm512_castsi512_si256(lo4)));
                _mm256_storeu_si256((__m256i *)(a[2 * g + 1] + 32 * r),
                                    _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm512_castsi512_si256(lo4)));
            }
        }
        __asm__ volatile("" ::: "memory");
        for (int ch = c0; ch < c1; ch++) {
            const uint8_t *ps = pack + ((size_t)ch * (size_t)nsb + (size_t)sb) * KPACK_SB;
            float (*ac)[16] = acc[ch - c0];
            __m512i isum[16];
            for (int r = 0; r < 16; r++)
                isum[r] = _mm512_setzero_si512();
            for (int k = 0; k < 8; k += 2) {
                _tile_zero(0);
                _tile_zero(1);
                _tile_loadd(2, a[k], 32);
                _tile_loadd(3, a[k + 1], 32);
                _tile_loadd(4, ps + (size_t)k * PACK_TILE, 64);
                _tile_loadd(5, ps + (size_t)(k + 1) * PACK_TILE, 64);
                _tile_dpbssd(0, 2, 4);
                _tile_dpbssd(1, 3, 5);
                _tile_stored(0, c[0], 64);
                _tile_stored(1, c[1], 64);
                for (int r = 0; r < 16; r++) {
                    isum[r] = _mm512_add_epi32(isum[r], _mm512_mullo_epi32(_mm512_set1_epi32(sc[k][r]),
                                                                           _mm512_load_si512(c[0] + 16 * r)));
                    isum[r] = _mm512_add_epi32(isum[r], _mm512_mullo_epi32(_mm512_set1_epi32(sc[k + 1][r]),
                                                                           _mm512_load_si512(c[1] + 16 * r)));
                }
            }
            const __m512 dy = _mm512_loadu_ps((const float *)(const void *)(ps + KPACK_TILES));
            const int32_t *bsp = (const int32_t *)(const void *)(ps + KPACK_TILES + 16 * sizeof(float));
            for (int r = 0; r < 16; r++) {
                __m512i summ = _mm512_setzero_si512();
                for (int k = 0; k < 8; k++)
                    summ = _mm512_add_epi32(summ, _mm512_mullo_epi32(_mm512_set1_epi32(mn[k][r]),
                                                                     _mm512_loadu_si512(bsp + 16 * k)));
                /* dy * d * sumi - dy * dmin * summ, as the portable kernel rounds it */
                const __m512 t1 = _mm512_mul_ps(_mm512_mul_ps(dy, _mm512_set1_ps(d[r])), _mm512_cvtepi32_ps(isum[r]));
                const __m512 t2 = _mm512_mul_ps(_mm512_mul_ps(dy, _mm512_set1_ps(dmin[r])), _mm512_cvtepi32_ps(summ));
                _mm512_store_ps(ac[r], _mm512_add_ps(_mm512_load_ps(ac[r]), _mm512_sub_ps(t1, t2)));
            }
        }
    }
    for (int ch = c0; ch < c1; ch++)
        for (int i = 0; i < 16 && ch * 16 + i < n; i++)
            for (int r = 0; r < 16; r++)
                y[(size_t)(ch * 16 + i) * yr + (size_t)r] = acc[ch - c0][r][i];
}

/* Q6_K: one scale per 16 weights, so 16-byte tiles: tmm2, tmm3 hold 16 weight rows x 16
   bytes, tmm4, tmm5 the matching 4 rows of a packed activation tile (rows 4h..4h+3 of the
   32-wide tile cover its elements 16h..16h+15) */
static AMX_FN void tiles_configure_k16(void)
{
    tilecfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 6; t++) {
        cfg.colsb[t] = t < 2 ? 64 : t < 4 ? 16 : 64;
        cfg.rows[t] = t < 2 ? 16 : t < 4 ? 16 : 4;
    }
    __asm__ volatile("" ::: "memory");
    _tile_loadconfig(&cfg);
}

static AMX_FN void kgroup6(const uint8_t *w, size_t rb, int64_t nsb, const uint8_t *pack, int c0, int c1, int n,
                           float *y, size_t yr)
{
    int32_t c[2][256] __attribute__((aligned(64)));
    int8_t a[16][256] __attribute__((aligned(64)));
    const __m256i lo4 = _mm256_set1_epi8(0x0F), hi2 = _mm256_set1_epi8(0x30), k32 = _mm256_set1_epi8(32);
    /* per chunk of 16 activation rows, per weight row: 16 activation lanes */
    float acc[KCHUNKS][16][16] __attribute__((aligned(64)));
    memset(acc, 0, sizeof acc);
    for (int64_t sb = 0; sb < nsb; sb++) {
        int32_t sc[16][16];
        float d[16];
        for (int r = 0; r < 16; r++) {
            const uint8_t *blk = w + (size_t)r * rb + (size_t)sb * 210;
            d[r] = qx_h2f(blk + 208);
            for (int k = 0; k < 16; k++)
                sc[k][r] = (int8_t)blk[192 + k];
            for (int h = 0; h < 2; h++) {
                const uint8_t *ql = blk + 64 * h, *qh = blk + 128 + 32 * h;
                const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql),
                              l1 = _mm256_loadu_si256((const __m256i *)(ql + 32)),
                              hb = _mm256_loadu_si256((const __m256i *)qh);
                /* the four runs of 32 weights of this half, in element order, less 32 */
                __m256i u[4];
                u[0] = _mm256_or_si256(_mm256_and_si256(l0, lo4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), hi2));
                u[1] = _mm256_or_si256(_mm256_and_si256(l1, lo4), _mm256_and_si256(_mm256_slli_epi16(hb, 2), hi2));
                u[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), lo4), _mm256_and_si256(hb, hi2));
                u[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), lo4),
                                       _mm256_and_si256(_mm256_srli_epi16(hb, 2), hi2));
                for (int q = 0; q < 4; q++) {
                    const __m256i v = _mm256_sub_epi8(u[q], k32);
                    const int s0 = 8 * h + 2 * q;
                    _mm_storeu_si128((__m128i *)(a[s0] + 16 * r), _mm256_castsi256_si128(v));
                    _mm_storeu_si128((__m128i *)(a[s0 + 1] + 16 * r), _mm256_extracti128_si256(v, 1));
                }
            }
        }
        __asm__ volatile("" ::: "memory");
        for (int ch = c0; ch < c1; ch++) {
            const uint8_t *ps = pack + ((size_t)ch * (size_t)nsb + (size_t)sb) * KPACK_SB;
            float (*ac)[16] = acc[ch - c0];
            __m512i isum[16];
            for (int r = 0; r < 16; r++)
                isum[r] = _mm512_setzero_si512();
            for (int k = 0; k < 16; k += 2) {
                _tile_zero(0);
                _tile_zero(1);
                _tile_loadd(2, a[k], 16);
                _tile_loadd(3, a[k + 1], 16);
                _tile_loadd(4, ps + (size_t)k * (PACK_TILE / 2), 64);
                _tile_loadd(5, ps + (size_t)(k + 1) * (PACK_TILE / 2), 64);
                _tile_dpbssd(0, 2, 4);
                _tile_dpbssd(1, 3, 5);
                _tile_stored(0, c[0], 64);
                _tile_stored(1, c[1], 64);
                for (int r = 0; r < 16; r++) {
                    isum[r] = _mm512_add_epi32(isum[r], _mm512_mullo_epi32(_mm512_set1_epi32(sc[k][r]),
                                                                           _mm512_load_si512(c[0] + 16 * r)));
                    isum[r] = _mm512_add_epi32(isum[r], _mm512_mullo_epi32(_mm512_set1_epi32(sc[k + 1][r]),
                                                                           _mm512_load_si512(c[1] + 16 * r)));
                }
            }
            const __m512 dy = _mm512_loadu_ps((const float *)(const void *)(ps + KPACK_TILES));
            /* dy * d * sumi, as the portable kernel rounds it */
            for (int r = 0; r < 16; r++)
                _mm512_store_ps(ac[r], _mm512_add_ps(_mm512_load_ps(ac[r]),
                                                     _mm512_mul_ps(_mm512_mul_ps(dy, _mm512_set1_ps(d[r])),
                                                                   _mm512_cvtepi32_ps(isum[r]))));
        }
    }
    for (int ch = c0; ch < c1; ch++)
        for (int i = 0; i < 16 && ch * 16 + i < n; i++)
            for (int r = 0; r < 16; r++)
                y[(size_t)(ch * 16 + i) * yr + (size_t)r] = acc[ch - c0][r][i];
}

AMX_FN void quant_amx_k_rows(uint32_t wtype, const uint8_t *w, size_t rb, int64_t r0, int64_t r1, int64_t cols,
                             const void *pack, const uint8_t *x, size_t xs, int n, float *y, size_t yr)
{
    const int q6 = wtype == GGML_TYPE_Q6_K;
    const int64_t nsb = cols / QK_K;
    int64_t r = r0;
    if (r1 - r0 >= 16) {
        if (q6)
            tiles_configure_k16();
        else
            tiles_configure();
        const int chunks = (n + 15) / 16;
        for (; r + 16 <= r1; r += 16)
            for (int c0 = 0; c0 < chunks; c0 += KCHUNKS)
                (q6 ? kgroup6 : kgroup)(w + (size_t)r * rb, rb, nsb, pack, c0,
                                        c0 + KCHUNKS < chunks ? c0 + KCHUNKS : chunks, n, y + r, yr);
        _tile_release();
    }
    const quant_vec_dot_fn dot = quant_vec_dot_kernel(wtype, QUANT_ISA_AVX2);
    for (; r < r1; r++)
        for (int i = 0; i < n; i++)
            y[(size_t)i * yr + (size_t)r] = dot(w + (size_t)r * rb, x + (size_t)i * xs, cols);
}

#else

int quant_have_amx(void)
{
    return 0;
}

size_t quant_amx_pack_bytes(int n, int64_t cols)
{
    (void)n, (void)cols;
    return 0;
}

void quant_amx_pack(const uint8_t *x, size_t xs, int n, int64_t cols, void *pack)
{
    (void)x, (void)xs, (void)n, (void)cols, (void)pack;
}

quant_vec_dot_fn quant_amx_order_dot(uint32_t wtype)
{
    (void)wtype;
    return NULL;
}

void quant_amx_rows(uint32_t wtype, const uint8_t *w, size_t rb, int64_t r0, int64_t r1, int64_t cols,
                    const void *pack, const uint8_t *x, size_t xs, int n, float *y, size_t yr)
{
    (void)wtype, (void)w, (void)rb, (void)r0, (void)r1, (void)cols, (void)pack, (void)x, (void)xs, (void)n, (void)y,
        (void)yr;
}

size_t quant_amx_k_pack_bytes(int n, int64_t cols)
{
    (void)n, (void)cols;
    return 0;
}

void quant_amx_k_pack(const uint8_t *x, size_t xs, int n, int64_t cols, void *pack)
{
    (void)x, (void)xs, (void)n, (void)cols, (void)pack;
}

void quant_amx_k_rows(uint32_t wtype, const uint8_t *w, size_t rb, int64_t r0, int64_t r1, int64_t cols,
                      const void *pack, const uint8_t *x, size_t xs, int n, float *y, size_t yr)
{
    (void)wtype, (void)w, (void)rb, (void)r0, (void)r1, (void)cols, (void)pack, (void)x, (void)xs, (void)n, (void)y,
        (void)yr;
}

#endif
