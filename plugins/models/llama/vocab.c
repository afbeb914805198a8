/* vocab.c -- builds a vocabulary from GGUF tokenizer metadata; tokenize / detokenize entry points. */
#include "vocab.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "tokenizer.h"

int llm_tokbuf_push(llm_tokbuf *b, int32_t id)
{
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 64;
        int32_t *nv = realloc(b->v, nc * sizeof(*nv));
        if (!nv)
            return -1;
        b->v = nv;
        b->cap = nc;
    }
    b->v[b->n++] = id;
    return 0;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void warn(llm_vocab *v, const char *fmt, ...)
{
    size_t used = strlen(v->warn);
    if (used + 2 >= sizeof(v->warn))
        return;
    if (used)
        v->warn[used++] = '\n';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->warn + used, sizeof(v->warn) - used, fmt, ap);
    va_end(ap);
}

/* ---- byte-level BPE byte <-> code point mapping ---- */

/* Printable bytes stand for themselves; the 68 others are moved to U+0100.. in byte order. */
uint32_t llm_byte_to_cp(uint8_t b)
{
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174)
        return b;
    if (b <= 32)
        return 256u + b;
    if (b <= 160)
        return 256u + 33 + (b - 127u);
    return 256u + 67; /* 173 */
}

int llm_cp_to_byte(uint32_t cp)
{
    if ((cp >= 33 && cp <= 126) || (cp >= 161 && cp <= 172) || (cp >= 174 && cp <= 255))
        return (int)cp;
    if (cp >= 256 && cp <= 288)
        return (int)(cp - 256);
    if (cp >= 289 && cp <= 322)
        return (int)(cp - 289 + 127);
    if (cp == 323)
        return 173;
    return -1;
}

/* ---- hash tables ---- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

int32_t llm_vocab_lookup(const llm_vocab *v, const char *s, size_t len)
{
    uint64_t h = XXH3_64bits(s, len);
    uint32_t h32 = (uint32_t)(h >> 32);
    for (size_t i = h & v->tab_mask;; i = (i + 1) & v->tab_mask) {
        int32_t id = v->tab[i];
        if (id < 0)
            return -1;
        if (v->tab_hash[i] == h32 && v->text_len[id] == len && memcmp(v->text + v->text_off[id], s, len) == 0)
            return id;
    }
}

/* Later duplicates replace earlier ones, except that a normal token is never displaced by a
   special one: byte-level vocabularies repeat some byte characters as user-defined tokens, and the
   byte mapping and merges must keep using the normal ones (user-defined texts are matched before
   the tokenizer runs anyway). */
static void tab_insert(llm_vocab *v, int32_t id)
{
    const char *s = v->text + v->text_off[id];
    size_t len = v->text_len[id];
    uint64_t h = XXH3_64bits(s, len);
    uint32_t h32 = (uint32_t)(h >> 32);
    size_t i = h & v->tab_mask;
    for (;; i = (i + 1) & v->tab_mask) {
        int32_t o = v->tab[i];
        if (o < 0)
            break;
        if (v->tab_hash[i] == h32 && v->text_len[o] == len && memcmp(v->text + v->text_off[o], s, len) == 0) {
            if ((v->attr[o] & LLM_TOKEN_ATTR_NORMAL) && !(v->attr[id] & LLM_TOKEN_ATTR_NORMAL))
                return;
            break;
        }
    }
    v->tab[i] = id;
    v->tab_hash[i] = h32;
}

int32_t llm_merge_rank(const llm_vocab *v, int32_t left, int32_t right, int32_t *result)
{
    if (!v->mkey)
        return -1;
    uint64_t key = ((uint64_t)(uint32_t)(left + 1) << 32) | (uint32_t)(right + 1);
    for (size_t i = mix64(key) & v->m_mask;; i = (i + 1) & v->m_mask) {
        if (v->mkey[i] == 0)
            return -1;
        if (v->mkey[i] == key) {
            *result = v->mres[i];
            return v->mrank[i];
        }
    }
}

