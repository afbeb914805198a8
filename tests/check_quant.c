/* check_quant.c -- block layouts, dequantisation and row dot products against hand-built blocks. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../plugins/models/llama/quant.h"

static void put16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}

START_TEST(test_f16_known_values)
{
    ck_assert_float_eq(quant_f16_to_f32(0x3c00), 1.0f);
    ck_assert_float_eq(quant_f16_to_f32(0xc000), -2.0f);
    ck_assert_float_eq(quant_f16_to_f32(0x7bff), 65504.0f);
    ck_assert_float_eq(quant_f16_to_f32(0x0001), ldexpf(1.0f, -24));
    ck_assert(isinf(quant_f16_to_f32(0x7c00)));
    ck_assert_uint_eq(quant_f32_to_f16(1.0f), 0x3c00);
    ck_assert_uint_eq(quant_f32_to_f16(65520.0f), 0x7c00);
    /* 1 + 2^-11 is halfway between 1 and the next half: ties go to even (1.0) */
    ck_assert_uint_eq(quant_f32_to_f16(1.0f + ldexpf(1.0f, -11)), 0x3c00);
    ck_assert_uint_eq(quant_f32_to_f16(1.0f + 3 * ldexpf(1.0f, -11)), 0x3c02);
    /* every finite half survives a round trip */
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00)
            continue;
        ck_assert_uint_eq(quant_f32_to_f16(quant_f16_to_f32((uint16_t)h)), h);
    }
    ck_assert_float_eq(quant_bf16_to_f32(0x3f80), 1.0f);
    ck_assert_float_eq(quant_bf16_to_f32(0xc040), -3.0f);
    ck_assert_uint_eq(quant_f32_to_bf16(1.0f), 0x3f80);
    ck_assert_uint_eq(quant_f32_to_bf16(1.0f + ldexpf(1.0f, -8)), 0x3f80); /* tie to even */
}
END_TEST

START_TEST(test_q8_0_block)
{
    uint8_t blk[34];
    float out[32];
    put16(blk, 0x3800); /* 0.5 */
    for (int j = 0; j < 32; j++)
        blk[2 + j] = (uint8_t)(int8_t)(j - 16);
    quant_dequant_row(GGML_TYPE_Q8_0, blk, out, 32);
    for (int j = 0; j < 32; j++)
        ck_assert_float_eq(out[j], 0.5f * (float)(j - 16));
}
END_TEST

START_TEST(test_q4_0_block)
{
    uint8_t blk[18];
    float out[32];
    put16(blk, 0x4000); /* 2.0 */
    for (int j = 0; j < 16; j++)
        blk[2 + j] = (uint8_t)(j | ((15 - j) << 4));
    quant_dequant_row(GGML_TYPE_Q4_0, blk, out, 32);
    for (int j = 0; j < 16; j++) {
        ck_assert_float_eq(out[j], 2.0f * (float)(j - 8));
        ck_assert_float_eq(out[j + 16], 2.0f * (float)(7 - j));
    }
}
END_TEST

