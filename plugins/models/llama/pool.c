/* pool.c -- worker threads for splitting matrix rows. Workers and the caller spin briefly (a
   decode step issues many short jobs back to back), then sleep on condition variables, so an
   idle or oversubscribed core is not burnt waiting. */
#define _POSIX_C_SOURCE 200809L
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

/* Spin iterations before sleeping: a few microseconds, about the gap between two jobs of one
   forward pass; longer spins only steal time from whatever else runs on the machine. */
#define SPINS 2000

struct llm_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake; /* a new job (or stop) */
    pthread_cond_t done; /* the last worker finished */
    atomic_uint gen;     /* bumped for every job */
    atomic_int pending;  /* workers still running the current job */
    atomic_int stop;
    llm_pool_fn fn;
    void *arg;
    int nth;
};

typedef struct worker_arg {
    llm_pool *p;
    int ith;
} worker_arg;

static void *worker(void *a)
{
    worker_arg wa = *(worker_arg *)a;
    free(a);
    llm_pool *p = wa.p;
    unsigned seen = 0;
    for (;;) {
        int spins = 0;
        while (atomic_load_explicit(&p->gen, memory_order_acquire) == seen && !atomic_load(&p->stop)) {
            if (++spins < SPINS) {
                CPU_RELAX();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->wake, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop))
            return NULL;
        seen = atomic_load(&p->gen);
        if (wa.ith < p->nth)
            p->fn(p->arg, wa.ith, p->nth);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            /* under the lock, so a caller that saw pending > 0 is already waiting */
            pthread_mutex_lock(&p->mu);
            pthread_cond_broadcast(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

llm_pool *llm_pool_create(int n_threads)
{
    llm_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n = n_threads < 1 ? 1 : n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    if (p->n > 1) {
        p->threads = calloc((size_t)p->n, sizeof *p->threads);
        if (!p->threads) {
            llm_pool_free(p);
            return NULL;
        }
        for (int i = 1; i < p->n; i++) {
            worker_arg *wa = malloc(sizeof *wa);
            if (!wa || (wa->p = p, wa->ith = i, pthread_create(&p->threads[i], NULL, worker, wa)) != 0) {
                free(wa);
                p->n = i; /* only join what started */
                llm_pool_free(p);
                return NULL;
            }
        }
    }
    return p;
}

void llm_pool_free(llm_pool *p)
{
    if (!p)
        return;
    if (p->threads) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->stop, 1);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
        for (int i = 1; i < p->n; i++)
            pthread_join(p->threads[i], NULL);
        free(p->threads);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p);
}

int llm_pool_size(const llm_pool *p)
{
    return p->n;
}

void llm_pool_run(llm_pool *p, llm_pool_fn fn, void *arg, int nth)
{
    if (nth > p->n)
        nth = p->n;
    if (nth <= 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    p->nth = nth;
    atomic_store(&p->pending, p->n - 1);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, nth);
    for (int spins = 0; spins < SPINS; spins++) {
        if (atomic_load_explicit(&p->pending, memory_order_acquire) == 0)
            return;
        CPU_RELAX();
    }
    pthread_mutex_lock(&p->mu);
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
