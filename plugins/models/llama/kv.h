/* kv.h -- paged KV cache: fixed-size blocks with reference counts, per-sequence page tables.
   Rows are stored as IEEE half, as the reference implementation does by default. */
#ifndef DECOKIT_LLAMA_KV_H
#define DECOKIT_LLAMA_KV_H

#include <stddef.h>
#include <stdint.h>

#define KV_BLOCK 16 /* positions per block */

typedef struct kv_block {
    uint16_t *data; /* n_layer x {K, V} x KV_BLOCK x kv_dim, IEEE half */
    int ref;
} kv_block;

typedef struct kv_seq {
    int used;
    int32_t *pages; /* block ids, one per KV_BLOCK positions */
    int n_pages, cap_pages;
    int32_t len;       /* committed positions */
    int32_t n_pending; /* tree nodes stored after len, awaiting accept_path */
    int32_t *parents;  /* the pending tree's parent indices */
    int32_t cap_parents;
    float *hidden;     /* final-norm rows of the latest eval */
    int32_t n_hidden, cap_hidden;
    /* K/V of the canvas kept by a masked evaluation (DK_MASKED_STORE): n_layer x {K, V} x
       canvas_n x kv_dim halves, computed with canvas_base committed positions before it. It
       stays usable while len == canvas_base (truncation below it discards it). */
    uint16_t *canvas;
    size_t cap_canvas;
    int32_t canvas_n, canvas_base;
} kv_seq;

typedef struct kv_cache {
    int n_layer, kv_dim, n_ctx;
    size_t block_elems;
    kv_block *blocks;
    int n_blocks, cap_blocks;
    int32_t *free_ids;
    int n_free;
    kv_seq *seqs;
    int n_seqs;
} kv_cache;

int kv_init(kv_cache *kv, int n_layer, int kv_dim, int n_ctx);
void kv_destroy(kv_cache *kv);

/* 0 or -1 (out of memory / too many sequences). */
int kv_seq_new(kv_cache *kv, int32_t *out);
void kv_seq_free(kv_cache *kv, int32_t seq);
kv_seq *kv_get(kv_cache *kv, int32_t seq); /* NULL when not a live sequence */
int kv_fork(kv_cache *kv, int32_t src, int32_t *out);
/* Drops positions >= n_keep (and any pending tree). */
void kv_truncate(kv_cache *kv, int32_t seq, int32_t n_keep);
/* Releases the pages past the first n_slots slots, changing nothing else. */
void kv_release_after(kv_cache *kv, int32_t seq, int32_t n_slots);
/* Makes slots [from, to) writable: allocates missing blocks, copies shared ones. 0 or -1. */
int kv_prepare(kv_cache *kv, int32_t seq, int32_t from, int32_t to);
/* Copies the K and V of slots [slot, slot + n) to rows [row0, row0 + n) of buf, or back when
   to_cache. buf holds n_layer x {K, V} x stride rows of kv_dim halves. */
void kv_copy_rows(const kv_cache *kv, const kv_seq *s, int32_t slot, int32_t n, uint16_t *buf, int32_t stride,
                  int32_t row0, int to_cache);

static inline uint16_t *kv_k(const kv_cache *kv, const kv_seq *s, int layer, int32_t slot)
{
    return kv->blocks[s->pages[slot / KV_BLOCK]].data +
           ((size_t)(layer * 2) * KV_BLOCK + (size_t)(slot % KV_BLOCK)) * (size_t)kv->kv_dim;
}

static inline uint16_t *kv_v(const kv_cache *kv, const kv_seq *s, int layer, int32_t slot)
{
    return kv->blocks[s->pages[slot / KV_BLOCK]].data +
           ((size_t)(layer * 2 + 1) * KV_BLOCK + (size_t)(slot % KV_BLOCK)) * (size_t)kv->kv_dim;
}

#endif
