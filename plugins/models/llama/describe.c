/* describe.c -- the human-readable report behind `decokit model info`: hyper-parameters,
   vocabulary, special tokens, tensor types and the memory a context needs. */
#include "describe.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ggml_types.h"
#include "kv.h"
#include "model.h"

/* Writes what fits and counts everything, so one pass both fills the buffer and tells the
   caller how large it must be. */
typedef struct report {
    char *out;
    size_t cap, n;
} report;

static void put(report *r, const char *s, size_t len)
{
    if (r->n < r->cap) {
        size_t k = r->cap - r->n < len ? r->cap - r->n : len;
        memcpy(r->out + r->n, s, k);
    }
    r->n += len;
}

static void line(report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void line(report *r, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (k < 0)
        return;
    size_t len = (size_t)k < sizeof buf - 1 ? (size_t)k : sizeof buf - 2;
    buf[len++] = '\n';
    put(r, buf, len);
}

/* Metadata strings and token texts may hold anything: quote them with C-style escapes and
   cap their length so one line stays one line. */
static void quote(char *dst, size_t cap, const char *s, size_t len)
{
    size_t o = 0;
    if (cap < 8)
        return;
    dst[o++] = '"';
    for (size_t i = 0; i < len && o + 6 < cap; i++) {
        const unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            dst[o++] = '\\';
            dst[o++] = (char)ch;
        } else if (ch == '\n') {
            dst[o++] = '\\';
            dst[o++] = 'n';
        } else if (ch < 0x20 || ch == 0x7f) {
            o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", ch);
        } else {
            dst[o++] = (char)ch;
        }
        if (i + 1 < len && o + 6 >= cap) {
            memcpy(dst + o, "...", 3);
            o += 3;
            break;
        }
    }
    dst[o++] = '"';
    dst[o] = 0;
}

static void human_bytes(char *dst, size_t cap, double b)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    int u = 0;
    while (b >= 1024.0 && u < 4) {
        b /= 1024.0;
        u++;
    }
    snprintf(dst, cap, u ? "%.2f %s" : "%.0f %s", b, units[u]);
}

static void str_key(report *r, const gguf_file *f, const char *key, const char *label)
{
    gguf_str s;
    char q[200];
    if (gguf_get_str(f, key, &s) == 0) {
        quote(q, sizeof q, s.ptr, (size_t)s.len);
        line(r, "%s: %s", label, q);
    } else {
        line(r, "%s: (none)", label);
    }
}

static void special(report *r, const llm_vocab *v, const char *label, int32_t id)
{
    if (id < 0) {
        line(r, "token.%s: (none)", label);
        return;
    }
    size_t len = 0;
    const char *t = llm_token_text(v, id, &len);
    char q[120];
    quote(q, sizeof q, t ? t : "", t ? len : 0);
    line(r, "token.%s: %d %s", label, id, q);
}

