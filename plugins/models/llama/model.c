/* model.c -- reads llama-family hyper-parameters and weights from a GGUF file. */
#include "model.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decokit/plugin.h"
#include "quant.h"

static void warn(llm_model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warn(llm_model *m, const char *fmt, ...)
{
    if (m->n_warnings >= LLM_MAX_WARNINGS)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->warnings[m->n_warnings++], sizeof m->warnings[0], fmt, ap);
    va_end(ap);
}

/* Architectures whose graph is the llama block (optionally with Q/K/V biases), with the RoPE
   pairing the reference implementation uses for them. The diffusion LMs attend bidirectionally
   whatever <arch>.attention.causal says; Dream (qwen2's graph, AR-initialised) shifts its logits
   and needs the biases, LLaDA (llama's graph) predicts in place. */
static const struct {
    const char *name;
    int neox, diffusion, shift, qkv_bias;
} k_archs[] = {
    { "llama", 0, 0, 0, 0 }, { "mistral", 0, 0, 0, 0 }, { "qwen2", 1, 0, 0, 0 },
    { "llada", 0, 1, 0, 0 }, { "dream", 1, 1, 1, 1 },
};

static int arch_index(const char *name)
{
    for (size_t i = 0; i < sizeof k_archs / sizeof k_archs[0]; i++)
        if (!strcmp(k_archs[i].name, name))
            return (int)i;
    return 0;
}

static int get_u32_key(const gguf_file *f, const char *arch, const char *suffix, uint32_t *out,
                       int required, char *err, size_t errlen)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int rc = gguf_get_u32(f, key, out);
    if (rc == -2 || (rc == -1 && required)) {
        gguf_errf(err, errlen, "key '%s': %s", key, rc == -1 ? "missing" : "not an unsigned 32-bit integer");
        return -1;
    }
    return rc == 0 ? 1 : 0;
}

static int get_f32_key(const gguf_file *f, const char *arch, const char *suffix, float *out,
                       char *err, size_t errlen)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int rc = gguf_get_f32(f, key, out);
    if (rc == -2) {
        gguf_errf(err, errlen, "key '%s': not a float", key);
        return -1;
    }
    return rc == 0;
}

/* Checks a tensor exists with the given shape and a type the engine computes with. */
static int bind_weight(const gguf_file *f, const char *name, int64_t cols, int64_t rows, llm_weight *w,
                       char *err, size_t errlen)
{
    const gguf_tensor *t = gguf_find_tensor(f, name);
    if (!t) {
        gguf_errf(err, errlen, "tensor '%s': missing", name);
        return -1;
    }
    if (t->ne[0] != (uint64_t)cols || t->ne[1] != (uint64_t)rows || t->ne[2] != 1 || t->ne[3] != 1) {
        gguf_errf(err, errlen, "tensor '%s': shape [%llu, %llu, %llu, %llu], expected [%lld, %lld]", name,
                (unsigned long long)t->ne[0], (unsigned long long)t->ne[1], (unsigned long long)t->ne[2],
                (unsigned long long)t->ne[3], (long long)cols, (long long)rows);
        return -1;
    }
    if (!quant_supported(t->type)) {
        const ggml_type_traits *tr = ggml_type_get(t->type);
        gguf_errf(err, errlen, "tensor '%s': type %s is not supported (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K)",
                name, tr ? tr->name : "?");
        return -1;
    }
    w->data = t->data;
    w->type = t->type;
    w->rows = rows;
    w->cols = cols;
    w->row_bytes = quant_row_bytes(t->type, cols);
    return 0;
}

/* A 1-D tensor converted to an owned float array; *out stays NULL when absent and optional. */
static int load_vector(const gguf_file *f, const char *name, int64_t n, int required, float **out,
                       char *err, size_t errlen)
{
    const gguf_tensor *t = gguf_find_tensor(f, name);
    *out = NULL;
    if (!t) {
        if (required)
            gguf_errf(err, errlen, "tensor '%s': missing", name);
        return required ? -1 : 0;
    }
    if (t->ne[0] != (uint64_t)n || t->ne[1] != 1 || t->ne[2] != 1 || t->ne[3] != 1) {
        gguf_errf(err, errlen, "tensor '%s': shape [%llu, %llu], expected [%lld]", name,
                (unsigned long long)t->ne[0], (unsigned long long)t->ne[1], (long long)n);
        return -1;
    }
    if (!quant_supported(t->type)) {
        gguf_errf(err, errlen, "tensor '%s': unsupported type %u", name, t->type);
        return -1;
    }
    *out = malloc((size_t)n * sizeof **out);
    if (!*out) {
        gguf_errf(err, errlen, "out of memory");
        return -1;
    }
    quant_dequant_row(t->type, t->data, *out, n);
    return 0;
}

