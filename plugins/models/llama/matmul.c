/* matmul.c -- the two matrix paths: threaded quantised GEMV and tiled OpenBLAS SGEMM, both on
   activations rounded to the weight type's dot-product format. */
#include "matmul.h"

#include <cblas.h>
#include <stdint.h>
#include <stdlib.h>

#include "quant.h"
#include "quant_amx.h"

/* Below this many multiply-adds a job finishes before a second thread would wake up. */
#define PAR_MIN_MACS (1 << 16)
/* Upper bound on the dequantised tile handed to SGEMM, in floats. */
#define TILE_FLOATS (1 << 20)

static int reserve(void **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    void *q = realloc(*p, need);
    if (!q)
        return -1;
    *p = q;
    *cap = need;
    return 0;
}

/* A single activation row streams every weight from memory once: for the block-quantised
   types, ask for the weights this far ahead of their use, enough to cover the latency of a
   loaded machine (a 110M model's 48-token generation, tools/synth/bench-model: 20% less CPU
   time for Q8_0, 30% for Q4_K; half-precision rows ran 9% slower with it, so float types
   are left to the hardware prefetcher). Prefetches never fault, so running past the end of
   the weights is harmless. */
#define PREFETCH_AHEAD 8192

static inline void prefetch_ahead(const uint8_t *p, size_t bytes)
{
    for (size_t o = 0; o < bytes; o += 64)
        __builtin_prefetch(p + PREFETCH_AHEAD + o);
}

/* weight bytes per cache block of a batched product */
#define BLOCK_BYTES ((size_t)128 * 1024)

typedef struct gemv_job {
    int count, n; /* weights, activation rows */
    size_t x_stride[LLM_MATMUL_MAX]; /* bytes between activation rows */
    const llm_weight *w[LLM_MATMUL_MAX];
    const uint8_t *x[LLM_MATMUL_MAX];
    float *y[LLM_MATMUL_MAX];
    quant_vec_dot_fn dot[LLM_MATMUL_MAX];
} gemv_job;

/* Weight rows [r0, r1) of a view of scattered rows (llm_weight.ids), found through their ids.
   The four-row kernel sums each product exactly as the single one does, so every value equals
   the one the whole matrix gives for that row. */
static void gemv_ids(const gemv_job *j, int k, int64_t r0, int64_t r1)
{
    const llm_weight *w = j->w[k];
    const quant_vec_dot_fn dot = j->dot[k];
    const quant_vec_dot4_fn dot4 = j->n >= 4 ? quant_dot4_kernel(dot) : NULL;
    const size_t xs = j->x_stride[k], yr = (size_t)w->rows;
    float *y = j->y[k];
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = w->data + (size_t)w->ids[r] * w->row_bytes;
        int i = 0;
        if (dot4)
            for (; i + 4 <= j->n; i += 4) {
                float o[4];
                dot4(row, j->x[k] + (size_t)i * xs, xs, w->cols, o);
                for (int e = 0; e < 4; e++)
                    y[(size_t)(i + e) * yr + r] = o[e];
            }
        for (; i < j->n; i++)
            y[(size_t)i * yr + r] = dot(row, j->x[k] + (size_t)i * xs, w->cols);
    }
}