static int load_merges(llm_vocab *v, const gguf_file *f, char *err, size_t errlen)
{
    gguf_str *m = NULL;
    uint64_t nm = 0;
    int r = gguf_get_str_array(f, "tokenizer.ggml.merges", &m, &nm);
    if (r != 0) {
        set_err(err, errlen, "tokenizer.ggml.merges: %s", r == -1 ? "missing (required by gpt2 tokenizers)" : "not a string array");
        return -1;
    }
    if (nm > INT32_MAX) {
        free(m);
        set_err(err, errlen, "tokenizer.ggml.merges: too many entries");
        return -1;
    }
    size_t cap = 16;
    while (cap < 2 * nm + 2)
        cap *= 2;
    v->m_mask = cap - 1;
    v->mkey = calloc(cap, sizeof(*v->mkey));
    v->mrank = malloc(cap * sizeof(*v->mrank));
    v->mres = malloc(cap * sizeof(*v->mres));
    char *buf = NULL;
    size_t bcap = 0, skipped = 0;
    if (!v->mkey || !v->mrank || !v->mres)
        goto nomem;
    for (uint64_t i = 0; i < nm; i++) {
        const char *s = m[i].ptr;
        size_t len = (size_t)m[i].len;
        /* split at the first space after the first byte: a left part may itself be a space */
        const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
        if (!sp) {
            skipped++;
            continue;
        }
        size_t ll = (size_t)(sp - s), rl = len - ll - 1;
        int32_t a = llm_vocab_lookup(v, s, ll), b = llm_vocab_lookup(v, sp + 1, rl);
        if (a < 0 || b < 0) {
            skipped++;
            continue;
        }
        if (bcap < ll + rl) {
            char *nb = realloc(buf, ll + rl);
            if (!nb)
                goto nomem;
            buf = nb;
            bcap = ll + rl;
        }
        memcpy(buf, s, ll);
        memcpy(buf + ll, sp + 1, rl);
        int32_t res = llm_vocab_lookup(v, buf, ll + rl);
        uint64_t key = ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)(b + 1);
        size_t j = mix64(key) & v->m_mask;
        while (v->mkey[j] != 0 && v->mkey[j] != key)
            j = (j + 1) & v->m_mask;
        if (v->mkey[j] == key)
            continue; /* the first (best) rank of a pair wins */
        v->mkey[j] = key;
        v->mrank[j] = (int32_t)i;
        v->mres[j] = res;
        v->n_merges++;
    }
    if (skipped)
        warn(v, "tokenizer.ggml.merges: %zu entries ignored (malformed or naming unknown tokens)", skipped);
    free(buf);
    free(m);
    return 0;
nomem:
    free(buf);
    free(m);
    set_err(err, errlen, "out of memory loading merges");
    return -1;
}

/* ---- pieces ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* "<0xNN>" -> NN, else -1 */
static int byte_token_value(const char *t, size_t len)
{
    if (len != 6 || t[0] != '<' || t[1] != '0' || t[2] != 'x' || t[5] != '>')
        return -1;
    int h = hexval(t[3]), l = hexval(t[4]);
    return (h < 0 || l < 0) ? -1 : h * 16 + l;
}

