/* synth.c -- random-weight llama GGUF writer with standard keys and tensor names. */
#define _POSIX_C_SOURCE 200809L
#include "synth.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/models/llama/ggml_types.h"
#include "../../plugins/models/llama/gguf.h"
#include "../../plugins/models/llama/quant.h"

#define ALIGN 32

typedef struct tensor_plan {
    char name[64];
    int64_t cols, rows; /* rows == 1: a vector */
    uint32_t type;
    uint64_t offset, nbytes;
    float scale, center; /* weights are center + uniform(-scale, scale) */
} tensor_plan;

static uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float uniform(uint64_t *s)
{
    return (float)((next_rand(s) >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

static void w_u32(FILE *f, uint32_t v) { fwrite(&v, 4, 1, f); }
static void w_u64(FILE *f, uint64_t v) { fwrite(&v, 8, 1, f); }
static void w_f32(FILE *f, float v) { fwrite(&v, 4, 1, f); }

static void w_str(FILE *f, const char *s)
{
    w_u64(f, strlen(s));
    fwrite(s, 1, strlen(s), f);
}

static void kv_u32(FILE *f, const char *key, uint32_t v)
{
    w_str(f, key);
    w_u32(f, GGUF_T_U32);
    w_u32(f, v);
}

static void kv_f32(FILE *f, const char *key, float v)
{
    w_str(f, key);
    w_u32(f, GGUF_T_F32);
    w_f32(f, v);
}

static void kv_str(FILE *f, const char *key, const char *v)
{
    w_str(f, key);
    w_u32(f, GGUF_T_STR);
    w_str(f, v);
}

static void kv_bool(FILE *f, const char *key, int v)
{
    uint8_t b = (uint8_t)(v != 0);
    w_str(f, key);
    w_u32(f, GGUF_T_BOOL);
    fwrite(&b, 1, 1, f);
}

/* Byte length of a value whose bytes start at p (already bounds-checked by the reader). */
static size_t value_len(uint32_t type, const uint8_t *p)
{
    size_t sz = gguf_type_size(type);
    if (sz)
        return sz;
    if (type == GGUF_T_STR) {
        uint64_t n;
        memcpy(&n, p, 8);
        return 8 + (size_t)n;
    }
    return 0;
}

/* Copies a key-value pair verbatim (arrays: header rebuilt, elements copied). */
static void kv_copy(FILE *f, const gguf_kv *kv)
{
    w_u64(f, kv->key.len);
    fwrite(kv->key.ptr, 1, (size_t)kv->key.len, f);
    w_u32(f, kv->type);
    if (kv->type != GGUF_T_ARR) {
        fwrite(kv->data, 1, value_len(kv->type, kv->data), f);
        return;
    }
    w_u32(f, kv->arr_type);
    w_u64(f, kv->arr_n);
    const uint8_t *p = kv->data;
    for (uint64_t i = 0; i < kv->arr_n; i++)
        p += value_len(kv->arr_type, p);
    fwrite(kv->data, 1, (size_t)(p - kv->data), f);
}

static uint32_t pick_type(uint32_t want, int64_t cols)
{
    const ggml_type_traits *t = ggml_type_get(want);
    if (t && cols % t->block_elems == 0)
        return want;
    return GGML_TYPE_F16;
}

static int add_plan(tensor_plan *p, int *n, const char *name, int64_t cols, int64_t rows, uint32_t type,
                    float scale, float center)
{
    tensor_plan *t = &p[(*n)++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->cols = cols;
    t->rows = rows;
    t->type = rows == 1 ? GGML_TYPE_F32 : pick_type(type, cols);
    t->nbytes = quant_row_bytes(t->type, cols) * (uint64_t)rows;
    t->scale = scale;
    t->center = center;
    return 0;
}

int synth_write(FILE *out, const synth_opts *o, char *err, size_t errlen)
{
    return synth_write_ex(out, o, NULL, err, errlen);
}

int synth_write_ex(FILE *out, const synth_opts *o0, const synth_extra *x0, char *err, size_t errlen)
{
    synth_opts o = *o0;
    const synth_extra none = { 0, 0, 0, 0, 0, NULL }, x = x0 ? *x0 : none;
    const char *arch = o.arch ? o.arch : "llama";
    /* dream is qwen2's graph (Q/K/V biases), llada llama's */
    int qwen = strcmp(arch, "qwen2") == 0 || strcmp(arch, "dream") == 0;
    if (!qwen && strcmp(arch, "llama") != 0 && strcmp(arch, "llada") != 0) {
        gguf_errf(err, errlen, "arch '%s' is not supported (llama, qwen2, llada, dream)", arch);
        return -1;
    }
    if (!quant_supported(o.type)) {
        gguf_errf(err, errlen, "tensor type %u is not supported", o.type);
        return -1;
    }
    if (o.n_head_kv <= 0)
        o.n_head_kv = o.n_head;
    if (o.n_embd <= 0 || o.n_layer <= 0 || o.n_head <= 0 || o.n_ff <= 0 || o.n_embd % o.n_head ||
        o.n_head % o.n_head_kv || (o.n_embd / o.n_head) % 2) {
        gguf_errf(err, errlen, "inconsistent dimensions (embd %d, heads %d/%d, ffn %d, layers %d)", o.n_embd, o.n_head,
                o.n_head_kv, o.n_ff, o.n_layer);
        return -1;
    }
    gguf_file *vf = NULL;
    if (o.vocab_path) {
        char inner[300];
        vf = gguf_open(o.vocab_path, inner, sizeof inner);
        if (!vf) {
            gguf_errf(err, errlen, "vocabulary: %s", inner);
            return -1;
        }
        const gguf_kv *tk = gguf_find(vf, "tokenizer.ggml.tokens");
        if (!tk || tk->type != GGUF_T_ARR) {
            gguf_errf(err, errlen, "vocabulary: %s has no tokenizer.ggml.tokens", o.vocab_path);
            gguf_close(vf);
            return -1;
        }
        o.n_vocab = (int)tk->arr_n;
    }
    if (o.n_vocab <= 0) {
        gguf_errf(err, errlen, "vocabulary size must be positive");
        gguf_close(vf);
        return -1;
    }
    if (o.n_ctx <= 0)
        o.n_ctx = 512;
    const int hd = o.n_embd / o.n_head, kvd = hd * o.n_head_kv, bias = qwen || o.qkv_bias;
    const int max_t = 3 + o.n_layer * 12;
    tensor_plan *plan = calloc((size_t)max_t, sizeof *plan);
    if (!plan) {
        gguf_close(vf);
        gguf_errf(err, errlen, "out of memory");
        return -1;
    }
    int nt = 0;
    const float sd = 1.0f / sqrtf((float)o.n_embd), sf = 1.0f / sqrtf((float)o.n_ff);
    add_plan(plan, &nt, "token_embd.weight", o.n_embd, o.n_vocab, o.type, 1.0f, 0);
    add_plan(plan, &nt, "output_norm.weight", o.n_embd, 1, 0, 0.1f, 1.0f);
    if (!o.tied)
        add_plan(plan, &nt, "output.weight", o.n_embd, o.n_vocab, o.type, sd, 0);
    for (int l = 0; l < o.n_layer; l++) {
        char nm[64];
#define P(suffix, cols, rows, sc, ce)                                     \
        snprintf(nm, sizeof nm, "blk.%d.%s", l, suffix);                  \
        add_plan(plan, &nt, nm, cols, rows, o.type, sc, ce)
        P("attn_norm.weight", o.n_embd, 1, 0.1f, 1.0f);
        P("attn_q.weight", o.n_embd, o.n_embd, 2 * sd, 0);
        P("attn_k.weight", o.n_embd, kvd, 2 * sd, 0);
        P("attn_v.weight", o.n_embd, kvd, sd, 0);
        if (bias) {
            P("attn_q.bias", o.n_embd, 1, 0.1f, 0);
            P("attn_k.bias", kvd, 1, 0.1f, 0);
            P("attn_v.bias", kvd, 1, 0.1f, 0);
        }
        P("attn_output.weight", o.n_embd, o.n_embd, sd, 0);
        P("ffn_norm.weight", o.n_embd, 1, 0.1f, 1.0f);
        P("ffn_gate.weight", o.n_embd, o.n_ff, sd, 0);
        P("ffn_up.weight", o.n_embd, o.n_ff, sd, 0);
        P("ffn_down.weight", o.n_ff, o.n_embd, sf, 0);
#undef P
    }
    if (x.omit) { /* drop the named tensor from the plan */
        int k = 0;
        for (int i = 0; i < nt; i++)
            if (strcmp(plan[i].name, x.omit) != 0)
                plan[k++] = plan[i];
        nt = k;
    }
    uint64_t off = 0;
    for (int i = 0; i < nt; i++) {
        plan[i].offset = off;
        off += (plan[i].nbytes + ALIGN - 1) / ALIGN * ALIGN;
    }

    /* The key-value section goes to memory first: the count precedes it and omit may drop a key. */
    char *kvbuf = NULL;
    size_t kvlen = 0;
    FILE *kf = open_memstream(&kvbuf, &kvlen);
    if (!kf) {
        gguf_close(vf);
        free(plan);
        gguf_errf(err, errlen, "open_memstream failed");
        return -1;
    }
    uint64_t n_kv = 0;
    char key[96];
#define KEEP(k) ((!x.omit || strcmp(x.omit, (k)) != 0) && ++n_kv)
#define K(suffix) (snprintf(key, sizeof key, "%s.%s", arch, suffix), key)
#define KU32(k, v) do { const char *k_ = (k); if (KEEP(k_)) kv_u32(kf, k_, (v)); } while (0)
#define KF32(k, v) do { const char *k_ = (k); if (KEEP(k_)) kv_f32(kf, k_, (v)); } while (0)
#define KBOOL(k, v) do { const char *k_ = (k); if (KEEP(k_)) kv_bool(kf, k_, (v)); } while (0)
    if (KEEP("general.architecture"))
        kv_str(kf, "general.architecture", arch);
    if (KEEP("general.name"))
        kv_str(kf, "general.name", "decokit synthetic");
    KU32(K("context_length"), (uint32_t)o.n_ctx);
    KU32(K("embedding_length"), (uint32_t)o.n_embd);
    KU32(K("block_count"), (uint32_t)o.n_layer);
    KU32(K("feed_forward_length"), (uint32_t)o.n_ff);
    KU32(K("rope.dimension_count"), (uint32_t)hd);
    KU32(K("attention.head_count"), (uint32_t)o.n_head);
    KU32(K("attention.head_count_kv"), (uint32_t)o.n_head_kv);
    KF32(K("attention.layer_norm_rms_epsilon"), o.rms_eps > 0 ? o.rms_eps : 1e-5f);
    KF32(K("rope.freq_base"), o.rope_theta > 0 ? o.rope_theta : 10000.0f);
    KU32("general.quantization_version", 2);
    if (o.non_causal || x.causal_true)
        KBOOL(K("attention.causal"), x.causal_true);
    if (x.set_shift)
        KBOOL("diffusion.shift_logits", x.shift_logits);
    if (x.set_mask)
        KU32("tokenizer.ggml.mask_token_id", (uint32_t)x.mask_token);
#undef K
#undef KU32
#undef KF32
#undef KBOOL
    if (vf)
        for (uint64_t i = 0; i < vf->n_kv; i++)
            if (vf->kv[i].key.len > 10 && memcmp(vf->kv[i].key.ptr, "tokenizer.", 10) == 0 &&
                !(x.set_mask && gguf_str_eq(vf->kv[i].key, "tokenizer.ggml.mask_token_id"))) {
                n_kv++;
                kv_copy(kf, &vf->kv[i]);
            }
#undef KEEP
    gguf_close(vf);
    if (fclose(kf) != 0) {
        free(kvbuf);
        free(plan);
        gguf_errf(err, errlen, "out of memory");
        return -1;
    }
    fwrite("GGUF", 1, 4, out);
    w_u32(out, 3);
    w_u64(out, (uint64_t)nt);
    w_u64(out, n_kv);
    fwrite(kvbuf, 1, kvlen, out);
    free(kvbuf);
    for (int i = 0; i < nt; i++) {
        w_str(out, plan[i].name);
        w_u32(out, 1 + (plan[i].rows > 1));
        w_u64(out, (uint64_t)plan[i].cols);
        if (plan[i].rows > 1)
            w_u64(out, (uint64_t)plan[i].rows);
        w_u32(out, plan[i].type);
        w_u64(out, plan[i].offset);
    }
    long pos = ftell(out);
    static const uint8_t zeros[ALIGN] = { 0 };
    if (pos >= 0 && pos % ALIGN)
        fwrite(zeros, 1, (size_t)(ALIGN - pos % ALIGN), out);

    float *row = malloc((size_t)(o.n_embd > o.n_ff ? o.n_embd : o.n_ff) * sizeof *row);
    uint8_t *q = malloc((size_t)(o.n_embd > o.n_ff ? o.n_embd : o.n_ff) * 4 + 64);
    if (!row || !q) {
        free(row);
        free(q);
        free(plan);
        gguf_errf(err, errlen, "out of memory");
        return -1;
    }
    uint64_t rng = o.seed ^ 0x5eed5eedull;
    for (int i = 0; i < nt; i++) {
        const tensor_plan *t = &plan[i];
        for (int64_t r = 0; r < t->rows; r++) {
            for (int64_t c = 0; c < t->cols; c++)
                row[c] = t->center + t->scale * uniform(&rng);
            size_t nb = quant_quantize_row(t->type, row, q, t->cols);
            fwrite(q, 1, nb, out);
        }
        if (t->nbytes % ALIGN)
            fwrite(zeros, 1, (size_t)(ALIGN - t->nbytes % ALIGN), out);
    }
    free(row);
    free(q);
    free(plan);
    if (ferror(out)) {
        gguf_errf(err, errlen, "write error");
        return -1;
    }
    return 0;
}

int synth_write_file(const char *path, const synth_opts *o, char *err, size_t errlen)
{
    return synth_write_file_ex(path, o, NULL, err, errlen);
}

int synth_write_file_ex(const char *path, const synth_opts *o, const synth_extra *x, char *err, size_t errlen)
{
    /* Written beside the target and renamed only when complete, so bad
     * options or a failed write leave no empty or partial model behind. */
    size_t n = strlen(path) + sizeof ".part";
    char *part = malloc(n);
    if (!part) {
        gguf_errf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(part, n, "%s.part", path);
    FILE *f = fopen(part, "wb");
    if (!f) {
        gguf_errf(err, errlen, "%s: cannot open for writing: %s", part, strerror(errno));
        free(part);
        return -1;
    }
    int rc = synth_write_ex(f, o, x, err, errlen);
    if (fclose(f) != 0 && rc == 0) {
        gguf_errf(err, errlen, "%s: write error", path);
        rc = -1;
    }
    if (rc == 0 && rename(part, path) != 0) {
        gguf_errf(err, errlen, "%s: cannot rename %s into place: %s", path, part, strerror(errno));
        rc = -1;
    }
    if (rc)
        remove(part);
    free(part);
    return rc;
}

int synth_write_memory(const synth_opts *o, uint8_t **buf, size_t *size, char *err, size_t errlen)
{
    return synth_write_memory_ex(o, NULL, buf, size, err, errlen);
}

int synth_write_memory_ex(const synth_opts *o, const synth_extra *x, uint8_t **buf, size_t *size, char *err,
                          size_t errlen)
{
    char *p = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&p, &n);
    if (!f) {
        gguf_errf(err, errlen, "open_memstream failed");
        return -1;
    }
    int rc = synth_write_ex(f, o, x, err, errlen);
    fclose(f);
    if (rc) {
        free(p);
        return -1;
    }
    *buf = (uint8_t *)p;
    *size = n;
    return 0;
}
