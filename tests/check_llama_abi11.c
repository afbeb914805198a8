/* check_llama_abi11.c -- the llama model's ABI 1.1 operations: ragged batches, head subsets,
   failures that change nothing, abort, shared weights and masked evaluation on a sequence. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../plugins/models/llama/ggml_types.h"
#include "../plugins/models/llama/llm.h"
#include "../plugins/models/llama/model.h"
#include "../plugins/models/llama/quant_amx.h"
#include "../tools/synth/synth.h"
#include "decokit/plugin.h"

/* ---- synthetic models ------------------------------------------------------------------ */

/* Weight types that take each matrix path: F32 and Q8_0 rows go through the row kernels for
   every batch, Q4_K batches through SGEMM; head dim 12 takes the portable attention. */
static const synth_opts k_models[] = {
    { "llama", 64, 2, 4, 2, 96, 200, 64, GGML_TYPE_F32, 11, 0, 0, 0, 0, 0, NULL },
    { "qwen2", 64, 2, 4, 2, 96, 200, 64, GGML_TYPE_Q8_0, 14, 0, 0, 0, 1e6f, 1e-6f, NULL },
    { "llama", 256, 1, 4, 2, 256, 100, 64, GGML_TYPE_Q4_K, 16, 0, 0, 0, 0, 0, NULL },
    { "llama", 48, 2, 4, 2, 64, 120, 64, GGML_TYPE_F32, 18, 0, 0, 0, 0, 0, NULL },
    /* heads of 8 (as stories260K's): rows of different sequences share one attention kernel */
    { "llama", 64, 2, 8, 4, 96, 200, 64, GGML_TYPE_F32, 20, 0, 0, 0, 0, 0, NULL },
};
#define N_MODELS ((int)(sizeof k_models / sizeof k_models[0]))

typedef struct tmodel {
    uint8_t *buf;
    llm_model *m;
    int nv, d;
    float tol; /* batch against single rows: relative to the row's largest logit */
} tmodel;

static tmodel open_synth(const synth_opts *o)
{
    tmodel t;
    char err[512];
    size_t size;
    ck_assert_msg(synth_write_memory(o, &t.buf, &size, err, sizeof err) == 0, "%s", err);
    gguf_file *f = gguf_open_memory(t.buf, size, err, sizeof err);
    ck_assert_msg(f != NULL, "%s", err);
    t.m = llm_model_from_gguf(f, err, sizeof err);
    ck_assert_msg(t.m != NULL, "%s", err);
    t.nv = t.m->hp.n_vocab;
    t.d = t.m->hp.n_embd;
    /* one Q8_K scale covers 256 activations: a rounding flip moves a logit further */
    t.tol = o->type == GGML_TYPE_Q4_K ? 1e-2f : 1e-3f;
    return t;
}

static void close_model(tmodel *t)
{
    llm_model_free(t->m);
    free(t->buf);
}

static llm_ctx *new_ctx(const tmodel *t, int threads, int n_ctx)
{
    char err[512];
    llm_ctx *c = llm_ctx_create(t->m, threads, n_ctx, err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    return c;
}

static int32_t new_seq(llm_ctx *c)
{
    char err[512];
    int32_t s;
    ck_assert_msg(llm_seq_new(c, &s, err, sizeof err) == 0, "%s", err);
    return s;
}

static void rand_tokens(int32_t *t, size_t n, int nv, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        t[i] = (int32_t)((seed >> 8) % (unsigned)nv);
    }
}

static void eval_ok(llm_ctx *c, int32_t s, const int32_t *toks, size_t n, float *lg, int all)
{
    char err[512];
    ck_assert_msg(llm_eval(c, s, toks, n, lg, all, err, sizeof err) == 0, "%s", err);
}

static float *floats(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* Rows agree to `tol` of the larger of 1 and the row's largest magnitude. */
static void assert_close(const float *a, const float *b, size_t n, float tol, const char *what)
{
    float scale = 1.0f, worst = 0.0f;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++)
        scale = fmaxf(scale, fabsf(b[i]));
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(a[i] - b[i]) <= worst)) {
            worst = fabsf(a[i] - b[i]);
            wi = i;
        }
    ck_assert_msg(worst <= tol * scale, "%s: element %zu differs by %g (%g vs %g)", what, wi, worst, a[wi], b[wi]);
}

static void assert_same(const float *a, const float *b, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(memcmp(&a[i], &b[i], sizeof *a) == 0, "%s: element %zu is %.9g, want %.9g", what, i, a[i], b[i]);
}

/* ---- failures change nothing ------------------------------------------------------------ */

/* What a sequence looks like from outside: its length, its hidden rows and the logits that
   a given next token would get (computed on a fork, which leaves the sequence as it is). */
typedef struct snap {
    int32_t seq;
    size_t len;
    int n_hidden;
    float *hidden, *next;
} snap;

/* A full sequence takes no next token: its fork re-evaluates the last one instead. */
static void next_logits(llm_ctx *c, int32_t s, int32_t tok, float *out)
{
    char err[512];
    int32_t f;
    ck_assert_msg(llm_fork(c, s, &f, err, sizeof err) == 0, "%s", err);
    const size_t len = llm_seq_len(c, f);
    if (len == (size_t)llm_ctx_n_ctx(c)) {
        ck_assert_int_eq(llm_truncate(c, f, len - 1, err, sizeof err), 0);
        tok = 3 + (int32_t)len % 5;
    }
    eval_ok(c, f, &tok, 1, out, 0);
    llm_seq_free(c, f);
}

static snap snap_take(llm_ctx *c, const tmodel *t, int32_t s, int n_hidden)
{
    char err[512];
    snap sn = { s, llm_seq_len(c, s), n_hidden, floats((size_t)n_hidden * t->d), floats((size_t)t->nv) };
    ck_assert_msg(llm_hidden(c, s, (size_t)n_hidden, sn.hidden, err, sizeof err) == 0, "%s", err);
    next_logits(c, s, 3, sn.next);
    return sn;
}

static void snap_check(llm_ctx *c, const tmodel *t, const snap *sn, const char *after)
{
    char err[512], what[160];
    ck_assert_msg(llm_seq_len(c, sn->seq) == sn->len, "%s: sequence %d has %zu positions, had %zu", after, sn->seq,
                  llm_seq_len(c, sn->seq), sn->len);
    float *h = floats((size_t)sn->n_hidden * t->d), *lg = floats((size_t)t->nv);
    ck_assert_msg(llm_hidden(c, sn->seq, (size_t)sn->n_hidden, h, err, sizeof err) == 0, "%s: %s", after, err);
    snprintf(what, sizeof what, "%s: hidden rows of sequence %d", after, sn->seq);
    assert_same(h, sn->hidden, (size_t)sn->n_hidden * t->d, what);
    next_logits(c, sn->seq, 3, lg);
    snprintf(what, sizeof what, "%s: next logits of sequence %d", after, sn->seq);
    assert_same(lg, sn->next, (size_t)t->nv, what);
    free(h);
    free(lg);
}

static void snap_free(snap *sn)
{
    free(sn->hidden);
    free(sn->next);
}

typedef struct abort_ctr {
    int polls, stop_at;
} abort_ctr;

static int abort_after(void *user)
{
    abort_ctr *a = user;
    return ++a->polls >= a->stop_at;
}

