/* quant_amx.h -- batched Q8_0, Q4_0, Q4_K and Q6_K weight products on AMX tiles (Intel AMX-INT8). */
#ifndef DECOKIT_LLAMA_QUANT_AMX_H
#define DECOKIT_LLAMA_QUANT_AMX_H

#include <stddef.h>
#include <stdint.h>

#include "quant.h"

/* 1 when the CPU has AMX-INT8 (and AVX-512 VNNI) and the OS grants this process the tile
   state. Only then may the functions below run. */
int quant_have_amx(void);

/* The products sum in their own order, shared by both functions below: per block, the exact
   integer sum of its 32 products, then one fused multiply-add of it times (weight scale *
   activation scale) into one accumulator per product, block after block. So a product has
   the same value whichever path computes it, but not the value of the row kernels of
   quant_vec_dot_kernel (which keep eight partial sums). */

/* Bytes of the packed form of n Q8_0 activation rows of cols elements. */
size_t quant_amx_pack_bytes(int n, int64_t cols);
/* n activation rows (Q8_0, xs bytes apart) packed as the tiles read them. */
void quant_amx_pack(const uint8_t *x, size_t xs, int n, int64_t cols, void *pack);
/* y[i * yr + r] = weight row r . activation row i for r in [r0, r1), of a Q8_0 or Q4_0 matrix
   at w with rows rb bytes apart; pack from quant_amx_pack of the rows x (kept for the rows
   past the last whole group of 16). */
void quant_amx_rows(uint32_t wtype, const uint8_t *w, size_t rb, int64_t r0, int64_t r1, int64_t cols,
                    const void *pack, const uint8_t *x, size_t xs, int n, float *y, size_t yr);
/* Q4_K and Q6_K weights against Q8_K activations: bit-identical to their row kernels (exact
   integer sums per super-block, the per-block float expression of the portable kernels).
   The pack holds n Q8_K activation rows xs bytes apart. */
size_t quant_amx_k_pack_bytes(int n, int64_t cols);
void quant_amx_k_pack(const uint8_t *x, size_t xs, int n, int64_t cols, void *pack);
void quant_amx_k_rows(uint32_t wtype, const uint8_t *w, size_t rb, int64_t r0, int64_t r1, int64_t cols,
                      const void *pack, const uint8_t *x, size_t xs, int n, float *y, size_t yr);
/* One product in that order (for views of scattered rows); NULL for other types. Needs
   AVX-512 VNNI. */
quant_vec_dot_fn quant_amx_order_dot(uint32_t wtype);

#endif
