/* check_models.c -- the bundled default models: checksums, strict GGUF load, shared tokenizer, reference ids. */
#include <check.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "sha256.h"
#include "vocab.h"

static const char *const MODEL_FILES[] = {"decokit-tiny.gguf", "decokit-tiny-draft.gguf"};

static void model_path(char *out, size_t cap, const char *name)
{
    const char *src = getenv("DECOKIT_SRCDIR");
    snprintf(out, cap, "%s/models/%s", src && *src ? src : ".", name);
}

static char *read_all(const char *name, size_t *len)
{
    char p[4096];
    model_path(p, sizeof p, name);
    FILE *fp = fopen(p, "rb");
    ck_assert_msg(fp != NULL, "cannot open %s", p);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert(buf != NULL);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static gguf_file *open_model(const char *name)
{
    char p[4096], err[256] = "";
    model_path(p, sizeof p, name);
    gguf_file *f = gguf_open(p, err, sizeof err);
    ck_assert_msg(f != NULL, "%s: %s", name, err);
    return f;
}

static json_t *load_reference(void)
{
    char p[4096];
    json_error_t je;
    model_path(p, sizeof p, "reference.json");
    json_t *j = json_load_file(p, 0, &je);
    ck_assert_msg(j != NULL, "reference.json: %s", je.text);
    return j;
}

START_TEST(test_sha256_vectors)
{
    static const struct {
        const char *msg, *hex;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        sha256_ctx c;
        uint8_t d[32];
        char hex[65];
        sha256_init(&c);
        /* Feed in two uneven pieces so the buffering path is exercised. */
        size_t n = strlen(v[i].msg), half = n / 3;
        sha256_update(&c, v[i].msg, half);
        sha256_update(&c, v[i].msg + half, n - half);
        sha256_final(&c, d);
        for (int k = 0; k < 32; k++)
            snprintf(hex + 2 * k, 3, "%02x", d[k]);
        ck_assert_str_eq(hex, v[i].hex);
    }
}
END_TEST

START_TEST(test_checksums)
{
    size_t len;
    char *sums = read_all("SHA256SUMS", &len);
    int n_files = 0, n_models = 0;
    for (char *line = strtok(sums, "\n"); line; line = strtok(NULL, "\n")) {
        char want[65], name[256], p[4096], got[65];
        ck_assert_msg(sscanf(line, "%64s %255s", want, name) == 2, "bad line: %s", line);
        model_path(p, sizeof p, name);
        ck_assert_msg(sha256_file_hex(p, got) == 0, "cannot read %s", p);
        ck_assert_msg(strcmp(got, want) == 0, "%s: sha256 %s, SHA256SUMS says %s", name, got, want);
        n_files++;
        for (size_t i = 0; i < 2; i++)
            n_models += strcmp(name, MODEL_FILES[i]) == 0;
    }
    free(sums);
    ck_assert_int_eq(n_models, 2);
    ck_assert_int_ge(n_files, 4);
}
END_TEST

static int has_prefix(gguf_str s, const char *p)
{
    size_t n = strlen(p);
    return s.len >= n && memcmp(s.ptr, p, n) == 0;
}

static void expect_tensor(const gguf_file *f, const char *name, uint64_t ne0, uint64_t ne1)
{
    const gguf_tensor *t = gguf_find_tensor(f, name);
    ck_assert_msg(t != NULL, "tensor %s missing", name);
    ck_assert_msg(t->type == 0, "%s: type %u, want F32", name, t->type);
    ck_assert_msg(t->ne[0] == ne0 && t->ne[1] == ne1 && t->ne[2] == 1 && t->ne[3] == 1,
                  "%s: shape [%llu, %llu], want [%llu, %llu]", name, (unsigned long long)t->ne[0],
                  (unsigned long long)t->ne[1], (unsigned long long)ne0, (unsigned long long)ne1);
}

START_TEST(test_gguf_strict)
{
    gguf_file *f = open_model(MODEL_FILES[_i]);
    ck_assert_uint_eq(f->version, 3);
    ck_assert_msg(f->n_warnings == 0, "%s: %s", MODEL_FILES[_i], f->warnings[0]);
    /* Only keys llama.cpp itself defines: general.*, llama.*, tokenizer.ggml.* */
    for (uint64_t i = 0; i < f->n_kv; i++)
        ck_assert_msg(has_prefix(f->kv[i].key, "general.") || has_prefix(f->kv[i].key, "llama.") ||
                          has_prefix(f->kv[i].key, "tokenizer.ggml."),
                      "non-standard key %.*s", (int)f->kv[i].key.len, f->kv[i].key.ptr);
    gguf_str arch;
    ck_assert_int_eq(gguf_get_str(f, "general.architecture", &arch), 0);
    ck_assert(gguf_str_eq(arch, "llama"));
    uint32_t n_embd, n_layer, n_ff, n_head, n_kv, n_rot, n_vocab;
    ck_assert_int_eq(gguf_get_u32(f, "llama.embedding_length", &n_embd), 0);
    ck_assert_int_eq(gguf_get_u32(f, "llama.block_count", &n_layer), 0);
    ck_assert_int_eq(gguf_get_u32(f, "llama.feed_forward_length", &n_ff), 0);
    ck_assert_int_eq(gguf_get_u32(f, "llama.attention.head_count", &n_head), 0);
    ck_assert_int_eq(gguf_get_u32(f, "llama.attention.head_count_kv", &n_kv), 0);
    ck_assert_int_eq(gguf_get_u32(f, "llama.rope.dimension_count", &n_rot), 0);
    ck_assert_int_eq(gguf_get_u32(f, "llama.vocab_size", &n_vocab), 0);
    ck_assert_uint_eq(n_rot, n_embd / n_head);
    uint64_t kv_dim = (uint64_t)n_embd / n_head * n_kv;
    expect_tensor(f, "token_embd.weight", n_embd, n_vocab);
    expect_tensor(f, "output.weight", n_embd, n_vocab);
    expect_tensor(f, "output_norm.weight", n_embd, 1);
    for (uint32_t l = 0; l < n_layer; l++) {
        char nm[64];
#define T(suffix, a, b) (snprintf(nm, sizeof nm, "blk.%u." suffix, l), expect_tensor(f, nm, a, b))
        T("attn_norm.weight", n_embd, 1);
        T("attn_q.weight", n_embd, n_embd);
        T("attn_k.weight", n_embd, kv_dim);
        T("attn_v.weight", n_embd, kv_dim);
        T("attn_output.weight", n_embd, n_embd);
        T("ffn_norm.weight", n_embd, 1);
        T("ffn_gate.weight", n_embd, n_ff);
        T("ffn_up.weight", n_embd, n_ff);
        T("ffn_down.weight", n_ff, n_embd);
#undef T
    }
    ck_assert_uint_eq(f->n_tensors, 3 + 9 * (uint64_t)n_layer);
    gguf_close(f);
}
END_TEST

START_TEST(test_shared_tokenizer)
{
    gguf_file *a = open_model(MODEL_FILES[0]), *b = open_model(MODEL_FILES[1]);
    gguf_str *ta, *tb;
    float *sa, *sb;
    int32_t *ya, *yb;
    uint64_t n[6];
    ck_assert_int_eq(gguf_get_str_array(a, "tokenizer.ggml.tokens", &ta, &n[0]), 0);
    ck_assert_int_eq(gguf_get_str_array(b, "tokenizer.ggml.tokens", &tb, &n[1]), 0);
    ck_assert_int_eq(gguf_get_f32_array(a, "tokenizer.ggml.scores", &sa, &n[2]), 0);
    ck_assert_int_eq(gguf_get_f32_array(b, "tokenizer.ggml.scores", &sb, &n[3]), 0);
    ck_assert_int_eq(gguf_get_i32_array(a, "tokenizer.ggml.token_type", &ya, &n[4]), 0);
    ck_assert_int_eq(gguf_get_i32_array(b, "tokenizer.ggml.token_type", &yb, &n[5]), 0);
    for (int i = 1; i < 6; i++)
        ck_assert_uint_eq(n[i], n[0]);
    for (uint64_t i = 0; i < n[0]; i++) {
        ck_assert(ta[i].len == tb[i].len && memcmp(ta[i].ptr, tb[i].ptr, ta[i].len) == 0);
        ck_assert(sa[i] == sb[i]);
        ck_assert_int_eq(ya[i], yb[i]);
    }
    /* SentencePiece layout: <unk>, <s>, </s>, then the 256 byte tokens. */
    ck_assert(gguf_str_eq(ta[0], "<unk>") && gguf_str_eq(ta[1], "<s>") && gguf_str_eq(ta[2], "</s>"));
    ck_assert(gguf_str_eq(ta[3], "<0x00>") && gguf_str_eq(ta[258], "<0xFF>"));
    ck_assert_int_eq(ya[0], 2);
    ck_assert_int_eq(ya[1], 3);
    ck_assert_int_eq(ya[3], 6);
    ck_assert_int_eq(ya[259], 1);
    free(ta), free(tb), free(sa), free(sb), free(ya), free(yb);
    gguf_close(a);
    gguf_close(b);
}
END_TEST

/* decokit's tokenizer must give exactly the ids the training script got from sentencepiece. */
START_TEST(test_reference_tokens)
{
    json_t *ref = load_reference();
    json_t *m = json_object_get(json_object_get(ref, "models"), MODEL_FILES[_i]);
    ck_assert(m != NULL);
    gguf_file *f = open_model(MODEL_FILES[_i]);
    char err[256] = "";
    llm_vocab *v = llm_vocab_load(f, err, sizeof err);
    ck_assert_msg(v != NULL, "%s", err);
    ck_assert_str_eq(llm_vocab_warnings(v), "");
    uint32_t n_ctx;
    ck_assert_int_eq(gguf_get_u32(f, "llama.context_length", &n_ctx), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(m, "n_ctx")), n_ctx);

    const char *prompt = json_string_value(json_object_get(m, "prompt"));
    json_t *want = json_object_get(m, "prompt_ids");
    int32_t ids[256];
    size_t n = 0;
    ck_assert_int_eq(llm_tokenize(v, prompt, strlen(prompt), 1, 0, ids, 256, &n), 0);
    ck_assert_uint_eq(n, json_array_size(want));
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(ids[i], json_integer_value(json_array_get(want, i)));

    size_t len;
    char *text = read_all("heldout.txt", &len);
    int32_t *all = malloc(sizeof(int32_t) * (len + 2));
    ck_assert(all != NULL);
    ck_assert_int_eq(llm_tokenize(v, text, len, 1, 0, all, len + 2, &n), 0);
    ck_assert_int_eq((json_int_t)n, json_integer_value(json_object_get(m, "heldout_tokens")));
    free(all);
    free(text);
    llm_vocab_free(v);
    gguf_close(f);
    json_decref(ref);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("models");
    TCase *tc = tcase_create("bundled");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_sha256_vectors);
    tcase_add_test(tc, test_checksums);
    tcase_add_loop_test(tc, test_gguf_strict, 0, 2);
    tcase_add_test(tc, test_shared_tokenizer);
    tcase_add_loop_test(tc, test_reference_tokens, 0, 2);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed;
}
