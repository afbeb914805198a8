/* masked.c -- masked (diffusion) evaluation of a canvas after a sequence's cached positions: the
   prefix cache, bidirectional or block-causal canvases, output-row selection, the stored
   canvas K/V that Fast-dLLM's dual cache reuses, and alternative canvases in one batch. */
#include <stdlib.h>
#include <string.h>

#include "decokit/plugin.h"
#include "forward.h"

static int check(llm_ctx *c, const dk_masked_eval *me, const kv_seq *s, char *err, size_t errlen)
{
    const size_t n = me->n;
    if (n == 0 || !me->tokens) {
        gguf_errf(err, errlen, "eval_masked_seq: empty canvas");
        return DK_ERR_INVALID;
    }
    if ((size_t)s->len + n > (size_t)c->n_ctx) {
        gguf_errf(err, errlen, "context full: %d cached positions and a canvas of %zu exceed %d", s->len, n, c->n_ctx);
        return DK_ERR_RANGE;
    }
    int rc = fw_check_tokens(c, me->tokens, n, err, errlen);
    if (rc)
        return rc;
    if (me->attention != DK_ATTN_BIDIRECTIONAL && (me->attention != DK_ATTN_BLOCK_CAUSAL || me->block_len == 0)) {
        gguf_errf(err, errlen, "eval_masked_seq: attention %u (block_len %zu) is neither bidirectional nor block-causal",
                  me->attention, me->block_len);
        return DK_ERR_INVALID;
    }
    if (me->flags & ~(uint32_t)(DK_MASKED_STORE | DK_MASKED_REUSE)) {
        gguf_errf(err, errlen, "eval_masked_seq: unknown flags 0x%x", me->flags);
        return DK_ERR_INVALID;
    }
    size_t lo = 0, hi = n;
    if (me->flags & DK_MASKED_REUSE) {
        lo = me->active_begin;
        hi = me->active_end;
        if (lo >= hi || hi > n) {
            gguf_errf(err, errlen, "eval_masked_seq: active rows [%zu, %zu) of a canvas of %zu", lo, hi, n);
            return DK_ERR_INVALID;
        }
        if (me->logits && !me->rows && (lo != 0 || hi != n)) {
            gguf_errf(err, errlen, "eval_masked_seq: rows NULL asks for all %zu rows, but only [%zu, %zu) are "
                      "recomputed", n, lo, hi);
            return DK_ERR_INVALID;
        }
        if (s->canvas_n != (int32_t)n || s->canvas_base != s->len) {
            gguf_errf(err, errlen, "eval_masked_seq: no stored canvas of %zu rows after %d positions to reuse "
                      "(store one with DK_MASKED_STORE first)", n, s->len);
            return DK_ERR_STATE;
        }
    }
    for (size_t k = 0; me->rows && k < me->n_rows; k++)
        if (me->rows[k] < (int32_t)lo || me->rows[k] >= (int32_t)hi || (k > 0 && me->rows[k] <= me->rows[k - 1])) {
            gguf_errf(err, errlen, "eval_masked_seq: rows[%zu] = %d is not ascending inside [%zu, %zu)", k, me->rows[k],
                      lo, hi);
            return DK_ERR_INVALID;
        }
    if (me->n_commit > n) {
        gguf_errf(err, errlen, "eval_masked_seq: committing %zu rows of a canvas of %zu", me->n_commit, n);
        return DK_ERR_INVALID;
    }
    return 0;
}