static void gemv_part(void *arg, int ith, int nth)
{
    const gemv_job *j = arg;
    for (int k = 0; k < j->count; k++) {
        const llm_weight *w = j->w[k];
        const int64_t r0 = w->rows * ith / nth, r1 = w->rows * (ith + 1) / nth;
        if (w->ids) {
            gemv_ids(j, k, r0, r1);
            continue;
        }
        const quant_vec_dot_fn dot = j->dot[k];
        const quant_vec_dot4_fn dot4 = j->n >= 4 ? quant_dot4_kernel(dot) : NULL;
        const quant_vec_dot4x2_fn dot4x2 = dot4 ? quant_dot4x2_kernel(dot) : NULL;
        /* independent chains over four weight rows for the rows left over by dot4 */
        const quant_vec_rows4_fn rows4 = quant_rows4_kernel(dot);
        const int ahead = w->type != GGML_TYPE_F32 && w->type != GGML_TYPE_F16 && w->type != GGML_TYPE_BF16;
        const size_t xs = j->x_stride[k], yr = (size_t)w->rows;
        /* blocks of weight rows small enough to stay in cache while every activation row
           passes over them */
        int64_t rb = (int64_t)(BLOCK_BYTES / w->row_bytes);
        rb = rb < 1 ? 1 : rb;
        for (int64_t b0 = r0; b0 < r1; b0 += rb) {
            const int64_t b1 = b0 + rb < r1 ? b0 + rb : r1;
            int i = 0;
            if (dot4)
                for (; i + 4 <= j->n; i += 4) {
                    const uint8_t *row = w->data + (size_t)b0 * w->row_bytes, *x = j->x[k] + (size_t)i * xs;
                    float *y = j->y[k] + (size_t)i * yr, o[8];
                    int64_t r = b0;
                    if (dot4x2)
                        for (; r + 2 <= b1; r += 2, row += 2 * w->row_bytes) {
                            dot4x2(row, w->row_bytes, x, xs, w->cols, o);
                            for (int e = 0; e < 4; e++) {
                                y[(size_t)e * yr + r] = o[e];
                                y[(size_t)e * yr + r + 1] = o[4 + e];
                            }
                        }
                    for (; r < b1; r++, row += w->row_bytes) {
                        dot4(row, x, xs, w->cols, o);
                        y[r] = o[0];
                        y[yr + r] = o[1];
                        y[2 * yr + r] = o[2];
                        y[3 * yr + r] = o[3];
                    }
                }
            for (; i < j->n; i++) {
                const uint8_t *row = w->data + (size_t)b0 * w->row_bytes, *x = j->x[k] + (size_t)i * xs;
                float *y = j->y[k] + (size_t)i * yr;
                int64_t r = b0;
                if (rows4)
                    for (; r + 4 <= b1; r += 4, row += 4 * w->row_bytes) {
                        if (ahead)
                            prefetch_ahead(row, 4 * w->row_bytes);
                        rows4(row, w->row_bytes, x, w->cols, y + r);
                    }
                for (; r < b1; r++, row += w->row_bytes) {
                    if (ahead)
                        prefetch_ahead(row, w->row_bytes);
                    y[r] = dot(row, x, w->cols);
                }
            }
        }
    }
}

typedef struct amx_job {
    int count, n;
    const llm_weight *w[LLM_MATMUL_MAX];
    float *y[LLM_MATMUL_MAX];
    const uint8_t *x[LLM_MATMUL_MAX], *pack[LLM_MATMUL_MAX]; /* activation rows, stride xs; their packed form */
    size_t xs[LLM_MATMUL_MAX];
} amx_job;

/* whole groups of 16 weight rows per thread (the last also takes the rows left over) */
static void amx_part(void *arg, int ith, int nth)
{
    const amx_job *j = arg;
    for (int k = 0; k < j->count; k++) {
        const llm_weight *w = j->w[k];
        const int64_t groups = w->rows / 16;
        const int64_t r0 = groups * ith / nth * 16, r1 = ith == nth - 1 ? w->rows : groups * (ith + 1) / nth * 16;
        if (w->type == GGML_TYPE_Q4_K || w->type == GGML_TYPE_Q6_K)
            quant_amx_k_rows(w->type, w->data, w->row_bytes, r0, r1, w->cols, j->pack[k], j->x[k], j->xs[k], j->n,
                             j->y[k], (size_t)w->rows);
        else
            quant_amx_rows(w->type, w->data, w->row_bytes, r0, r1, w->cols, j->pack[k], j->x[k], j->xs[k], j->n,
                           j->y[k], (size_t)w->rows);
    }
}

typedef struct dequant_job {
    const llm_weight *w;
    int64_t r0, nr;
    float *tile;
    int avx2;
} dequant_job;

static void dequant_part(void *arg, int ith, int nth)
{
    const dequant_job *j = arg;
    const int64_t a = j->nr * ith / nth, b = j->nr * (ith + 1) / nth;
    for (int64_t r = a; r < b; r++) {
        const int64_t wr = j->w->ids ? j->w->ids[j->r0 + r] : j->r0 + r;
        const uint8_t *row = j->w->data + (size_t)wr * j->w->row_bytes;
        float *out = j->tile + (size_t)r * (size_t)j->w->cols;
        if (!j->avx2 || !quant_dequant_row_fast(j->w->type, row, out, j->w->cols))
            quant_dequant_row(j->w->type, row, out, j->w->cols);
    }
}

