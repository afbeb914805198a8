/* gguf.h -- bounds-checked, mmap-based GGUF v2/v3 reader. */
#ifndef DECOKIT_LLAMA_GGUF_H
#define DECOKIT_LLAMA_GGUF_H

#include <stddef.h>
#include <stdint.h>

/* Not NUL-terminated; points into the map. */
typedef struct gguf_str {
    const char *ptr;
    uint64_t len;
} gguf_str;

enum {
    GGUF_T_U8 = 0, GGUF_T_I8 = 1, GGUF_T_U16 = 2, GGUF_T_I16 = 3, GGUF_T_U32 = 4, GGUF_T_I32 = 5,
    GGUF_T_F32 = 6, GGUF_T_BOOL = 7, GGUF_T_STR = 8, GGUF_T_ARR = 9, GGUF_T_U64 = 10,
    GGUF_T_I64 = 11, GGUF_T_F64 = 12
};

typedef struct gguf_kv {
    gguf_str key;
    uint32_t type;
    uint32_t arr_type;   /* element type when type == GGUF_T_ARR */
    uint64_t arr_n;      /* element count when type == GGUF_T_ARR */
    const uint8_t *data; /* value bytes (for arrays: first element) */
} gguf_kv;

typedef struct gguf_tensor {
    gguf_str name;
    uint32_t n_dims;
    uint64_t ne[4];      /* unused dimensions are 1 */
    uint32_t type;       /* ggml type id */
    uint64_t offset;     /* relative to the start of the data section */
    const void *data;
    uint64_t nbytes;
} gguf_tensor;

#define GGUF_MAX_WARNINGS 8

typedef struct gguf_file {
    const uint8_t *map;
    size_t size;
    uint32_t version;
    uint64_t n_kv, n_tensors;
    gguf_kv *kv;
    gguf_tensor *tensors;
    uint64_t alignment;
    /* Oddities that did not prevent loading (e.g. unaligned tensor data). */
    int n_warnings;
    char warnings[GGUF_MAX_WARNINGS][160];
    int owns_map; /* 1 when the map came from mmap and must be unmapped */
} gguf_file;

/* printf into a caller's error buffer (nothing when err is NULL or errlen 0);
 * the one error formatter of the gguf reader, the engine and the synth tool. */
void gguf_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

gguf_file *gguf_open(const char *path, char *err, size_t errlen);   /* NULL + message on failure */
gguf_file *gguf_open_memory(const void *buf, size_t size, char *err, size_t errlen); /* borrows buf */
void gguf_close(gguf_file *f);

const gguf_kv *gguf_find(const gguf_file *f, const char *key);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* Scalar getters: 0 = ok, -1 = missing, -2 = wrong type / out of range. Integer getters
   accept any integer type whose value fits. */
int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out);
int gguf_get_i32(const gguf_file *f, const char *key, int32_t *out);
int gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out);
int gguf_get_f32(const gguf_file *f, const char *key, float *out);
int gguf_get_bool(const gguf_file *f, const char *key, int *out);
int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out);

/* Arrays: the caller frees *out with free(). String arrays return views into the map.
   Numeric arrays convert from any numeric element type (integers must fit). */
int gguf_get_str_array(const gguf_file *f, const char *key, gguf_str **out, uint64_t *n);
int gguf_get_f32_array(const gguf_file *f, const char *key, float **out, uint64_t *n);
int gguf_get_i32_array(const gguf_file *f, const char *key, int32_t **out, uint64_t *n);

/* Size in bytes of one element of a scalar GGUF value type; 0 for STR/ARR/unknown. */
size_t gguf_type_size(uint32_t type);
/* Compare a gguf_str to a C string. */
int gguf_str_eq(gguf_str s, const char *c);

#endif
