/* check_tokenizer.c -- tokenizer tests: reference vectors, special tokens, pieces, bad metadata. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gguf.h"
#include "tokenizer.h"
#include "vocab.h"

static const char *models_dir(void)
{
    const char *d = getenv("DECOKIT_TEST_MODELS");
    return d && *d ? d : "../shared/models";
}

static int have_file(const char *rel)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s/%s", models_dir(), rel);
    return access(p, R_OK) == 0;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    if (buf) {
        buf[n] = '\0';
        *len = (size_t)n;
    }
    return buf;
}

typedef struct loaded {
    gguf_file *f;
    llm_vocab *v;
} loaded;

static loaded load_rel(const char *rel)
{
    char p[4096], err[256] = "";
    loaded l;
    snprintf(p, sizeof(p), "%s/%s", models_dir(), rel);
    l.f = gguf_open(p, err, sizeof(err));
    ck_assert_msg(l.f != NULL, "%s: %s", rel, err);
    l.v = llm_vocab_load(l.f, err, sizeof(err));
    ck_assert_msg(l.v != NULL, "%s: %s", rel, err);
    return l;
}

static void unload(loaded l)
{
    llm_vocab_free(l.v);
    gguf_close(l.f);
}

static size_t tok(const llm_vocab *v, const char *s, int add_special, int parse_special, int32_t *out, size_t cap)
{
    size_t n = 0;
    ck_assert_int_eq(llm_tokenize(v, s, strlen(s), add_special, parse_special, out, cap, &n), 0);
    ck_assert_uint_le(n, cap);
    return n;
}

static void assert_ids(const int32_t *got, size_t n, const int32_t *want, size_t nw, const char *what)
{
    int same = n == nw;
    for (size_t i = 0; same && i < n; i++)
        same = got[i] == want[i];
    if (!same) {
        char g[512] = "";
        for (size_t i = 0; i < n && strlen(g) < 480; i++)
            snprintf(g + strlen(g), sizeof(g) - strlen(g), " %d", got[i]);
        ck_abort_msg("%s: got%s", what, g);
    }
}

/* ---- the reference vectors: every .inp string must give its .out line, and decode back ---- */

static const char *const vector_files[] = {
    "ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf", "ggml-vocab-starcoder.gguf",
    "ggml-vocab-deepseek-llm.gguf", "ggml-vocab-mpt.gguf",
};

START_TEST(test_vectors)
{
    const char *name = vector_files[_i];
    char rel[256], p[4096];
    snprintf(rel, sizeof(rel), "vocab/%s", name);
    loaded l = load_rel(rel);
    size_t il, ol;
    snprintf(p, sizeof(p), "%s/vocab/%s.inp", models_dir(), name);
    char *inp = read_all(p, &il);
    snprintf(p, sizeof(p), "%s/vocab/%s.out", models_dir(), name);
    char *outp = read_all(p, &ol);
    ck_assert(inp && outp);

    static const char sep[] = "\n__ggml_vocab_test__\n";
    char *s = inp, *o = outp;
    int n_cases = 0;
    int32_t *ids = malloc(4096 * sizeof(*ids));
    char *back = malloc(65536);
    for (;;) {
        char *e = strstr(s, sep);
        if (!e)
            break;
        *e = '\0';
        char *oe = strchr(o, '\n');
        ck_assert_msg(oe != NULL, "%s: fewer .out lines than strings", name);
        *oe = '\0';
        int32_t want[4096];
        size_t nw = 0;
        for (char *q = o; *q;) {
            char *end;
            long x = strtol(q, &end, 10);
            if (end == q)
                break;
            want[nw++] = (int32_t)x;
            q = end;
        }
        size_t n = 0;
        ck_assert_int_eq(llm_tokenize(l.v, s, strlen(s), 0, 0, ids, 4096, &n), 0);
        char what[300];
        snprintf(what, sizeof(what), "%s case %d '%.60s'", name, n_cases, s);
        assert_ids(ids, n, want, nw, what);

        size_t bl = 0;
        ck_assert_int_eq(llm_detokenize(l.v, ids, n, 0, back, 65536, &bl), 0);
        ck_assert_msg(bl == strlen(s) && memcmp(back, s, bl) == 0, "%s: detokenize differs: '%.*s'", what,
                      (int)bl, back);
        n_cases++;
        s = e + strlen(sep);
        o = oe + 1;
    }
    ck_assert_int_ge(n_cases, 40);
    free(ids);
    free(back);
    free(inp);
    free(outp);
    unload(l);
}
END_TEST