/* Writes the decoded piece of id at dst (never longer than the text); returns its length. */
static size_t make_piece(const llm_vocab *v, int32_t id, char *dst)
{
    const char *t = v->text + v->text_off[id];
    size_t len = v->text_len[id];
    uint32_t a = v->attr[id];
    if (a & (LLM_TOKEN_ATTR_UNKNOWN | LLM_TOKEN_ATTR_CONTROL | LLM_TOKEN_ATTR_USER_DEFINED)) {
        memcpy(dst, t, len);
        return len;
    }
    if (v->type == LLM_VOCAB_SPM) {
        if (a & LLM_TOKEN_ATTR_NORMAL) {
            size_t j = 0;
            for (size_t i = 0; i < len;) {
                if (i + 3 <= len && memcmp(t + i, "\xe2\x96\x81", 3) == 0) {
                    dst[j++] = ' ';
                    i += 3;
                } else {
                    dst[j++] = t[i++];
                }
            }
            return j;
        }
        if (a & LLM_TOKEN_ATTR_BYTE) {
            int b = byte_token_value(t, len);
            if (b < 0) {
                memcpy(dst, t, len);
                return len;
            }
            dst[0] = (char)b;
            return 1;
        }
        return 0;
    }
    if (!(a & LLM_TOKEN_ATTR_NORMAL))
        return 0;
    /* undo the byte-level mapping; code points outside it are kept as they are */
    size_t j = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)t[i];
        if (c >= 0xC0 && c < 0xE0 && i + 1 < len && ((unsigned char)t[i + 1] & 0xC0) == 0x80) {
            uint32_t cp = ((uint32_t)(c & 0x1F) << 6) | ((unsigned char)t[i + 1] & 0x3F);
            int b = llm_cp_to_byte(cp);
            if (b >= 0) {
                dst[j++] = (char)b;
            } else {
                dst[j++] = t[i];
                dst[j++] = t[i + 1];
            }
            i += 2;
        } else if (c < 0x80) {
            int b = llm_cp_to_byte(c);
            dst[j++] = (char)(b >= 0 ? b : c);
            i++;
        } else {
            dst[j++] = t[i++];
        }
    }
    return j;
}

/* ---- loading ---- */

static int32_t special_id(llm_vocab *v, const gguf_file *f, const char *key, int32_t dflt)
{
    uint32_t id;
    int r = gguf_get_u32(f, key, &id);
    if (r == -1)
        return (dflt >= 0 && dflt < v->n) ? dflt : -1;
    if (r != 0) {
        warn(v, "%s: not an unsigned integer, treated as none", key);
        return -1;
    }
    if (id >= (uint32_t)v->n) {
        warn(v, "%s = %u is outside the vocabulary (%d tokens), treated as none", key, id, v->n);
        return -1;
    }
    return (int32_t)id;
}

static void opt_bool(const gguf_file *f, const char *key, int *val)
{
    int b;
    if (gguf_get_bool(f, key, &b) == 0)
        *val = b != 0;
}

/* Texts that end a turn in common chat formats; the converters do not always mark them. */
static const char *const eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>",
    "<\xef\xbd\x9c" "end\xe2\x96\x81" "of\xe2\x96\x81" "sentence\xef\xbd\x9c>",
};
#define N_EOG_TEXTS (sizeof(eog_texts) / sizeof(eog_texts[0]))

static int contains_ci(const char *s, size_t len, const char *needle)
{
    size_t nl = strlen(needle);
    for (size_t i = 0; i + nl <= len; i++) {
        size_t k = 0;
        while (k < nl) {
            char c = s[i + k];
            if (c >= 'A' && c <= 'Z')
                c = (char)(c + 32);
            if (c != needle[k])
                break;
            k++;
        }
        if (k == nl)
            return 1;
    }
    return 0;
}

