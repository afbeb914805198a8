/* quant_avx512.h -- the AVX-512 VNNI kernels, looked up by quant.c's dispatch. */
#ifndef DECOKIT_LLAMA_QUANT_AVX512_H
#define DECOKIT_LLAMA_QUANT_AVX512_H

#include "quant.h"

/* 1 when the CPU has AVX-512 F, VL, BW and VNNI (and AVX2, FMA, F16C). */
int quant_have_avx512vnni(void);
/* NULL where there is no AVX-512 kernel (the AVX2 one serves); only when
   quant_have_avx512vnni() is true. */
quant_vec_dot_fn quant_avx512_dot(uint32_t wtype);
quant_vec_dot4_fn quant_avx512_dot4(quant_vec_dot_fn single);
quant_vec_dot4x2_fn quant_avx512_dot4x2(quant_vec_dot_fn single);
quant_vec_rows4_fn quant_avx512_rows4(quant_vec_dot_fn single);

#endif
