/* tokenizer_bpe.c -- byte-level BPE: pre-tokenize, map bytes to tokens, apply merges by rank. */
#include "tokenizer.h"
#include "tokenizer_queue.h"

#include <stdlib.h>
#include <string.h>

typedef struct sym {
    int32_t prev, next;
    int32_t id;     /* token of this symbol, -1 if its text is not in the vocabulary */
    uint32_t off, n; /* raw bytes of the word; n == 0 once merged away */
} sym;

static int try_add(const llm_vocab *v, const sym *s, int32_t l, int32_t r, llm_merge_queue *q)
{
    if (l < 0 || r < 0 || s[l].id < 0 || s[r].id < 0)
        return 0;
    int32_t result;
    int32_t rank = llm_merge_rank(v, s[l].id, s[r].id, &result);
    if (rank < 0)
        return 0;
    llm_merge m = {-(double)rank, l, r, s[l].n, s[r].n, result}; /* lowest rank first */
    return llm_merge_queue_push(q, m);
}

/* Whole-word lookup used by vocabularies whose tokenizer ignores merges for words in the vocabulary. */
static int32_t lookup_mapped(const llm_vocab *v, const unsigned char *w, size_t len, char **buf, size_t *cap)
{
    if (*cap < 2 * len) {
        char *nb = realloc(*buf, 2 * len);
        if (!nb)
            return -2;
        *buf = nb;
        *cap = 2 * len;
    }
    size_t j = 0;
    for (size_t i = 0; i < len; i++) {
        uint32_t cp = llm_byte_to_cp(w[i]);
        if (cp < 0x80) {
            (*buf)[j++] = (char)cp;
        } else {
            (*buf)[j++] = (char)(0xC0 | (cp >> 6));
            (*buf)[j++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    return llm_vocab_lookup(v, *buf, j);
}

static int tokenize_word(const llm_vocab *v, const unsigned char *w, size_t len, sym **s, size_t *scap,
                         llm_merge_queue *q, char **mbuf, size_t *mcap, llm_tokbuf *out)
{
    if (v->ignore_merges) {
        int32_t id = lookup_mapped(v, w, len, mbuf, mcap);
        if (id == -2)
            return -1;
        if (id >= 0)
            return llm_tokbuf_push(out, id);
    }
    if (*scap < len) {
        sym *ns = realloc(*s, len * sizeof(*ns));
        if (!ns)
            return -1;
        *s = ns;
        *scap = len;
    }
    sym *sy = *s;
    int32_t n = (int32_t)len;
    for (int32_t i = 0; i < n; i++) {
        sy[i].prev = i - 1;
        sy[i].next = i + 1 < n ? i + 1 : -1;
        sy[i].id = v->byte_tok[w[i]];
        sy[i].off = (uint32_t)i;
        sy[i].n = 1;
    }
    q->n = 0;
    for (int32_t i = 1; i < n; i++)
        if (try_add(v, sy, i - 1, i, q))
            return -1;
    while (q->n) {
        llm_merge b = llm_merge_queue_pop(q);
        sym *l = &sy[b.left], *r = &sy[b.right];
        if (l->n == 0 || r->n == 0 || l->n != b.ln || r->n != b.rn)
            continue; /* outdated: a side changed since the pair was queued */
        l->n += r->n;
        l->id = b.result;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            sy[r->next].prev = b.left;
        if (try_add(v, sy, l->prev, b.left, q) || try_add(v, sy, b.left, l->next, q))
            return -1;
    }
    for (int32_t i = 0; i != -1; i = sy[i].next) {
        if (sy[i].id >= 0) {
            if (llm_tokbuf_push(out, sy[i].id))
                return -1;
            continue;
        }
        /* A merge whose result is not in the vocabulary: fall back to the byte tokens. */
        for (uint32_t k = 0; k < sy[i].n; k++) {
            int32_t bt = v->byte_tok[w[sy[i].off + k]];
            if (bt >= 0 && llm_tokbuf_push(out, bt))
                return -1;
        }
    }
    return 0;
}

int llm_bpe_tokenize(const llm_vocab *v, const char *text, size_t len, llm_tokbuf *out)
{
    llm_span *words;
    size_t nw;
    if (llm_pretokenize(v->pre, text, len, &words, &nw))
        return -1;
    sym *s = NULL;
    size_t scap = 0, mcap = 0;
    char *mbuf = NULL;
    llm_merge_queue q = {0};
    int rc = 0;
    for (size_t i = 0; i < nw && rc == 0; i++)
        rc = tokenize_word(v, (const unsigned char *)text + words[i].off, words[i].len, &s, &scap, &q,
                           &mbuf, &mcap, out);
    llm_merge_queue_free(&q);
    free(s);
    free(mbuf);
    free(words);
    return rc;
}