llm_vocab *llm_vocab_load(const gguf_file *f, char *err, size_t errlen)
{
    gguf_str model, *toks = NULL;
    float *scores = NULL;
    int32_t *types = NULL;
    uint64_t nt = 0, n_scores = 0, n_types = 0;
    llm_vocab *v = calloc(1, sizeof(*v));
    if (!v) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    v->bos = v->eos = v->eot = v->unk = v->pad = v->sep = -1;

    int r = gguf_get_str(f, "tokenizer.ggml.model", &model);
    if (r != 0) {
        set_err(err, errlen, "tokenizer.ggml.model: %s", r == -1 ? "missing" : "not a string");
        goto fail;
    }
    if (gguf_str_eq(model, "llama")) {
        v->type = LLM_VOCAB_SPM;
    } else if (gguf_str_eq(model, "gpt2")) {
        v->type = LLM_VOCAB_BPE;
    } else {
        set_err(err, errlen, "tokenizer.ggml.model: unsupported tokenizer '%.*s'",
                (int)(model.len > 64 ? 64 : model.len), model.ptr);
        goto fail;
    }

    r = gguf_get_str_array(f, "tokenizer.ggml.tokens", &toks, &nt);
    if (r != 0) {
        set_err(err, errlen, "tokenizer.ggml.tokens: %s", r == -1 ? "missing" : "not a string array");
        goto fail;
    }
    if (nt == 0 || nt >= INT32_MAX) {
        set_err(err, errlen, "tokenizer.ggml.tokens: bad token count %llu", (unsigned long long)nt);
        goto fail;
    }
    v->n = (int32_t)nt;

    r = gguf_get_f32_array(f, "tokenizer.ggml.scores", &scores, &n_scores);
    if (r == -2)
        warn(v, "tokenizer.ggml.scores: not a number array, scores taken as 0");
    else if (r == 0 && n_scores != nt)
        warn(v, "tokenizer.ggml.scores: %llu entries for %d tokens", (unsigned long long)n_scores, v->n);
    if (r != 0)
        n_scores = 0;
    r = gguf_get_i32_array(f, "tokenizer.ggml.token_type", &types, &n_types);
    if (r == -2)
        warn(v, "tokenizer.ggml.token_type: not an integer array, all tokens normal");
    else if (r == 0 && n_types != nt)
        warn(v, "tokenizer.ggml.token_type: %llu entries for %d tokens", (unsigned long long)n_types, v->n);
    if (r != 0)
        n_types = 0;

    size_t total = 0, n_empty = 0;
    for (uint64_t i = 0; i < nt; i++) {
        if (toks[i].len > UINT32_MAX / 2) {
            set_err(err, errlen, "tokenizer.ggml.tokens[%llu]: too long", (unsigned long long)i);
            goto fail;
        }
        total += toks[i].len ? (size_t)toks[i].len + 1 : 24;
    }
    v->text = malloc(total);
    v->piece = malloc(total);
    v->text_off = malloc(nt * sizeof(uint32_t));
    v->text_len = malloc(nt * sizeof(uint32_t));
    v->piece_off = malloc(nt * sizeof(uint32_t));
    v->piece_len = malloc(nt * sizeof(uint32_t));
    v->score = malloc(nt * sizeof(float));
    v->attr = malloc(nt * sizeof(uint32_t));
    size_t cap = 16;
    while (cap < 2 * nt)
        cap *= 2;
    v->tab_mask = cap - 1;
    v->tab = malloc(cap * sizeof(*v->tab));
    v->tab_hash = malloc(cap * sizeof(*v->tab_hash));
    if (!v->text || !v->piece || !v->text_off || !v->text_len || !v->piece_off || !v->piece_len ||
        !v->score || !v->attr || !v->tab || !v->tab_hash || total > UINT32_MAX) {
        set_err(err, errlen, "out of memory (vocabulary of %d tokens)", v->n);
        goto fail;
    }
    memset(v->tab, 0xff, cap * sizeof(*v->tab));

    size_t off = 0;
    for (int32_t i = 0; i < v->n; i++) {
        v->text_off[i] = (uint32_t)off;
        if (toks[i].len == 0) { /* an empty text would match everywhere: give it a unique name */
            int k = snprintf(v->text + off, 24, "[EMPTY_%d]", (int)i);
            v->text_len[i] = (uint32_t)k;
            n_empty++;
        } else {
            memcpy(v->text + off, toks[i].ptr, (size_t)toks[i].len);
            v->text_len[i] = (uint32_t)toks[i].len;
        }
        v->text[off + v->text_len[i]] = '\0';
        off += v->text_len[i] + 1;
        v->score[i] = (uint64_t)i < n_scores ? scores[i] : 0.0f;
        int32_t ty = (uint64_t)i < n_types ? types[i] : 1;
        switch (ty) {
        case 1: v->attr[i] = LLM_TOKEN_ATTR_NORMAL; break;
        case 2: v->attr[i] = LLM_TOKEN_ATTR_UNKNOWN; break;
        case 3: v->attr[i] = LLM_TOKEN_ATTR_CONTROL; break;
        case 4: v->attr[i] = LLM_TOKEN_ATTR_USER_DEFINED; break;
        case 5: v->attr[i] = LLM_TOKEN_ATTR_UNUSED; break;
        case 6: v->attr[i] = LLM_TOKEN_ATTR_BYTE; break;
        default: v->attr[i] = LLM_TOKEN_ATTR_UNDEFINED; break;
        }
        tab_insert(v, i);
    }
    if (n_empty)
        warn(v, "%zu empty token texts renamed [EMPTY_<id>]", n_empty);
    free(toks);
    toks = NULL;
    free(scores);
    scores = NULL;
    free(types);
    types = NULL;

    int pre_add_bos = 0;
    if (v->type == LLM_VOCAB_BPE) {
        gguf_str pre;
        r = gguf_get_str(f, "tokenizer.ggml.pre", &pre);
        if (r != 0) {
            warn(v, "tokenizer.ggml.pre missing: using the 'default' pre-tokenizer");
            v->pre = LLM_PRE_DEFAULT;
        } else {
            v->pre = llm_pre_from_name(pre.ptr, (size_t)pre.len, &v->ignore_merges, &pre_add_bos);
            if (v->pre < 0) {
                set_err(err, errlen, "tokenizer.ggml.pre: unknown pre-tokenizer '%.*s'",
                        (int)(pre.len > 64 ? 64 : pre.len), pre.ptr);
                goto fail;
            }
        }
        v->pre_name = llm_pre_canonical_name(v->pre);
        if (load_merges(v, f, err, errlen))
            goto fail;
        for (int b = 0; b < 256; b++) {
            uint32_t cp = llm_byte_to_cp((uint8_t)b);
            char s[2];
            size_t k;
            if (cp < 0x80) {
                s[0] = (char)cp;
                k = 1;
            } else {
                s[0] = (char)(0xC0 | (cp >> 6));
                s[1] = (char)(0x80 | (cp & 0x3F));
                k = 2;
            }
            v->byte_tok[b] = llm_vocab_lookup(v, s, k);
        }
    } else {
        v->pre_name = "spm";
        v->spm_word_split = 1;
        for (int32_t i = 0; i < v->n && v->spm_word_split; i++) {
            const char *t = v->text + v->text_off[i];
            for (size_t k = 1; k + 3 <= v->text_len[i]; k++) {
                if (memcmp(t + k, "\xe2\x96\x81", 3) == 0 && !(k >= 3 && memcmp(t + k - 3, "\xe2\x96\x81", 3) == 0)) {
                    v->spm_word_split = 0;
                    break;
                }
            }
        }
        for (int b = 0; b < 256; b++) {
            char s[8];
            snprintf(s, sizeof(s), "<0x%02X>", b);
            int32_t id = llm_vocab_lookup(v, s, 6);
            if (id < 0) {
                s[0] = (char)b;
                id = llm_vocab_lookup(v, s, 1);
            }
            v->byte_tok[b] = id;
        }
    }

    int spm = v->type == LLM_VOCAB_SPM;
    v->bos = special_id(v, f, "tokenizer.ggml.bos_token_id", spm ? 1 : -1);
    v->eos = special_id(v, f, "tokenizer.ggml.eos_token_id", spm ? 2 : -1);
    v->unk = special_id(v, f, "tokenizer.ggml.unknown_token_id", spm ? 0 : -1);
    v->eot = special_id(v, f, "tokenizer.ggml.eot_token_id", -1);
    v->pad = special_id(v, f, "tokenizer.ggml.padding_token_id", -1);
    v->sep = special_id(v, f, "tokenizer.ggml.seperator_token_id", -1);
    v->add_bos = spm ? 1 : pre_add_bos;
    v->add_eos = 0;
    v->add_space_prefix = spm;
    opt_bool(f, "tokenizer.ggml.add_bos_token", &v->add_bos);
    opt_bool(f, "tokenizer.ggml.add_eos_token", &v->add_eos);
    opt_bool(f, "tokenizer.ggml.add_space_prefix", &v->add_space_prefix);
    if (v->add_bos && v->bos < 0) {
        warn(v, "add_bos_token set but there is no BOS token");
        v->add_bos = 0;
    }
    if (v->add_eos && v->eos < 0) {
        warn(v, "add_eos_token set but there is no EOS token");
        v->add_eos = 0;
    }

    for (size_t k = 0; k < N_EOG_TEXTS; k++) {
        int32_t id = llm_vocab_lookup(v, eog_texts[k], strlen(eog_texts[k]));
        if (id < 0)
            continue;
        v->attr[id] = (v->attr[id] & ~(uint32_t)(LLM_TOKEN_ATTR_NORMAL | LLM_TOKEN_ATTR_USER_DEFINED)) |
                      LLM_TOKEN_ATTR_CONTROL;
        if (v->eot < 0 && strcmp(eog_texts[k], "<|eom_id|>") != 0)
            v->eot = id;
    }

    off = 0;
    for (int32_t i = 0; i < v->n; i++) {
        v->piece_off[i] = (uint32_t)off;
        v->piece_len[i] = (uint32_t)make_piece(v, i, v->piece + off);
        off += v->piece_len[i];
    }

    if (llm_special_build(v)) {
        set_err(err, errlen, "out of memory (special tokens)");
        goto fail;
    }

    /* Phi-3 chat templates put a newline after every special token that the tokenizer drops. */
    gguf_str name;
    if (gguf_get_str(f, "general.name", &name) == 0 &&
        (contains_ci(name.ptr, (size_t)name.len, "phi-3") || contains_ci(name.ptr, (size_t)name.len, "phi3"))) {
        for (size_t k = 0; k < v->n_special; k++)
            v->attr[v->special[k]] |= LLM_TOKEN_ATTR_RSTRIP;
        static const char *const keep[] = {"<unk>", "<s>", "<|endoftext|>"};
        int32_t id = llm_vocab_lookup(v, "</s>", 4);
        if (id >= 0)
            v->attr[id] |= LLM_TOKEN_ATTR_RSTRIP;
        for (size_t k = 0; k < 3; k++) {
            id = llm_vocab_lookup(v, keep[k], strlen(keep[k]));
            if (id >= 0)
                v->attr[id] &= ~(uint32_t)LLM_TOKEN_ATTR_RSTRIP;
        }
    }
    return v;

fail:
    free(toks);
    free(scores);
    free(types);
    llm_vocab_free(v);
    return NULL;
}