static int read_hparams(llm_model *m, char *err, size_t errlen)
{
    const gguf_file *f = m->f;
    llm_hparams *hp = &m->hp;
    gguf_str arch;
    if (gguf_get_str(f, "general.architecture", &arch) != 0) {
        gguf_errf(err, errlen, "key 'general.architecture': missing or not a string");
        return -1;
    }
    int found = -1;
    for (size_t i = 0; i < sizeof k_archs / sizeof k_archs[0]; i++)
        if (gguf_str_eq(arch, k_archs[i].name))
            found = (int)i;
    if (found < 0) {
        gguf_errf(err, errlen, "key 'general.architecture': '%.*s' is not supported (llama, mistral, qwen2, llada, dream)",
                (int)(arch.len > 40 ? 40 : arch.len), arch.ptr);
        return -1;
    }
    snprintf(hp->arch, sizeof hp->arch, "%s", k_archs[found].name);
    hp->rope_neox = k_archs[found].neox;
    const char *a = hp->arch;

    uint32_t v, n_embd, n_layer, n_head, n_head_kv = 0, n_ff;
    if (get_u32_key(f, a, "embedding_length", &n_embd, 1, err, errlen) < 0 ||
        get_u32_key(f, a, "block_count", &n_layer, 1, err, errlen) < 0 ||
        get_u32_key(f, a, "attention.head_count", &n_head, 1, err, errlen) < 0 ||
        get_u32_key(f, a, "feed_forward_length", &n_ff, 1, err, errlen) < 0)
        return -1;
    int rc = get_u32_key(f, a, "attention.head_count_kv", &n_head_kv, 0, err, errlen);
    if (rc < 0)
        return -1;
    if (rc == 0)
        n_head_kv = n_head;
    /* Bounds keep every later size computation far from overflow. */
    if (n_embd == 0 || n_embd > 65536 || n_layer == 0 || n_layer > 512 || n_head == 0 ||
        n_head > 1024 || n_ff == 0 || n_ff > 1 << 20) {
        gguf_errf(err, errlen, "key '%s.embedding_length/block_count/head_count/feed_forward_length': "
                "implausible values %u/%u/%u/%u", a, n_embd, n_layer, n_head, n_ff);
        return -1;
    }
    if (n_head_kv == 0 || n_head % n_head_kv != 0) {
        gguf_errf(err, errlen, "key '%s.attention.head_count_kv': %u does not divide head_count %u", a,
                n_head_kv, n_head);
        return -1;
    }
    uint32_t head_dim = n_embd / n_head;
    rc = get_u32_key(f, a, "attention.key_length", &v, 0, err, errlen);
    if (rc < 0)
        return -1;
    if (rc == 1)
        head_dim = v;
    if (head_dim == 0 || head_dim > 1024 || head_dim % 2 != 0) {
        gguf_errf(err, errlen, "key '%s.attention.key_length': head dimension %u is not a positive even number", a,
                head_dim);
        return -1;
    }
    if (get_u32_key(f, a, "attention.value_length", &v, 0, err, errlen) == 1 && v != head_dim) {
        gguf_errf(err, errlen, "key '%s.attention.value_length': %u differs from key_length %u (unsupported)", a, v,
                head_dim);
        return -1;
    }
    uint32_t n_rot = head_dim;
    rc = get_u32_key(f, a, "rope.dimension_count", &v, 0, err, errlen);
    if (rc < 0)
        return -1;
    if (rc == 1)
        n_rot = v;
    if (n_rot == 0 || n_rot > head_dim || n_rot % 2) {
        gguf_errf(err, errlen, "key '%s.rope.dimension_count': %u is not an even number <= head dim %u", a, n_rot,
                head_dim);
        return -1;
    }
    uint32_t n_ctx = 2048;
    rc = get_u32_key(f, a, "context_length", &v, 0, err, errlen);
    if (rc < 0)
        return -1;
    if (rc == 1)
        n_ctx = v;
    else
        warn(m, "key '%s.context_length' missing; assuming %u", a, n_ctx);
    if (n_ctx == 0 || n_ctx > (1u << 24)) {
        gguf_errf(err, errlen, "key '%s.context_length': %u is out of range", a, n_ctx);
        return -1;
    }
    float theta = 10000.0f, eps = 1e-5f, scale = 1.0f;
    if (get_f32_key(f, a, "rope.freq_base", &theta, err, errlen) < 0 ||
        get_f32_key(f, a, "attention.layer_norm_rms_epsilon", &eps, err, errlen) < 0 ||
        get_f32_key(f, a, "rope.scaling.factor", &scale, err, errlen) < 0)
        return -1;
    if (!(theta > 0) || !(eps > 0) || !(eps < 1) || !(scale > 0) || !isfinite(theta)) {
        gguf_errf(err, errlen, "key '%s.rope.freq_base/layer_norm_rms_epsilon/rope.scaling.factor': out of range", a);
        return -1;
    }
    gguf_str st;
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    if (gguf_get_str(f, key, &st) == 0 && !gguf_str_eq(st, "linear") && !gguf_str_eq(st, "none")) {
        gguf_errf(err, errlen, "key '%s': rope scaling '%.*s' is not supported (linear, none)", key,
                (int)(st.len > 20 ? 20 : st.len), st.ptr);
        return -1;
    }
    int causal = 1, shift = k_archs[found].shift;
    snprintf(key, sizeof key, "%s.attention.causal", a);
    rc = gguf_get_bool(f, key, &causal);
    if (rc == -2) {
        gguf_errf(err, errlen, "key '%s': not a bool", key);
        return -1;
    }
    if (k_archs[found].diffusion) {
        if (rc == 0 && causal)
            warn(m, "key '%s': true, but %s is a diffusion architecture; attending bidirectionally", key, a);
        causal = 0;
    }
    rc = gguf_get_bool(f, "diffusion.shift_logits", &shift);
    if (rc == -2) {
        gguf_errf(err, errlen, "key 'diffusion.shift_logits': not a bool");
        return -1;
    }
    if (rc == -1 && k_archs[found].diffusion)
        warn(m, "key 'diffusion.shift_logits' missing; assuming %s for %s", shift ? "true" : "false", a);
    hp->n_embd = (int32_t)n_embd;
    hp->n_layer = (int32_t)n_layer;
    hp->n_head = (int32_t)n_head;
    hp->n_head_kv = (int32_t)n_head_kv;
    hp->head_dim = (int32_t)head_dim;
    hp->n_ff = (int32_t)n_ff;
    hp->n_rot = (int32_t)n_rot;
    hp->n_ctx_train = (int32_t)n_ctx;
    hp->rope_theta = theta;
    hp->rope_freq_scale = 1.0f / scale;
    hp->rms_eps = eps;
    hp->causal = causal;
    hp->shift_logits = shift;
    return 0;
}

