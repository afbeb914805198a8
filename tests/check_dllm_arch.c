/* check_dllm_arch.c -- the llama plugin on the llada and dream GGUF architectures: metadata,
   the masked forward against an independent double-precision forward, refused causal calls and
   located errors for missing keys and tensors. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../plugins/models/llama/ggml_types.h"
#include "../plugins/models/llama/llm.h"
#include "../tools/synth/synth.h"
#include "decokit/plugin.h"

static synth_extra g_x; /* the extra keys of the next load(); base_opts resets it */

static synth_opts base_opts(const char *arch)
{
    synth_opts o;
    memset(&o, 0, sizeof o);
    o.arch = arch;
    o.n_embd = 32;
    o.n_layer = 2;
    o.n_head = 4;
    o.n_head_kv = 2;
    o.n_ff = 48;
    o.n_vocab = 40;
    o.n_ctx = 64;
    o.type = GGML_TYPE_F32;
    o.seed = 7;
    memset(&g_x, 0, sizeof g_x);
    g_x.set_mask = 1;
    g_x.mask_token = 3;
    return o;
}

typedef struct loaded {
    uint8_t *buf;
    llm_model *m;
    char err[512];
} loaded;

/* Returns the model, or NULL with the loader's message in l->err. */
static llm_model *load(loaded *l, const synth_opts *o)
{
    size_t size;
    ck_assert_msg(synth_write_memory_ex(o, &g_x, &l->buf, &size, l->err, sizeof l->err) == 0, "%s", l->err);
    gguf_file *f = gguf_open_memory(l->buf, size, l->err, sizeof l->err);
    ck_assert_msg(f != NULL, "%s", l->err);
    l->m = llm_model_from_gguf(f, l->err, sizeof l->err);
    return l->m;
}

static void unload(loaded *l)
{
    llm_model_free(l->m);
    free(l->buf);
}

static int has_warning(const llm_model *m, const char *needle)
{
    for (int i = 0; i < llm_model_n_warnings(m); i++)
        if (strstr(llm_model_warning(m, i), needle))
            return 1;
    return 0;
}

/* ---- an independent forward pass, in double, straight from the GGUF tensors ------------------ */

static const float *tensor(const gguf_file *f, const char *name, int layer)
{
    char full[96];
    if (layer >= 0)
        snprintf(full, sizeof full, "blk.%d.%s", layer, name);
    else
        snprintf(full, sizeof full, "%s", name);
    const gguf_tensor *t = gguf_find_tensor(f, full);
    if (!t)
        return NULL;
    ck_assert_uint_eq(t->type, GGML_TYPE_F32);
    return (const float *)t->data;
}

/* y[r] = sum_c w[r * cols + c] * x[c] (+ b[r]) */
static void matvec(const float *w, const float *b, const double *x, int rows, int cols, double *y)
{
    for (int r = 0; r < rows; r++) {
        double s = b ? b[r] : 0.0;
        for (int c = 0; c < cols; c++)
            s += (double)w[(size_t)r * cols + c] * x[c];
        y[r] = s;
    }
}

static void rmsnorm(const double *x, const float *w, int d, double eps, double *y)
{
    double ss = 0;
    for (int i = 0; i < d; i++)
        ss += x[i] * x[i];
    double k = 1.0 / sqrt(ss / d + eps);
    for (int i = 0; i < d; i++)
        y[i] = x[i] * k * w[i];
}

/* Rotates one head at position p: pairs (2i, 2i+1), or (i, i + hd/2) in NeoX order. */
static void rope(double *v, int hd, int p, double base, int neox)
{
    for (int i = 0; i < hd / 2; i++) {
        double th = p * pow(base, -2.0 * i / hd), c = cos(th), s = sin(th);
        int a = neox ? i : 2 * i, b = neox ? i + hd / 2 : 2 * i + 1;
        double x0 = v[a], x1 = v[b];
        v[a] = x0 * c - x1 * s;
        v[b] = x0 * s + x1 * c;
    }
}