int llm_eval_masked_seq(llm_ctx *c, const dk_masked_eval *me, char *err, size_t errlen)
{
    kv_seq *s = fw_get_seq(c, me->seq, err, errlen);
    if (!s)
        return DK_ERR_INVALID;
    int rc = check(c, me, s, err, errlen);
    if (rc)
        return rc;
    const int32_t P = s->len, n = (int32_t)me->n;
    const int reuse = (me->flags & DK_MASKED_REUSE) != 0, store = (me->flags & DK_MASKED_STORE) != 0;
    const int32_t lo = reuse ? (int32_t)me->active_begin : 0, hi = reuse ? (int32_t)me->active_end : n, na = hi - lo;
    const size_t n_out = !me->logits ? 0 : me->rows ? me->n_rows : (size_t)na;

    /* everything that can fail is allocated before the sequence changes; a stored canvas keeps
       its contents when it grows */
    const size_t canvas_elems = (size_t)c->kv.n_layer * 2 * (size_t)n * (size_t)c->kv.kv_dim;
    if (store && canvas_elems > s->cap_canvas) {
        uint16_t *p = realloc(s->canvas, canvas_elems * sizeof *p);
        if (!p) {
            gguf_errf(err, errlen, "out of memory");
            return DK_ERR_NOMEM;
        }
        s->canvas = p;
        s->cap_canvas = canvas_elems;
    }
    fw_row *rows = malloc((size_t)na * sizeof *rows);
    int32_t *toks = malloc((size_t)na * sizeof *toks);
    fw_keep keep = { 0, 0, NULL };
    if (!rows || !toks || kv_prepare(&c->kv, me->seq, P, P + n) || fw_keep_pending(c, me->seq, P, P + n, &keep)) {
        free(rows);
        free(toks);
        fw_rollback(c, me->seq, &keep);
        gguf_errf(err, errlen, "out of memory for the KV cache");
        return DK_ERR_NOMEM;
    }
    s = &c->kv.seqs[me->seq];
    if (reuse) {
        kv_copy_rows(&c->kv, s, P, lo, s->canvas, n, 0, 1);
        kv_copy_rows(&c->kv, s, P + hi, n - hi, s->canvas, n, hi, 1);
    }
    /* the rows without output first: the output rows are the batch that alone goes through the
       last layer's tail, the final norm and the head */
    size_t k_plain = 0, k_out = (size_t)na - n_out, next = 0;
    for (int32_t r = lo; r < hi; r++) {
        const int out = me->logits && (me->rows ? next < me->n_rows && me->rows[next] == r : 1);
        const size_t k = out ? k_out++ : k_plain++;
        next += out && me->rows;
        int32_t seen = n;
        if (me->attention == DK_ATTN_BLOCK_CAUSAL) {
            const size_t end = ((size_t)r / me->block_len + 1) * me->block_len;
            seen = end < (size_t)n ? (int32_t)end : n;
        }
        rows[k] = (fw_row){ me->seq, P + r, P + r, P + seen, 0, -1, NULL };
        toks[k] = me->tokens[r];
    }
    const fw_out o = { na - (int)n_out, me->logits, NULL, 1 };
    rc = fw_forward(c, rows, toks, na, &o);
    free(rows);
    free(toks);
    if (rc) {
        fw_rollback(c, me->seq, &keep);
        gguf_errf(err, errlen, "%s", fw_failure(rc));
        return rc;
    }
    free(keep.rows);
    s = &c->kv.seqs[me->seq];
    s->n_pending = 0;
    if (store) {
        s->canvas_n = n;
        s->canvas_base = P;
        kv_copy_rows(&c->kv, s, P, n, s->canvas, n, 0, 0);
    }
    if (me->n_commit) {
        s->len = P + (int32_t)me->n_commit;
        s->canvas_n = 0; /* computed after another prefix */
    }
    kv_release_after(&c->kv, me->seq, s->len);
    return 0;
}

/* The canvases sit side by side after the prefix, canvas c at slots P + c*n, all at positions
   P..P+n-1. A row sees the prefix plus its own canvas's slots, listed as the tree rows' ancestor
   chain 0 <- 1 <- ... <- n-1 walked from the last slot it sees: the same slots in the same order
   as a single canvas's row, so the arithmetic is the single call's. */
