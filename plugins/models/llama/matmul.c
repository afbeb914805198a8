/* matmul.c -- the two matrix paths: threaded quantised GEMV and tiled OpenBLAS SGEMM. */
#include "matmul.h"

#include <cblas.h>
#include <stdint.h>
#include <stdlib.h>

#include "quant.h"

/* Below this many multiply-adds a job finishes before a second thread would wake up. */
#define PAR_MIN_MACS (1 << 16)
/* Upper bound on the dequantised tile handed to SGEMM, in floats. */
#define TILE_FLOATS (1 << 20)

typedef struct gemv_job {
    const llm_weight *w;
    const float *x;
    float *y;
    int avx2;
} gemv_job;

static void gemv_part(void *arg, int ith, int nth)
{
    const gemv_job *j = arg;
    const int64_t rows = j->w->rows, r0 = rows * ith / nth, r1 = rows * (ith + 1) / nth;
    const uint8_t *base = j->w->data;
    if (j->avx2)
        for (int64_t r = r0; r < r1; r++)
            j->y[r] = quant_dot_row_avx2(j->w->type, base + (size_t)r * j->w->row_bytes, j->x, j->w->cols);
    else
        for (int64_t r = r0; r < r1; r++)
            j->y[r] = quant_dot_row_portable(j->w->type, base + (size_t)r * j->w->row_bytes, j->x, j->w->cols);
}

typedef struct dequant_job {
    const llm_weight *w;
    int64_t r0, nr;
    float *tile;
} dequant_job;

static void dequant_part(void *arg, int ith, int nth)
{
    const dequant_job *j = arg;
    const int64_t a = j->nr * ith / nth, b = j->nr * (ith + 1) / nth;
    for (int64_t r = a; r < b; r++)
        quant_dequant_row(j->w->type, j->w->data + (size_t)(j->r0 + r) * j->w->row_bytes,
                          j->tile + (size_t)r * (size_t)j->w->cols, j->w->cols);
}

int llm_matmul(llm_matmul_ctx *mc, const llm_weight *w, const float *X, int n, float *Y)
{
    const int64_t rows = w->rows, cols = w->cols;
    const int nth = llm_pool_size(mc->pool);
    if (n == 1) {
        gemv_job j = { w, X, Y, mc->use_avx2 };
        llm_pool_run(mc->pool, gemv_part, &j, rows * cols >= PAR_MIN_MACS ? nth : 1);
        return 0;
    }
    if (w->type == GGML_TYPE_F32 && ((uintptr_t)w->data % sizeof(float)) == 0) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, (int)rows, (int)cols, 1.0f, X, (int)cols,
                    (const float *)(const void *)w->data, (int)cols, 0.0f, Y, (int)rows);
        return 0;
    }
    int64_t tr = TILE_FLOATS / cols;
    if (tr < 1)
        tr = 1;
    if (tr > rows)
        tr = rows;
    size_t need = (size_t)tr * (size_t)cols;
    if (need > mc->tile_cap) {
        float *t = realloc(mc->tile, need * sizeof *t);
        if (!t)
            return -1;
        mc->tile = t;
        mc->tile_cap = need;
    }
    for (int64_t r0 = 0; r0 < rows; r0 += tr) {
        int64_t nr = rows - r0 < tr ? rows - r0 : tr;
        dequant_job j = { w, r0, nr, mc->tile };
        llm_pool_run(mc->pool, dequant_part, &j, nr * cols >= PAR_MIN_MACS ? nth : 1);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, (int)nr, (int)cols, 1.0f, X, (int)cols, mc->tile,
                    (int)cols, 0.0f, Y + r0, (int)rows);
    }
    return 0;
}