static int sgemm(llm_matmul_ctx *mc, const llm_weight *w, const float *X, int n, float *Y)
{
    const int64_t rows = w->rows, cols = w->cols;
    const int nth = llm_pool_size(mc->pool);
    if (w->type == GGML_TYPE_F32 && !w->ids && ((uintptr_t)w->data % sizeof(float)) == 0) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, (int)rows, (int)cols, 1.0f, X, (int)cols,
                    (const float *)(const void *)w->data, (int)cols, 0.0f, Y, (int)rows);
        return 0;
    }
    int64_t tr = TILE_FLOATS / cols;
    if (tr < 1)
        tr = 1;
    if (tr > rows)
        tr = rows;
    if (reserve((void **)&mc->tile, &mc->tile_cap, (size_t)tr * (size_t)cols * sizeof(float)))
        return -1;
    for (int64_t r0 = 0; r0 < rows; r0 += tr) {
        int64_t nr = rows - r0 < tr ? rows - r0 : tr;
        dequant_job j = { w, r0, nr, mc->tile, mc->isa >= QUANT_ISA_AVX2 };
        llm_pool_run(mc->pool, dequant_part, &j, nr * cols >= PAR_MIN_MACS ? nth : 1);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, (int)nr, (int)cols, 1.0f, X, (int)cols, mc->tile,
                    (int)cols, 0.0f, Y + r0, (int)rows);
    }
    return 0;
}

/* The converted activations of slot j widened back to float (exactly), once per call. */
static void widen(llm_matmul_ctx *mc, const uint32_t *slot_type, int *widened, int j, int n, int64_t cols,
                  size_t stride)
{
    if (widened[j])
        return;
    for (int i = 0; i < n; i++)
        quant_dequant_row(slot_type[j], mc->act + ((size_t)j * n + (size_t)i) * stride,
                          mc->actf + ((size_t)j * n + (size_t)i) * (size_t)cols, cols);
    widened[j] = 1;
}

