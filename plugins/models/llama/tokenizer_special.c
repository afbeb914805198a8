/* tokenizer_special.c -- splits input text around special-token texts before the tokenizer proper runs. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "tokenizer.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* Semantics (shared with the reference implementation the test vectors come from): special tokens
   are tried longest text first; each claims its leftmost non-overlapping occurrences that lie
   wholly inside still-unclaimed text. A byte trie over all special texts finds, in one pass, which
   tokens occur at all, so only those are searched for -- vocabularies with thousands of
   user-defined tokens stay linear in the input. */

static uint64_t trie_hash(uint64_t key) { return XXH3_64bits(&key, sizeof(key)); }

static int32_t trie_get(const llm_vocab *v, int32_t node, unsigned char c)
{
    uint64_t key = ((uint64_t)(node + 1) << 8) | c;
    for (size_t i = trie_hash(key) & v->trie_mask;; i = (i + 1) & v->trie_mask) {
        if (v->trie_key[i] == 0)
            return -1;
        if (v->trie_key[i] == key)
            return v->trie_child[i];
    }
}

static int32_t trie_add(llm_vocab *v, int32_t node, unsigned char c)
{
    uint64_t key = ((uint64_t)(node + 1) << 8) | c;
    size_t i = trie_hash(key) & v->trie_mask;
    for (;; i = (i + 1) & v->trie_mask) {
        if (v->trie_key[i] == 0)
            break;
        if (v->trie_key[i] == key)
            return v->trie_child[i];
    }
    v->trie_key[i] = key;
    v->trie_child[i] = (int32_t)v->n_trie_nodes;
    v->trie_tok[v->n_trie_nodes] = -1;
    return (int32_t)v->n_trie_nodes++;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int llm_special_build(llm_vocab *v)
{
    size_t total = 0;
    v->n_special = 0;
    v->special = malloc((size_t)(v->n ? v->n : 1) * sizeof(*v->special));
    if (!v->special)
        return -1;
    for (int32_t id = 0; id < v->n; id++) {
        if (v->attr[id] & (LLM_TOKEN_ATTR_CONTROL | LLM_TOKEN_ATTR_USER_DEFINED | LLM_TOKEN_ATTR_UNKNOWN)) {
            v->special[v->n_special++] = id;
            total += v->text_len[id];
        }
    }
    /* longest first, ties by id so the order does not depend on the sort */
    uint64_t *keys = malloc((v->n_special ? v->n_special : 1) * sizeof(*keys));
    if (!keys)
        return -1;
    for (size_t i = 0; i < v->n_special; i++)
        keys[i] = ((uint64_t)(UINT32_MAX - v->text_len[v->special[i]]) << 32) | (uint32_t)v->special[i];
    qsort(keys, v->n_special, sizeof(*keys), cmp_u64);
    for (size_t i = 0; i < v->n_special; i++)
        v->special[i] = (int32_t)(keys[i] & 0xFFFFFFFFu);
    free(keys);

    size_t cap = 64;
    while (cap < 2 * (total + 1))
        cap *= 2;
    v->trie_mask = cap - 1;
    v->trie_key = calloc(cap, sizeof(*v->trie_key));
    v->trie_child = malloc(cap * sizeof(*v->trie_child));
    v->trie_tok = malloc((total + 1) * sizeof(*v->trie_tok));
    if (!v->trie_key || !v->trie_child || !v->trie_tok)
        return -1;
    v->n_trie_nodes = 1; /* root */
    v->trie_tok[0] = -1;
    for (size_t k = 0; k < v->n_special; k++) {
        int32_t id = v->special[k];
        const unsigned char *t = (const unsigned char *)v->text + v->text_off[id];
        int32_t node = 0;
        for (uint32_t i = 0; i < v->text_len[id]; i++)
            node = trie_add(v, node, t[i]);
        if (node > 0 && v->trie_tok[node] < 0)
            v->trie_tok[node] = (int32_t)k;
    }
    return 0;
}

static int frag_push(llm_frag **f, size_t *n, size_t *cap, size_t off, size_t len, int32_t id)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        llm_frag *nf = realloc(*f, nc * sizeof(*nf));
        if (!nf)
            return -1;
        *f = nf;
        *cap = nc;
    }
    (*f)[*n].off = off;
    (*f)[*n].len = len;
    (*f)[*n].id = id;
    (*n)++;
    return 0;
}