/* ---- SentencePiece models used by the project's tests ---- */

START_TEST(test_stories_prompt)
{
    loaded l = load_rel("stories260K.gguf");
    int32_t ids[32];
    size_t n = tok(l.v, "Once upon a time", 1, 0, ids, 32);
    static const int32_t want[] = {1, 403, 407, 261, 378};
    assert_ids(ids, n, want, 5, "stories260K prompt");
    ck_assert_int_eq(llm_vocab_type(l.v), LLM_VOCAB_SPM);
    ck_assert_int_eq(llm_vocab_bos(l.v), 1);
    ck_assert_int_eq(llm_vocab_eos(l.v), 2);
    ck_assert(llm_vocab_add_bos(l.v));
    char text[128];
    size_t tl;
    ck_assert_int_eq(llm_detokenize(l.v, ids, n, 0, text, sizeof(text), &tl), 0);
    ck_assert_uint_eq(tl, strlen("Once upon a time"));
    ck_assert(memcmp(text, "Once upon a time", tl) == 0);
    ck_assert_int_eq(llm_detokenize(l.v, ids, n, 1, text, sizeof(text), &tl), 0);
    ck_assert(tl == strlen("<s> Once upon a time") && memcmp(text, "<s> Once upon a time", tl) == 0);
    unload(l);
}
END_TEST

START_TEST(test_tiny_random_prompt)
{
    loaded l = load_rel("llama-2-tiny-random.gguf");
    int32_t ids[32];
    size_t n = tok(l.v, "Once upon a time", 1, 0, ids, 32);
    static const int32_t want[] = {1, 9038, 2501, 263, 931};
    assert_ids(ids, n, want, 5, "tiny-random prompt");
    unload(l);
}
END_TEST

START_TEST(test_quirky_special_ids)
{
    loaded l = load_rel("stories260K-llama2c-convert.gguf");
    ck_assert_int_eq(llm_vocab_pad(l.v), -1);
    ck_assert_int_eq(llm_vocab_bos(l.v), 1);
    ck_assert_ptr_nonnull(strstr(llm_vocab_warnings(l.v), "4294967295"));
    int32_t ids[32];
    size_t n = tok(l.v, "Once upon a time", 1, 0, ids, 32);
    static const int32_t want[] = {1, 403, 407, 261, 378};
    assert_ids(ids, n, want, 5, "llama2c-convert prompt");
    unload(l);
}
END_TEST