START_TEST(test_q4_K_block)
{
    /* 8 sub-blocks of 32 with 6-bit scales and mins; the high 2 bits of entries 4..7 live in
       the top bits of bytes 0..7, their low 4 bits in bytes 8..11. */
    static const uint8_t sc[8] = { 1, 2, 3, 4, 40, 50, 60, 63 };
    static const uint8_t mn[8] = { 0, 1, 2, 3, 17, 33, 48, 63 };
    uint8_t blk[144];
    float out[256];
    put16(blk, 0x3c00);     /* d = 1 */
    put16(blk + 2, 0x3800); /* dmin = 0.5 */
    blk[4 + 0] = (uint8_t)(1 | ((40 >> 4) << 6));
    blk[4 + 1] = (uint8_t)(2 | ((50 >> 4) << 6));
    blk[4 + 2] = (uint8_t)(3 | ((60 >> 4) << 6));
    blk[4 + 3] = (uint8_t)(4 | ((63 >> 4) << 6));
    blk[4 + 4] = (uint8_t)(0 | ((17 >> 4) << 6));
    blk[4 + 5] = (uint8_t)(1 | ((33 >> 4) << 6));
    blk[4 + 6] = (uint8_t)(2 | ((48 >> 4) << 6));
    blk[4 + 7] = (uint8_t)(3 | ((63 >> 4) << 6));
    blk[4 + 8] = (uint8_t)((40 & 15) | ((17 & 15) << 4));
    blk[4 + 9] = (uint8_t)((50 & 15) | ((33 & 15) << 4));
    blk[4 + 10] = (uint8_t)((60 & 15) | ((48 & 15) << 4));
    blk[4 + 11] = (uint8_t)((63 & 15) | ((63 & 15) << 4));
    for (int l = 0; l < 128; l++)
        blk[16 + l] = (uint8_t)((l % 16) | ((15 - l % 16) << 4));
    quant_dequant_row(GGML_TYPE_Q4_K, blk, out, 256);
    for (int i = 0; i < 256; i++) {
        int sub = i / 32, l = i % 32;
        /* sub-blocks 2k and 2k+1 share 32 bytes: low nibbles then high nibbles */
        int q = (sub % 2 == 0) ? (l % 16) : (15 - l % 16);
        float want = 1.0f * sc[sub] * (float)q - 0.5f * mn[sub];
        ck_assert_msg(out[i] == want, "element %d: %g != %g", i, out[i], want);
    }
}
END_TEST

START_TEST(test_q6_K_block)
{
    uint8_t blk[210], L[256];
    float out[256];
    memset(blk, 0, sizeof blk);
    for (int i = 0; i < 256; i++)
        L[i] = (uint8_t)((i * 7 + 3) % 64);
    /* each 128-element half: ql holds low nibbles of (e, e+64) and (e+32, e+96), qh the 2-bit highs */
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const uint8_t *q = L + 128 * h;
            blk[64 * h + l] = (uint8_t)((q[l] & 15) | ((q[l + 64] & 15) << 4));
            blk[64 * h + l + 32] = (uint8_t)((q[l + 32] & 15) | ((q[l + 96] & 15) << 4));
            blk[128 + 32 * h + l] = (uint8_t)((q[l] >> 4) | ((q[l + 32] >> 4) << 2) |
                                              ((q[l + 64] >> 4) << 4) | ((q[l + 96] >> 4) << 6));
        }
    for (int j = 0; j < 16; j++)
        blk[192 + j] = (uint8_t)(int8_t)(j - 8);
    put16(blk + 208, 0x3400); /* 0.25 */
    quant_dequant_row(GGML_TYPE_Q6_K, blk, out, 256);
    for (int i = 0; i < 256; i++) {
        float want = 0.25f * (float)(i / 16 - 8) * (float)(L[i] - 32);
        ck_assert_msg(out[i] == want, "element %d: %g != %g", i, out[i], want);
    }
}
END_TEST

static const uint32_t k_types[] = { GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0,
                                    GGML_TYPE_Q4_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K };

static float frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* Quantise random rows, then check dequantisation error, and that both dot-product kernels
   agree with dequantised weights . dequantised converted activations. */