/* Every position attends to every position (the diffusion archs' attention). */
static void ref_forward(const llm_model *m, const int32_t *toks, int n, int neox, double *out)
{
    const llm_hparams *hp = llm_model_hparams(m);
    const gguf_file *f = llm_model_gguf(m);
    const int d = hp->n_embd, nh = hp->n_head, nkv = hp->n_head_kv, hd = hp->head_dim, ff = hp->n_ff,
              nv = hp->n_vocab;
    double *x = calloc((size_t)n * d, sizeof *x), *h = calloc((size_t)d, sizeof *h),
           *q = calloc((size_t)n * nh * hd, sizeof *q), *k = calloc((size_t)n * nkv * hd, sizeof *k),
           *v = calloc((size_t)n * nkv * hd, sizeof *v), *o = calloc((size_t)nh * hd, sizeof *o),
           *att = calloc((size_t)n, sizeof *att), *g = calloc((size_t)ff, sizeof *g),
           *u = calloc((size_t)ff, sizeof *u), *y = calloc((size_t)d, sizeof *y);
    const float *emb = tensor(f, "token_embd.weight", -1);
    for (int p = 0; p < n; p++)
        for (int i = 0; i < d; i++)
            x[(size_t)p * d + i] = emb[(size_t)toks[p] * d + i];
    for (int l = 0; l < hp->n_layer; l++) {
        for (int p = 0; p < n; p++) {
            rmsnorm(x + (size_t)p * d, tensor(f, "attn_norm.weight", l), d, hp->rms_eps, h);
            matvec(tensor(f, "attn_q.weight", l), tensor(f, "attn_q.bias", l), h, nh * hd, d, q + (size_t)p * nh * hd);
            matvec(tensor(f, "attn_k.weight", l), tensor(f, "attn_k.bias", l), h, nkv * hd, d, k + (size_t)p * nkv * hd);
            matvec(tensor(f, "attn_v.weight", l), tensor(f, "attn_v.bias", l), h, nkv * hd, d, v + (size_t)p * nkv * hd);
            for (int j = 0; j < nh; j++)
                rope(q + ((size_t)p * nh + j) * hd, hd, p, hp->rope_theta, neox);
            for (int j = 0; j < nkv; j++)
                rope(k + ((size_t)p * nkv + j) * hd, hd, p, hp->rope_theta, neox);
        }
        double *xn = calloc((size_t)n * d, sizeof *xn);
        for (int p = 0; p < n; p++) {
            for (int j = 0; j < nh; j++) {
                const int kj = j / (nh / nkv);
                double mx = -INFINITY, sum = 0;
                for (int t = 0; t < n; t++) {
                    double s = 0;
                    for (int i = 0; i < hd; i++)
                        s += q[((size_t)p * nh + j) * hd + i] * k[((size_t)t * nkv + kj) * hd + i];
                    att[t] = s / sqrt((double)hd);
                    mx = fmax(mx, att[t]);
                }
                for (int t = 0; t < n; t++)
                    sum += att[t] = exp(att[t] - mx);
                for (int i = 0; i < hd; i++) {
                    double s = 0;
                    for (int t = 0; t < n; t++)
                        s += att[t] / sum * v[((size_t)t * nkv + kj) * hd + i];
                    o[(size_t)j * hd + i] = s;
                }
            }
            matvec(tensor(f, "attn_output.weight", l), NULL, o, d, nh * hd, y);
            for (int i = 0; i < d; i++)
                xn[(size_t)p * d + i] = x[(size_t)p * d + i] + y[i];
        }
        for (int p = 0; p < n; p++) {
            double *xp = xn + (size_t)p * d;
            rmsnorm(xp, tensor(f, "ffn_norm.weight", l), d, hp->rms_eps, h);
            matvec(tensor(f, "ffn_gate.weight", l), NULL, h, ff, d, g);
            matvec(tensor(f, "ffn_up.weight", l), NULL, h, ff, d, u);
            for (int i = 0; i < ff; i++)
                g[i] = g[i] / (1.0 + exp(-g[i])) * u[i];
            matvec(tensor(f, "ffn_down.weight", l), NULL, g, d, ff, y);
            for (int i = 0; i < d; i++)
                x[(size_t)p * d + i] = xp[i] + y[i];
        }
        free(xn);
    }
    const float *wout = tensor(f, "output.weight", -1);
    if (!wout)
        wout = emb;
    for (int p = 0; p < n; p++) {
        rmsnorm(x + (size_t)p * d, tensor(f, "output_norm.weight", -1), d, hp->rms_eps, h);
        matvec(wout, NULL, h, nv, d, out + (size_t)p * nv);
    }
    free(x), free(h), free(q), free(k), free(v), free(o), free(att), free(g), free(u), free(y);
}