/* Special-token ids that point outside the vocabulary are treated as absent, as the
   reference implementation does, but reported. */
static void check_special_ids(llm_model *m)
{
    static const char *const keys[] = { "bos", "eos", "unknown", "seperator", "separator", "padding",
                                        "eot", "eom", "mask", "cls" };
    char key[96];
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        uint32_t v;
        snprintf(key, sizeof key, "tokenizer.ggml.%s_token_id", keys[i]);
        if (gguf_get_u32(m->f, key, &v) == 0 && (int64_t)v >= m->hp.n_vocab)
            warn(m, "key '%s': id %u is outside the vocabulary (%d tokens); ignored", key, v, m->hp.n_vocab);
    }
}

static int load_weights(llm_model *m, char *err, size_t errlen)
{
    const gguf_file *f = m->f;
    llm_hparams *hp = &m->hp;
    const gguf_tensor *te = gguf_find_tensor(f, "token_embd.weight");
    if (!te) {
        gguf_errf(err, errlen, "tensor 'token_embd.weight': missing");
        return -1;
    }
    if (te->ne[1] == 0 || te->ne[1] > (1u << 24)) {
        gguf_errf(err, errlen, "tensor 'token_embd.weight': vocabulary size %llu out of range",
                (unsigned long long)te->ne[1]);
        return -1;
    }
    hp->n_vocab = (int32_t)te->ne[1];
    const int64_t d = hp->n_embd, hd = hp->head_dim, q_dim = (int64_t)hp->n_head * hd,
                  kv_dim = (int64_t)hp->n_head_kv * hd;
    if (bind_weight(f, "token_embd.weight", d, hp->n_vocab, &m->tok_embd, err, errlen))
        return -1;
    if (gguf_find_tensor(f, "output.weight")) {
        if (bind_weight(f, "output.weight", d, hp->n_vocab, &m->output, err, errlen))
            return -1;
    } else {
        m->output = m->tok_embd;
        hp->tied_output = 1;
    }
    if (load_vector(f, "output_norm.weight", d, 1, &m->output_norm, err, errlen))
        return -1;
    if (load_vector(f, "rope_freqs.weight", hp->n_rot / 2, 0, &m->rope_freq_factors, err, errlen))
        return -1;
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) {
        gguf_errf(err, errlen, "out of memory");
        return -1;
    }
    char name[96];