START_TEST(test_roundtrip_and_dots)
{
    const int64_t n = 512;
    uint32_t type = k_types[_i];
    const uint32_t vt = quant_vec_dot_type(type);
    float *x = malloc(n * sizeof *x), *w = malloc(n * sizeof *w), *back = malloc(n * sizeof *back),
          *xr = malloc(n * sizeof *xr);
    uint8_t *q = malloc(n * 4), *xq = malloc(n * 4);
    unsigned seed = 1234u + (unsigned)_i;
    for (int64_t i = 0; i < n; i++) {
        w[i] = frand(&seed);
        x[i] = frand(&seed);
    }
    size_t nb = quant_quantize_row(type, w, q, n);
    ck_assert_uint_eq(nb, quant_row_bytes(type, n));
    quant_dequant_row(type, q, back, n);
    quant_act_row(vt, x, xq, n);
    quant_dequant_row(vt, xq, xr, n);
    /* worst-case step of each format for values in [-1, 1] */
    float tol = type == GGML_TYPE_F32 ? 0 : type == GGML_TYPE_F16 ? 1e-3f : type == GGML_TYPE_BF16 ? 8e-3f
              : type == GGML_TYPE_Q8_0 ? 1e-2f : type == GGML_TYPE_Q6_K ? 5e-2f : 0.2f;
    float xtol = vt == GGML_TYPE_F32 ? 0 : vt == GGML_TYPE_F16 ? 1e-3f : vt == GGML_TYPE_BF16 ? 8e-3f : 1e-2f;
    double ref = 0, mag = 0;
    for (int64_t i = 0; i < n; i++) {
        ck_assert_msg(fabsf(back[i] - w[i]) <= tol, "type %u elem %ld: %g vs %g", type, (long)i, back[i], w[i]);
        ck_assert_msg(fabsf(xr[i] - x[i]) <= xtol, "act %u elem %ld: %g vs %g", vt, (long)i, xr[i], x[i]);
        ref += (double)back[i] * xr[i];
        mag += fabs((double)back[i] * xr[i]);
    }
    if (quant_have_avx2()) {
        float *fast = malloc(n * sizeof *fast);
        if (quant_dequant_row_fast(type, q, fast, n))
            ck_assert_int_eq(memcmp(fast, back, n * sizeof *fast), 0);
        else
            ck_assert(type != GGML_TYPE_Q8_0 && type != GGML_TYPE_F16);
        free(fast);
    }
    float p = quant_vec_dot_kernel(type, 0)(q, xq, n);
    ck_assert_msg(fabs(p - ref) <= 1e-5 * mag + 1e-6, "portable dot %g vs %g", p, ref);
    if (quant_have_avx2()) {
        float a = quant_vec_dot_kernel(type, 1)(q, xq, n);
        ck_assert_msg(fabs(a - ref) <= 1e-5 * mag + 1e-6, "avx2 dot %g vs %g", a, ref);
    }
    free(x);
    free(w);
    free(back);
    free(xr);
    free(q);
    free(xq);
}
END_TEST

START_TEST(test_vec_dot_types)
{
    ck_assert_uint_eq(quant_vec_dot_type(GGML_TYPE_F32), GGML_TYPE_F32);
    ck_assert_uint_eq(quant_vec_dot_type(GGML_TYPE_F16), GGML_TYPE_F16);
    ck_assert_uint_eq(quant_vec_dot_type(GGML_TYPE_BF16), GGML_TYPE_BF16);
    ck_assert_uint_eq(quant_vec_dot_type(GGML_TYPE_Q8_0), GGML_TYPE_Q8_0);
    ck_assert_uint_eq(quant_vec_dot_type(GGML_TYPE_Q4_0), GGML_TYPE_Q8_0);
    ck_assert_uint_eq(quant_vec_dot_type(GGML_TYPE_Q4_K), GGML_TYPE_Q8_K);
    ck_assert_uint_eq(quant_vec_dot_type(GGML_TYPE_Q6_K), GGML_TYPE_Q8_K);
    ck_assert_uint_eq(sizeof(block_q8_K), 292);
    ck_assert_uint_eq(quant_row_bytes(GGML_TYPE_Q8_K, 512), 584);
}
END_TEST

/* Activation blocks as the reference builds them: Q8_0 scale amax/127 in half, values
   x * 127/amax rounded to nearest even; Q8_K scale -max/127 from the signed extreme, clamped
   to 127, with sums of 16. */
