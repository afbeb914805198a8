/* ragged.c -- appending tokens to sequences: eval, eval_batch and eval_ragged share one path that
   checks everything first and changes the sequences only once every forward pass succeeded. */
#include <stdlib.h>
#include <string.h>

#include "decokit/plugin.h"
#include "forward.h"

/* New tokens of sequence i; n_tokens NULL means one each (eval_batch). */
static size_t n_new(const dk_batch *b, size_t i)
{
    return b->n_tokens ? b->n_tokens[i] : 1;
}

/* Marks each sequence of the batch once; DK_ERR_* with a message for a missing, repeated or
   full one. `seen` has kv.n_seqs bytes, zeroed (NULL for a batch of one). */
static int check_seqs(llm_ctx *c, const dk_batch *b, uint8_t *seen, size_t *total, char *err, size_t errlen)
{
    *total = 0;
    for (size_t i = 0; i < b->n_seqs; i++) {
        const kv_seq *s = fw_get_seq(c, b->seqs[i], err, errlen);
        if (!s)
            return DK_ERR_INVALID;
        if (seen && seen[b->seqs[i]]++) {
            gguf_errf(err, errlen, "sequence %d appears twice in the batch", b->seqs[i]);
            return DK_ERR_INVALID;
        }
        const size_t n = n_new(b, i);
        if (n == 0) {
            gguf_errf(err, errlen, "sequence %d: no tokens", b->seqs[i]);
            return DK_ERR_INVALID;
        }
        if ((size_t)s->len + n > (size_t)c->n_ctx) {
            gguf_errf(err, errlen, "context full: sequence %d has %d positions, %zu more exceed %d", b->seqs[i],
                      s->len, n, c->n_ctx);
            return DK_ERR_RANGE;
        }
        *total += n;
    }
    return 0;
}

static int check_batch(llm_ctx *c, const dk_batch *b, size_t *total, char *err, size_t errlen)
{
    if (b->n_seqs == 0 || !b->seqs || !b->tokens) {
        gguf_errf(err, errlen, "no sequences or no tokens");
        return DK_ERR_INVALID;
    }
    uint8_t *seen = b->n_seqs > 1 ? calloc((size_t)c->kv.n_seqs + 1, 1) : NULL;
    if (b->n_seqs > 1 && !seen) {
        gguf_errf(err, errlen, "out of memory");
        return DK_ERR_NOMEM;
    }
    int rc = check_seqs(c, b, seen, total, err, errlen);
    free(seen);
    if (rc)
        return rc;
    rc = fw_check_tokens(c, b->tokens, *total, err, errlen);
    if (rc)
        return rc;
    if (b->out_ids) {
        if (b->n_out_ids == 0) {
            gguf_errf(err, errlen, "out_ids given with n_out_ids = 0");
            return DK_ERR_INVALID;
        }
        for (size_t k = 0; k < b->n_out_ids; k++)
            if (b->out_ids[k] < 0 || b->out_ids[k] >= c->m->hp.n_vocab) {
                gguf_errf(err, errlen, "out_ids[%zu]: id %d is outside the vocabulary (%d)", k, b->out_ids[k],
                          c->m->hp.n_vocab);
                return DK_ERR_INVALID;
            }
    }
    return 0;
}

/* Makes room for every sequence's new rows (cache slots and hidden rows) and keeps the rows of
   pending trees they overwrite; on failure the sequences prepared so far are put back. */
static int prepare(llm_ctx *c, const dk_batch *b, fw_keep *keep)
{
    for (size_t i = 0; i < b->n_seqs; i++) {
        kv_seq *s = &c->kv.seqs[b->seqs[i]];
        const int32_t n = (int32_t)n_new(b, i), L = s->len;
        keep[i] = (fw_keep){ 0, 0, NULL };
        if (fw_reserve_hidden(c, s, n) || kv_prepare(&c->kv, b->seqs[i], L, L + n) ||
            fw_keep_pending(c, b->seqs[i], L, L + n, &keep[i])) {
            for (size_t j = 0; j <= i; j++)
                fw_rollback(c, b->seqs[j], &keep[j]);
            return DK_ERR_NOMEM;
        }
    }
    return 0;
}

/* Where a token of the batch comes from: its sequence (index into b->seqs) and its place among
   that sequence's new tokens. */
typedef struct origin {
    size_t seq;
    int32_t j;
} origin;

/* The batch's tokens in forward passes of up to EVAL_CHUNK rows, in token order; within a pass
   the rows without output go first, so the output rows form the batch of their own that the
   last layer and the head take (as in the reference, and as eval always did). */