int llm_eval_masked_batch(llm_ctx *c, const dk_masked_batch *mb, char *err, size_t errlen)
{
    kv_seq *s = fw_get_seq(c, mb->seq, err, errlen);
    if (!s)
        return DK_ERR_INVALID;
    if (mb->n_canvas == 0 || !mb->logits || (mb->flags & DK_MASKED_STORE)) {
        gguf_errf(err, errlen, "eval_masked_batch: needs canvases and logits, and stores nothing");
        return DK_ERR_INVALID;
    }
    const dk_masked_eval me = { sizeof me, mb->seq, mb->tokens, mb->n, mb->attention, mb->block_len, mb->flags,
                                mb->active_begin, mb->active_end, mb->rows, mb->n_rows, mb->logits, 0 };
    int rc = check(c, &me, s, err, errlen);
    if (rc)
        return rc;
    const size_t K = mb->n_canvas, n = mb->n;
    if (K > (size_t)c->n_ctx || (size_t)s->len + K * n > (size_t)c->n_ctx) {
        gguf_errf(err, errlen, "context full: %d cached positions and %zu canvases of %zu exceed %d", s->len, K, n,
                  c->n_ctx);
        return DK_ERR_RANGE;
    }
    rc = fw_check_tokens(c, mb->tokens, K * n, err, errlen);
    if (rc)
        return rc;
    const int32_t P = s->len;
    const int reuse = (mb->flags & DK_MASKED_REUSE) != 0;
    const int32_t lo = reuse ? (int32_t)mb->active_begin : 0, hi = reuse ? (int32_t)mb->active_end : (int32_t)n;
    const size_t na = (size_t)(hi - lo), per_out = mb->rows ? mb->n_rows : na, total = K * na;
    fw_row *rows = malloc(total * sizeof *rows);
    int32_t *toks = malloc(total * sizeof *toks), *chain = malloc(n * sizeof *chain);
    fw_keep keep = { 0, 0, NULL };
    const int32_t end = P + (int32_t)(K * n);
    if (!rows || !toks || !chain || kv_prepare(&c->kv, mb->seq, P, end) ||
        fw_keep_pending(c, mb->seq, P, end, &keep)) {
        free(rows);
        free(toks);
        free(chain);
        fw_rollback(c, mb->seq, &keep);
        gguf_errf(err, errlen, "out of memory for the KV cache");
        return DK_ERR_NOMEM;
    }
    s = &c->kv.seqs[mb->seq];
    for (size_t j = 0; j < n; j++)
        chain[j] = (int32_t)j - 1;
    if (reuse)
        for (size_t k = 0; k < K; k++) {
            const int32_t base = P + (int32_t)(k * n);
            kv_copy_rows(&c->kv, s, base, lo, s->canvas, (int32_t)n, 0, 1);
            kv_copy_rows(&c->kv, s, base + hi, (int32_t)n - hi, s->canvas, (int32_t)n, hi, 1);
        }
    /* rows without output first, then every canvas's output rows, canvas after canvas */
    size_t k_plain = 0, k_out = total - K * per_out;
    for (size_t k = 0; k < K; k++) {
        const int32_t base = P + (int32_t)(k * n);
        size_t next = 0;
        for (int32_t r = lo; r < hi; r++) {
            const int out = mb->rows ? next < mb->n_rows && mb->rows[next] == r : 1;
            const size_t at = out ? k_out++ : k_plain++;
            next += out && mb->rows;
            int32_t seen = (int32_t)n;
            if (mb->attention == DK_ATTN_BLOCK_CAUSAL) {
                const size_t e = ((size_t)r / mb->block_len + 1) * mb->block_len;
                seen = e < n ? (int32_t)e : (int32_t)n;
            }
            rows[at] = (fw_row){ mb->seq, P + r, base + r, P, base, seen - 1, chain };
            toks[at] = mb->tokens[k * n + (size_t)r];
        }
    }
    const fw_out o = { (int)(total - K * per_out), mb->logits, NULL, 1 };
    rc = fw_forward(c, rows, toks, (int)total, &o);
    free(rows);
    free(toks);
    free(chain);
    if (rc) {
        fw_rollback(c, mb->seq, &keep);
        gguf_errf(err, errlen, "%s", fw_failure(rc));
        return rc;
    }
    free(keep.rows);
    s = &c->kv.seqs[mb->seq];
    s->n_pending = 0;
    kv_release_after(&c->kv, mb->seq, s->len);
    return 0;
}