START_TEST(test_spm_pieces_and_special)
{
    loaded l = load_rel("vocab/ggml-vocab-llama-spm.gguf");
    const llm_vocab *v = l.v;
    size_t len;
    const char *p = llm_token_piece(v, 13, &len); /* <0x0A> */
    ck_assert(len == 1 && p[0] == '\n');
    ck_assert(llm_token_attr(v, 13) & LLM_TOKEN_ATTR_BYTE);
    p = llm_token_piece(v, 15043, &len); /* ▁Hello */
    ck_assert(len == 6 && memcmp(p, " Hello", 6) == 0);
    ck_assert(llm_token_attr(v, 1) & LLM_TOKEN_ATTR_CONTROL);
    ck_assert(llm_token_attr(v, 0) & LLM_TOKEN_ATTR_UNKNOWN);
    ck_assert_ptr_null(llm_token_piece(v, -1, &len));
    ck_assert_ptr_null(llm_token_piece(v, 32000, &len));
    ck_assert_uint_eq(llm_token_attr(v, 32000), 0);

    int32_t ids[64];
    size_t n = tok(v, "<s>Hello", 0, 1, ids, 64);
    static const int32_t want[] = {1, 15043};
    assert_ids(ids, n, want, 2, "parse_special <s>");
    n = tok(v, "<s>Hello", 0, 0, ids, 64);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_ne(ids[i], 1);
    n = tok(v, "Hello</s>", 1, 1, ids, 64);
    static const int32_t want2[] = {1, 15043, 2};
    assert_ids(ids, n, want2, 3, "bos + text + parsed eos");
    ck_assert(llm_vocab_is_eog(v, 2));
    ck_assert(!llm_vocab_is_eog(v, 15043));

    /* empty text: nothing, or just BOS */
    n = tok(v, "", 0, 0, ids, 64);
    ck_assert_uint_eq(n, 0);
    n = tok(v, "", 1, 0, ids, 64);
    ck_assert(n == 1 && ids[0] == 1);

    /* truncation reports the size needed */
    size_t need = 0;
    ck_assert_int_eq(llm_tokenize(v, "Hello world", 11, 1, 0, ids, 1, &need), 0);
    ck_assert_uint_eq(need, 3);
    ck_assert_int_eq(ids[0], 1);
    char buf[4];
    ck_assert_int_eq(llm_detokenize(v, (const int32_t[]){15043, 3186}, 2, 0, buf, sizeof(buf), &need), 0);
    ck_assert_uint_eq(need, strlen("Hello world"));
    ck_assert(memcmp(buf, "Hell", 4) == 0);
    ck_assert_int_lt(llm_detokenize(v, (const int32_t[]){5, 99999}, 2, 0, buf, sizeof(buf), &need), 0);
    unload(l);
}
END_TEST

/* ---- byte-level BPE details ---- */

START_TEST(test_bpe_pieces_and_special)
{
    loaded l = load_rel("vocab/ggml-vocab-gpt-2.gguf");
    const llm_vocab *v = l.v;
    ck_assert_int_eq(llm_vocab_type(v), LLM_VOCAB_BPE);
    ck_assert_str_eq(llm_vocab_pre_name(v), "gpt-2");
    ck_assert(!llm_vocab_add_bos(v));
    int32_t id = llm_token_find(v, "\xc4\xa0world", 7); /* "Ġworld" */
    ck_assert_int_ge(id, 0);
    size_t len;
    const char *p = llm_token_piece(v, id, &len);
    ck_assert(len == 6 && memcmp(p, " world", 6) == 0);
    id = llm_token_find(v, "\xc4\x8a", 2); /* "Ċ" is the newline byte */
    ck_assert_int_ge(id, 0);
    p = llm_token_piece(v, id, &len);
    ck_assert(len == 1 && p[0] == '\n');
    for (int b = 0; b < 256; b++)
        ck_assert_int_eq(llm_cp_to_byte(llm_byte_to_cp((uint8_t)b)), b);

    int32_t ids[64];
    size_t n = tok(v, "a<|endoftext|>b", 0, 1, ids, 64);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(ids[1], 50256);
    ck_assert(llm_vocab_is_eog(v, 50256));
    n = tok(v, "a<|endoftext|>b", 0, 0, ids, 64);
    ck_assert_uint_gt(n, 3);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_ne(ids[i], 50256);
    /* any bytes, even invalid UTF-8, survive a round trip */
    static const char junk[] = "\xff\xfe ok \xc3\x28 \xe2\x82";
    n = tok(v, junk, 0, 0, ids, 64);
    char back[64];
    size_t bl;
    ck_assert_int_eq(llm_detokenize(v, ids, n, 0, back, sizeof(back), &bl), 0);
    ck_assert(bl == strlen(junk) && memcmp(back, junk, bl) == 0);
    unload(l);
}
END_TEST

