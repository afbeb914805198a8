/* ggml_types.h -- ggml tensor type ids and their block geometry. */
#ifndef DECOKIT_LLAMA_GGML_TYPES_H
#define DECOKIT_LLAMA_GGML_TYPES_H

#include <stdint.h>

enum {
    GGML_TYPE_F32 = 0, GGML_TYPE_F16 = 1, GGML_TYPE_Q4_0 = 2, GGML_TYPE_Q4_1 = 3,
    GGML_TYPE_Q5_0 = 6, GGML_TYPE_Q5_1 = 7, GGML_TYPE_Q8_0 = 8, GGML_TYPE_Q8_1 = 9,
    GGML_TYPE_Q2_K = 10, GGML_TYPE_Q3_K = 11, GGML_TYPE_Q4_K = 12, GGML_TYPE_Q5_K = 13,
    GGML_TYPE_Q6_K = 14, GGML_TYPE_Q8_K = 15, GGML_TYPE_BF16 = 30
};

typedef struct ggml_type_traits {
    uint32_t id;
    const char *name;
    uint32_t block_elems; /* elements per block */
    uint32_t block_bytes; /* bytes per block */
} ggml_type_traits;

/* NULL for ids this reader does not know (the file is then rejected). */
const ggml_type_traits *ggml_type_get(uint32_t id);

#endif
