/* pool.h -- a fixed set of worker threads that run one job split n ways. */
#ifndef DECOKIT_LLAMA_POOL_H
#define DECOKIT_LLAMA_POOL_H

typedef struct llm_pool llm_pool;
typedef void (*llm_pool_fn)(void *arg, int ith, int nth);

/* n_threads includes the caller; 1 creates no threads. NULL on failure. */
llm_pool *llm_pool_create(int n_threads);
void llm_pool_free(llm_pool *p);
int llm_pool_size(const llm_pool *p);
/* Runs fn(arg, i, nth) for i in 0..nth-1 (i = 0 on the caller) and waits for all. */
void llm_pool_run(llm_pool *p, llm_pool_fn fn, void *arg, int nth);

#endif