START_TEST(test_user_defined_always_split)
{
    /* mpt's multi-space tokens are user-defined: matched even without parse_special */
    loaded l = load_rel("vocab/ggml-vocab-mpt.gguf");
    int32_t ids[16];
    size_t n = tok(l.v, "a    b", 0, 0, ids, 16);
    int32_t four = llm_token_find(l.v, "    ", 4);
    ck_assert_int_ge(four, 0);
    ck_assert(llm_token_attr(l.v, four) & LLM_TOKEN_ATTR_USER_DEFINED);
    int found = 0;
    for (size_t i = 0; i < n; i++)
        found |= ids[i] == four;
    ck_assert(found);
    unload(l);
}
END_TEST

START_TEST(test_missing_pre_uses_default)
{
    loaded l = load_rel("vocab/ggml-vocab-gpt-neox.gguf");
    ck_assert_str_eq(llm_vocab_pre_name(l.v), "default");
    ck_assert_ptr_nonnull(strstr(llm_vocab_warnings(l.v), "tokenizer.ggml.pre"));
    int32_t ids[32];
    size_t n = tok(l.v, "Hello world", 0, 0, ids, 32);
    char back[64];
    size_t bl;
    ck_assert_int_eq(llm_detokenize(l.v, ids, n, 0, back, sizeof(back), &bl), 0);
    ck_assert(bl == 11 && memcmp(back, "Hello world", 11) == 0);
    unload(l);
}
END_TEST

START_TEST(test_starcoder_fim)
{
    loaded l = load_rel("vocab/ggml-vocab-starcoder.gguf");
    int32_t ids[64];
    size_t n = tok(l.v, "<fim_prefix>def f():<fim_suffix>", 0, 1, ids, 64);
    ck_assert_uint_ge(n, 3);
    ck_assert_int_eq(ids[0], 1);
    ck_assert_int_eq(ids[n - 1], 3);
    char back[128];
    size_t bl;
    ck_assert_int_eq(llm_detokenize(l.v, ids, n, 0, back, sizeof(back), &bl), 0);
    ck_assert(bl == 8 && memcmp(back, "def f():", 8) == 0);
    ck_assert_int_eq(llm_detokenize(l.v, ids, n, 1, back, sizeof(back), &bl), 0);
    ck_assert(bl == 32 && memcmp(back, "<fim_prefix>def f():<fim_suffix>", 32) == 0);
    unload(l);
}
END_TEST

/* ---- random text, including invalid UTF-8 and special-token texts, decodes to itself ---- */

static const char *const roundtrip_files[] = {
    "vocab/ggml-vocab-llama-spm.gguf", "vocab/ggml-vocab-gpt-2.gguf", "vocab/ggml-vocab-deepseek-llm.gguf",
    "vocab/ggml-vocab-mpt.gguf", "stories260K.gguf",
};

