/* tokenizer_spm.c -- SentencePiece-style BPE: merge the highest-scoring adjacent pair first, bytes as fallback. */
#include "tokenizer.h"
#include "tokenizer_queue.h"

#include <stdlib.h>
#include <string.h>

typedef struct sym {
    int32_t prev, next;
    uint32_t off, n; /* bytes of the escaped text; n == 0 once merged away */
} sym;

static int try_add(const llm_vocab *v, const char *t, const sym *s, int32_t l, int32_t r, llm_merge_queue *q)
{
    if (l < 0 || r < 0)
        return 0;
    int32_t id = llm_vocab_lookup(v, t + s[l].off, s[l].n + s[r].n);
    if (id < 0)
        return 0;
    /* highest score first; ties go to the leftmost pair, which is what SentencePiece does */
    llm_merge m = {v->score[id], l, r, s[l].n, s[r].n, id};
    return llm_merge_queue_push(q, m);
}

static size_t utf8_len(unsigned char c)
{
    static const unsigned char lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lookup[c >> 4];
}

static int is_sp(const char *t, size_t off) { return memcmp(t + off, "\xe2\x96\x81", 3) == 0; }

/* Merges the characters of t[b, e) and appends the resulting ids. */
static int segment(const llm_vocab *v, const char *t, size_t b, size_t e, sym *s, llm_merge_queue *q, llm_tokbuf *out)
{
    int32_t ns = 0;
    for (size_t off = b; off < e;) {
        size_t k = utf8_len((unsigned char)t[off]);
        if (k > e - off)
            k = e - off;
        s[ns].off = (uint32_t)off;
        s[ns].n = (uint32_t)k;
        s[ns].prev = ns - 1;
        off += k;
        s[ns].next = off == e ? -1 : ns + 1;
        ns++;
    }
    q->n = 0;
    for (int32_t i = 1; i < ns; i++)
        if (try_add(v, t, s, i - 1, i, q))
            return -1;

    while (q->n) {
        llm_merge bg = llm_merge_queue_pop(q);
        sym *l = &s[bg.left], *r = &s[bg.right];
        /* stale: one side was merged into something else since the pair was queued */
        if (l->n == 0 || r->n == 0 || l->n + r->n != bg.ln + bg.rn)
            continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            s[r->next].prev = bg.left;
        if (try_add(v, t, s, l->prev, bg.left, q) || try_add(v, t, s, bg.left, l->next, q))
            return -1;
    }

    for (int32_t i = 0; i != -1; i = s[i].next) {
        int32_t id = llm_vocab_lookup(v, t + s[i].off, s[i].n);
        if (id >= 0) {
            if (llm_tokbuf_push(out, id))
                return -1;
            continue;
        }
        /* Only single characters can miss the vocabulary (merges always form tokens): spell
           them as byte tokens. */
        for (uint32_t k = 0; k < s[i].n; k++) {
            int32_t bt = v->byte_tok[(unsigned char)t[s[i].off + k]];
            if (bt < 0)
                bt = v->unk;
            if (bt >= 0 && llm_tokbuf_push(out, bt))
                return -1;
        }
    }
    return 0;
}

int llm_spm_tokenize(const llm_vocab *v, const char *text, size_t len, llm_tokbuf *out)
{
    if (len == 0)
        return 0;
    if (len > UINT32_MAX / 4)
        return -1;
    /* Spaces become U+2581 (3 bytes), as in the vocabulary's pieces. */
    size_t n_sp = 0;
    for (size_t i = 0; i < len; i++)
        n_sp += text[i] == ' ';
    size_t tl = len + 2 * n_sp;
    char *t = malloc(tl);
    sym *s = malloc(tl * sizeof(*s));
    llm_merge_queue q = {0};
    int rc = -1;
    if (!t || !s)
        goto done;
    size_t j = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(t + j, "\xe2\x96\x81", 3);
            j += 3;
        } else {
            t[j++] = text[i];
        }
    }
    /* When no token has a space after another character, no merge can cross the start of a
       word, so words are merged one by one: same result, small cache-resident heaps. */
    size_t b = 0;
    if (v->spm_word_split) {
        for (size_t p = 3; p + 3 <= tl; p++) {
            if (is_sp(t, p) && !(p >= 3 && is_sp(t, p - 3))) {
                if (segment(v, t, b, p, s, &q, out))
                    goto done;
                b = p;
                p += 2;
            }
        }
    }
    if (segment(v, t, b, tl, s, &q, out))
        goto done;
    rc = 0;
done:
    llm_merge_queue_free(&q);
    free(s);
    free(t);
    return rc;
}