int llm_matmul_multi(llm_matmul_ctx *mc, const llm_weight *const *ws, float *const *Ys, int count, const float *X,
                     int n)
{
    const int64_t cols = ws[0]->cols;
    uint32_t vt[LLM_MATMUL_MAX], slot_type[LLM_MATMUL_MAX];
    int slot[LLM_MATMUL_MAX], n_slots = 0, ws_done[LLM_MATMUL_MAX] = { 0 };
    size_t stride = 0;
    /* one converted copy of X per distinct format; F32 weights read X itself */
    for (int k = 0; k < count; k++) {
        vt[k] = quant_vec_dot_type(ws[k]->type);
        slot[k] = -1;
        if (vt[k] == GGML_TYPE_F32)
            continue;
        for (int j = 0; j < n_slots; j++)
            if (slot_type[j] == vt[k])
                slot[k] = j;
        if (slot[k] < 0) {
            slot_type[n_slots] = vt[k];
            slot[k] = n_slots++;
        }
        const size_t b = quant_row_bytes(vt[k], cols);
        stride = b > stride ? b : stride;
    }
    if (n_slots && reserve((void **)&mc->act, &mc->act_cap, (size_t)n_slots * (size_t)n * stride))
        return -1;
    if (n > 1 && n_slots &&
        reserve((void **)&mc->actf, &mc->actf_cap, (size_t)n_slots * (size_t)n * (size_t)cols * sizeof(float)))
        return -1;
    for (int j = 0; j < n_slots; j++)
        for (int i = 0; i < n; i++)
            quant_act_row(slot_type[j], X + (size_t)i * cols, mc->act + ((size_t)j * n + (size_t)i) * stride, cols);
    /* the float copies only for the weights that read them (SGEMM, half tiles) */
    int widened[LLM_MATMUL_MAX] = { 0 };
    /* Single rows, and batches of the weights whose batched kernel in the reference is the
       row dot product itself (Q8_0; F16 rows that are not a multiple of 8), take the dot
       kernels, and so do batches of Q4_0 and Q6_K where a four-row form of their kernel
       exists (Q4_K's four-row kernel loses to SGEMM: tools/synth/bench-matmul); with AVX2,
       F32 and F16 weights take a dot product in the order of the reference's tiled kernel,
       batches and single rows alike. Every sum then rounds as one of the reference's kernels
       does, which matters because the activations are re-quantised downstream. With AMX,
       batches of Q8_0, Q4_0, Q4_K and Q6_K run on tiles. The rest go to SGEMM. */
    gemv_job job;
    amx_job aj;
    int64_t macs = 0, amx_macs = 0;
    job.count = 0;
    job.n = n;
    aj.count = 0;
    aj.n = n;
    for (int k = 0; k < count; k++) {
        const uint32_t t = ws[k]->type;
        quant_vec_dot_fn fn = NULL;
        const uint8_t *x = slot[k] < 0 ? (const uint8_t *)X : mc->act + (size_t)slot[k] * (size_t)n * stride;
        size_t xs = slot[k] < 0 ? (size_t)cols * sizeof(float) : stride;
        const int amx = mc->amx && n >= 2 && (t == GGML_TYPE_Q8_0 || t == GGML_TYPE_Q4_0);
        const int kamx = mc->amx && n >= 2 && (t == GGML_TYPE_Q4_K || t == GGML_TYPE_Q6_K);
        if ((amx || kamx) && !ws[k]->ids) {
            /* one packed copy of the activations per format, shared by the weights using it */
            uint8_t **pk = kamx ? &mc->kpack : &mc->pack;
            size_t *cap = kamx ? &mc->kpack_cap : &mc->pack_cap;
            int have = 0;
            for (int e = 0; e < aj.count; e++)
                have |= (quant_vec_dot_type(aj.w[e]->type) == GGML_TYPE_Q8_K) == kamx;
            if (!have) {
                if (reserve((void **)pk, cap, kamx ? quant_amx_k_pack_bytes(n, cols) : quant_amx_pack_bytes(n, cols)))
                    return -1;
                if (kamx)
                    quant_amx_k_pack(x, xs, n, cols, *pk);
                else
                    quant_amx_pack(x, xs, n, cols, *pk);
            }
            aj.w[aj.count] = ws[k];
            aj.y[aj.count] = Ys[k];
            aj.x[aj.count] = x;
            aj.xs[aj.count] = xs;
            aj.pack[aj.count++] = *pk;
            amx_macs += ws[k]->rows * cols * n;
            ws_done[k] = 1;
            continue;
        }
        /* F32 and F16 rows take the tile order alone as in a batch: a row's logits must not
           depend on how many rows share its call (greedy decoding against lossless decoders
           that verify several rows at once) */
        const int tile = mc->isa >= QUANT_ISA_AVX2 && (t == GGML_TYPE_F32 || t == GGML_TYPE_F16) && cols % 8 == 0;
        if (kamx) /* a view of scattered rows: the row kernel, whose sums the tiles reproduce */
            fn = quant_vec_dot_kernel(t, mc->isa);
        else if (amx) /* a view of scattered rows: the same order, one product at a time */
            fn = quant_amx_order_dot(t);
        else if (tile && n == 1)
            fn = quant_tile_dot_kernel(t);
        else if (tile) {
            fn = quant_tile_dot_kernel(t);
            if (t == GGML_TYPE_F16) {
                /* the widened copy made for SGEMM: the same values, no conversion per use */
                fn = quant_tile_dot_f32act_kernel(t);
                widen(mc, slot_type, widened, slot[k], n, cols, stride);
                x = (const uint8_t *)(mc->actf + (size_t)slot[k] * (size_t)n * (size_t)cols);
                xs = (size_t)cols * sizeof(float);
            }
        } else if (n == 1 || t == GGML_TYPE_Q8_0 || (t == GGML_TYPE_F16 && cols % 8 != 0))
            fn = quant_vec_dot_kernel(t, mc->isa);
        else if ((t == GGML_TYPE_Q4_0 || t == GGML_TYPE_Q6_K) && quant_dot4_kernel(quant_vec_dot_kernel(t, mc->isa)))
            fn = quant_vec_dot_kernel(t, mc->isa); /* the batched form beats dequantised SGEMM tiles */
        else if (mc->isa >= QUANT_ISA_AVX2 && (t == GGML_TYPE_F32 || t == GGML_TYPE_F16))
            fn = quant_vec_dot_kernel(t, QUANT_ISA_AVX2); /* rows not a multiple of 8: the row kernel */
        if (!fn)
            continue;
        const int c = job.count++;
        job.w[c] = ws[k];
        job.y[c] = Ys[k];
        job.x[c] = x;
        job.x_stride[c] = xs;
        job.dot[c] = fn;
        macs += ws[k]->rows * cols * n;
        ws_done[k] = 1;
    }
    if (aj.count)
        llm_pool_run(mc->pool, amx_part, &aj, amx_macs >= 4 * PAR_MIN_MACS ? llm_pool_size(mc->pool) : 1);
    if (job.count)
        llm_pool_run(mc->pool, gemv_part, &job, macs >= PAR_MIN_MACS ? llm_pool_size(mc->pool) : 1);
    for (int k = 0; k < count; k++) {
        if (ws_done[k])
            continue;
        if (slot[k] >= 0)
            widen(mc, slot_type, widened, slot[k], n, cols, stride);
        const float *xf = slot[k] < 0 ? X : mc->actf + (size_t)slot[k] * (size_t)n * (size_t)cols;
        if (sgemm(mc, ws[k], xf, n, Ys[k]))
            return -1;
    }
    return 0;
}

int llm_matmul(llm_matmul_ctx *mc, const llm_weight *w, const float *X, int n, float *Y)
{
    return llm_matmul_multi(mc, &w, &Y, 1, X, n);
}