void llm_vocab_free(llm_vocab *v)
{
    if (!v)
        return;
    free(v->text);
    free(v->text_off);
    free(v->text_len);
    free(v->score);
    free(v->attr);
    free(v->piece);
    free(v->piece_off);
    free(v->piece_len);
    free(v->tab);
    free(v->tab_hash);
    free(v->mkey);
    free(v->mrank);
    free(v->mres);
    free(v->special);
    free(v->trie_child);
    free(v->trie_key);
    free(v->trie_tok);
    free(v);
}

/* ---- accessors ---- */

int32_t llm_vocab_n(const llm_vocab *v) { return v->n; }
int llm_vocab_type(const llm_vocab *v) { return v->type; }
const char *llm_vocab_pre_name(const llm_vocab *v) { return v->pre_name; }
const char *llm_vocab_warnings(const llm_vocab *v) { return v->warn; }
int32_t llm_vocab_bos(const llm_vocab *v) { return v->bos; }
int32_t llm_vocab_eos(const llm_vocab *v) { return v->eos; }
int32_t llm_vocab_eot(const llm_vocab *v) { return v->eot; }
int32_t llm_vocab_unk(const llm_vocab *v) { return v->unk; }
int32_t llm_vocab_pad(const llm_vocab *v) { return v->pad; }
int llm_vocab_add_bos(const llm_vocab *v) { return v->add_bos; }
int llm_vocab_add_eos(const llm_vocab *v) { return v->add_eos; }