static int is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

enum { FREE = 0, CLAIMED = 1, DROPPED = 2 };

int llm_special_partition(const llm_vocab *v, const char *text, size_t len, int parse_special,
                          llm_frag **frags, size_t *n_frags)
{
    *frags = NULL;
    *n_frags = 0;
    size_t fcap = 0;
    if (len == 0)
        return 0;

    unsigned char *present = NULL, *mark = NULL;
    int32_t *start_tok = NULL;
    int rc = -1;
    int any = 0;
    if (v->n_special) {
        present = calloc(v->n_special, 1);
        if (!present)
            goto done;
        const unsigned char *t = (const unsigned char *)text;
        for (size_t i = 0; i < len; i++) {
            int32_t node = 0;
            for (size_t j = i; j < len; j++) {
                node = trie_get(v, node, t[j]);
                if (node < 0)
                    break;
                int32_t k = v->trie_tok[node];
                if (k >= 0) {
                    uint32_t a = v->attr[v->special[k]];
                    if (parse_special || !(a & (LLM_TOKEN_ATTR_CONTROL | LLM_TOKEN_ATTR_UNKNOWN))) {
                        present[k] = 1;
                        any = 1;
                    }
                }
            }
        }
    }
    if (!any) {
        rc = frag_push(frags, n_frags, &fcap, 0, len, -1);
        goto done;
    }

    mark = calloc(len, 1);
    start_tok = malloc(len * sizeof(*start_tok));
    if (!mark || !start_tok)
        goto done;
    for (size_t k = 0; k < v->n_special; k++) {
        if (!present[k])
            continue;
        int32_t id = v->special[k];
        const char *tt = v->text + v->text_off[id];
        size_t tl = v->text_len[id];
        size_t pos = 0;
        while (pos + tl <= len) {
            const char *hit = memmem(text + pos, len - pos, tt, tl);
            if (!hit)
                break;
            size_t p = (size_t)(hit - text);
            size_t q = 0;
            while (q < tl && mark[p + q] == FREE)
                q++;
            if (q < tl) {
                pos = p + 1;
                continue;
            }
            memset(mark + p, CLAIMED, tl);
            start_tok[p] = id;
            if (v->attr[id] & LLM_TOKEN_ATTR_LSTRIP)
                for (size_t i = p; i > 0 && mark[i - 1] == FREE && is_space((unsigned char)text[i - 1]); i--)
                    mark[i - 1] = DROPPED;
            pos = p + tl;
            if (v->attr[id] & LLM_TOKEN_ATTR_RSTRIP)
                for (size_t i = pos; i < len && mark[i] == FREE && is_space((unsigned char)text[i]); i++)
                    mark[i] = DROPPED;
        }
    }

    for (size_t i = 0; i < len;) {
        if (mark[i] == FREE) {
            size_t j = i;
            while (j < len && mark[j] == FREE)
                j++;
            if (frag_push(frags, n_frags, &fcap, i, j - i, -1))
                goto done;
            i = j;
        } else if (mark[i] == CLAIMED) {
            int32_t id = start_tok[i];
            if (frag_push(frags, n_frags, &fcap, i, v->text_len[id], id))
                goto done;
            i += v->text_len[id];
        } else {
            i++;
        }
    }
    rc = 0;
done:
    if (rc) {
        free(*frags);
        *frags = NULL;
        *n_frags = 0;
    }
    free(present);
    free(mark);
    free(start_tok);
    return rc;
}