static uint64_t n_elements(const gguf_tensor *t)
{
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

size_t llm_describe(const llm_model *m, const llm_vocab *v, int n_ctx, const char *path, char *out, size_t cap)
{
    report r = { out, cap, 0 };
    const gguf_file *f = m->f;
    const llm_hparams *hp = &m->hp;
    char a[64], b[64], q[300];

    if (path) {
        quote(q, sizeof q, path, strlen(path));
        line(&r, "file: %s", q);
    }
    human_bytes(a, sizeof a, (double)f->size);
    line(&r, "file.size: %zu bytes (%s)", f->size, a);
    line(&r, "gguf.version: %u", f->version);
    line(&r, "gguf.metadata_keys: %llu", (unsigned long long)f->n_kv);
    line(&r, "architecture: %s", hp->arch);
    str_key(&r, f, "general.name", "general.name");
    line(&r, "n_ctx_train: %d", hp->n_ctx_train);
    line(&r, "n_ctx: %d", n_ctx);
    line(&r, "n_embd: %d", hp->n_embd);
    line(&r, "n_layer: %d", hp->n_layer);
    line(&r, "n_head: %d", hp->n_head);
    line(&r, "n_head_kv: %d%s", hp->n_head_kv,
         hp->n_head_kv == hp->n_head ? "" : hp->n_head_kv == 1 ? " (MQA)" : " (GQA)");
    line(&r, "head_dim: %d", hp->head_dim);
    line(&r, "n_ff: %d", hp->n_ff);
    line(&r, "n_rot: %d", hp->n_rot);
    line(&r, "rope.type: %s", hp->rope_neox ? "neox" : "normal");
    line(&r, "rope.freq_base: %g", (double)hp->rope_theta);
    line(&r, "rope.freq_scale: %g", (double)hp->rope_freq_scale);
    line(&r, "rms_eps: %g", (double)hp->rms_eps);
    line(&r, "attention: %s", hp->causal ? "causal" : "bidirectional");
    line(&r, "qkv_bias: %s", hp->has_qkv_bias ? "yes" : "no");
    line(&r, "output: %s", hp->tied_output ? "tied to token_embd" : "output.weight");
    /* Lexical Unit Decoding metadata, read back by the lud decoder from these lines. */
    uint32_t lud_u;
    float lud_f;
    if (gguf_get_u32(f, "decokit.lud.placeholder_token_id", &lud_u) == 0)
        line(&r, "decokit.lud.placeholder_token_id: %u", lud_u);
    if (gguf_get_u32(f, "decokit.lud.slots", &lud_u) == 0)
        line(&r, "decokit.lud.slots: %u", lud_u);
    if (gguf_get_f32(f, "decokit.lud.alpha", &lud_f) == 0)
        line(&r, "decokit.lud.alpha: %g", (double)lud_f);

    line(&r, "vocab.size: %d", hp->n_vocab);
    str_key(&r, f, "tokenizer.ggml.model", "tokenizer.model");
    str_key(&r, f, "tokenizer.ggml.pre", "tokenizer.pre");
    if (v) {
        line(&r, "tokenizer.kind: %s", llm_vocab_type(v) == LLM_VOCAB_SPM ? "SentencePiece" : "byte-level BPE");
        if (llm_vocab_type(v) == LLM_VOCAB_BPE)
            line(&r, "tokenizer.pre_in_use: %s", llm_vocab_pre_name(v));
        line(&r, "tokenizer.add_bos: %s", llm_vocab_add_bos(v) ? "yes" : "no");
        line(&r, "tokenizer.add_eos: %s", llm_vocab_add_eos(v) ? "yes" : "no");
        special(&r, v, "bos", llm_vocab_bos(v));
        special(&r, v, "eos", llm_vocab_eos(v));
        special(&r, v, "eot", llm_vocab_eot(v));
        special(&r, v, "unk", llm_vocab_unk(v));
        special(&r, v, "pad", llm_vocab_pad(v));
    } else {
        line(&r, "tokenizer.kind: (none: the file carries no vocabulary)");
    }

    /* Per-type totals, in ggml id order. */
    uint64_t params = 0;
    enum { MAX_TYPE = 64 };
    uint64_t count[MAX_TYPE] = { 0 }, bytes[MAX_TYPE] = { 0 };
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        params += n_elements(t);
        if (t->type < MAX_TYPE) {
            count[t->type]++;
            bytes[t->type] += t->nbytes;
        }
    }
    if (params >= 1000000000ull)
        snprintf(a, sizeof a, "%.2fB", (double)params / 1e9);
    else if (params >= 1000000ull)
        snprintf(a, sizeof a, "%.2fM", (double)params / 1e6);
    else
        snprintf(a, sizeof a, "%.1fK", (double)params / 1e3);
    line(&r, "parameters: %llu (%s)", (unsigned long long)params, a);
    line(&r, "tensors: %llu", (unsigned long long)f->n_tensors);
    for (uint32_t t = 0; t < MAX_TYPE; t++)
        if (count[t]) {
            const ggml_type_traits *tr = ggml_type_get(t);
            human_bytes(a, sizeof a, (double)bytes[t]);
            line(&r, "type %s: %llu tensors, %llu bytes (%s)", tr ? tr->name : "?", (unsigned long long)count[t],
                 (unsigned long long)bytes[t], a);
        }
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        const ggml_type_traits *tr = ggml_type_get(t->type);
        char shape[128];
        int o = snprintf(shape, sizeof shape, "[");
        for (uint32_t d = 0; d < t->n_dims && d < 4; d++)
            o += snprintf(shape + o, sizeof shape - (size_t)o, d ? ", %llu" : "%llu", (unsigned long long)t->ne[d]);
        snprintf(shape + o, sizeof shape - (size_t)o, "]");
        line(&r, "tensor %.*s: %s %s", (int)(t->name.len > 200 ? 200 : t->name.len), t->name.ptr,
             tr ? tr->name : "?", shape);
    }

    /* The cache stores K and V in half precision, in blocks of KV_BLOCK positions. */
    const double per_pos = (double)hp->n_layer * 2.0 * (double)hp->n_head_kv * hp->head_dim * 2.0;
    const double kv_ctx = per_pos * (double)(((int64_t)n_ctx + KV_BLOCK - 1) / KV_BLOCK * KV_BLOCK);
    human_bytes(a, sizeof a, per_pos * 1024.0);
    line(&r, "kv_cache.per_1k_positions: %.0f bytes (%s, F16 K and V)", per_pos * 1024.0, a);
    human_bytes(a, sizeof a, kv_ctx);
    line(&r, "kv_cache.at_n_ctx: %.0f bytes (%s, one sequence of %d positions)", kv_ctx, a, n_ctx);
    human_bytes(b, sizeof b, (double)f->size + kv_ctx);
    line(&r, "memory.resident: about %.0f bytes (%s: the mapped file plus the KV cache at n_ctx)",
         (double)f->size + kv_ctx, b);
    for (int i = 0; i < m->n_warnings; i++)
        line(&r, "warning: %s", m->warnings[i]);
    if (v) {
        const char *w = llm_vocab_warnings(v);
        while (w && *w) {
            const char *e = strchr(w, '\n');
            size_t len = e ? (size_t)(e - w) : strlen(w);
            if (len)
                line(&r, "warning: tokenizer: %.*s", (int)(len > 400 ? 400 : len), w);
            w += len + (e ? 1 : 0);
        }
    }
    return r.n;
}
