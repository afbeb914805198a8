/* check_kernels.c -- every dot-product kernel this CPU runs against the portable one and its own
   single-row form, and the batched matrix product against row-by-row products. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../plugins/models/llama/ggml_types.h"
#include "../plugins/models/llama/matmul.h"
#include "../plugins/models/llama/quant.h"
#include "../plugins/models/llama/quant_amx.h"

static const uint32_t k_types[] = { GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0,
                                    GGML_TYPE_Q4_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K };
/* Row lengths: one K-quant block and more, a Q8_0 multiple with a tail for the 32-wide loops
   (288), and one with a tail for the 8-wide ones (296, float types only). */
static const int64_t k_lens[] = { 256, 512, 288, 296 };
#define NR 8 /* weight rows */
#define NX 8 /* activation rows */

static float frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static int len_ok(uint32_t type, int64_t n)
{
    const ggml_type_traits *t = ggml_type_get(type), *v = ggml_type_get(quant_vec_dot_type(type));
    return n % t->block_elems == 0 && n % v->block_elems == 0;
}

/* NR quantised weight rows and NX converted activation rows of length n */
typedef struct fixture {
    uint32_t type;
    int64_t n;
    size_t rb, xb;
    uint8_t *w, *x;
} fixture;

static void fixture_make(fixture *f, uint32_t type, int64_t n, unsigned seed)
{
    float *v = malloc((size_t)n * sizeof *v);
    f->type = type;
    f->n = n;
    f->rb = quant_row_bytes(type, n);
    f->xb = quant_row_bytes(quant_vec_dot_type(type), n);
    f->w = malloc(NR * f->rb);
    f->x = malloc(NX * f->xb);
    for (int r = 0; r < NR; r++) {
        for (int64_t i = 0; i < n; i++)
            v[i] = frand(&seed) * (1.0f + (float)r); /* rows of different scales */
        ck_assert_uint_eq(quant_quantize_row(type, v, f->w + (size_t)r * f->rb, n), f->rb);
    }
    for (int c = 0; c < NX; c++) {
        for (int64_t i = 0; i < n; i++)
            v[i] = frand(&seed) * 3.0f;
        quant_act_row(quant_vec_dot_type(type), v, f->x + (size_t)c * f->xb, n);
    }
    free(v);
}

static void fixture_free(fixture *f)
{
    free(f->w);
    free(f->x);
}