int llm_vocab_is_eog(const llm_vocab *v, int32_t id)
{
    if (id < 0 || id >= v->n)
        return 0;
    if (id == v->eos || id == v->eot)
        return 1;
    if (!(v->attr[id] & LLM_TOKEN_ATTR_CONTROL))
        return 0;
    for (size_t k = 0; k < N_EOG_TEXTS; k++)
        if (strcmp(v->text + v->text_off[id], eog_texts[k]) == 0)
            return 1;
    return 0;
}

uint32_t llm_token_attr(const llm_vocab *v, int32_t id)
{
    return (id >= 0 && id < v->n) ? v->attr[id] : 0;
}

const char *llm_token_text(const llm_vocab *v, int32_t id, size_t *len)
{
    if (id < 0 || id >= v->n) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = v->text_len[id];
    return v->text + v->text_off[id];
}

int32_t llm_token_find(const llm_vocab *v, const char *s, size_t len) { return llm_vocab_lookup(v, s, len); }

const char *llm_token_piece(const llm_vocab *v, int32_t id, size_t *len)
{
    if (id < 0 || id >= v->n) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = v->piece_len[id];
    return v->piece + v->piece_off[id];
}

/* ---- tokenize / detokenize ---- */

static int raw_fragment(const llm_vocab *v, const char *s, size_t len, int space_prefix, llm_tokbuf *out)
{
    if (v->type == LLM_VOCAB_BPE)
        return llm_bpe_tokenize(v, s, len, out);
    if (!space_prefix)
        return llm_spm_tokenize(v, s, len, out);
    char *t = malloc(len + 1);
    if (!t)
        return -1;
    t[0] = ' ';
    memcpy(t + 1, s, len);
    int rc = llm_spm_tokenize(v, t, len + 1, out);
    free(t);
    return rc;
}

