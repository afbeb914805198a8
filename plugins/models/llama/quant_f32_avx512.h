/* quant_f32_avx512.h -- the float tile kernel over four weight rows, for CPUs with AVX-512VL. */
#ifndef DECOKIT_LLAMA_QUANT_F32_AVX512_H
#define DECOKIT_LLAMA_QUANT_F32_AVX512_H

#include "quant.h"

/* Four float weight rows by four float activation rows (n a multiple of 8), each product
   summed as the AVX2 tiled kernel sums it; NULL unless the CPU has AVX-512 F and VL. */
quant_vec_dot4x4_fn quant_f32_tile_4x4_kernel(void);

#endif