/* ---- tests --------------------------------------------------------------------------------------- */

static const char *const k_archs[] = { "llada", "dream" };

/* _i: arch (bit 0) x tied output (bit 1) */
START_TEST(test_masked_forward_matches_reference)
{
    synth_opts o = base_opts(k_archs[_i & 1]);
    o.tied = (_i >> 1) & 1;
    loaded l = { 0 };
    ck_assert_msg(load(&l, &o) != NULL, "%s", l.err);
    const llm_hparams *hp = llm_model_hparams(l.m);
    const int n = 11, nv = hp->n_vocab;
    int32_t toks[11] = { 1, 5, 9, 3, 3, 3, 3, 17, 3, 3, 39 }; /* 3 is the mask */
    float *got = malloc((size_t)n * nv * sizeof *got);
    double *want = malloc((size_t)n * nv * sizeof *want);
    char err[512];
    llm_ctx *c = llm_ctx_create(l.m, 1, 0, err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_msg(llm_eval_masked(c, toks, (size_t)n, got, err, sizeof err) == 0, "%s", err);
    ref_forward(l.m, toks, n, _i & 1, want);
    double worst = 0, scale = 1;
    for (int i = 0; i < n * nv; i++) {
        worst = fmax(worst, fabs(got[i] - want[i]));
        scale = fmax(scale, fabs(want[i]));
    }
    /* K and V are cached in F16: about 1e-3 of the largest logit */
    ck_assert_msg(worst <= 3e-3 * scale, "%s: masked logits differ from the reference by %g (scale %g)", o.arch,
                  worst, scale);
    /* the tolerance separates the RoPE pairings: the other one is far off */
    ref_forward(l.m, toks, n, !(_i & 1), want);
    double other = 0;
    for (int i = 0; i < n * nv; i++)
        other = fmax(other, fabs(got[i] - want[i]));
    ck_assert_msg(other > 10 * 3e-3 * scale, "%s: the wrong RoPE pairing is only %g off", o.arch, other);
    /* the reference is not trivially equal to a causal pass: row 0 sees the later tokens */
    int32_t toks2[11];
    memcpy(toks2, toks, sizeof toks);
    toks2[10] = 20;
    float *got2 = malloc((size_t)n * nv * sizeof *got2);
    ck_assert_msg(llm_eval_masked(c, toks2, (size_t)n, got2, err, sizeof err) == 0, "%s", err);
    int differs = 0;
    for (int i = 0; i < nv; i++)
        differs |= got2[i] != got[i];
    ck_assert_msg(differs, "row 0 does not depend on the last token: attention is not bidirectional");
    free(got2);
    llm_ctx_free(c);
    free(got);
    free(want);
    unload(&l);
}
END_TEST

START_TEST(test_hparams)
{
    loaded l = { 0 };
    synth_opts o = base_opts("llada");
    ck_assert_msg(load(&l, &o) != NULL, "%s", l.err);
    const llm_hparams *hp = llm_model_hparams(l.m);
    ck_assert_str_eq(hp->arch, "llada");
    ck_assert_int_eq(hp->causal, 0); /* no <arch>.attention.causal key: bidirectional by architecture */
    ck_assert_int_eq(hp->rope_neox, 0);
    ck_assert_int_eq(hp->shift_logits, 0);
    ck_assert_int_eq(hp->has_qkv_bias, 0);
    ck_assert_msg(has_warning(l.m, "key 'diffusion.shift_logits' missing; assuming false for llada"),
                  "no warning about the missing shift key");
    unload(&l);

    o = base_opts("dream");
    ck_assert_msg(load(&l, &o) != NULL, "%s", l.err);
    hp = llm_model_hparams(l.m);
    ck_assert_int_eq(hp->causal, 0);
    ck_assert_int_eq(hp->rope_neox, 1);
    ck_assert_int_eq(hp->shift_logits, 1);
    ck_assert_int_eq(hp->has_qkv_bias, 1);
    unload(&l);

    /* an explicit key wins over the architecture's default */
    g_x.set_shift = 1;
    g_x.shift_logits = 0;
    ck_assert_msg(load(&l, &o) != NULL, "%s", l.err);
    ck_assert_int_eq(llm_model_hparams(l.m)->shift_logits, 0);
    ck_assert_int_eq(llm_model_n_warnings(l.m), 0);
    unload(&l);

    /* a diffusion architecture that claims causal attention is still run bidirectionally, as
       llama.cpp does, and the contradiction is reported */
    o = base_opts("llada");
    g_x.causal_true = 1;
    ck_assert_msg(load(&l, &o) != NULL, "%s", l.err);
    ck_assert_int_eq(llm_model_hparams(l.m)->causal, 0);
    ck_assert_msg(has_warning(l.m, "key 'llada.attention.causal': true, but llada is a diffusion architecture"),
                  "no warning about the causal key");
    unload(&l);

    /* no mask token: loads, says which key is missing */
    o = base_opts("dream");
    g_x.set_mask = 0;
    ck_assert_msg(load(&l, &o) != NULL, "%s", l.err);
    ck_assert_msg(has_warning(l.m, "key 'tokenizer.ggml.mask_token_id' missing"), "no warning about the mask");
    unload(&l);

    /* a plain llama file is untouched: causal, no shift, no warnings */
    o = base_opts("llama");
    g_x.set_mask = 0;
    ck_assert_msg(load(&l, &o) != NULL, "%s", l.err);
    ck_assert_int_eq(llm_model_hparams(l.m)->causal, 1);
    ck_assert_int_eq(llm_model_hparams(l.m)->shift_logits, 0);
    ck_assert_int_eq(llm_model_n_warnings(l.m), 0);
    unload(&l);
}
END_TEST

START_TEST(test_located_errors)
{
    static const struct {
        const char *arch, *omit, *msg;
    } cases[] = {
        { "dream", "blk.1.attn_k.bias", "tensor 'blk.1.attn_k.bias': missing" },
        { "dream", "blk.0.attn_q.bias", "tensor 'blk.0.attn_q.bias': missing" },
        { "llada", "blk.0.ffn_up.weight", "tensor 'blk.0.ffn_up.weight': missing" },
        { "llada", "output_norm.weight", "tensor 'output_norm.weight': missing" },
        { "llada", "llada.block_count", "key 'llada.block_count': missing" },
        { "dream", "dream.embedding_length", "key 'dream.embedding_length': missing" },
        { "dream", "dream.attention.head_count", "key 'dream.attention.head_count': missing" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        synth_opts o = base_opts(cases[i].arch);
        g_x.omit = cases[i].omit;
        loaded l = { 0 };
        ck_assert_msg(load(&l, &o) == NULL, "%s without %s loaded", cases[i].arch, cases[i].omit);
        ck_assert_msg(strstr(l.err, cases[i].msg), "without %s: '%s' does not say \"%s\"", cases[i].omit, l.err,
                      cases[i].msg);
        free(l.buf);
    }
}
END_TEST

START_TEST(test_causal_calls_refused)
{
    loaded l = { 0 };
    synth_opts o = base_opts(k_archs[_i]);
    ck_assert_msg(load(&l, &o) != NULL, "%s", l.err);
    char err[512];
    llm_ctx *c = llm_ctx_create(l.m, 1, 0, err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    int32_t s, toks[3] = { 1, 2, 4 };
    ck_assert_msg(llm_seq_new(c, &s, err, sizeof err) == 0, "%s", err);
    float *lg = malloc(3 * 40 * sizeof *lg);
    err[0] = 0;
    ck_assert_int_eq(llm_eval(c, s, toks, 3, lg, 1, err, sizeof err), DK_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(err, "bidirectional"), "message '%s'", err);
    ck_assert_int_eq(llm_eval_batch(c, &s, toks, 1, lg, err, sizeof err), DK_ERR_UNSUPPORTED);
    int32_t parents[3] = { -1, 0, 1 };
    ck_assert_int_eq(llm_eval_tree(c, s, toks, parents, 3, lg, err, sizeof err), DK_ERR_UNSUPPORTED);
    ck_assert_uint_eq(llm_seq_len(c, s), 0);
    free(lg);
    llm_ctx_free(c);
    unload(&l);
}
END_TEST

/* ---- through the built plugin --------------------------------------------------------------------- */

struct dk_error {
    int code;
    char msg[512];
};
struct dk_config {
    const char *path;
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
    (void)h, (void)level, (void)fmt;
}

static const char *h_cfg_string(const dk_config *cfg, const char *key)
{
    return strcmp(key, "path") == 0 ? cfg->path : NULL;
}

static int64_t h_cfg_int(const dk_config *cfg, const char *key)
{
    (void)cfg, (void)key;
    return 0;
}

START_TEST(test_plugin_reports_diffusion)
{
    const char *dir = getenv("DECOKIT_PLUGIN_PATH");
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/llama.so", dir && *dir ? dir : "plugins/.libs");
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(lib != NULL, "%s", dlerror());
    void *sym = dlsym(lib, DK_PLUGIN_ENTRY_SYMBOL);
    ck_assert_ptr_nonnull(sym);
    dk_plugin_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry);
    const dk_model_iface *mi = (const dk_model_iface *)(const void *)entry()->components[0];
    dk_host host;
    memset(&host, 0, sizeof host);
    host.struct_size = sizeof host;
    host.abi_major = DK_ABI_MAJOR;
    host.abi_minor = DK_ABI_MINOR;
    host.log = h_log;
    host.set_error = h_set_error;
    host.cfg_int = h_cfg_int;
    host.cfg_string = h_cfg_string;

    synth_opts o = base_opts(k_archs[_i]);
    g_x.mask_token = 6;
    const char *file = _i ? "check_dllm_arch-dream.gguf" : "check_dllm_arch-llada.gguf";
    ck_assert_msg(synth_write_file_ex(file, &o, &g_x, err, sizeof err) == 0, "%s", err);
    dk_config cfg = { file };
    dk_create_info ci;
    memset(&ci, 0, sizeof ci);
    ci.struct_size = sizeof ci;
    ci.config = &cfg;
    ci.n_threads = 1;
    dk_error e = { 0, "" };
    void *inst = NULL;
    ck_assert_msg(mi->create(&host, &ci, &inst, &e) == DK_OK, "%s", e.msg);
    dk_model_info info;
    memset(&info, 0xff, sizeof info);
    info.struct_size = sizeof info;
    ck_assert_int_eq(mi->info(inst, &info), DK_OK);
    ck_assert_uint_eq(info.attention, DK_ATTN_BIDIRECTIONAL);
    ck_assert_int_eq(info.mask, 6);
    ck_assert_int_eq(info.logit_shift, _i); /* dream shifts, llada does not */
    ck_assert_str_eq(info.arch, k_archs[_i]);
    ck_assert_uint_ne(info.caps & DK_MODEL_CAP_MASKED, 0);
    ck_assert_uint_eq(info.caps & (DK_MODEL_CAP_BATCH | DK_MODEL_CAP_TREE | DK_MODEL_CAP_RAGGED), 0);
    dk_seq s;
    ck_assert_msg(mi->seq_new(inst, &s, &e) == DK_OK, "%s", e.msg);
    dk_token toks[2] = { 1, 2 };
    float *lg = malloc(2 * 40 * sizeof *lg);
    ck_assert_int_eq(mi->eval(inst, s, toks, 2, lg, 0, &e), DK_ERR_UNSUPPORTED);
    float *mlg = malloc(2 * 40 * sizeof *mlg);
    ck_assert_msg(mi->eval_masked(inst, toks, 2, mlg, &e) == DK_OK, "%s", e.msg);
    free(mlg);
    free(lg);
    mi->seq_free(inst, s);
    mi->destroy(inst);
    remove(file);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dllm_arch");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_masked_forward_matches_reference, 0, 4);
    tcase_add_test(tc, test_hparams);
    tcase_add_test(tc, test_located_errors);
    tcase_add_loop_test(tc, test_causal_calls_refused, 0, 2);
    tcase_add_loop_test(tc, test_plugin_reports_diffusion, 0, 2);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