int llm_tokenize(const llm_vocab *v, const char *text, size_t len, int add_special, int parse_special,
                 int32_t *out, size_t cap, size_t *n_out)
{
    llm_tokbuf b = {0};
    llm_frag *fr = NULL;
    size_t nf = 0;
    int rc = -1;
    *n_out = 0;
    if (!text && len)
        return -1;
    if (llm_special_partition(v, text, len, parse_special, &fr, &nf))
        goto done;
    if (add_special && v->add_bos && llm_tokbuf_push(&b, v->bos))
        goto done;
    /* SentencePiece adds its space prefix to the text and again after every special token. */
    int prev_special = 1;
    for (size_t i = 0; i < nf; i++) {
        if (fr[i].id >= 0) {
            if (llm_tokbuf_push(&b, fr[i].id))
                goto done;
            prev_special = 1;
        } else {
            if (raw_fragment(v, text + fr[i].off, fr[i].len, v->add_space_prefix && prev_special, &b))
                goto done;
            prev_special = 0;
        }
    }
    if (add_special && v->add_eos && llm_tokbuf_push(&b, v->eos))
        goto done;
    if (b.n && cap)
        memcpy(out, b.v, (b.n < cap ? b.n : cap) * sizeof(*out));
    *n_out = b.n;
    rc = 0;
done:
    free(b.v);
    free(fr);
    return rc;
}

int llm_detokenize(const llm_vocab *v, const int32_t *ids, size_t n, int render_special, char *out,
                   size_t cap, size_t *n_out)
{
    size_t total = 0;
    int strip = v->add_space_prefix;
    *n_out = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= v->n)
            return -2;
        if (!render_special && (v->attr[id] & (LLM_TOKEN_ATTR_CONTROL | LLM_TOKEN_ATTR_UNKNOWN)))
            continue;
        const char *p = v->piece + v->piece_off[id];
        size_t pl = v->piece_len[id];
        if (pl == 0)
            continue;
        if (strip && p[0] == ' ') {
            p++;
            pl--;
        }
        strip = 0;
        if (total < cap)
            memcpy(out + total, p, (cap - total < pl) ? cap - total : pl);
        total += pl;
    }
    *n_out = total;
    return 0;
}
