/* quant.h -- ggml block layouts: dequantisation, row dot products, simple quantisers. */
#ifndef DECOKIT_LLAMA_QUANT_H
#define DECOKIT_LLAMA_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "ggml_types.h"

#define QK8_0 32
#define QK4_0 32
#define QK_K 256

/* Block layouts exactly as ggml stores them (little-endian, packed). */
typedef struct { uint16_t d; int8_t qs[QK8_0]; } block_q8_0;                 /* 34 bytes */
typedef struct { uint16_t d; uint8_t qs[QK4_0 / 2]; } block_q4_0;            /* 18 bytes */
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[QK_K / 2]; } block_q4_K; /* 144 */
typedef struct { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; uint16_t d; } block_q6_K; /* 210 */
/* Activations only: the companion of the K-quants in dot products. */
typedef struct { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; } block_q8_K; /* 292 */

float quant_f16_to_f32(uint16_t h);
uint16_t quant_f32_to_f16(float f);
float quant_bf16_to_f32(uint16_t h);
uint16_t quant_f32_to_bf16(float f);

/* 1 for the types the engine computes with: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K. */
int quant_supported(uint32_t type);
/* Bytes of a row of n elements (n a multiple of the block size). */
size_t quant_row_bytes(uint32_t type, int64_t n);

/* Also takes Q8_K (activation rows). */
void quant_dequant_row(uint32_t type, const void *row, float *out, int64_t n);
/* The same with AVX2 for the types that have a vector version (Q8_0, F16): returns 1 when it
   ran, 0 otherwise. Only when quant_have_avx2() is true. Bit-identical to quant_dequant_row. */
int quant_dequant_row_fast(uint32_t type, const void *row, float *out, int64_t n);

/* Dot products follow the reference CPU kernels: the activation row is first converted to the
   weight type's companion format (F32 -> F32, F16 -> F16, BF16 -> BF16, Q8_0 and Q4_0 -> Q8_0,
   Q4_K and Q6_K -> Q8_K), rounding exactly as they do, and then multiplied with integer or
   low-precision arithmetic. */
uint32_t quant_vec_dot_type(uint32_t wtype);
/* x (n floats, n a multiple of the companion's block) converted to vtype. */
void quant_act_row(uint32_t vtype, const float *x, void *out, int64_t n);
/* row . x for a weight row of the given type and x converted by quant_act_row. */
typedef float (*quant_vec_dot_fn)(const void *row, const void *x, int64_t n);
/* Instruction sets, each level including the ones below it. */
enum { QUANT_ISA_PORTABLE = 0, QUANT_ISA_AVX2 = 1, QUANT_ISA_AVX512 = 2 /* F, VL, BW, VNNI */ };
/* The highest level this CPU runs. */
int quant_isa(void);
/* The kernel of the highest level <= isa that has one for wtype; isa may only name a level
   the CPU runs. The AVX2 and AVX-512 kernels of a type give identical sums. */
quant_vec_dot_fn quant_vec_dot_kernel(uint32_t wtype, int isa);
int quant_have_avx2(void);
/* For batches of F32 and F16 weights (n a multiple of 8), with activations converted by
   quant_act_row: the AVX2 dot product in the order of the reference's tiled kernel. NULL for
   other types; only when quant_have_avx2() is true. */
quant_vec_dot_fn quant_tile_dot_kernel(uint32_t wtype);
/* The same sums with the activations widened to float (quant_dequant_row of the converted
   row): bit-identical to quant_tile_dot_kernel's, fewer conversions in the loop. */
quant_vec_dot_fn quant_tile_dot_f32act_kernel(uint32_t wtype);
/* The same products for four activation rows xs bytes apart against one weight row, written
   to out[0..3], each summed exactly as `single` sums it; NULL when `single` has no such form. */
typedef void (*quant_vec_dot4_fn)(const void *row, const void *x, size_t xs, int64_t n, float *out);
quant_vec_dot4_fn quant_dot4_kernel(quant_vec_dot_fn single);
/* The same for two weight rows rs bytes apart: out[0..3] for the first, out[4..7] the second. */
typedef void (*quant_vec_dot4x2_fn)(const void *row, size_t rs, const void *x, size_t xs, int64_t n, float *out);
quant_vec_dot4x2_fn quant_dot4x2_kernel(quant_vec_dot_fn single);
/* Four weight rows rs bytes apart against one activation row: out[0..3], each summed exactly
   as `single` sums it (generation's products); NULL when `single` has no such form. */
typedef void (*quant_vec_rows4_fn)(const void *row, size_t rs, const void *x, int64_t n, float *out);
quant_vec_rows4_fn quant_rows4_kernel(quant_vec_dot_fn single);

/* Round-to-nearest quantisation of one row (for writing synthetic models); returns bytes
   written, 0 for unsupported types. Not tuned for quality. */
size_t quant_quantize_row(uint32_t type, const float *x, void *out, int64_t n);

#endif