START_TEST(test_act_blocks)
{
    float x[256];
    uint8_t q[292];
    for (int j = 0; j < 32; j++)
        x[j] = (float)(j - 16);
    quant_act_row(GGML_TYPE_Q8_0, x, q, 32);
    uint16_t hd;
    memcpy(&hd, q, 2);
    ck_assert_uint_eq(hd, quant_f32_to_f16(16.0f / 127.0f));
    ck_assert_int_eq((int8_t)q[2 + 0], -127);   /* -16 * 7.9375 */
    ck_assert_int_eq((int8_t)q[2 + 17], 8);     /* 1 * 7.9375 */
    ck_assert_int_eq((int8_t)q[2 + 18], 16);    /* 15.875 */
    ck_assert_int_eq((int8_t)q[2 + 31], 119);   /* 15 * 7.9375 = 119.0625 */
    ck_assert_int_eq((int8_t)q[2 + 16], 0);
    for (int j = 0; j < 32; j++)
        x[j] = 0.0f;
    quant_act_row(GGML_TYPE_Q8_0, x, q, 32);
    memcpy(&hd, q, 2);
    ck_assert_uint_eq(hd, 0);
    for (int j = 0; j < 32; j++)
        ck_assert_int_eq(q[2 + j], 0);

    for (int j = 0; j < 256; j++)
        x[j] = (float)(j % 16) / 16.0f;
    x[5] = -2.0f; /* the signed extreme: iscale = -127 / -2 = 63.5 */
    quant_act_row(GGML_TYPE_Q8_K, x, q, 256);
    block_q8_K b;
    memcpy(&b, q, sizeof b);
    ck_assert_float_eq_tol(b.d, 1.0f / 63.5f, 1e-9f);
    ck_assert_int_eq(b.qs[5], -127);
    ck_assert_int_eq(b.qs[1], 4);   /* 63.5 / 16 = 3.97 */
    ck_assert_int_eq(b.qs[8], 32);  /* 31.75 */
    ck_assert_int_eq(b.qs[15], 60); /* 59.53 */
    for (int s = 0; s < 16; s++) {
        int sum = 0;
        for (int l = 0; l < 16; l++)
            sum += b.qs[16 * s + l];
        ck_assert_int_eq(b.bsums[s], sum);
    }
    /* a positive extreme gives a negative scale; +127 at the extreme after the clamp */
    x[5] = 2.0f;
    quant_act_row(GGML_TYPE_Q8_K, x, q, 256);
    memcpy(&b, q, sizeof b);
    ck_assert_float_lt(b.d, 0.0f);
    ck_assert_int_eq(b.qs[5], -127);
    ck_assert_int_eq(b.qs[8], -32);
    float back[256];
    quant_dequant_row(GGML_TYPE_Q8_K, q, back, 256);
    ck_assert_float_eq_tol(back[5], 2.0f, 1e-6f);
    ck_assert_float_eq_tol(back[8], 0.5f, 0.01f);
    /* half and bfloat rows round to nearest even */
    x[0] = 1.0f + ldexpf(1.0f, -11);
    quant_act_row(GGML_TYPE_F16, x, q, 1);
    memcpy(&hd, q, 2);
    ck_assert_uint_eq(hd, 0x3c00);
    quant_act_row(GGML_TYPE_BF16, x, q, 1);
    memcpy(&hd, q, 2);
    ck_assert_uint_eq(hd, 0x3f80);
}
END_TEST

START_TEST(test_row_geometry)
{
    ck_assert_uint_eq(quant_row_bytes(GGML_TYPE_Q8_0, 64), 68);
    ck_assert_uint_eq(quant_row_bytes(GGML_TYPE_Q4_0, 64), 36);
    ck_assert_uint_eq(quant_row_bytes(GGML_TYPE_Q4_K, 512), 288);
    ck_assert_uint_eq(quant_row_bytes(GGML_TYPE_Q6_K, 256), 210);
    ck_assert_uint_eq(sizeof(block_q4_K), 144);
    ck_assert_uint_eq(sizeof(block_q6_K), 210);
    ck_assert_uint_eq(sizeof(block_q8_0), 34);
    ck_assert_uint_eq(sizeof(block_q4_0), 18);
    ck_assert(!quant_supported(GGML_TYPE_Q5_K));
    ck_assert(quant_supported(GGML_TYPE_BF16));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("quant");
    TCase *tc = tcase_create("blocks");
    tcase_add_test(tc, test_f16_known_values);
    tcase_add_test(tc, test_q8_0_block);
    tcase_add_test(tc, test_q4_0_block);
    tcase_add_test(tc, test_q4_K_block);
    tcase_add_test(tc, test_q6_K_block);
    tcase_add_loop_test(tc, test_roundtrip_and_dots, 0, (int)(sizeof k_types / sizeof k_types[0]));
    tcase_add_test(tc, test_row_geometry);
    tcase_add_test(tc, test_vec_dot_types);
    tcase_add_test(tc, test_act_blocks);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