static int run(llm_ctx *c, const dk_batch *b, int all_out, size_t total, const llm_weight *head)
{
    const size_t d = (size_t)c->m->hp.n_embd, width = head ? (size_t)head->rows : (size_t)c->m->hp.n_vocab;
    const size_t cap = total < EVAL_CHUNK ? total : EVAL_CHUNK;
    fw_row *rows = malloc(cap * sizeof *rows);
    int32_t *toks = malloc(cap * sizeof *toks);
    origin *from = malloc(cap * sizeof *from);
    int rc = rows && toks && from ? 0 : DK_ERR_NOMEM;
    size_t si = 0, out_done = 0;
    int32_t sj = 0;
    for (size_t t0 = 0; !rc && t0 < total; t0 += cap) {
        const size_t cn = total - t0 < cap ? total - t0 : cap;
        size_t n_plain = 0, n_out = 0;
        /* two passes over the chunk's tokens: plain rows, then output rows */
        for (int pass = 0; pass < 2; pass++) {
            size_t ci = si;
            int32_t cj = sj;
            for (size_t t = t0; t < t0 + cn; t++) {
                const size_t ni = n_new(b, ci);
                const int out = all_out || (b->output ? b->output[t] != 0 : (size_t)cj + 1 == ni);
                if (out == pass) {
                    const size_t k = pass ? n_plain + n_out++ : n_plain++;
                    const int32_t seq = b->seqs[ci], p = c->kv.seqs[seq].len + cj;
                    rows[k] = (fw_row){ seq, p, p, p + 1, 0, -1, NULL };
                    toks[k] = b->tokens[t];
                    from[k] = (origin){ ci, cj };
                }
                if ((size_t)++cj == ni) {
                    ci++;
                    cj = 0;
                }
            }
            if (pass == 1) {
                si = ci;
                sj = cj;
            }
        }
        const fw_out o = { (int)n_plain, b->logits && n_out ? b->logits + out_done * width : NULL, head, 0 };
        rc = fw_forward(c, rows, toks, (int)cn, &o);
        if (rc)
            break;
        for (size_t k = 0; k < cn; k++) {
            kv_seq *s = &c->kv.seqs[b->seqs[from[k].seq]];
            memcpy(fw_new_hidden(c, s, from[k].j), c->xn + k * d, d * sizeof(float));
        }
        if (b->hidden)
            memcpy(b->hidden + out_done * d, c->xn + n_plain * d, n_out * d * sizeof(float));
        out_done += n_out;
    }
    free(rows);
    free(toks);
    free(from);
    return rc;
}

/* all_out: every token is an output row (eval with all logits). */
static int append(llm_ctx *c, const dk_batch *b, int all_out, const char *op, char *err, size_t errlen)
{
    int rc = fw_need_causal(c, op, err, errlen);
    if (rc)
        return rc;
    size_t total;
    rc = check_batch(c, b, &total, err, errlen);
    if (rc)
        return rc;
    /* a batch of one (every eval) keeps its pending tree's rows without an allocation */
    fw_keep one, *keep = b->n_seqs == 1 ? &one : calloc(b->n_seqs, sizeof *keep);
    if (!keep || prepare(c, b, keep)) {
        if (keep != &one)
            free(keep);
        gguf_errf(err, errlen, "out of memory for the KV cache");
        return DK_ERR_NOMEM;
    }
    llm_weight view;
    const llm_weight *head = NULL;
    if (b->out_ids) {
        view = c->m->output;
        view.rows = (int64_t)b->n_out_ids;
        view.ids = b->out_ids;
        head = &view;
    }
    rc = run(c, b, all_out, total, head);
    for (size_t i = 0; i < b->n_seqs; i++) {
        if (rc) {
            fw_rollback(c, b->seqs[i], &keep[i]);
            continue;
        }
        free(keep[i].rows);
        kv_seq *s = &c->kv.seqs[b->seqs[i]];
        const int32_t n = (int32_t)n_new(b, i);
        fw_take_hidden(c, s, n);
        s->len += n;
        s->n_pending = 0;
    }
    if (keep != &one)
        free(keep);
    if (rc)
        gguf_errf(err, errlen, "%s", fw_failure(rc));
    return rc;
}

int llm_eval(llm_ctx *c, int32_t seq, const int32_t *toks, size_t n, float *logits, int all_logits,
             char *err, size_t errlen)
{
    dk_batch b;
    memset(&b, 0, sizeof b);
    b.n_seqs = 1;
    b.seqs = &seq;
    b.n_tokens = &n;
    b.tokens = toks;
    b.logits = logits;
    return append(c, &b, all_logits, "eval", err, errlen);
}

int llm_eval_batch(llm_ctx *c, const int32_t *seqs, const int32_t *toks, size_t n, float *logits,
                   char *err, size_t errlen)
{
    dk_batch b;
    memset(&b, 0, sizeof b);
    b.n_seqs = n;
    b.seqs = seqs;
    b.tokens = toks;
    b.logits = logits;
    return append(c, &b, 1, "eval_batch", err, errlen);
}

int llm_eval_ragged(llm_ctx *c, const dk_batch *b, char *err, size_t errlen)
{
    if (!b->n_tokens) {
        gguf_errf(err, errlen, "eval_ragged: n_tokens is required");
        return DK_ERR_INVALID;
    }
    return append(c, b, 0, "eval_ragged", err, errlen);
}
