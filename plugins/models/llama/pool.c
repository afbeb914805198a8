/* pool.c -- worker threads for splitting matrix rows. A job has as many parts as threads, and
   whoever is running takes the next part: when the machine is oversubscribed and a worker is
   not scheduled, the caller does its share instead of waiting for it. Idle workers spin
   briefly (a decode step issues many short jobs back to back), then sleep on a condition
   variable, so they do not burn a core another process needs. */
#define _POSIX_C_SOURCE 200809L
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

/* Spin iterations before sleeping. Short on purpose: on a busy machine a spinning worker takes
   the core the caller or another process needs (measured: 20000 spins halved 2-thread
   generation speed under load, 200 keeps it level with 1 thread). */
#define SPINS 200

struct llm_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake; /* a new job (or stop) */
    pthread_cond_t done; /* the last part of a job finished */
    atomic_uint gen;     /* job number, bumped for every job */
    atomic_int stop;
    /* The current job. A worker that wakes late may read these while the caller already
       writes the next job's; the part counter below tells it to throw such a read away. */
    _Atomic(llm_pool_fn) fn;
    _Atomic(void *) arg;
    /* (job number << 32) | (parts << 16) | next part: a part is taken by a compare-and-swap
       that only succeeds for the job it was read for. The part count travels in the same
       word: read separately, a late worker could pair the next job's count with this job's
       counter and run a part twice. */
    atomic_uint_fast64_t next;
    atomic_int left; /* parts of the current job not finished yet */
};

typedef struct worker_arg {
    llm_pool *p;
    int ith;
} worker_arg;

/* Runs parts of job g until none are left (or the job is no longer g). */
static void take_parts(llm_pool *p, unsigned g)
{
    /* fn and arg may already be the next job's; then job g is finished and the counter read
       below (ordered after them) says so, so they are never called. */
    const llm_pool_fn fn = atomic_load_explicit(&p->fn, memory_order_acquire);
    void *const arg = atomic_load_explicit(&p->arg, memory_order_acquire);
    uint_fast64_t v = atomic_load_explicit(&p->next, memory_order_acquire);
    for (;;) {
        const int nth = (int)((v >> 16) & 0xffffu), part = (int)(v & 0xffffu);
        if ((unsigned)(v >> 32) != g || part >= nth)
            return;
        if (!atomic_compare_exchange_weak_explicit(&p->next, &v, v + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        fn(arg, part, nth);
        if (atomic_fetch_sub_explicit(&p->left, 1, memory_order_acq_rel) == 1) {
            /* under the lock, so a caller that saw left > 0 is already waiting */
            pthread_mutex_lock(&p->mu);
            pthread_cond_broadcast(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
        v = atomic_load_explicit(&p->next, memory_order_acquire);
    }
}

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
        seen = atomic_load_explicit(&p->gen, memory_order_acquire);
        take_parts(p, seen);
    }
}

llm_pool *llm_pool_create(int n_threads)
{
    llm_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    /* the part count must fit the 16 bits it has in the job counter */
    p->n = n_threads < 1 ? 1 : n_threads > 4096 ? 4096 : n_threads;
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
    const unsigned g = atomic_load_explicit(&p->gen, memory_order_relaxed) + 1;
    atomic_store_explicit(&p->fn, fn, memory_order_release);
    atomic_store_explicit(&p->arg, arg, memory_order_release);
    atomic_store_explicit(&p->left, nth, memory_order_relaxed);
    atomic_store_explicit(&p->next, (uint_fast64_t)g << 32 | (uint_fast64_t)nth << 16, memory_order_release);
    pthread_mutex_lock(&p->mu);
    atomic_store_explicit(&p->gen, g, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    take_parts(p, g);
    for (int spins = 0; spins < SPINS; spins++) {
        if (atomic_load_explicit(&p->left, memory_order_acquire) == 0)
            return;
        CPU_RELAX();
    }
    pthread_mutex_lock(&p->mu);
    while (atomic_load_explicit(&p->left, memory_order_acquire) > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
