/* check_gguf.c -- the GGUF reader on hand-built files: values, arrays, alignment and errors. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../plugins/models/llama/ggml_types.h"
#include "../plugins/models/llama/gguf.h"

static const uint8_t k_zeros[64];

/* A growable byte buffer for writing GGUF by hand. */
typedef struct bb {
    uint8_t *p;
    size_t n, cap;
} bb;

static void put(bb *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void u32(bb *b, uint32_t v) { put(b, &v, 4); }
static void u64(bb *b, uint64_t v) { put(b, &v, 8); }
static void str(bb *b, const char *s) { u64(b, strlen(s)); put(b, s, strlen(s)); }
static void pad(bb *b, size_t a) { while (b->n % a) put(b, "", 1); }

static void header(bb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    put(b, "GGUF", 4);
    u32(b, version);
    u64(b, n_tensors);
    u64(b, n_kv);
}

/* A small valid file: scalar and array metadata and two F32 tensors. */
static bb valid_file(uint32_t version)
{
    bb b = { 0 };
    header(&b, version, 2, 7);
    str(&b, "general.architecture"); u32(&b, GGUF_T_STR); str(&b, "llama");
    str(&b, "llama.block_count"); u32(&b, GGUF_T_U32); u32(&b, 5);
    str(&b, "neg"); u32(&b, GGUF_T_I32); u32(&b, (uint32_t)-7);
    str(&b, "eps"); u32(&b, GGUF_T_F32); { float f = 1e-5f; put(&b, &f, 4); }
    str(&b, "flag"); u32(&b, GGUF_T_BOOL); put(&b, "\1", 1);
    str(&b, "words"); u32(&b, GGUF_T_ARR); u32(&b, GGUF_T_STR); u64(&b, 3); str(&b, "a"); str(&b, ""); str(&b, "xyz");
    str(&b, "nums"); u32(&b, GGUF_T_ARR); u32(&b, GGUF_T_I16); u64(&b, 3);
    { int16_t v[3] = { -1, 2, 300 }; put(&b, v, 6); }
    str(&b, "a.weight"); u32(&b, 2); u64(&b, 4); u64(&b, 2); u32(&b, GGML_TYPE_F32); u64(&b, 0);
    str(&b, "b.weight"); u32(&b, 1); u64(&b, 3); u32(&b, GGML_TYPE_F32); u64(&b, 32);
    pad(&b, 32);
    for (int i = 0; i < 8; i++) { float f = (float)i; put(&b, &f, 4); }
    for (int i = 0; i < 3; i++) { float f = 10.0f + i; put(&b, &f, 4); }
    return b;
}

START_TEST(test_valid_file)
{
    bb b = valid_file(_i ? 2 : 3);
    char err[256];
    gguf_file *f = gguf_open_memory(b.p, b.n, err, sizeof err);
    ck_assert_msg(f != NULL, "%s", err);
    ck_assert_uint_eq(f->n_kv, 7);
    ck_assert_uint_eq(f->n_tensors, 2);
    gguf_str s;
    ck_assert_int_eq(gguf_get_str(f, "general.architecture", &s), 0);
    ck_assert(gguf_str_eq(s, "llama"));
    uint32_t u;
    int32_t i;
    float e;
    int fl;
    ck_assert_int_eq(gguf_get_u32(f, "llama.block_count", &u), 0);
    ck_assert_uint_eq(u, 5);
    ck_assert_int_eq(gguf_get_i32(f, "llama.block_count", &i), 0);
    ck_assert_int_eq(i, 5);
    ck_assert_int_eq(gguf_get_i32(f, "neg", &i), 0);
    ck_assert_int_eq(i, -7);
    ck_assert_int_eq(gguf_get_u32(f, "neg", &u), -2); /* negative does not fit */
    ck_assert_int_eq(gguf_get_u32(f, "missing", &u), -1);
    ck_assert_int_eq(gguf_get_f32(f, "eps", &e), 0);
    ck_assert_float_eq(e, 1e-5f);
    ck_assert_int_eq(gguf_get_f32(f, "general.architecture", &e), -2);
    ck_assert_int_eq(gguf_get_bool(f, "flag", &fl), 0);
    ck_assert_int_eq(fl, 1);
    gguf_str *w;
    uint64_t n;
    ck_assert_int_eq(gguf_get_str_array(f, "words", &w, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert(gguf_str_eq(w[0], "a") && gguf_str_eq(w[1], "") && gguf_str_eq(w[2], "xyz"));
    free(w);
    int32_t *iv;
    ck_assert_int_eq(gguf_get_i32_array(f, "nums", &iv, &n), 0);
    ck_assert(n == 3 && iv[0] == -1 && iv[1] == 2 && iv[2] == 300);
    free(iv);
    float *fv;
    ck_assert_int_eq(gguf_get_f32_array(f, "nums", &fv, &n), 0);
    ck_assert_float_eq(fv[2], 300.0f);
    free(fv);
    ck_assert_int_eq(gguf_get_str_array(f, "nums", &w, &n), -2);
    const gguf_tensor *t = gguf_find_tensor(f, "a.weight");
    ck_assert(t != NULL);
    ck_assert(t->ne[0] == 4 && t->ne[1] == 2 && t->ne[2] == 1 && t->nbytes == 32);
    ck_assert_float_eq(((const float *)t->data)[7], 7.0f);
    t = gguf_find_tensor(f, "b.weight");
    ck_assert_float_eq(((const float *)t->data)[2], 12.0f);
    ck_assert(gguf_find_tensor(f, "c.weight") == NULL);
    ck_assert_int_eq(f->n_warnings, 0);
    gguf_close(f);
    free(b.p);
}
END_TEST

/* Each case builds a broken file and names the text the error must contain. */
static void expect_error(bb *b, const char *needle)
{
    char err[256] = "";
    gguf_file *f = gguf_open_memory(b->p, b->n, err, sizeof err);
    ck_assert_msg(f == NULL, "loaded a broken file (expected '%s')", needle);
    ck_assert_msg(strstr(err, needle) != NULL, "error '%s' does not mention '%s'", err, needle);
    free(b->p);
}

START_TEST(test_errors_name_the_field)
{
    bb b = { 0 };
    put(&b, "GGUX", 4); u32(&b, 3); u64(&b, 0); u64(&b, 0);
    expect_error(&b, "magic");

    b = (bb){ 0 };
    header(&b, 1, 0, 0);
    expect_error(&b, "version");

    b = (bb){ 0 };
    header(&b, 3, 0, 1000000);
    expect_error(&b, "metadata count");

    b = (bb){ 0 };
    header(&b, 3, UINT64_MAX, 0);
    expect_error(&b, "tensor count");

    b = (bb){ 0 };
    header(&b, 3, 0, 1);
    u64(&b, 1000); put(&b, "key-with-some-bytes-after-it", 28);
    expect_error(&b, "metadata entry 0: key");

    b = (bb){ 0 };
    header(&b, 3, 0, 1);
    str(&b, "tokenizer.ggml.tokens"); u32(&b, GGUF_T_ARR); u32(&b, GGUF_T_STR); u64(&b, 2); str(&b, "a");
    u64(&b, 99); put(&b, "b", 1);
    expect_error(&b, "tokenizer.ggml.tokens");

    b = (bb){ 0 };
    header(&b, 3, 0, 1);
    str(&b, "k"); u32(&b, 77); u32(&b, 0);
    expect_error(&b, "unknown value type");

    b = (bb){ 0 };
    header(&b, 3, 0, 2);
    str(&b, "k"); u32(&b, GGUF_T_U32); u32(&b, 1);
    str(&b, "k"); u32(&b, GGUF_T_U32); u32(&b, 2);
    expect_error(&b, "duplicate");

    b = (bb){ 0 };
    header(&b, 3, 0, 1);
    str(&b, "flag"); u32(&b, GGUF_T_BOOL); put(&b, "\2", 1);
    expect_error(&b, "'flag'");

    b = (bb){ 0 };
    header(&b, 3, 0, 1);
    str(&b, "general.alignment"); u32(&b, GGUF_T_U32); u32(&b, 24);
    expect_error(&b, "general.alignment");

    b = (bb){ 0 };
    header(&b, 3, 1, 0);
    str(&b, "blk.0.attn_q.weight"); u32(&b, 5); u64(&b, 1); u64(&b, 1); u64(&b, 1); u64(&b, 1); u64(&b, 1);
    u32(&b, 0); u64(&b, 0);
    expect_error(&b, "tensor 'blk.0.attn_q.weight': dimension count");

    b = (bb){ 0 };
    header(&b, 3, 1, 0);
    str(&b, "t"); u32(&b, 1); u64(&b, 33); u32(&b, GGML_TYPE_Q8_0); u64(&b, 0);
    pad(&b, 32);
    put(&b, k_zeros, 64);
    expect_error(&b, "block size");

    b = (bb){ 0 };
    header(&b, 3, 1, 0);
    str(&b, "t"); u32(&b, 1); u64(&b, 4); u32(&b, 99); u64(&b, 0);
    expect_error(&b, "unknown ggml type");

    b = (bb){ 0 };
    header(&b, 3, 1, 0);
    str(&b, "blk.0.attn_q.weight"); u32(&b, 2); u64(&b, 64); u64(&b, 64); u32(&b, GGML_TYPE_F32); u64(&b, 0);
    pad(&b, 32);
    u64(&b, 0);
    expect_error(&b, "tensor 'blk.0.attn_q.weight': data extends past end of file");

    b = (bb){ 0 };
    header(&b, 3, 1, 0);
    str(&b, "t"); u32(&b, 2); u64(&b, UINT64_C(1) << 39); u64(&b, UINT64_C(1) << 39); u32(&b, 0); u64(&b, 0);
    expect_error(&b, "overflows");

    b = (bb){ 0 };
    header(&b, 3, 2, 0);
    str(&b, "t"); u32(&b, 1); u64(&b, 8); u32(&b, 0); u64(&b, 0);
    str(&b, "t"); u32(&b, 1); u64(&b, 8); u32(&b, 0); u64(&b, 32);
    pad(&b, 32);
    put(&b, k_zeros, 64);
    expect_error(&b, "duplicate tensor name");
}
END_TEST

/* Misaligned tensor data used to load with a warning and then be read as
 * misaligned floats; it is refused with the offset in the message. */
START_TEST(test_unaligned_offset_refused)
{
    bb b = { 0 };
    header(&b, 3, 1, 0);
    str(&b, "t"); u32(&b, 1); u64(&b, 2); u32(&b, GGML_TYPE_F32); u64(&b, 4);
    pad(&b, 32);
    for (int i = 0; i < 4; i++) { float f = (float)i; put(&b, &f, 4); }
    expect_error(&b, "tensor 't': data offset 4 is not a multiple of the file's alignment 32");

    /* An alignment of 1 would make every offset "aligned". */
    b = (bb){ 0 };
    header(&b, 3, 1, 1);
    str(&b, "general.alignment"); u32(&b, GGUF_T_U32); u32(&b, 1);
    str(&b, "t"); u32(&b, 1); u64(&b, 2); u32(&b, GGML_TYPE_F32); u64(&b, 1);
    put(&b, k_zeros, 16);
    expect_error(&b, "key 'general.alignment': must be a power of two of at least 8");
}
END_TEST

/* Every prefix of a valid file is refused with a message, never read past its end. */
START_TEST(test_every_truncation)
{
    bb b = valid_file(3);
    size_t data_end = b.n;
    for (size_t cut = 0; cut < data_end; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, b.p, cut);
        char err[256] = "";
        gguf_file *f = gguf_open_memory(copy, cut, err, sizeof err);
        ck_assert_msg(f == NULL, "prefix of %zu bytes loaded", cut);
        ck_assert(err[0] != 0);
        free(copy);
    }
    free(b.p);
}
END_TEST

START_TEST(test_open_errors)
{
    char err[256] = "";
    ck_assert(gguf_open("/nonexistent/dir/x.gguf", err, sizeof err) == NULL);
    ck_assert(strstr(err, "x.gguf") != NULL);
    const char *dir = getenv("DECOKIT_TEST_MODELS");
    char path[1024];
    snprintf(path, sizeof path, "%s/stories260K.gguf", dir && *dir ? dir : "../shared/models");
    gguf_file *f = gguf_open(path, err, sizeof err);
    if (!f)
        return; /* reference models absent: the file test above covers mmap-less parsing */
    ck_assert_uint_eq(f->n_tensors, 48);
    uint32_t ctx;
    ck_assert_int_eq(gguf_get_u32(f, "llama.context_length", &ctx), 0);
    ck_assert_uint_eq(ctx, 512);
    gguf_str *toks;
    uint64_t n;
    ck_assert_int_eq(gguf_get_str_array(f, "tokenizer.ggml.tokens", &toks, &n), 0);
    ck_assert_uint_eq(n, 512);
    free(toks);
    gguf_close(f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gguf");
    TCase *tc = tcase_create("reader");
    tcase_add_loop_test(tc, test_valid_file, 0, 2);
    tcase_add_test(tc, test_errors_name_the_field);
    tcase_add_test(tc, test_unaligned_offset_refused);
    tcase_add_test(tc, test_every_truncation);
    tcase_add_test(tc, test_open_errors);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