START_TEST(test_random_roundtrip)
{
    static const char *const atoms[] = {
        " ", "  ", "\n", "\t", "\r\n", "a", "Z", "'s", "'LL", "7", "123456", "!", "...", "<s>", "</s>",
        "<|endoftext|>", "<unk>", "\xc3\xa4", "\xe2\x96\x81", "\xe6\x88\x91", "\xf0\x9f\xa6\x99",
        "\xc3\xb8", "\xff", "\xc3", "\xe2\x82", "\x00", "\x01", "\xcc\x81", "word", " word", "    ",
    };
    loaded l = load_rel(roundtrip_files[_i]);
    uint32_t seed = 12345u + (uint32_t)_i;
    char text[512], back[2048];
    int32_t ids[1024];
    /* Some byte-level vocabularies have no token for bytes that never occur in UTF-8 (or only a
       user-defined look-alike); such input is lost, as in the reference tokenizers. */
    size_t nff = 0, bff = 0;
    ck_assert_int_eq(llm_tokenize(l.v, "\xff", 1, 0, 0, ids, 1024, &nff), 0);
    ck_assert_int_eq(llm_detokenize(l.v, ids, nff, 0, back, sizeof(back), &bff), 0);
    int ff_ok = bff == 1 && (unsigned char)back[0] == 0xff;
    if (strstr(roundtrip_files[_i], "gpt-2") || llm_vocab_type(l.v) == LLM_VOCAB_SPM)
        ck_assert(ff_ok);
    for (int it = 0; it < 300; it++) {
        size_t len = 0;
        seed = seed * 1664525u + 1013904223u;
        int n_atoms = 1 + (int)((seed >> 16) % 24);
        for (int k = 0; k < n_atoms; k++) {
            seed = seed * 1664525u + 1013904223u;
            const char *a = atoms[(seed >> 16) % (sizeof(atoms) / sizeof(atoms[0]))];
            if (llm_vocab_type(l.v) == LLM_VOCAB_SPM && strcmp(a, "\xe2\x96\x81") == 0)
                a = "_"; /* SentencePiece reads U+2581 as its space mark: that one cannot round-trip */
            if (!ff_ok && strcmp(a, "\xff") == 0)
                a = "?";
            size_t al = a[0] ? strlen(a) : 1; /* the "\x00" atom is one NUL byte */
            memcpy(text + len, a, al);
            len += al;
        }
        size_t n = 0, bl = 0;
        ck_assert_int_eq(llm_tokenize(l.v, text, len, 1, 0, ids, 1024, &n), 0);
        ck_assert_uint_le(n, 1024);
        for (size_t i = 0; i < n; i++)
            ck_assert(ids[i] >= 0 && ids[i] < llm_vocab_n(l.v));
        ck_assert_int_eq(llm_detokenize(l.v, ids, n, 0, back, sizeof(back), &bl), 0);
        ck_assert_msg(bl == len && memcmp(back, text, len) == 0, "%s: iteration %d does not round-trip",
                      roundtrip_files[_i], it);
    }
    unload(l);
}
END_TEST

/* ---- pre-tokenizer splits, checked directly ---- */

static void assert_words(int pre, const char *text, const char *const *want, size_t nw)
{
    llm_span *w;
    size_t n;
    ck_assert_int_eq(llm_pretokenize(pre, text, strlen(text), &w, &n), 0);
    ck_assert_msg(n == nw, "'%s': %zu words, want %zu", text, n, nw);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(w[i].len == strlen(want[i]) && memcmp(text + w[i].off, want[i], w[i].len) == 0,
                      "'%s' word %zu: '%.*s' want '%s'", text, i, (int)w[i].len, text + w[i].off, want[i]);
    free(w);
}

START_TEST(test_pretokenizers)
{
    static const char *const g1[] = {"Hello", ",", " y", "'ll", "!", "  ", " 123", "\n", " '", "all"};
    assert_words(LLM_PRE_GPT2, "Hello, y'll!   123\n 'all", g1, 10);
    static const char *const l1[] = {"Hello", ",", " y", "'all", "!", "  ", " ", "123", "4", "\n\n", " x"};
    assert_words(LLM_PRE_LLAMA3, "Hello, y'all!   1234\n\n x", l1, 11);
    static const char *const q1[] = {"1", "2", "3", "'S"};
    assert_words(LLM_PRE_QWEN2, "123'S", q1, 4);
    static const char *const s1[] = {"x", "1", "2", " ", "3"};
    assert_words(LLM_PRE_STARCODER, "x12 3", s1, 5);
    static const char *const d1[] = {"Hello", " \xd0\xbc\xd0\xb8\xd1\x80", " ", "123", " ",
                                     "\xe6\x88\x91\xe6\x83\xb3\xe5\x9c\xa8", "apple", "\xef\xbc\x81", " ok", "  ", "\n"};
    assert_words(LLM_PRE_DEEPSEEK_LLM,
                 "Hello \xd0\xbc\xd0\xb8\xd1\x80 123 \xe6\x88\x91\xe6\x83\xb3\xe5\x9c\xa8" "apple\xef\xbc\x81 ok  \n", d1, 11);
    static const char *const f1[] = {"a", "+=", "b", ";", " x", " ", "=", " ", "123", "456", "7", "|~"};
    assert_words(LLM_PRE_DEFAULT, "a+=b; x = 1234567|~", f1, 12);
    static const char *const c1[] = {"hi", ",", " ", "\xe4\xb8\x96\xe7\x95\x8c", "4", "2"};
    assert_words(LLM_PRE_DEEPSEEK_CODER, "hi, \xe4\xb8\x96\xe7\x95\x8c" "42", c1, 6);
}
END_TEST

