/* bench-model.c -- prompt-processing and generation throughput of the llama engine on one GGUF
   (the conventions of llama-bench: ppN = one N-token batch, tgN = N single steps from empty). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "../../plugins/models/llama/llm.h"

/* OpenBLAS's thread pool is process-global; like the decokit host, give it the same count. */
extern void openblas_set_num_threads(int n);

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double now(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

static int argmax(const float *v, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b])
            b = i;
    return b;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench-model FILE.gguf [threads=1] [prompt=256] [generate=128] [reps=3]\n");
        return 2;
    }
    const int threads = argc > 2 ? atoi(argv[2]) : 1;
    int n_pp = argc > 3 ? atoi(argv[3]) : 256, n_tg = argc > 4 ? atoi(argv[4]) : 128;
    const int reps = argc > 5 ? atoi(argv[5]) : 3;
    char err[600];
    openblas_set_num_threads(threads > 0 ? threads : 1);
    llm_model *m = llm_model_load(argv[1], err, sizeof err);
    if (!m) {
        fprintf(stderr, "bench-model: %s\n", err);
        return 1;
    }
    const llm_hparams *hp = llm_model_hparams(m);
    int n_ctx = n_pp + n_tg + 1;
    llm_ctx *c = llm_ctx_create(m, threads, n_ctx, err, sizeof err);
    if (!c) {
        fprintf(stderr, "bench-model: %s\n", err);
        return 1;
    }
    int32_t *toks = malloc((size_t)n_pp * sizeof *toks), s;
    float *lg = malloc((size_t)hp->n_vocab * sizeof *lg);
    unsigned seed = 1;
    for (int i = 0; i < n_pp; i++) {
        seed = seed * 1664525u + 1013904223u;
        toks[i] = (int32_t)((seed >> 8) % (unsigned)hp->n_vocab);
    }
    if (llm_seq_new(c, &s, err, sizeof err) || llm_eval(c, s, toks, 8, lg, 0, err, sizeof err)) {
        fprintf(stderr, "bench-model: %s\n", err);
        return 1;
    }
    double best_pp = 1e30, best_tg = 1e30, best_cpu = 1e30;
    for (int r = 0; r < reps; r++) {
        llm_truncate(c, s, 0, err, sizeof err);
        double t0 = now(), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        if (llm_eval(c, s, toks, (size_t)n_pp, lg, 0, err, sizeof err)) {
            fprintf(stderr, "bench-model: %s\n", err);
            return 1;
        }
        const double t1 = now(), c1 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        best_cpu = c1 - c0 < best_cpu ? c1 - c0 : best_cpu;
        /* generation is timed from an empty context, as llama-bench's tg test does */
        llm_truncate(c, s, 0, err, sizeof err);
        const double t1g = now();
        for (int i = 0; i < n_tg; i++) {
            int32_t id = argmax(lg, hp->n_vocab);
            if (llm_eval(c, s, &id, 1, lg, 0, err, sizeof err)) {
                fprintf(stderr, "bench-model: %s\n", err);
                return 1;
            }
        }
        double t2 = now();
        best_pp = t1 - t0 < best_pp ? t1 - t0 : best_pp;
        best_tg = t2 - t1g < best_tg ? t2 - t1g : best_tg;
    }
    const char *name = argv[1];
    for (const char *p = argv[1]; *p; p++)
        if (*p == '/')
            name = p + 1;
    /* Under load the wall clock also counts time spent waiting for a core; prompt tokens per
       second of process CPU time (all threads) are what the code costs. Memory: the peak
       resident size beside the file (mapped, not copied) and the KV cache (halves). */
    struct rusage ru;
    struct stat st;
    getrusage(RUSAGE_SELF, &ru);
    const double mib = 1024.0 * 1024.0;
    const double kv = 2.0 * hp->n_layer * (double)n_ctx * hp->n_head_kv * hp->head_dim * 2.0;
    printf("%-28s threads=%d  pp%d: %9.1f tok/s  tg%d: %9.1f tok/s  pp-cpu: %9.1f tok/s  rss: %.1f MiB  "
           "file: %.1f MiB  kv: %.1f MiB\n",
           name, threads, n_pp, n_pp / best_pp, n_tg, n_tg / best_tg, n_pp / best_cpu, (double)ru.ru_maxrss / 1024.0,
           stat(argv[1], &st) == 0 ? (double)st.st_size / mib : 0.0, kv / mib);
    free(toks);
    free(lg);
    llm_ctx_free(c);
    llm_model_free(m);
    return 0;
}