static int same_bits(float a, float b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

/* The multi-row forms of `single` give, bit for bit, what `single` gives row by row. */
static void check_forms(const fixture *f, quant_vec_dot_fn single, const char *what)
{
    float want[NR][NX];
    for (int r = 0; r < NR; r++)
        for (int c = 0; c < NX; c++)
            want[r][c] = single(f->w + (size_t)r * f->rb, f->x + (size_t)c * f->xb, f->n);
    const quant_vec_dot4_fn d4 = quant_dot4_kernel(single);
    const quant_vec_dot4x2_fn d8 = quant_dot4x2_kernel(single);
    const quant_vec_rows4_fn r4 = quant_rows4_kernel(single);
    ck_assert_msg(d4 || !d8, "%s: a two-row form without the one-row form", what);
    for (int r = 0; r + 2 <= NR; r += 2)
        for (int c = 0; c + 4 <= NX; c += 4) {
            float o[8];
            if (d4) {
                d4(f->w + (size_t)r * f->rb, f->x + (size_t)c * f->xb, f->xb, f->n, o);
                for (int e = 0; e < 4; e++)
                    ck_assert_msg(same_bits(o[e], want[r][c + e]), "%s dot4 [%d][%d]: %.9g != %.9g", what, r,
                                  c + e, o[e], want[r][c + e]);
            }
            if (d8) {
                d8(f->w + (size_t)r * f->rb, f->rb, f->x + (size_t)c * f->xb, f->xb, f->n, o);
                for (int e = 0; e < 8; e++)
                    ck_assert_msg(same_bits(o[e], want[r + e / 4][c + e % 4]), "%s dot4x2 [%d][%d]: %.9g != %.9g",
                                  what, r + e / 4, c + e % 4, o[e], want[r + e / 4][c + e % 4]);
            }
        }
    if (r4)
        for (int r = 0; r + 4 <= NR; r += 4)
            for (int c = 0; c < NX; c++) {
                float o[4];
                r4(f->w + (size_t)r * f->rb, f->rb, f->x + (size_t)c * f->xb, f->n, o);
                for (int e = 0; e < 4; e++)
                    ck_assert_msg(same_bits(o[e], want[r + e][c]), "%s rows4 [%d][%d]: %.9g != %.9g", what, r + e,
                                  c, o[e], want[r + e][c]);
            }
}

/* Every level's kernel against the portable one: bit-identical where they share the
   summation order (the K-quants' integer sums, and every level above AVX2 against AVX2),
   within float rounding of a different order otherwise. */
START_TEST(test_levels_against_portable)
{
    const uint32_t type = k_types[_i];
    for (size_t li = 0; li < sizeof k_lens / sizeof k_lens[0]; li++) {
        const int64_t n = k_lens[li];
        if (!len_ok(type, n))
            continue;
        fixture f;
        fixture_make(&f, type, n, 77u + (unsigned)(_i * 31 + (int)li));
        const quant_vec_dot_fn port = quant_vec_dot_kernel(type, QUANT_ISA_PORTABLE);
        char what[64];
        snprintf(what, sizeof what, "type %u n %ld portable", type, (long)n);
        check_forms(&f, port, what);
        for (int isa = QUANT_ISA_AVX2; isa <= quant_isa(); isa++) {
            const quant_vec_dot_fn k = quant_vec_dot_kernel(type, isa), k2 = quant_vec_dot_kernel(type, QUANT_ISA_AVX2);
            snprintf(what, sizeof what, "type %u n %ld isa %d", type, (long)n, isa);
            for (int r = 0; r < NR; r++)
                for (int c = 0; c < NX; c++) {
                    const uint8_t *w = f.w + (size_t)r * f.rb, *x = f.x + (size_t)c * f.xb;
                    const float p = port(w, x, n), a = k(w, x, n);
                    if (type == GGML_TYPE_Q4_K || type == GGML_TYPE_Q6_K)
                        ck_assert_msg(same_bits(a, p), "%s: %.9g != portable %.9g", what, a, p);
                    else
                        ck_assert_msg(fabsf(a - p) <= 1e-6f * 24.0f * (float)n, /* |w x| <= 8 * 3 */
                                      "%s: %.9g vs portable %.9g", what, a, p);
                    if (isa > QUANT_ISA_AVX2)
                        ck_assert_msg(same_bits(a, k2(w, x, n)), "%s: %.9g != AVX2 %.9g", what, a, k2(w, x, n));
                }
            check_forms(&f, k, what);
        }
        /* the order of the AMX tiles, as one product */
        if (quant_isa() >= QUANT_ISA_AVX512 && quant_amx_order_dot(type))
            for (int r = 0; r < NR; r++)
                for (int c = 0; c < NX; c++) {
                    const uint8_t *w = f.w + (size_t)r * f.rb, *x = f.x + (size_t)c * f.xb;
                    const float p = port(w, x, n), a = quant_amx_order_dot(type)(w, x, n);
                    ck_assert_msg(fabsf(a - p) <= 1e-6f * 24.0f * (float)n, "type %u n %ld tile order: %.9g vs %.9g",
                                  type, (long)n, a, p);
                }
        /* the batched float kernels, in the order of the reference's tiled product */
        if (quant_isa() >= QUANT_ISA_AVX2 && n % 8 == 0) {
            const quant_vec_dot_fn t = quant_tile_dot_kernel(type);
            if (t) {
                snprintf(what, sizeof what, "type %u n %ld tile", type, (long)n);
                for (int r = 0; r < NR; r++) {
                    const float p = port(f.w + (size_t)r * f.rb, f.x, n), a = t(f.w + (size_t)r * f.rb, f.x, n);
                    ck_assert_msg(fabsf(a - p) <= 1e-3f * fmaxf(1.0f, fabsf(p)), "%s: %.9g vs %.9g", what, a, p);
                }
                check_forms(&f, t, what);
                /* on activations widened to float: the same sums */
                const quant_vec_dot_fn tf = quant_tile_dot_f32act_kernel(type);
                ck_assert_ptr_nonnull(tf);
                fixture g = f;
                float *xf = malloc(NX * (size_t)n * sizeof *xf);
                for (int c = 0; c < NX; c++)
                    quant_dequant_row(quant_vec_dot_type(type), f.x + (size_t)c * f.xb, xf + (size_t)c * n, n);
                g.x = (uint8_t *)xf;
                g.xb = (size_t)n * sizeof *xf;
                for (int r = 0; r < NR; r++)
                    for (int c = 0; c < NX; c++) {
                        const float a = tf(f.w + (size_t)r * f.rb, g.x + (size_t)c * g.xb, n),
                                    b = t(f.w + (size_t)r * f.rb, f.x + (size_t)c * f.xb, n);
                        ck_assert_msg(same_bits(a, b), "%s: widened %.9g != %.9g", what, a, b);
                    }
                snprintf(what, sizeof what, "type %u n %ld tile on floats", type, (long)n);
                check_forms(&g, tf, what);
                free(xf);
            }
        }
        fixture_free(&f);
    }
}
END_TEST

/* A batch through llm_matmul gives each row the value that row gives alone (the batched
   kernels sum as the single-row ones do), whatever path the type takes, at 1 and 2 threads;
   SGEMM paths are held to float rounding. With AMX, Q4_K and Q6_K batches give exactly the
   row kernels' sums, and batches of Q8_0 and Q4_0 exactly the products of
   quant_amx_order_dot, for whole groups of 16 rows and the rest, for fewer and more than 16
   activation rows (and more than the 128 of one pass of the tiles), for an odd number of
   blocks, and for views of scattered rows. */
static void matmul_case(uint32_t type, int n, int amx, int64_t cols)
{
    const int64_t rows = 40;
    unsigned seed = 4242u + type * 7u + (unsigned)n;
    const size_t rb = quant_row_bytes(type, cols), xb = quant_row_bytes(GGML_TYPE_Q8_0, cols);
    uint8_t *wd = malloc((size_t)rows * rb), *xq = malloc(xb);
    float *v = malloc((size_t)cols * sizeof *v), *X = malloc((size_t)n * cols * sizeof *X);
    float *Yb = malloc((size_t)n * rows * sizeof *Yb), *Y1 = malloc((size_t)rows * sizeof *Y1);
    float *Yv = malloc((size_t)n * 3 * sizeof *Yv);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t i = 0; i < cols; i++)
            v[i] = frand(&seed);
        quant_quantize_row(type, v, wd + (size_t)r * rb, cols);
    }
    for (int64_t i = 0; i < n * cols; i++)
        X[i] = frand(&seed) * 2.0f;
    const llm_weight w = { wd, type, rows, cols, rb, NULL };
    const int32_t ids[3] = { 39, 2, 17 };
    const llm_weight view = { wd, type, 3, cols, rb, ids };
    const int tiles = amx && (type == GGML_TYPE_Q8_0 || type == GGML_TYPE_Q4_0);
    for (int th = 1; th <= 2; th++) {
        llm_matmul_ctx mc;
        memset(&mc, 0, sizeof mc);
        mc.pool = llm_pool_create(th);
        mc.isa = quant_isa();
        mc.amx = amx;
        ck_assert_ptr_nonnull(mc.pool);
        ck_assert_int_eq(llm_matmul(&mc, &w, X, n, Yb), 0);
        ck_assert_int_eq(llm_matmul(&mc, &view, X, n, Yv), 0);
        /* exact for the types whose batches take the dot kernels at this level */
        const int exact = type == GGML_TYPE_Q8_0 || ((type == GGML_TYPE_Q4_K || type == GGML_TYPE_Q6_K) && amx) ||
                          ((type == GGML_TYPE_Q4_0 || type == GGML_TYPE_Q6_K) &&
                           quant_dot4_kernel(quant_vec_dot_kernel(type, mc.isa)));
        for (int i = 0; i < n; i++) {
            ck_assert_int_eq(llm_matmul(&mc, &w, X + (size_t)i * cols, 1, Y1), 0);
            if (tiles) {
                quant_act_row(GGML_TYPE_Q8_0, X + (size_t)i * cols, xq, cols);
                for (int64_t r = 0; r < rows; r++)
                    Y1[r] = quant_amx_order_dot(type)(wd + (size_t)r * rb, xq, cols);
            }
            for (int64_t r = 0; r < rows; r++) {
                const float b = Yb[(size_t)i * rows + r], s = Y1[r];
                if (exact || tiles)
                    ck_assert_msg(same_bits(b, s), "type %u n %d amx %d row %d col %ld: batch %.9g != single %.9g",
                                  type, n, amx, i, (long)r, b, s);
                else
                    ck_assert_msg(fabsf(b - s) <= 1e-3f * fmaxf(1.0f, fabsf(s)), "type %u row %d col %ld: %g vs %g",
                                  type, i, (long)r, b, s);
            }
            /* SGEMM on a gathered tile may block its sums otherwise */
            for (int k = 0; k < 3; k++) {
                const float got = Yv[(size_t)i * 3 + k], want = Yb[(size_t)i * rows + ids[k]];
                ck_assert_msg((exact || tiles) ? same_bits(got, want) : fabsf(got - want) <= 1e-5f * fmaxf(1.0f, fabsf(want)),
                              "type %u n %d amx %d: view row %d: %.9g != %.9g", type, n, amx, ids[k], got, want);
            }
        }
        llm_pool_free(mc.pool);
        free(mc.tile);
        free(mc.act);
        free(mc.actf);
        free(mc.pack);
        free(mc.kpack);
    }
    free(wd);
    free(xq);
    free(v);
    free(X);
    free(Yb);
    free(Y1);
    free(Yv);
}

START_TEST(test_matmul_batch_equals_rows)
{
    const int amx_max = quant_isa() >= QUANT_ISA_AVX512 && quant_have_amx();
    for (int amx = 0; amx <= amx_max; amx++) {
        matmul_case(k_types[_i], 11, amx, 512);
        matmul_case(k_types[_i], 21, amx, 512);
        /* an odd number of 32-weight blocks (the tiles take two at a time) */
        if (len_ok(k_types[_i], 288))
            matmul_case(k_types[_i], 21, amx, 288);
    }
    /* more activation rows than one pass of the tiles takes */
    if (amx_max)
        matmul_case(k_types[_i], 140, 1, 512);
}
END_TEST

int main(void)
{
    static const char *names[] = { "portable", "AVX2", "AVX-512 VNNI" };
    printf("kernel level of this CPU: %s%s\n", names[quant_isa()],
           quant_isa() >= QUANT_ISA_AVX512 && quant_have_amx() ? ", AMX tiles" : "");
    Suite *s = suite_create("kernels");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    const int nt = (int)(sizeof k_types / sizeof k_types[0]);
    tcase_add_loop_test(tc, test_levels_against_portable, 0, nt);
    tcase_add_loop_test(tc, test_matmul_batch_equals_rows, 0, nt);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
