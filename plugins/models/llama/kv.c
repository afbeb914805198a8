/* kv.c -- paged KV cache with copy-on-write block sharing between sequences. */
#include "kv.h"

#include <stdlib.h>
#include <string.h>

#define KV_MAX_SEQS 4096

int kv_init(kv_cache *kv, int n_layer, int kv_dim, int n_ctx)
{
    memset(kv, 0, sizeof *kv);
    kv->n_layer = n_layer;
    kv->kv_dim = kv_dim;
    kv->n_ctx = n_ctx;
    kv->block_elems = (size_t)n_layer * 2 * KV_BLOCK * (size_t)kv_dim;
    return 0;
}

void kv_destroy(kv_cache *kv)
{
    for (int i = 0; i < kv->n_blocks; i++)
        free(kv->blocks[i].data);
    free(kv->blocks);
    free(kv->free_ids);
    for (int i = 0; i < kv->n_seqs; i++) {
        free(kv->seqs[i].pages);
        free(kv->seqs[i].parents);
        free(kv->seqs[i].hidden);
        free(kv->seqs[i].canvas);
    }
    free(kv->seqs);
    memset(kv, 0, sizeof *kv);
}

static int32_t block_alloc(kv_cache *kv)
{
    if (kv->n_free > 0) {
        int32_t id = kv->free_ids[--kv->n_free];
        kv->blocks[id].ref = 1;
        return id;
    }
    if (kv->n_blocks == kv->cap_blocks) {
        int cap = kv->cap_blocks ? 2 * kv->cap_blocks : 16;
        kv_block *nb = realloc(kv->blocks, (size_t)cap * sizeof *nb);
        if (!nb)
            return -1;
        kv->blocks = nb;
        int32_t *nf = realloc(kv->free_ids, (size_t)cap * sizeof *nf);
        if (!nf)
            return -1;
        kv->free_ids = nf;
        kv->cap_blocks = cap;
    }
    uint16_t *d = malloc(kv->block_elems * sizeof *d);
    if (!d)
        return -1;
    kv->blocks[kv->n_blocks].data = d;
    kv->blocks[kv->n_blocks].ref = 1;
    return kv->n_blocks++;
}

static void block_release(kv_cache *kv, int32_t id)
{
    if (--kv->blocks[id].ref == 0)
        kv->free_ids[kv->n_free++] = id;
}

kv_seq *kv_get(kv_cache *kv, int32_t seq)
{
    if (seq < 0 || seq >= kv->n_seqs || !kv->seqs[seq].used)
        return NULL;
    return &kv->seqs[seq];
}

int kv_seq_new(kv_cache *kv, int32_t *out)
{
    int32_t id = -1;
    for (int i = 0; i < kv->n_seqs; i++)
        if (!kv->seqs[i].used) {
            id = i;
            break;
        }
    if (id < 0) {
        if (kv->n_seqs >= KV_MAX_SEQS)
            return -1;
        kv_seq *ns = realloc(kv->seqs, (size_t)(kv->n_seqs + 1) * sizeof *ns);
        if (!ns)
            return -1;
        kv->seqs = ns;
        id = kv->n_seqs++;
        memset(&kv->seqs[id], 0, sizeof kv->seqs[id]);
    }
    kv_seq *s = &kv->seqs[id];
    int cap = (kv->n_ctx + KV_BLOCK - 1) / KV_BLOCK;
    if (!s->pages) {
        s->pages = malloc((size_t)cap * sizeof *s->pages);
        if (!s->pages)
            return -1;
        s->cap_pages = cap;
    }
    s->used = 1;
    s->n_pages = 0;
    s->len = 0;
    s->n_pending = 0;
    s->n_hidden = 0;
    s->canvas_n = 0;
    *out = id;
    return 0;
}

void kv_seq_free(kv_cache *kv, int32_t seq)
{
    kv_seq *s = kv_get(kv, seq);
    if (!s)
        return;
    for (int i = 0; i < s->n_pages; i++)
        block_release(kv, s->pages[i]);
    s->n_pages = 0;
    s->used = 0;
    s->len = 0;
    s->n_pending = 0;
    s->n_hidden = 0;
    s->canvas_n = 0;
}

int kv_fork(kv_cache *kv, int32_t src, int32_t *out)
{
    int32_t id;
    if (!kv_get(kv, src) || kv_seq_new(kv, &id))
        return -1;
    kv_seq *s = &kv->seqs[src], *d = &kv->seqs[id]; /* re-read: seqs may have moved */
    int need = (s->len + KV_BLOCK - 1) / KV_BLOCK;
    for (int i = 0; i < need; i++) {
        d->pages[i] = s->pages[i];
        kv->blocks[s->pages[i]].ref++;
    }
    d->n_pages = need;
    d->len = s->len;
    *out = id;
    return 0;
}

void kv_truncate(kv_cache *kv, int32_t seq, int32_t n_keep)
{
    kv_seq *s = kv_get(kv, seq);
    if (!s)
        return;
    if (n_keep < s->len) {
        s->len = n_keep;
        s->canvas_n = 0; /* its prefix is gone */
    }
    s->n_pending = 0;
    kv_release_after(kv, seq, s->len);
}

void kv_release_after(kv_cache *kv, int32_t seq, int32_t n_slots)
{
    kv_seq *s = kv_get(kv, seq);
    if (!s)
        return;
    int need = (n_slots + KV_BLOCK - 1) / KV_BLOCK;
    while (s->n_pages > need)
        block_release(kv, s->pages[--s->n_pages]);
}

int kv_prepare(kv_cache *kv, int32_t seq, int32_t from, int32_t to)
{
    kv_seq *s = kv_get(kv, seq);
    if (!s || to > kv->n_ctx || from > to)
        return -1;
    if (from == to)
        return 0;
    int first = from / KV_BLOCK, last = (to - 1) / KV_BLOCK;
    while (s->n_pages <= last) {
        int32_t b = block_alloc(kv);
        if (b < 0)
            return -1;
        s->pages[s->n_pages++] = b;
    }
    for (int p = first; p <= last; p++) {
        int32_t b = s->pages[p];
        if (kv->blocks[b].ref > 1) {
            int32_t nb = block_alloc(kv);
            if (nb < 0)
                return -1;
            memcpy(kv->blocks[nb].data, kv->blocks[b].data, kv->block_elems * sizeof(uint16_t));
            kv->blocks[b].ref--;
            s->pages[p] = nb;
        }
    }
    return 0;
}

void kv_copy_rows(const kv_cache *kv, const kv_seq *s, int32_t slot, int32_t n, uint16_t *buf, int32_t stride,
                  int32_t row0, int to_cache)
{
    const size_t bytes = (size_t)kv->kv_dim * sizeof(uint16_t);
    for (int l = 0; l < kv->n_layer; l++)
        for (int32_t r = 0; r < n; r++) {
            uint16_t *cache[2] = { kv_k(kv, s, l, slot + r), kv_v(kv, s, l, slot + r) };
            for (int v = 0; v < 2; v++) {
                uint16_t *row = buf + (((size_t)l * 2 + (size_t)v) * (size_t)stride + (size_t)(row0 + r)) * kv->kv_dim;
                memcpy(to_cache ? cache[v] : row, to_cache ? row : cache[v], bytes);
            }
        }
}