static dk_batch batch_of(size_t n_seqs, const int32_t *seqs, const size_t *n_tokens, const int32_t *tokens)
{
    dk_batch b;
    memset(&b, 0, sizeof b);
    b.struct_size = sizeof b;
    b.n_seqs = n_seqs;
    b.seqs = seqs;
    b.n_tokens = n_tokens;
    b.tokens = tokens;
    return b;
}

START_TEST(test_failures_change_nothing)
{
    tmodel t = open_synth(&k_models[_i]);
    char err[512];
    llm_ctx *c = new_ctx(&t, 2, 32);
    int32_t a = new_seq(c), b = new_seq(c), full = new_seq(c), pa[7], pb[12], pf[32];
    rand_tokens(pa, 7, t.nv, 1u);
    rand_tokens(pb, 12, t.nv, 2u);
    rand_tokens(pf, 32, t.nv, 3u);
    eval_ok(c, a, pa, 7, NULL, 0);
    eval_ok(c, b, pb, 12, NULL, 0);
    eval_ok(c, full, pf, 32, NULL, 0);
    snap sn[3] = { snap_take(c, &t, a, 7), snap_take(c, &t, b, 12), snap_take(c, &t, full, 32) };
    float *lg = floats((size_t)8 * t.nv);

    /* eval_batch: a token out of range in the second sequence, a missing sequence, a repeated
       one, and a full context */
    int32_t seqs[3] = { a, b, full }, toks[3] = { 5, t.nv, 6 };
    ck_assert_int_eq(llm_eval_batch(c, seqs, toks, 2, lg, err, sizeof err), DK_ERR_INVALID);
    toks[1] = 7;
    seqs[1] = 77;
    ck_assert_int_eq(llm_eval_batch(c, seqs, toks, 2, lg, err, sizeof err), DK_ERR_INVALID);
    seqs[1] = a;
    ck_assert_int_eq(llm_eval_batch(c, seqs, toks, 2, lg, err, sizeof err), DK_ERR_INVALID);
    seqs[1] = b;
    ck_assert_int_eq(llm_eval_batch(c, seqs, toks, 3, lg, err, sizeof err), DK_ERR_RANGE);

    /* eval_ragged: the same, plus no tokens for a sequence and a head id out of range */
    size_t nt[3] = { 2, 3, 1 };
    int32_t rt[6] = { 1, 2, 3, 4, t.nv + 5, 6 };
    dk_batch bb = batch_of(2, seqs, nt, rt);
    bb.logits = lg;
    ck_assert_int_eq(llm_eval_ragged(c, &bb, err, sizeof err), DK_ERR_INVALID);
    rt[4] = 5;
    bb.n_seqs = 3;
    ck_assert_int_eq(llm_eval_ragged(c, &bb, err, sizeof err), DK_ERR_RANGE);
    bb.n_seqs = 2;
    nt[1] = 0;
    ck_assert_int_eq(llm_eval_ragged(c, &bb, err, sizeof err), DK_ERR_INVALID);
    nt[1] = 3;
    seqs[1] = a;
    ck_assert_int_eq(llm_eval_ragged(c, &bb, err, sizeof err), DK_ERR_INVALID);
    seqs[1] = b;
    const int32_t bad_ids[2] = { 0, t.nv };
    bb.out_ids = bad_ids;
    bb.n_out_ids = 2;
    ck_assert_int_eq(llm_eval_ragged(c, &bb, err, sizeof err), DK_ERR_INVALID);
    bb.out_ids = NULL;

    /* cancelled before the last layer: with two layers, the first one's K/V are written */
    const int stop = t.m->hp.n_layer;
    abort_ctr ab = { 0, stop };
    llm_set_abort(c, abort_after, &ab);
    ck_assert_int_eq(llm_eval_ragged(c, &bb, err, sizeof err), DK_ERR_CANCELLED);
    ck_assert_ptr_nonnull(strstr(err, "cancel"));
    ab.polls = 0;
    ck_assert_int_eq(llm_eval_batch(c, seqs, toks, 2, lg, err, sizeof err), DK_ERR_CANCELLED);
    ab.polls = 0;
    ck_assert_int_eq(llm_eval(c, a, rt, 3, lg, 1, err, sizeof err), DK_ERR_CANCELLED);
    const int32_t parents[3] = { -1, 0, 0 };
    ab.polls = 0;
    ck_assert_int_eq(llm_eval_tree(c, b, rt, parents, 3, lg, err, sizeof err), DK_ERR_CANCELLED);
    llm_set_abort(c, NULL, NULL);
    for (int i = 0; i < 3; i++)
        snap_check(c, &t, &sn[i], "after the failed calls");

    /* a pending tree survives calls refused before they compute anything, and calls cancelled
       after they wrote over its rows: accepting a path afterwards equals accepting it on a twin
       that saw none of them */
    int32_t twin;
    ck_assert_int_eq(llm_fork(c, a, &twin, err, sizeof err), 0);
    ck_assert_int_eq(llm_eval_tree(c, a, rt, parents, 3, lg, err, sizeof err), 0);
    ck_assert_int_eq(llm_eval_tree(c, twin, rt, parents, 3, lg, err, sizeof err), 0);
    toks[1] = t.nv;
    ck_assert_int_eq(llm_eval_batch(c, seqs, toks, 2, lg, err, sizeof err), DK_ERR_INVALID);
    toks[1] = 7;
    const int32_t other[6] = { 9, 8, 7, 6, 5, 4 };
    size_t one = 4;
    dk_batch ob = batch_of(1, &a, &one, other);
    dk_masked_eval me;
    memset(&me, 0, sizeof me);
    me.seq = a;
    me.tokens = other;
    me.n = 6;
    me.attention = DK_ATTN_BIDIRECTIONAL;
    llm_set_abort(c, abort_after, &ab);
    ab.polls = 0;
    ck_assert_int_eq(llm_eval_batch(c, seqs, toks, 2, lg, err, sizeof err), DK_ERR_CANCELLED);
    ab.polls = 0;
    ck_assert_int_eq(llm_eval_ragged(c, &ob, err, sizeof err), DK_ERR_CANCELLED);
    ab.polls = 0;
    ck_assert_int_eq(llm_eval_tree(c, a, other, parents, 3, lg, err, sizeof err), DK_ERR_CANCELLED);
    ab.polls = 0;
    ck_assert_int_eq(llm_eval_masked_seq(c, &me, err, sizeof err), DK_ERR_CANCELLED);
    llm_set_abort(c, NULL, NULL);
    const int32_t path[2] = { 0, 2 };
    ck_assert_msg(llm_accept_path(c, a, path, 2, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(llm_accept_path(c, twin, path, 2, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(llm_seq_len(c, a), 9);
    float *want = floats((size_t)t.nv);
    next_logits(c, twin, 3, want);
    next_logits(c, a, 3, lg);
    assert_same(lg, want, (size_t)t.nv, "after accepting the tree that survived the failures");
    free(want);

    for (int i = 0; i < 3; i++)
        snap_free(&sn[i]);
    free(lg);
    llm_ctx_free(c);
    close_model(&t);
}
END_TEST

/* A prompt longer than one forward pass, cancelled in its second pass: the first pass's rows
   are already in the cache and must be dropped again. */
START_TEST(test_abort_polls)
{
    tmodel t = open_synth(&k_models[0]);
    char err[512];
    llm_ctx *c = new_ctx(&t, 1, 300);
    int32_t s = new_seq(c), toks[280];
    rand_tokens(toks, 280, t.nv, 9u);
    eval_ok(c, s, toks, 4, NULL, 0);
    float *lg = floats((size_t)t.nv), *want = floats((size_t)t.nv);
    abort_ctr ab = { 0, 1 };
    llm_set_abort(c, abort_after, &ab);
    /* polled before each of the two layers: the first poll stops before any work */
    ck_assert_int_eq(llm_eval(c, s, toks + 4, 1, lg, 0, err, sizeof err), DK_ERR_CANCELLED);
    ck_assert_int_eq(ab.polls, 1);
    ab = (abort_ctr){ 0, 3 };
    ck_assert_int_eq(llm_eval(c, s, toks + 4, 1, lg, 0, err, sizeof err), 0);
    ck_assert_int_eq(ab.polls, 2);
    ck_assert_int_eq(llm_truncate(c, s, 4, err, sizeof err), 0);
    llm_set_abort(c, NULL, NULL);
    snap sn = snap_take(c, &t, s, 1);
    /* 276 new tokens: passes of 256 and 20 rows, two polls each */
    ab = (abort_ctr){ 0, 3 };
    llm_set_abort(c, abort_after, &ab);
    ck_assert_int_eq(llm_eval(c, s, toks + 4, 276, lg, 0, err, sizeof err), DK_ERR_CANCELLED);
    ck_assert_int_eq(ab.polls, 3);
    llm_set_abort(c, NULL, NULL);
    snap_check(c, &t, &sn, "after a cancelled long prompt");
    eval_ok(c, s, toks + 4, 276, lg, 0);
    int32_t r = new_seq(c);
    eval_ok(c, r, toks, 280, want, 0);
    assert_same(lg, want, (size_t)t.nv, "the long prompt after the cancelled one");
    snap_free(&sn);
    free(lg);
    free(want);
    llm_ctx_free(c);
    close_model(&t);
}
END_TEST

START_TEST(test_fork_keeps_hidden)
{
    tmodel t = open_synth(&k_models[_i]);
    char err[512];
    llm_ctx *c = new_ctx(&t, 1, 64);
    int32_t s = new_seq(c), f, g, toks[6];
    rand_tokens(toks, 6, t.nv, 4u);
    eval_ok(c, s, toks, 6, NULL, 0);
    float *h = floats((size_t)6 * t.d), *hf = floats((size_t)6 * t.d);
    ck_assert_int_eq(llm_hidden(c, s, 6, h, err, sizeof err), 0);
    ck_assert_int_eq(llm_fork(c, s, &f, err, sizeof err), 0);
    ck_assert_msg(llm_hidden(c, f, 6, hf, err, sizeof err) == 0, "%s", err);
    assert_same(hf, h, (size_t)6 * t.d, "hidden rows of the fork");
    ck_assert_int_eq(llm_hidden(c, f, 7, hf, err, sizeof err), DK_ERR_RANGE);
    /* a fork of a fresh sequence has none */
    g = new_seq(c);
    ck_assert_int_eq(llm_fork(c, g, &f, err, sizeof err), 0);
    ck_assert_int_eq(llm_hidden(c, f, 1, hf, err, sizeof err), DK_ERR_RANGE);
    free(h);
    free(hf);
    llm_ctx_free(c);
    close_model(&t);
}
END_TEST

START_TEST(test_bidirectional_refused)
{
    synth_opts o = k_models[0];
    o.non_causal = 1;
    tmodel t = open_synth(&o);
    char err[512];
    llm_ctx *c = new_ctx(&t, 1, 64);
    int32_t s = new_seq(c), toks[4] = { 1, 2, 3, 4 }, parents[2] = { -1, 0 };
    float *lg = floats((size_t)4 * t.nv);
    size_t n = 2;
    dk_batch b = batch_of(1, &s, &n, toks);
    ck_assert_int_eq(llm_eval(c, s, toks, 2, lg, 0, err, sizeof err), DK_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err, "bidirectional"));
    ck_assert_int_eq(llm_eval_batch(c, &s, toks, 1, lg, err, sizeof err), DK_ERR_UNSUPPORTED);
    ck_assert_int_eq(llm_eval_tree(c, s, toks, parents, 2, lg, err, sizeof err), DK_ERR_UNSUPPORTED);
    ck_assert_int_eq(llm_eval_ragged(c, &b, err, sizeof err), DK_ERR_UNSUPPORTED);
    ck_assert_uint_eq(llm_seq_len(c, s), 0);
    free(lg);
    llm_ctx_free(c);
    close_model(&t);
}
END_TEST

/* ---- ragged batches --------------------------------------------------------------------- */

enum { NS = 3 };

/* Three sequences with 5, 9 and 0 cached positions, twice: `r` for the ragged call and `e`
   for evaluating each alone. */
typedef struct ragged_fx {
    tmodel t;
    llm_ctx *c;
    int32_t r[NS], e[NS];
    int32_t toks[NS][24];
    size_t len[NS];
} ragged_fx;

static void rfx_open(ragged_fx *fx, int model)
{
    static const size_t pre[NS] = { 5, 9, 0 };
    fx->t = open_synth(&k_models[model]);
    fx->c = new_ctx(&fx->t, 2, 64);
    for (int i = 0; i < NS; i++) {
        rand_tokens(fx->toks[i], 24, fx->t.nv, 50u + (unsigned)(i * 7 + model));
        fx->r[i] = new_seq(fx->c);
        fx->e[i] = new_seq(fx->c);
        fx->len[i] = pre[i];
        if (pre[i]) {
            eval_ok(fx->c, fx->r[i], fx->toks[i], pre[i], NULL, 0);
            eval_ok(fx->c, fx->e[i], fx->toks[i], pre[i], NULL, 0);
        }
    }
}

static void rfx_close(ragged_fx *fx)
{
    llm_ctx_free(fx->c);
    close_model(&fx->t);
}

/* One ragged call appending add[i] tokens to each sequence with the given output flags (NULL:
   the last of each), checked row by row against each sequence evaluated alone. */
static void ragged_step(ragged_fx *fx, const size_t *add, const uint8_t *flags, const char *what)
{
    const tmodel *t = &fx->t;
    char err[512], msg[160];
    int32_t toks[64];
    size_t total = 0, n_out = 0;
    for (int i = 0; i < NS; i++) {
        memcpy(toks + total, fx->toks[i] + fx->len[i], add[i] * sizeof *toks);
        for (size_t j = 0; j < add[i]; j++)
            n_out += flags ? flags[total + j] != 0 : j + 1 == add[i];
        total += add[i];
    }
    float *lg = floats(n_out * t->nv), *hid = floats(n_out * t->d);
    dk_batch b = batch_of(NS, fx->r, add, toks);
    b.output = flags;
    b.logits = lg;
    b.hidden = hid;
    ck_assert_msg(llm_eval_ragged(fx->c, &b, err, sizeof err) == 0, "%s: %s", what, err);
    size_t row = 0, t0 = 0;
    for (int i = 0; i < NS; i++) {
        float *alone = floats(add[i] * t->nv), *ha = floats(add[i] * t->d), *hr = floats(add[i] * t->d);
        eval_ok(fx->c, fx->e[i], fx->toks[i] + fx->len[i], add[i], alone, 1);
        ck_assert_int_eq(llm_hidden(fx->c, fx->e[i], add[i], ha, err, sizeof err), 0);
        ck_assert_int_eq(llm_hidden(fx->c, fx->r[i], add[i], hr, err, sizeof err), 0);
        snprintf(msg, sizeof msg, "%s: hidden() of sequence %d", what, i);
        assert_close(hr, ha, add[i] * t->d, t->tol, msg);
        for (size_t j = 0; j < add[i]; j++) {
            if (!(flags ? flags[t0 + j] != 0 : j + 1 == add[i]))
                continue;
            snprintf(msg, sizeof msg, "%s: sequence %d token %zu", what, i, j);
            /* bit for bit wherever both sides ran the same kernels: Q8_0 rows always take the
               row kernel (with AMX tiles, another for a batch of one); F32 ones take another
               for a batch of one; Q4_K batches take SGEMM without AVX2 */
            const uint32_t type = fx->t.m->layers[0].wq.type;
            const int amx = quant_isa() >= QUANT_ISA_AVX512 && quant_have_amx();
            if ((type == GGML_TYPE_Q8_0 && (!amx || add[i] >= 2)) || (type == GGML_TYPE_F32 && add[i] >= 2))
                assert_same(lg + row * t->nv, alone + j * t->nv, (size_t)t->nv, msg);
            assert_close(lg + row * t->nv, alone + j * t->nv, (size_t)t->nv, t->tol, msg);
            assert_close(hid + row * t->d, ha + j * t->d, (size_t)t->d, t->tol, msg);
            row++;
        }
        fx->len[i] += add[i];
        ck_assert_uint_eq(llm_seq_len(fx->c, fx->r[i]), fx->len[i]);
        t0 += add[i];
        free(alone);
        free(ha);
        free(hr);
    }
    ck_assert_uint_eq(row, n_out);
    free(lg);
    free(hid);
}

START_TEST(test_ragged_matches_alone)
{
    ragged_fx fx;
    rfx_open(&fx, _i);
    const size_t add1[NS] = { 3, 1, 6 };
    ragged_step(&fx, add1, NULL, "last rows");
    const size_t add2[NS] = { 2, 4, 1 };
    const uint8_t flags[7] = { 1, 1, 0, 1, 0, 1, 0 };
    ragged_step(&fx, add2, flags, "flagged rows");
    rfx_close(&fx);
}
END_TEST

/* One sequence in a ragged call runs exactly the passes eval runs. */
START_TEST(test_ragged_single_is_eval)
{
    tmodel t = open_synth(&k_models[_i]);
    char err[512];
    llm_ctx *c = new_ctx(&t, 2, 64);
    int32_t x = new_seq(c), y = new_seq(c), toks[12];
    rand_tokens(toks, 12, t.nv, 8u);
    float *lr = floats((size_t)6 * t.nv), *le = floats((size_t)6 * t.nv);
    size_t n = 6;
    dk_batch b = batch_of(1, &x, &n, toks);
    b.logits = lr;
    ck_assert_msg(llm_eval_ragged(c, &b, err, sizeof err) == 0, "%s", err);
    eval_ok(c, y, toks, 6, le, 0);
    assert_same(lr, le, (size_t)t.nv, "last row");
    const uint8_t all[6] = { 1, 1, 1, 1, 1, 1 };
    b.tokens = toks + 6;
    b.output = all;
    ck_assert_msg(llm_eval_ragged(c, &b, err, sizeof err) == 0, "%s", err);
    eval_ok(c, y, toks + 6, 6, le, 1);
    assert_same(lr, le, (size_t)6 * t.nv, "every row");
    free(lr);
    free(le);
    llm_ctx_free(c);
    close_model(&t);
}
END_TEST

/* More rows than one pass takes: the second sequence is split across two passes. */
START_TEST(test_ragged_two_passes)
{
    tmodel t = open_synth(&k_models[0]);
    char err[512];
    llm_ctx *c = new_ctx(&t, 2, 200);
    enum { A = 150, B = 170 };
    int32_t r[2] = { new_seq(c), new_seq(c) }, e[2] = { new_seq(c), new_seq(c) }, toks[A + B];
    rand_tokens(toks, A + B, t.nv, 33u);
    const size_t n[2] = { A, B };
    float *lg = floats((size_t)2 * t.nv), *want = floats((size_t)t.nv), *h = floats((size_t)B * t.d),
          *hw = floats((size_t)B * t.d);
    dk_batch b = batch_of(2, r, n, toks);
    b.logits = lg;
    ck_assert_msg(llm_eval_ragged(c, &b, err, sizeof err) == 0, "%s", err);
    for (int i = 0; i < 2; i++) {
        eval_ok(c, e[i], toks + (i ? A : 0), n[i], want, 0);
        assert_close(lg + (size_t)i * t.nv, want, (size_t)t.nv, t.tol, "last row");
        ck_assert_int_eq(llm_hidden(c, r[i], n[i], h, err, sizeof err), 0);
        ck_assert_int_eq(llm_hidden(c, e[i], n[i], hw, err, sizeof err), 0);
        assert_close(h, hw, n[i] * (size_t)t.d, t.tol, "hidden rows");
        ck_assert_uint_eq(llm_seq_len(c, r[i]), n[i]);
    }
    free(lg);
    free(want);
    free(h);
    free(hw);
    llm_ctx_free(c);
    close_model(&t);
}
END_TEST

/* ---- head subsets ----------------------------------------------------------------------- */

START_TEST(test_head_subset)
{
    tmodel t = open_synth(&k_models[_i]);
    char err[512];
    llm_ctx *c = new_ctx(&t, 2, 64);
    int32_t s[2] = { new_seq(c), new_seq(c) }, f[2], toks[16];
    rand_tokens(toks, 16, t.nv, 21u);
    eval_ok(c, s[0], toks, 4, NULL, 0);
    eval_ok(c, s[1], toks + 4, 7, NULL, 0);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(llm_fork(c, s[i], &f[i], err, sizeof err), 0);
    const int32_t ids[5] = { t.nv - 1, 0, 17, 5, 17 };
    /* five output rows (a batch for the head), then one (the single-row kernel) */
    const size_t n_tok[2][2] = { { 2, 3 }, { 1, 0 } };
    const uint8_t flags[5] = { 1, 1, 1, 1, 1 };
    for (int round = 0; round < 2; round++) {
        const size_t n_seqs = n_tok[round][1] ? 2 : 1, n_out = n_tok[round][0] + n_tok[round][1];
        float *full = floats(n_out * t.nv), *sub = floats(n_out * 5);
        dk_batch b = batch_of(n_seqs, s, n_tok[round], toks + 11);
        b.output = flags;
        b.logits = full;
        ck_assert_msg(llm_eval_ragged(c, &b, err, sizeof err) == 0, "%s", err);
        b.seqs = f;
        b.logits = sub;
        b.out_ids = ids;
        b.n_out_ids = 5;
        ck_assert_msg(llm_eval_ragged(c, &b, err, sizeof err) == 0, "%s", err);
        for (size_t r = 0; r < n_out; r++)
            for (int k = 0; k < 5; k++) {
                const float want = full[r * t.nv + (size_t)ids[k]], got = sub[r * 5 + (size_t)k];
                /* the rows of the row kernels are the same products; SGEMM on a gathered tile
                   may block its sums otherwise */
                if (n_out == 1 || k_models[_i].type != GGML_TYPE_Q4_K)
                    ck_assert_msg(memcmp(&got, &want, sizeof got) == 0, "round %d row %zu id %d: %.9g, want %.9g",
                                  round, r, ids[k], got, want);
                else
                    ck_assert_msg(fabsf(got - want) <= 1e-5f * fmaxf(1.0f, fabsf(want)), "row %zu id %d: %g, want %g",
                                  r, ids[k], got, want);
            }
        free(full);
        free(sub);
    }
    llm_ctx_free(c);
    close_model(&t);
}
END_TEST

/* ---- masked evaluation on a sequence --------------------------------------------------- */

static dk_masked_eval masked_of(int32_t seq, const int32_t *toks, size_t n, uint32_t attention, float *logits)
{
    dk_masked_eval me;
    memset(&me, 0, sizeof me);
    me.struct_size = sizeof me;
    me.seq = seq;
    me.tokens = toks;
    me.n = n;
    me.attention = attention;
    me.logits = logits;
    return me;
}

static void masked_ok(llm_ctx *c, const dk_masked_eval *me)
{
    char err[512];
    ck_assert_msg(llm_eval_masked_seq(c, me, err, sizeof err) == 0, "%s", err);
}

/* Rows from two calls whose batches differ in size: bit for bit where the row kernels run
   (F32 and Q8_0 with two rows or more). SGEMM (Q4_K batches) sums in an order that depends on
   the batch, and the Q8_K activations turn that into rounding flips: the usual tolerance. */
static void assert_rows(const float *a, const float *b, size_t n, int model, const char *what)
{
    if (k_models[model].type == GGML_TYPE_Q4_K)
        assert_close(a, b, n, 1e-2f, what);
    else
        assert_same(a, b, n, what);
}

enum { CN = 12 };

/* Commits toks as a bidirectional canvas: a diffusion decoder's prefill. */
static void masked_prefix(llm_ctx *c, int32_t seq, const int32_t *toks, size_t n)
{
    dk_masked_eval me = masked_of(seq, toks, n, DK_ATTN_BIDIRECTIONAL, NULL);
    me.n_commit = n;
    masked_ok(c, &me);
}

/* An empty prefix and a bidirectional canvas: the stateless masked evaluation, on the
   bidirectional twin of the model (same weights) and on the causal model itself. */
START_TEST(test_masked_seq_is_stateless_masked)
{
    synth_opts o = k_models[_i];
    o.non_causal = 1;
    tmodel bi = open_synth(&o), ca = open_synth(&k_models[_i]);
    char err[512];
    int32_t toks[CN];
    rand_tokens(toks, CN, bi.nv, 60u + (unsigned)_i);
    float *want = floats((size_t)CN * bi.nv), *got = floats((size_t)CN * bi.nv);
    llm_ctx *c = new_ctx(&bi, 2, 64);
    ck_assert_msg(llm_eval_masked(c, toks, CN, want, err, sizeof err) == 0, "%s", err);
    int32_t s = new_seq(c);
    dk_masked_eval me = masked_of(s, toks, CN, DK_ATTN_BIDIRECTIONAL, got);
    masked_ok(c, &me);
    assert_same(got, want, (size_t)CN * bi.nv, "bidirectional model");
    ck_assert_uint_eq(llm_seq_len(c, s), 0);
    llm_ctx_free(c);
    c = new_ctx(&ca, 2, 64);
    s = new_seq(c);
    me.seq = s;
    memset(got, 0, (size_t)CN * bi.nv * sizeof *got);
    masked_ok(c, &me);
    assert_same(got, want, (size_t)CN * bi.nv, "causal model");
    llm_ctx_free(c);
    free(want);
    free(got);
    close_model(&bi);
    close_model(&ca);
}
END_TEST

/* Block-causal: the canvas in one call, or block by block with each block committed, gives
   the later blocks the same rows (the prefix cache is exact for block-causal attention). */
START_TEST(test_masked_seq_blocks)
{
    tmodel t = open_synth(&k_models[_i]);
    llm_ctx *c = new_ctx(&t, 2, 64);
    enum { PRE = 5, BL = 4 };
    int32_t pre[PRE], toks[CN], w = new_seq(c), b = new_seq(c);
    rand_tokens(pre, PRE, t.nv, 70u);
    rand_tokens(toks, CN, t.nv, 71u + (unsigned)_i);
    masked_prefix(c, w, pre, PRE);
    masked_prefix(c, b, pre, PRE);
    ck_assert_uint_eq(llm_seq_len(c, b), PRE);
    float *whole = floats((size_t)CN * t.nv), *part = floats((size_t)BL * t.nv);
    dk_masked_eval me = masked_of(w, toks, CN, DK_ATTN_BLOCK_CAUSAL, whole);
    me.block_len = BL;
    masked_ok(c, &me);
    ck_assert_uint_eq(llm_seq_len(c, w), PRE);
    for (int k = 0; k < CN / BL; k++) {
        me = masked_of(b, toks + k * BL, BL, DK_ATTN_BLOCK_CAUSAL, part);
        me.block_len = BL;
        me.n_commit = BL;
        masked_ok(c, &me);
        char what[64];
        snprintf(what, sizeof what, "block %d", k);
        assert_rows(part, whole + (size_t)k * BL * t.nv, (size_t)BL * t.nv, _i, what);
    }
    ck_assert_uint_eq(llm_seq_len(c, b), PRE + CN);
    /* bidirectional differs: the first block then sees the later ones */
    me = masked_of(w, toks, CN, DK_ATTN_BIDIRECTIONAL, whole);
    masked_ok(c, &me);
    ck_assert(memcmp(whole, part, (size_t)t.nv * sizeof *part) != 0);
    free(whole);
    free(part);
    llm_ctx_free(c);
    close_model(&t);
}
END_TEST

/* Selected rows only: the logits buffer holds just those rows. */
START_TEST(test_masked_seq_rows)
{
    tmodel t = open_synth(&k_models[_i]);
    llm_ctx *c = new_ctx(&t, 2, 64);
    int32_t toks[CN], s = new_seq(c), pre[3] = { 1, 2, 3 };
    rand_tokens(toks, CN, t.nv, 80u + (unsigned)_i);
    masked_prefix(c, s, pre, 3);
    float *full = floats((size_t)CN * t.nv), *sel = floats((size_t)4 * t.nv);
    dk_masked_eval me = masked_of(s, toks, CN, DK_ATTN_BIDIRECTIONAL, full);
    masked_ok(c, &me);
    const int32_t rows[4] = { 1, 5, 6, 11 };
    me.logits = sel;
    me.rows = rows;
    me.n_rows = 4;
    masked_ok(c, &me);
    for (int k = 0; k < 4; k++)
        assert_rows(sel + (size_t)k * t.nv, full + (size_t)rows[k] * t.nv, (size_t)t.nv, _i, "selected row");
    /* one row takes the single-row kernels */
    me.n_rows = 1;
    me.rows = rows + 2;
    masked_ok(c, &me);
    assert_close(sel, full + (size_t)rows[2] * t.nv, (size_t)t.nv, t.tol, "one selected row");
    free(full);
    free(sel);
    llm_ctx_free(c);
    close_model(&t);
}
END_TEST

/* Three alternative canvases in one batch: each canvas's selected rows are the single call's
   on it alone (bidirectional, block-causal, and reusing a stored canvas), and the sequence,
   its stored canvas included, is as before. */
START_TEST(test_masked_batch_is_single_calls)
{
    tmodel t = open_synth(&k_models[_i]);
    llm_ctx *c = new_ctx(&t, 2, 64);
    enum { K = 3 };
    int32_t toks[K * CN], st[CN], s = new_seq(c), pre[3] = { 1, 2, 3 };
    rand_tokens(toks, K * CN, t.nv, 90u + (unsigned)_i);
    rand_tokens(st, CN, t.nv, 99u);
    masked_prefix(c, s, pre, 3);
    const int32_t rows[4] = { 4, 5, 6, 11 };
    float *batch = floats((size_t)K * 4 * t.nv), *one = floats((size_t)4 * t.nv);
    dk_masked_eval me = masked_of(s, st, CN, DK_ATTN_BIDIRECTIONAL, NULL);
    me.flags = DK_MASKED_STORE;
    masked_ok(c, &me);
    char err[512];
    for (int mode = 0; mode < 3; mode++) {
        dk_masked_batch mb;
        memset(&mb, 0, sizeof mb);
        mb.struct_size = sizeof mb;
        mb.seq = s;
        mb.tokens = toks;
        mb.n = CN;
        mb.n_canvas = K;
        mb.attention = mode == 1 ? DK_ATTN_BLOCK_CAUSAL : DK_ATTN_BIDIRECTIONAL;
        mb.block_len = 4;
        mb.flags = mode == 2 ? DK_MASKED_REUSE : 0;
        mb.active_begin = 4;
        mb.active_end = CN;
        mb.rows = rows;
        mb.n_rows = 4;
        mb.logits = batch;
        ck_assert_msg(llm_eval_masked_batch(c, &mb, err, sizeof err) == 0, "%s", err);
        ck_assert_uint_eq(llm_seq_len(c, s), 3);
        for (int k = 0; k < K; k++) {
            me = masked_of(s, toks + k * CN, CN, mb.attention, one);
            me.block_len = 4;
            me.flags = mb.flags;
            me.active_begin = 4;
            me.active_end = CN;
            me.rows = rows;
            me.n_rows = 4;
            masked_ok(c, &me);
            char what[64];
            snprintf(what, sizeof what, "mode %d canvas %d", mode, k);
            assert_rows(one, batch + (size_t)k * 4 * t.nv, (size_t)4 * t.nv, _i, what);
        }
    }
    /* a store is refused: the batch changes nothing */
    dk_masked_batch bad;
    memset(&bad, 0, sizeof bad);
    bad.struct_size = sizeof bad;
    bad.seq = s;
    bad.tokens = toks;
    bad.n = CN;
    bad.n_canvas = K;
    bad.flags = DK_MASKED_STORE;
    bad.logits = batch;
    ck_assert_int_eq(llm_eval_masked_batch(c, &bad, err, sizeof err), DK_ERR_INVALID);
    free(batch);
    free(one);
    llm_ctx_free(c);
    close_model(&t);
}
END_TEST

/* The dual cache: a stored canvas, then only the active rows recomputed. */
START_TEST(test_masked_seq_dual_cache)
{
    tmodel t = open_synth(&k_models[_i]);
    char err[512];
    llm_ctx *c = new_ctx(&t, 2, 64);
    int32_t toks[CN], other[CN], s = new_seq(c), pre[3] = { 4, 5, 6 };
    rand_tokens(toks, CN, t.nv, 90u + (unsigned)_i);
    rand_tokens(other, CN, t.nv, 91u + (unsigned)_i);
    masked_prefix(c, s, pre, 3);
    float *full = floats((size_t)CN * t.nv), *act = floats((size_t)CN * t.nv);
    /* without a stored canvas there is nothing to reuse */
    const int32_t active[4] = { 4, 5, 6, 7 }, rows[2] = { 5, 7 };
    dk_masked_eval me = masked_of(s, toks, CN, DK_ATTN_BIDIRECTIONAL, act);
    me.flags = DK_MASKED_REUSE;
    me.active_begin = 4;
    me.active_end = 8;
    me.rows = active;
    me.n_rows = 4;
    ck_assert_int_eq(llm_eval_masked_seq(c, &me, err, sizeof err), DK_ERR_STATE);
    me.rows = NULL;
    me.flags = DK_MASKED_STORE;
    me.logits = full;
    masked_ok(c, &me);
    /* a call that stores nothing, over another canvas, and a cancelled one leave the stored
       canvas as it was */
    me.flags = 0;
    me.tokens = other;
    me.logits = act;
    masked_ok(c, &me);
    abort_ctr ab = { 0, t.m->hp.n_layer };
    llm_set_abort(c, abort_after, &ab);
    me.flags = DK_MASKED_STORE;
    ck_assert_int_eq(llm_eval_masked_seq(c, &me, err, sizeof err), DK_ERR_CANCELLED);
    llm_set_abort(c, NULL, NULL);
    me.tokens = toks;
    me.flags = DK_MASKED_REUSE;
    /* all n rows (rows NULL) are not inside the active range */
    ck_assert_int_eq(llm_eval_masked_seq(c, &me, err, sizeof err), DK_ERR_INVALID);
    me.rows = active;
    me.n_rows = 4;
    masked_ok(c, &me);
    assert_rows(act, full + (size_t)4 * t.nv, (size_t)4 * t.nv, _i, "active rows");
    me.rows = rows;
    me.n_rows = 2;
    masked_ok(c, &me);
    assert_rows(act, full + (size_t)5 * t.nv, (size_t)t.nv, _i, "active row 5");
    assert_rows(act + t.nv, full + (size_t)7 * t.nv, (size_t)t.nv, _i, "active row 7");
    /* rows outside the active range, a canvas of another size */
    const int32_t outside[1] = { 9 };
    me.rows = outside;
    me.n_rows = 1;
    ck_assert_int_eq(llm_eval_masked_seq(c, &me, err, sizeof err), DK_ERR_INVALID);
    me.rows = active;
    me.n = CN - 1;
    ck_assert_int_eq(llm_eval_masked_seq(c, &me, err, sizeof err), DK_ERR_STATE);
    me.n = CN;
    /* committing the first block through the reused canvas equals a plain committed block */
    me.rows = NULL;
    me.logits = NULL;
    me.active_begin = 0;
    me.active_end = 4;
    me.n_commit = 4;
    masked_ok(c, &me);
    ck_assert_uint_eq(llm_seq_len(c, s), 3 + 4);
    ck_assert_int_eq(llm_eval_masked_seq(c, &me, err, sizeof err), DK_ERR_STATE); /* the prefix moved */
    int32_t r = new_seq(c);
    masked_prefix(c, r, pre, 3);
    me = masked_of(r, toks, CN, DK_ATTN_BIDIRECTIONAL, NULL);
    me.n_commit = 4;
    masked_ok(c, &me);
    me = masked_of(r, toks + 4, CN - 4, DK_ATTN_BIDIRECTIONAL, full);
    masked_ok(c, &me);
    me.seq = s;
    me.logits = act;
    masked_ok(c, &me);
    assert_rows(act, full, (size_t)(CN - 4) * t.nv, _i, "after the reused block was committed");
    free(full);
    free(act);
    llm_ctx_free(c);
    close_model(&t);
}
END_TEST

START_TEST(test_masked_seq_bad_calls)
{
    tmodel t = open_synth(&k_models[0]);
    char err[512];
    llm_ctx *c = new_ctx(&t, 1, 16);
    int32_t toks[CN], s = new_seq(c);
    rand_tokens(toks, CN, t.nv, 3u);
    float *lg = floats((size_t)CN * t.nv);
    dk_masked_eval me = masked_of(s, toks, CN, DK_ATTN_BIDIRECTIONAL, lg);
    me.n_commit = CN;
    masked_ok(c, &me);
    me.n_commit = 0;
    ck_assert_int_eq(llm_eval_masked_seq(c, &me, err, sizeof err), DK_ERR_RANGE); /* 12 + 12 > 16 */
    me.n = 4;
    me.attention = DK_ATTN_CAUSAL;
    ck_assert_int_eq(llm_eval_masked_seq(c, &me, err, sizeof err), DK_ERR_INVALID);
    me.attention = DK_ATTN_BLOCK_CAUSAL; /* block_len 0 */
    ck_assert_int_eq(llm_eval_masked_seq(c, &me, err, sizeof err), DK_ERR_INVALID);
    me.attention = DK_ATTN_BIDIRECTIONAL;
    me.n_commit = 5;
    ck_assert_int_eq(llm_eval_masked_seq(c, &me, err, sizeof err), DK_ERR_INVALID);
    me.n_commit = 0;
    const int32_t desc[2] = { 2, 1 };
    me.rows = desc;
    me.n_rows = 2;
    ck_assert_int_eq(llm_eval_masked_seq(c, &me, err, sizeof err), DK_ERR_INVALID);
    me.rows = NULL;
    toks[1] = t.nv;
    ck_assert_int_eq(llm_eval_masked_seq(c, &me, err, sizeof err), DK_ERR_INVALID);
    me.seq = 5;
    ck_assert_int_eq(llm_eval_masked_seq(c, &me, err, sizeof err), DK_ERR_INVALID);
    ck_assert_uint_eq(llm_seq_len(c, s), CN);
    free(lg);
    llm_ctx_free(c);
    close_model(&t);
}
END_TEST

/* ---- the plugin: info, shared weights ---------------------------------------------------- */

struct dk_error {
    int code;
    char msg[512];
};
struct dk_config {
    const char *path;
    int64_t n_ctx;
};

static int h_set_error(dk_error *e, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->code = code;
    return code;
}

static void h_log(const dk_host *h, int level, const char *fmt, ...)
{
    (void)h;
    (void)level;
    (void)fmt;
}

static const char *h_cfg_string(const dk_config *cfg, const char *key)
{
    return strcmp(key, "path") == 0 ? cfg->path : NULL;
}

static int64_t h_cfg_int(const dk_config *cfg, const char *key)
{
    return strcmp(key, "n_ctx") == 0 ? cfg->n_ctx : 0;
}

static dk_host g_host;

/* The built plugin, opened once for the whole run. */
static const dk_model_iface *llama_iface(void)
{
    static void *lib;
    if (!lib) {
        const char *dir = getenv("DECOKIT_PLUGIN_PATH");
        char path[1024];
        snprintf(path, sizeof path, "%s/llama.so", dir && *dir ? dir : "plugins/.libs");
        lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        ck_assert_msg(lib != NULL, "%s", dlerror());
    }
    void *sym = dlsym(lib, DK_PLUGIN_ENTRY_SYMBOL);
    ck_assert_ptr_nonnull(sym);
    dk_plugin_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry);
    const dk_plugin_desc *d = entry();
    ck_assert_uint_eq(d->n_components, 1);
    ck_assert_uint_eq(d->components[0]->kind, DK_KIND_MODEL);
    return (const dk_model_iface *)(const void *)d->components[0];
}

static void *create(const dk_model_iface *mi, const char *path, int threads)
{
    dk_config cfg = { path, 0 };
    dk_create_info ci;
    memset(&ci, 0, sizeof ci);
    ci.struct_size = sizeof ci;
    ci.config = &cfg;
    ci.n_threads = threads;
    dk_error e = { 0, "" };
    void *inst = NULL;
    ck_assert_msg(mi->create(&g_host, &ci, &inst, &e) == DK_OK, "%s", e.msg);
    return inst;
}

static void bundled_path(char *out, size_t cap)
{
    const char *src = getenv("DECOKIT_SRCDIR");
    snprintf(out, cap, "%s/models/decokit-tiny.gguf", src && *src ? src : ".");
}

/* Every capability bit has its operation, and none is claimed without it. */
static void check_caps(const dk_model_iface *mi, uint32_t caps)
{
    const struct {
        uint32_t bit;
        int have;
    } ops[] = {
        { DK_MODEL_CAP_BATCH, mi->eval_batch != NULL },   { DK_MODEL_CAP_TREE, mi->eval_tree && mi->accept_path },
        { DK_MODEL_CAP_FORK, mi->fork != NULL },          { DK_MODEL_CAP_TRUNCATE, mi->truncate != NULL },
        { DK_MODEL_CAP_MASKED, mi->eval_masked != NULL }, { DK_MODEL_CAP_HIDDEN, mi->hidden != NULL },
        { DK_MODEL_CAP_RAGGED, mi->eval_ragged != NULL }, { DK_MODEL_CAP_HEAD, mi->eval_ragged != NULL },
        { DK_MODEL_CAP_MASKED_SEQ, mi->eval_masked_seq != NULL },
        { DK_MODEL_CAP_DUAL_CACHE, mi->eval_masked_seq != NULL },
        { DK_MODEL_CAP_BLOCK_CAUSAL, mi->eval_masked_seq != NULL },
        { DK_MODEL_CAP_ABORT, mi->set_abort != NULL },    { DK_MODEL_CAP_SHARE, mi->clone_shared != NULL },
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        ck_assert_msg(!(caps & ops[i].bit) || ops[i].have, "cap %u without its operation", ops[i].bit);
}

START_TEST(test_plugin_info)
{
    const dk_model_iface *mi = llama_iface();
    char path[1024], err[512];
    bundled_path(path, sizeof path);
    void *inst = create(mi, path, 1);
    dk_model_info info;
    memset(&info, 0xff, sizeof info);
    info.struct_size = sizeof info;
    ck_assert_int_eq(mi->info(inst, &info), DK_OK);
    llm_model *m = llm_model_load(path, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    ck_assert_uint_eq(info.attention, DK_ATTN_CAUSAL);
    ck_assert_int_eq(info.logit_shift, 0);
    ck_assert_int_eq(info.n_layer, llm_model_hparams(m)->n_layer);
    const uint32_t want = DK_MODEL_CAP_RAGGED | DK_MODEL_CAP_HEAD | DK_MODEL_CAP_ABORT | DK_MODEL_CAP_SHARE |
                          DK_MODEL_CAP_BATCH | DK_MODEL_CAP_HIDDEN;
    ck_assert_uint_eq(info.caps & want, want);
    ck_assert_uint_eq(info.caps & DK_MODEL_CAP_MASKED, 0);
    check_caps(mi, info.caps);
    llm_model_free(m);
    mi->destroy(inst);

    /* a bidirectional model: masked only */
    synth_opts o = k_models[0];
    o.non_causal = 1;
    const char *file = "check_llama_abi11-bidir.gguf";
    ck_assert_msg(synth_write_file(file, &o, err, sizeof err) == 0, "%s", err);
    inst = create(mi, file, 1);
    ck_assert_int_eq(mi->info(inst, &info), DK_OK);
    ck_assert_uint_eq(info.attention, DK_ATTN_BIDIRECTIONAL);
    ck_assert_uint_eq(info.caps & (DK_MODEL_CAP_BATCH | DK_MODEL_CAP_TREE | DK_MODEL_CAP_RAGGED), 0);
    ck_assert_uint_eq(info.caps & DK_MODEL_CAP_MASKED, DK_MODEL_CAP_MASKED);
    check_caps(mi, info.caps);
    dk_seq s;
    dk_error e = { 0, "" };
    const dk_token toks[2] = { 1, 2 };
    ck_assert_int_eq(mi->seq_new(inst, &s, &e), DK_OK);
    ck_assert_int_eq(mi->eval(inst, s, toks, 2, NULL, 0, &e), DK_ERR_UNSUPPORTED);
    ck_assert_int_eq(e.code, DK_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(e.msg, "bidirectional"));
    mi->destroy(inst);

    /* diffusion.shift_logits = true: the bidirectional file with its attention key renamed (the
       two names have the same length) and the value set */
    uint8_t *buf;
    size_t size;
    ck_assert_msg(synth_write_memory(&o, &buf, &size, err, sizeof err) == 0, "%s", err);
    static const char from[] = "llama.attention.causal", to[] = "diffusion.shift_logits";
    uint8_t *key = NULL;
    for (size_t i = 0; !key && i + sizeof from - 1 <= size; i++)
        if (memcmp(buf + i, from, sizeof from - 1) == 0)
            key = buf + i;
    ck_assert_ptr_nonnull(key);
    memcpy(key, to, sizeof to - 1);
    key[sizeof to - 1 + 4] = 1; /* after the name, a u32 type, then the bool */
    FILE *fp = fopen(file, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(buf, 1, size, fp), size);
    fclose(fp);
    free(buf);
    inst = create(mi, file, 1);
    ck_assert_int_eq(mi->info(inst, &info), DK_OK);
    ck_assert_int_eq(info.logit_shift, 1);
    ck_assert_uint_eq(info.attention, DK_ATTN_CAUSAL);
    mi->destroy(inst);
    remove(file);
}
END_TEST

/* A prompt and eight greedy steps on one instance; every step's logits. */
typedef struct run_job {
    const dk_model_iface *mi;
    void *inst;
    const dk_token *prompt;
    size_t n_prompt;
    int nv;
    float *out; /* 9 rows */
    int rc;
} run_job;

static void *run_greedy(void *arg)
{
    run_job *j = arg;
    dk_error e = { 0, "" };
    dk_seq s;
    j->rc = j->mi->seq_new(j->inst, &s, &e);
    if (!j->rc)
        j->rc = j->mi->eval(j->inst, s, j->prompt, j->n_prompt, j->out, 0, &e);
    for (int step = 1; step <= 8 && !j->rc; step++) {
        const float *prev = j->out + (size_t)(step - 1) * j->nv;
        dk_token best = 0;
        for (int v = 1; v < j->nv; v++)
            if (prev[v] > prev[best])
                best = v;
        j->rc = j->mi->eval(j->inst, s, &best, 1, j->out + (size_t)step * j->nv, 0, &e);
    }
    if (!j->rc)
        j->mi->seq_free(j->inst, s);
    return NULL;
}

START_TEST(test_clone_shared_concurrent)
{
    const dk_model_iface *mi = llama_iface();
    char path[1024];
    bundled_path(path, sizeof path);
    void *a = create(mi, path, 2);
    dk_model_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    ck_assert_int_eq(mi->info(a, &info), DK_OK);
    const int nv = info.n_vocab;
    dk_token p[2][24];
    size_t np[2];
    dk_error e = { 0, "" };
    ck_assert_int_eq(mi->tokenize(a, "It is a truth universally acknowledged", 38, DK_TOKENIZE_ADD_SPECIAL, p[0], 24,
                                  &np[0], &e), DK_OK);
    ck_assert_int_eq(mi->tokenize(a, "In the beginning God created", 28, DK_TOKENIZE_ADD_SPECIAL, p[1], 24, &np[1],
                                  &e), DK_OK);
    float *want[2], *got[2];
    for (int k = 0; k < 2; k++) {
        want[k] = floats((size_t)9 * nv);
        got[k] = floats((size_t)9 * nv);
        run_job j = { mi, a, p[k], np[k], nv, want[k], 0 };
        run_greedy(&j);
        ck_assert_int_eq(j.rc, 0);
    }
    for (int round = 0; round < 2; round++) {
        void *b = NULL;
        ck_assert_int_eq(mi->clone_shared(a, &b, &e), DK_OK);
        dk_model_info ib;
        memset(&ib, 0, sizeof ib);
        ib.struct_size = sizeof ib;
        ck_assert_int_eq(mi->info(b, &ib), DK_OK);
        ck_assert_int_eq(ib.n_ctx, info.n_ctx);
        /* both at once, each on its own thread */
        run_job ja = { mi, a, p[0], np[0], nv, got[0], -1 }, jb = { mi, b, p[1], np[1], nv, got[1], -1 };
        pthread_t th;
        ck_assert_int_eq(pthread_create(&th, NULL, run_greedy, &jb), 0);
        run_greedy(&ja);
        pthread_join(th, NULL);
        ck_assert_int_eq(ja.rc, 0);
        ck_assert_int_eq(jb.rc, 0);
        assert_same(got[0], want[0], (size_t)9 * nv, "first instance");
        assert_same(got[1], want[1], (size_t)9 * nv, "clone");
        /* either may go first; the other keeps working on the shared weights */
        void *keep = round == 0 ? b : a;
        mi->destroy(round == 0 ? a : b);
        run_job jk = { mi, keep, p[1], np[1], nv, got[1], -1 };
        run_greedy(&jk);
        ck_assert_int_eq(jk.rc, 0);
        assert_same(got[1], want[1], (size_t)9 * nv, "after the other instance is gone");
        a = keep;
    }
    mi->destroy(a);
    for (int k = 0; k < 2; k++) {
        free(want[k]);
        free(got[k]);
    }
}
END_TEST

int main(void)
{
    g_host.struct_size = sizeof g_host;
    g_host.abi_major = DK_ABI_MAJOR;
    g_host.abi_minor = DK_ABI_MINOR;
    g_host.log = h_log;
    g_host.set_error = h_set_error;
    g_host.cfg_int = h_cfg_int;
    g_host.cfg_string = h_cfg_string;

    Suite *s = suite_create("llama_abi11");
    TCase *tc = tcase_create("engine");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_failures_change_nothing, 0, N_MODELS);
    tcase_add_test(tc, test_abort_polls);
    tcase_add_loop_test(tc, test_fork_keeps_hidden, 0, 2);
    tcase_add_test(tc, test_bidirectional_refused);
    tcase_add_loop_test(tc, test_ragged_matches_alone, 0, N_MODELS);
    tcase_add_loop_test(tc, test_ragged_single_is_eval, 0, N_MODELS);
    tcase_add_test(tc, test_ragged_two_passes);
    tcase_add_loop_test(tc, test_head_subset, 0, N_MODELS);
    tcase_add_loop_test(tc, test_masked_seq_is_stateless_masked, 0, N_MODELS);
    tcase_add_loop_test(tc, test_masked_seq_blocks, 0, N_MODELS);
    tcase_add_loop_test(tc, test_masked_seq_rows, 0, N_MODELS);
    tcase_add_loop_test(tc, test_masked_seq_dual_cache, 0, N_MODELS);
    tcase_add_loop_test(tc, test_masked_batch_is_single_calls, 0, N_MODELS);
    tcase_add_test(tc, test_masked_seq_bad_calls);
    suite_add_tcase(s, tc);
    TCase *tp = tcase_create("plugin");
    tcase_set_timeout(tp, 60);
    tcase_add_test(tp, test_plugin_info);
    tcase_add_test(tp, test_clone_shared_concurrent);
    suite_add_tcase(s, tp);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
