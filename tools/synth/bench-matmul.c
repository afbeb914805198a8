/* bench-matmul.c -- one batched weight product per path the CPU offers, to show where OpenBLAS wins. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../plugins/models/llama/matmul.h"
#include "../../plugins/models/llama/quant.h"
#include "../../plugins/models/llama/quant_amx.h"

extern void openblas_set_num_threads(int n);

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* What llm_matmul runs for a batch of this type at this level (see matmul.c). */
static const char *path(uint32_t t, int isa, int amx)
{
    if (amx && t != GGML_TYPE_F32 && t != GGML_TYPE_F16 && t != GGML_TYPE_BF16)
        return "AMX tiles";
    if (t == GGML_TYPE_Q8_0)
        return isa ? "row kernels" : "portable rows";
    if ((t == GGML_TYPE_F32 || t == GGML_TYPE_F16) && isa)
        return "tile kernels";
    if ((t == GGML_TYPE_Q4_0 || t == GGML_TYPE_Q6_K) && quant_dot4_kernel(quant_vec_dot_kernel(t, isa)))
        return "row kernels";
    return "OpenBLAS SGEMM";
}

int main(int argc, char **argv)
{
    const int threads = argc > 1 ? atoi(argv[1]) : 1;
    static const uint32_t types[] = { GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0,
                                      GGML_TYPE_Q4_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K };
    static const char *tnames[] = { "F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_K", "Q6_K" };
    static const char *lnames[] = { "portable", "AVX2", "AVX-512 VNNI" };
    /* a 110M model's feed-forward up-projection, over a 64-token prompt */
    const int64_t rows = 2048, cols = 768;
    const int n = 64;
    openblas_set_num_threads(threads);
    llm_pool *pool = llm_pool_create(threads);
    float *X = malloc((size_t)n * cols * sizeof *X), *Y = malloc((size_t)n * rows * sizeof *Y),
          *v = malloc((size_t)cols * sizeof *v);
    unsigned seed = 7;
    for (int64_t i = 0; i < n * cols; i++)
        X[i] = frand(&seed);
    const int amx_ok = quant_isa() >= QUANT_ISA_AVX512 && quant_have_amx();
    printf("%ldx%ld weights x %d rows, %d thread(s); GMAC/s of process CPU time, best of 5\n", (long)rows,
           (long)cols, n, threads);
    printf("| type | level | path | GMAC/s |\n|---|---|---|---|\n");
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const uint32_t t = types[ti];
        const size_t rb = quant_row_bytes(t, cols);
        uint8_t *wd = malloc((size_t)rows * rb);
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t i = 0; i < cols; i++)
                v[i] = frand(&seed);
            quant_quantize_row(t, v, wd + (size_t)r * rb, cols);
        }
        const llm_weight w = { wd, t, rows, cols, rb, NULL };
        for (int isa = 0; isa <= quant_isa() + amx_ok; isa++) {
            const int amx = isa > quant_isa();
            llm_matmul_ctx mc;
            memset(&mc, 0, sizeof mc);
            mc.pool = pool;
            mc.isa = amx ? quant_isa() : isa;
            mc.amx = amx;
            if (amx && (t == GGML_TYPE_F32 || t == GGML_TYPE_F16 || t == GGML_TYPE_BF16))
                continue;
            double best = 1e30;
            for (int rep = 0; rep < 6; rep++) {
                const double t0 = cpu_now();
                if (llm_matmul(&mc, &w, X, n, Y)) {
                    fprintf(stderr, "bench-matmul: out of memory\n");
                    return 1;
                }
                const double dt = cpu_now() - t0;
                if (rep > 0 && dt < best) /* the first call allocates */
                    best = dt;
            }
            printf("| %s | %s%s | %s | %.1f |\n", tnames[ti], lnames[mc.isa], amx ? " + AMX" : "",
                   path(t, mc.isa, amx), (double)rows * cols * n / best * 1e-9);
            free(mc.tile);
            free(mc.act);
            free(mc.actf);
            free(mc.pack);
            free(mc.kpack);
        }
        free(wd);
    }
    llm_pool_free(pool);
    free(X);
    free(Y);
    free(v);
    return 0;
}