/* ---- bad metadata, built in memory ---- */

typedef struct wbuf {
    uint8_t *p;
    size_t n, cap;
} wbuf;

static void put(wbuf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void put_u32(wbuf *b, uint32_t x) { put(b, &x, 4); }
static void put_u64(wbuf *b, uint64_t x) { put(b, &x, 8); }
static void put_str(wbuf *b, const char *s) { put_u64(b, strlen(s)); put(b, s, strlen(s)); }
static void kv_str(wbuf *b, const char *k, const char *s) { put_str(b, k); put_u32(b, GGUF_T_STR); put_str(b, s); }
static void kv_u32(wbuf *b, const char *k, uint32_t x) { put_str(b, k); put_u32(b, GGUF_T_U32); put_u32(b, x); }
static void kv_i32(wbuf *b, const char *k, int32_t x) { put_str(b, k); put_u32(b, GGUF_T_I32); put(b, &x, 4); }
static void kv_strs(wbuf *b, const char *k, const char *const *s, size_t n)
{
    put_str(b, k);
    put_u32(b, GGUF_T_ARR);
    put_u32(b, GGUF_T_STR);
    put_u64(b, n);
    for (size_t i = 0; i < n; i++)
        put_str(b, s[i]);
}
static void kv_f32s(wbuf *b, const char *k, const float *x, size_t n)
{
    put_str(b, k);
    put_u32(b, GGUF_T_ARR);
    put_u32(b, GGUF_T_F32);
    put_u64(b, n);
    put(b, x, 4 * n);
}

static void header(wbuf *b, uint64_t n_kv)
{
    put(b, "GGUF", 4);
    put_u32(b, 3);
    put_u64(b, 0);
    put_u64(b, n_kv);
}

static llm_vocab *load_mem(wbuf *b, gguf_file **f, char *err, size_t errlen)
{
    *f = gguf_open_memory(b->p, b->n, err, errlen);
    ck_assert_msg(*f != NULL, "gguf: %s", err);
    return llm_vocab_load(*f, err, errlen);
}

START_TEST(test_bad_metadata)
{
    static const char *const toks[] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81" "a", "a", "b", "\xe2\x96\x81" "ab"};
    static const float scores[] = {0, 0, 0, -1, -2};
    char err[256];
    gguf_file *f;

    /* ids out of range, wrong-typed id, scores shorter than the vocabulary, no token types */
    wbuf b = {0};
    header(&b, 6);
    kv_str(&b, "tokenizer.ggml.model", "llama");
    kv_strs(&b, "tokenizer.ggml.tokens", toks, 7);
    kv_f32s(&b, "tokenizer.ggml.scores", scores, 5);
    kv_u32(&b, "tokenizer.ggml.bos_token_id", 1000);
    kv_i32(&b, "tokenizer.ggml.eos_token_id", -1);
    kv_u32(&b, "tokenizer.ggml.unknown_token_id", 0);
    llm_vocab *v = load_mem(&b, &f, err, sizeof(err));
    ck_assert_msg(v != NULL, "%s", err);
    ck_assert_int_eq(llm_vocab_bos(v), -1);
    ck_assert_int_eq(llm_vocab_eos(v), -1);
    ck_assert(!llm_vocab_add_bos(v)); /* nothing to add */
    ck_assert_ptr_nonnull(strstr(llm_vocab_warnings(v), "scores"));
    int32_t ids[16];
    size_t n = 0;
    ck_assert_int_eq(llm_tokenize(v, "ab", 2, 1, 1, ids, 16, &n), 0);
    ck_assert(n == 1 && ids[0] == 6);
    /* no byte tokens: unknown characters become <unk> */
    ck_assert_int_eq(llm_tokenize(v, "az", 2, 0, 0, ids, 16, &n), 0);
    static const int32_t want_unk[] = {3, 0};
    assert_ids(ids, n, want_unk, 2, "byte fallback to unk");
    llm_vocab_free(v);
    gguf_close(f);
    free(b.p);

    /* gpt2 without merges fails cleanly; unknown tokenizer model too */
    memset(&b, 0, sizeof(b));
    header(&b, 2);
    kv_str(&b, "tokenizer.ggml.model", "gpt2");
    kv_strs(&b, "tokenizer.ggml.tokens", toks, 7);
    v = load_mem(&b, &f, err, sizeof(err));
    ck_assert_ptr_null(v);
    ck_assert_ptr_nonnull(strstr(err, "merges"));
    gguf_close(f);
    free(b.p);

    memset(&b, 0, sizeof(b));
    header(&b, 2);
    kv_str(&b, "tokenizer.ggml.model", "klingon");
    kv_strs(&b, "tokenizer.ggml.tokens", toks, 7);
    v = load_mem(&b, &f, err, sizeof(err));
    ck_assert_ptr_null(v);
    ck_assert_ptr_nonnull(strstr(err, "klingon"));
    gguf_close(f);
    free(b.p);

    /* tokens of the wrong type */
    memset(&b, 0, sizeof(b));
    header(&b, 2);
    kv_str(&b, "tokenizer.ggml.model", "llama");
    kv_f32s(&b, "tokenizer.ggml.tokens", scores, 5);
    v = load_mem(&b, &f, err, sizeof(err));
    ck_assert_ptr_null(v);
    ck_assert_ptr_nonnull(strstr(err, "tokenizer.ggml.tokens"));
    gguf_close(f);
    free(b.p);

    /* malformed merges and an unknown pre-tokenizer */
    static const char *const btoks[] = {"a", "b", "ab", "\xc4\xa0"};
    static const char *const merges[] = {"a b", "ab", "x y", " "};
    memset(&b, 0, sizeof(b));
    header(&b, 4);
    kv_str(&b, "tokenizer.ggml.model", "gpt2");
    kv_str(&b, "tokenizer.ggml.pre", "gpt-2");
    kv_strs(&b, "tokenizer.ggml.tokens", btoks, 4);
    kv_strs(&b, "tokenizer.ggml.merges", merges, 4);
    v = load_mem(&b, &f, err, sizeof(err));
    ck_assert_msg(v != NULL, "%s", err);
    ck_assert_ptr_nonnull(strstr(llm_vocab_warnings(v), "3 entries ignored"));
    ck_assert_int_eq(llm_tokenize(v, "ab ab", 5, 0, 0, ids, 16, &n), 0);
    static const int32_t want[] = {2, 3, 2}; /* "ab", "Ġ" (no "Ġa"/"Ġab" merges), "ab" */
    assert_ids(ids, n, want, 3, "tiny bpe");
    llm_vocab_free(v);
    gguf_close(f);
    free(b.p);

    memset(&b, 0, sizeof(b));
    header(&b, 4);
    kv_str(&b, "tokenizer.ggml.model", "gpt2");
    kv_str(&b, "tokenizer.ggml.pre", "no-such-pre");
    kv_strs(&b, "tokenizer.ggml.tokens", btoks, 4);
    kv_strs(&b, "tokenizer.ggml.merges", merges, 4);
    v = load_mem(&b, &f, err, sizeof(err));
    ck_assert_ptr_null(v);
    ck_assert_ptr_nonnull(strstr(err, "no-such-pre"));
    gguf_close(f);
    free(b.p);
}
END_TEST

START_TEST(test_llama3_style_flags)
{
    /* llama-bpe: BOS added by default, and a word found whole in the vocabulary skips the merges */
    static const char *const toks[] = {"a", "b", "c", "bc", "abc", "<|begin_of_text|>"};
    static const char *const merges[] = {"b c"};
    char err[256];
    gguf_file *f;
    int32_t ids[16];
    size_t n;
    for (int llama3 = 0; llama3 < 2; llama3++) {
        wbuf b = {0};
        header(&b, 5);
        kv_str(&b, "tokenizer.ggml.model", "gpt2");
        kv_str(&b, "tokenizer.ggml.pre", llama3 ? "llama-bpe" : "gpt-2");
        kv_strs(&b, "tokenizer.ggml.tokens", toks, 6);
        kv_strs(&b, "tokenizer.ggml.merges", merges, 1);
        kv_u32(&b, "tokenizer.ggml.bos_token_id", 5);
        llm_vocab *v = load_mem(&b, &f, err, sizeof(err));
        ck_assert_msg(v != NULL, "%s", err);
        ck_assert_int_eq(llm_vocab_add_bos(v), llama3);
        ck_assert_int_eq(llm_tokenize(v, "abc", 3, 1, 0, ids, 16, &n), 0);
        if (llama3) {
            static const int32_t want[] = {5, 4};
            assert_ids(ids, n, want, 2, "llama-bpe");
        } else {
            static const int32_t want[] = {0, 3};
            assert_ids(ids, n, want, 2, "gpt-2");
        }
        llm_vocab_free(v);
        gguf_close(f);
        free(b.p);
    }
}
END_TEST

/* ---- speed: reported, never asserted ---- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

START_TEST(test_throughput)
{
    const char *name = _i == 0 ? "vocab/ggml-vocab-llama-spm.gguf" : "vocab/ggml-vocab-gpt-2.gguf";
    loaded l = load_rel(name);
    static const char para[] = "Once upon a time, there was a little girl named Lily. She loved to play "
                               "outside in the park.\nOne day, she saw a big, red ball: 1234 + 5678 = 6912! ";
    size_t len = 1 << 20, pl = strlen(para);
    char *text = malloc(len);
    for (size_t i = 0; i < len; i++)
        text[i] = para[i % pl];
    size_t cap = len, n = 0;
    int32_t *ids = malloc(cap * sizeof(*ids));
    double t0 = now();
    ck_assert_int_eq(llm_tokenize(l.v, text, len, 0, 0, ids, cap, &n), 0);
    double t1 = now();
    ck_assert_uint_gt(n, len / 8);
    char *back = malloc(len);
    size_t bl;
    ck_assert_int_eq(llm_detokenize(l.v, ids, n, 0, back, len, &bl), 0);
    ck_assert(bl == len && memcmp(back, text, len) == 0);
    fprintf(stderr, "tokenize 1 MiB with %s: %zu tokens in %.3f s\n", name, n, t1 - t0);
    free(back);
    free(ids);
    free(text);
    unload(l);
}
END_TEST

int main(void)
{
    if (!have_file("vocab/ggml-vocab-llama-spm.gguf") || !have_file("stories260K.gguf")) {
        fprintf(stderr, "check_tokenizer: no test models under %s, skipping\n", models_dir());
        return 77;
    }
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_vectors, 0, (int)(sizeof(vector_files) / sizeof(vector_files[0])));
    tcase_add_test(tc, test_stories_prompt);
    tcase_add_test(tc, test_tiny_random_prompt);
    tcase_add_test(tc, test_quirky_special_ids);
    tcase_add_test(tc, test_spm_pieces_and_special);
    tcase_add_test(tc, test_bpe_pieces_and_special);
    tcase_add_test(tc, test_user_defined_always_split);
    tcase_add_test(tc, test_starcoder_fim);
    tcase_add_test(tc, test_missing_pre_uses_default);
    tcase_add_loop_test(tc, test_random_roundtrip, 0, (int)(sizeof(roundtrip_files) / sizeof(roundtrip_files[0])));
    tcase_add_test(tc, test_pretokenizers);
    tcase_add_test(tc, test_bad_metadata);
    tcase_add_test(tc, test_llama3_style_flags);
    tcase_add_loop_test(tc, test_throughput, 0, 2);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed;
}