#define W(field, suffix, cols, rows)                                                   \
    do {                                                                               \
        snprintf(name, sizeof name, "blk.%d." suffix ".weight", l);                    \
        if (bind_weight(f, name, cols, rows, &L->field, err, errlen))                  \
            return -1;                                                                 \
    } while (0)
#define V(field, suffix, n, req)                                                       \
    do {                                                                               \
        snprintf(name, sizeof name, "blk.%d." suffix, l);                              \
        if (load_vector(f, name, n, req, &L->field, err, errlen))                      \
            return -1;                                                                 \
    } while (0)
    for (int l = 0; l < hp->n_layer; l++) {
        llm_layer *L = &m->layers[l];
        W(wq, "attn_q", d, q_dim);
        W(wk, "attn_k", d, kv_dim);
        W(wv, "attn_v", d, kv_dim);
        W(wo, "attn_output", q_dim, d);
        W(wgate, "ffn_gate", d, hp->n_ff);
        W(wup, "ffn_up", d, hp->n_ff);
        W(wdown, "ffn_down", hp->n_ff, d);
        V(attn_norm, "attn_norm.weight", d, 1);
        V(ffn_norm, "ffn_norm.weight", d, 1);
        const int need_bias = k_archs[arch_index(hp->arch)].qkv_bias;
        V(bq, "attn_q.bias", q_dim, need_bias);
        V(bk, "attn_k.bias", kv_dim, need_bias);
        V(bv, "attn_v.bias", kv_dim, need_bias);
        if (L->bq || L->bk || L->bv)
            hp->has_qkv_bias = 1;
    }
#undef W
#undef V
    check_special_ids(m);
    uint32_t mask;
    if (k_archs[arch_index(hp->arch)].diffusion && gguf_get_u32(f, "tokenizer.ggml.mask_token_id", &mask) != 0)
        warn(m, "key 'tokenizer.ggml.mask_token_id' missing: no diffusion decoder can run this %s model", hp->arch);
    return 0;
}

llm_model *llm_model_from_gguf(gguf_file *f, char *err, size_t errlen)
{
    llm_model *m = calloc(1, sizeof *m);
    if (!m) {
        gguf_close(f);
        gguf_errf(err, errlen, "out of memory");
        return NULL;
    }
    m->f = f;
    for (int i = 0; i < f->n_warnings; i++)
        warn(m, "%s", f->warnings[i]);
    if (read_hparams(m, err, errlen) || load_weights(m, err, errlen)) {
        llm_model_free(m);
        return NULL;
    }
    return m;
}

llm_model *llm_model_load(const char *path, char *err, size_t errlen)
{
    gguf_file *f = gguf_open(path, err, errlen);
    if (!f)
        return NULL;
    char inner[300];
    llm_model *m = llm_model_from_gguf(f, inner, sizeof inner);
    if (!m)
        gguf_errf(err, errlen, "%s: %s", path, inner);
    return m;
}

void llm_model_free(llm_model *m)
{
    if (!m)
        return;
    if (m->layers)
        for (int l = 0; l < m->hp.n_layer; l++) {
            llm_layer *L = &m->layers[l];
            free(L->attn_norm);
            free(L->ffn_norm);
            free(L->bq);
            free(L->bk);
            free(L->bv);
        }
    free(m->layers);
    free(m->output_norm);
    free(m->rope_freq_factors);
    gguf_close(m->f);
    free(m);
}

const llm_hparams *llm_model_hparams(const llm_model *m)
{
    return &m->hp;
}

const gguf_file *llm_model_gguf(const llm_model *m)
{
    return m->f;
}

int llm_model_n_warnings(const llm_model *m)
{
    return m->n_warnings;
}

const char *llm_model_warning(const llm_model *m, int i)
{
    return i >= 0 && i < m->n_warnings ? m->warnings[i] : NULL;
}
