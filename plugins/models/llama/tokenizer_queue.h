/* tokenizer_queue.h -- binary heap of candidate merges shared by the SPM and BPE tokenizers (inline: it is
   their inner loop). */
#ifndef DECOKIT_LLAMA_TOKENIZER_QUEUE_H
#define DECOKIT_LLAMA_TOKENIZER_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* A pair of adjacent symbols that could merge.  One key serves both orders: SPM queues the
   merged piece's score (higher first), BPE the negated merge rank (lower rank first); a double
   holds every float score and every int32 rank exactly. */
typedef struct llm_merge {
    double key;          /* larger pops first; ties go to the leftmost pair */
    int32_t left, right; /* symbol indices */
    uint32_t ln, rn;     /* byte lengths of both sides when queued, to spot pairs gone stale */
    int32_t result;      /* the merged token */
} llm_merge;

typedef struct llm_merge_queue {
    llm_merge *v;
    size_t n, cap;
} llm_merge_queue;

/* Highest key first, leftmost on ties. */
static inline int llm_merge_before(const llm_merge *a, const llm_merge *b)
{
    return a->key > b->key || (a->key == b->key && a->left < b->left);
}

static inline int llm_merge_queue_push(llm_merge_queue *q, llm_merge m)
{
    if (q->n == q->cap) {
        size_t nc = q->cap ? q->cap * 2 : 64;
        llm_merge *nv = realloc(q->v, nc * sizeof(*nv));
        if (!nv)
            return -1;
        q->v = nv;
        q->cap = nc;
    }
    size_t i = q->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!llm_merge_before(&m, &q->v[p]))
            break;
        q->v[i] = q->v[p];
        i = p;
    }
    q->v[i] = m;
    return 0;
}

/* Removes and returns the first merge; q->n must be > 0. */
static inline llm_merge llm_merge_queue_pop(llm_merge_queue *q)
{
    llm_merge top = q->v[0], last = q->v[--q->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, best = i;
        const llm_merge *bv = &last;
        if (l < q->n && llm_merge_before(&q->v[l], bv)) {
            best = l;
            bv = &q->v[l];
        }
        if (r < q->n && llm_merge_before(&q->v[r], bv))
            best = r;
        if (best == i)
            break;
        q->v[i] = q->v[best];
        i = best;
    }
    if (q->n)
        q->v[i] = last;
    return top;
}

static inline void llm_merge_queue_free(llm_merge_queue *q)
{
    free(q->v);
    q->v = NULL;
    q->n = q->cap = 0;
}

#endif
