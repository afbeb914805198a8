/* gguf.c -- bounds-checked, mmap-based GGUF v2/v3 reader. */
#define _POSIX_C_SOURCE 200809L
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ggml_types.h"

/* Parsing cursor over the whole file; every read goes through need(). */
typedef struct cursor {
    const uint8_t *base;
    size_t size;
    size_t pos;
    char *err;
    size_t errlen;
} cursor;

void gguf_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int need(cursor *c, uint64_t n, const char *what)
{
    if (n > c->size - c->pos) {
        gguf_errf(c->err, c->errlen, "%s: needs %" PRIu64 " bytes at offset %zu but the file has %zu",
                what, n, c->pos, c->size);
        return -1;
    }
    return 0;
}

static int rd_u32(cursor *c, uint32_t *v, const char *what)
{
    if (need(c, 4, what))
        return -1;
    memcpy(v, c->base + c->pos, 4);
    c->pos += 4;
    return 0;
}

static int rd_u64(cursor *c, uint64_t *v, const char *what)
{
    if (need(c, 8, what))
        return -1;
    memcpy(v, c->base + c->pos, 8);
    c->pos += 8;
    return 0;
}

static int rd_str(cursor *c, gguf_str *s, const char *what)
{
    uint64_t len;
    if (rd_u64(c, &len, what))
        return -1;
    if (len > c->size - c->pos) {
        gguf_errf(c->err, c->errlen, "%s: string length %" PRIu64 " at offset %zu runs past end of file",
                what, len, c->pos - 8);
        return -1;
    }
    s->ptr = (const char *)(c->base + c->pos);
    s->len = len;
    c->pos += (size_t)len;
    return 0;
}

size_t gguf_type_size(uint32_t type)
{
    switch (type) {
    case GGUF_T_U8: case GGUF_T_I8: case GGUF_T_BOOL: return 1;
    case GGUF_T_U16: case GGUF_T_I16: return 2;
    case GGUF_T_U32: case GGUF_T_I32: case GGUF_T_F32: return 4;
    case GGUF_T_U64: case GGUF_T_I64: case GGUF_T_F64: return 8;
    default: return 0;
    }
}

int gguf_str_eq(gguf_str s, const char *c)
{
    size_t n = strlen(c);
    return s.len == n && memcmp(s.ptr, c, n) == 0;
}

/* Skips over one value of `type`, checking it lies inside the file. */
static int skip_value(cursor *c, uint32_t type, const char *key, int depth)
{
    char what[200];
    size_t sz = gguf_type_size(type);
    if (sz) {
        snprintf(what, sizeof what, "key '%s': value", key);
        if (need(c, sz, what))
            return -1;
        if (type == GGUF_T_BOOL && c->base[c->pos] > 1) {
            gguf_errf(c->err, c->errlen, "key '%s': bool value %u at offset %zu is not 0 or 1", key,
                    c->base[c->pos], c->pos);
            return -1;
        }
        c->pos += sz;
        return 0;
    }
    if (type == GGUF_T_STR) {
        gguf_str s;
        snprintf(what, sizeof what, "key '%s': string value", key);
        return rd_str(c, &s, what);
    }
    if (type == GGUF_T_ARR) {
        uint32_t at;
        uint64_t n;
        if (depth > 0) {
            gguf_errf(c->err, c->errlen, "key '%s': nested arrays are not supported", key);
            return -1;
        }
        snprintf(what, sizeof what, "key '%s': array header", key);
        if (rd_u32(c, &at, what) || rd_u64(c, &n, what))
            return -1;
        size_t esz = gguf_type_size(at);
        if (esz) {
            if (n > (c->size - c->pos) / esz) {
                gguf_errf(c->err, c->errlen,
                        "key '%s': array of %" PRIu64 " elements at offset %zu runs past end of file",
                        key, n, c->pos);
                return -1;
            }
            if (at == GGUF_T_BOOL) {
                for (uint64_t i = 0; i < n; i++)
                    if (c->base[c->pos + i] > 1) {
                        gguf_errf(c->err, c->errlen, "key '%s': bool element %" PRIu64 " is not 0 or 1", key, i);
                        return -1;
                    }
            }
            c->pos += (size_t)(n * esz);
            return 0;
        }
        if (at == GGUF_T_STR) {
            /* Each string needs at least its 8-byte length. */
            if (n > (c->size - c->pos) / 8) {
                gguf_errf(c->err, c->errlen,
                        "key '%s': string array of %" PRIu64 " elements at offset %zu runs past end of file",
                        key, n, c->pos);
                return -1;
            }
            for (uint64_t i = 0; i < n; i++) {
                gguf_str s;
                snprintf(what, sizeof what, "key '%s': array element %" PRIu64, key, i);
                if (rd_str(c, &s, what))
                    return -1;
            }
            return 0;
        }
        if (at == GGUF_T_ARR) {
            gguf_errf(c->err, c->errlen, "key '%s': nested arrays are not supported", key);
            return -1;
        }
        gguf_errf(c->err, c->errlen, "key '%s': unknown array element type %u", key, at);
        return -1;
    }
    gguf_errf(c->err, c->errlen, "key '%s': unknown value type %u", key, type);
    return -1;
}

/* Key as a printable C string for messages (truncated, non-printables replaced). */
static void key_cstr(gguf_str s, char *buf, size_t n)
{
    size_t m = s.len < n - 1 ? (size_t)s.len : n - 1;
    for (size_t i = 0; i < m; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        buf[i] = (ch >= 32 && ch < 127) ? (char)ch : '?';
    }
    buf[m] = 0;
}

static int parse(gguf_file *f, char *err, size_t errlen)
{
    cursor c = { f->map, f->size, 0, err, errlen };
    char name[128], what[200];

    if (f->size < 4 || memcmp(f->map, "GGUF", 4) != 0) {
        gguf_errf(err, errlen, "magic: not a GGUF file");
        return -1;
    }
    c.pos = 4;
    if (rd_u32(&c, &f->version, "version"))
        return -1;
    if (f->version != 2 && f->version != 3) {
        gguf_errf(err, errlen, "version: unsupported GGUF version %u (need 2 or 3)", f->version);
        return -1;
    }
    if (rd_u64(&c, &f->n_tensors, "tensor count") || rd_u64(&c, &f->n_kv, "metadata count"))
        return -1;
    /* A key-value pair takes at least 8+4+1 bytes, a tensor info at least 8+4+4+8; anything
       larger than the file could hold is corruption, and checking first avoids huge callocs. */
    if (f->n_kv > (f->size - c.pos) / 13) {
        gguf_errf(err, errlen, "metadata count: %" PRIu64 " entries cannot fit in a %zu-byte file",
                f->n_kv, f->size);
        return -1;
    }
    if (f->n_tensors > (f->size - c.pos) / 24) {
        gguf_errf(err, errlen, "tensor count: %" PRIu64 " tensors cannot fit in a %zu-byte file",
                f->n_tensors, f->size);
        return -1;
    }
    f->kv = calloc(f->n_kv ? f->n_kv : 1, sizeof *f->kv);
    f->tensors = calloc(f->n_tensors ? f->n_tensors : 1, sizeof *f->tensors);
    if (!f->kv || !f->tensors) {
        gguf_errf(err, errlen, "out of memory");
        return -1;
    }
    for (uint64_t i = 0; i < f->n_kv; i++) {
        gguf_kv *kv = &f->kv[i];
        snprintf(what, sizeof what, "metadata entry %" PRIu64 ": key", i);
        if (rd_str(&c, &kv->key, what))
            return -1;
        key_cstr(kv->key, name, sizeof name);
        snprintf(what, sizeof what, "key '%s': type", name);
        if (rd_u32(&c, &kv->type, what))
            return -1;
        for (uint64_t j = 0; j < i; j++)
            if (f->kv[j].key.len == kv->key.len && memcmp(f->kv[j].key.ptr, kv->key.ptr, kv->key.len) == 0) {
                gguf_errf(err, errlen, "key '%s': duplicate metadata key", name);
                return -1;
            }
        if (kv->type == GGUF_T_ARR) {
            size_t start = c.pos;
            snprintf(what, sizeof what, "key '%s': array header", name);
            if (rd_u32(&c, &kv->arr_type, what) || rd_u64(&c, &kv->arr_n, what))
                return -1;
            kv->data = f->map + c.pos;
            c.pos = start;
        } else {
            kv->data = f->map + c.pos;
        }
        if (skip_value(&c, kv->type, name, 0))
            return -1;
    }

    f->alignment = 32;
    const gguf_kv *al = gguf_find(f, "general.alignment");
    if (al) {
        uint32_t a;
        /* At least 8, so that every tensor starts where its floats (and the
         * halves of quantised blocks) may be read in place. */
        if (gguf_get_u32(f, "general.alignment", &a) != 0 || a < 8 || (a & (a - 1)) != 0) {
            gguf_errf(err, errlen, "key 'general.alignment': must be a power of two of at least 8");
            return -1;
        }
        f->alignment = a;
    }

    for (uint64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        snprintf(what, sizeof what, "tensor %" PRIu64 ": name", i);
        if (rd_str(&c, &t->name, what))
            return -1;
        key_cstr(t->name, name, sizeof name);
        snprintf(what, sizeof what, "tensor '%s': dimension count", name);
        if (rd_u32(&c, &t->n_dims, what))
            return -1;
        if (t->n_dims < 1 || t->n_dims > 4) {
            gguf_errf(err, errlen, "tensor '%s': dimension count %u is not in 1..4", name, t->n_dims);
            return -1;
        }
        uint64_t nel = 1;
        for (uint32_t d = 0; d < 4; d++) {
            t->ne[d] = 1;
            if (d < t->n_dims) {
                snprintf(what, sizeof what, "tensor '%s': dimension %u", name, d);
                if (rd_u64(&c, &t->ne[d], what))
                    return -1;
                if (t->ne[d] == 0 || t->ne[d] > (UINT64_C(1) << 40)) {
                    gguf_errf(err, errlen, "tensor '%s': dimension %u has invalid size %" PRIu64, name, d, t->ne[d]);
                    return -1;
                }
            }
            if (t->ne[d] > (UINT64_C(1) << 62) / nel) {
                gguf_errf(err, errlen, "tensor '%s': element count overflows", name);
                return -1;
            }
            nel *= t->ne[d];
        }
        snprintf(what, sizeof what, "tensor '%s': type", name);
        if (rd_u32(&c, &t->type, what))
            return -1;
        const ggml_type_traits *tr = ggml_type_get(t->type);
        if (!tr) {
            gguf_errf(err, errlen, "tensor '%s': unknown ggml type %u", name, t->type);
            return -1;
        }
        if (t->ne[0] % tr->block_elems != 0) {
            gguf_errf(err, errlen, "tensor '%s': row length %" PRIu64 " is not a multiple of the %s block size %u",
                    name, t->ne[0], tr->name, tr->block_elems);
            return -1;
        }
        t->nbytes = nel / tr->block_elems * tr->block_bytes;
        snprintf(what, sizeof what, "tensor '%s': data offset", name);
        if (rd_u64(&c, &t->offset, what))
            return -1;
        for (uint64_t j = 0; j < i; j++)
            if (f->tensors[j].name.len == t->name.len &&
                memcmp(f->tensors[j].name.ptr, t->name.ptr, t->name.len) == 0) {
                gguf_errf(err, errlen, "tensor '%s': duplicate tensor name", name);
                return -1;
            }
    }

    uint64_t data_start = ((uint64_t)c.pos + f->alignment - 1) / f->alignment * f->alignment;
    if (f->n_tensors > 0 && data_start > f->size) {
        gguf_errf(err, errlen, "tensor data: section starts at %" PRIu64 ", past end of file (%zu bytes)",
                data_start, f->size);
        return -1;
    }
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        key_cstr(t->name, name, sizeof name);
        uint64_t avail = f->size - data_start;
        if (t->offset > avail || t->nbytes > avail - t->offset) {
            gguf_errf(err, errlen, "tensor '%s': data extends past end of file (offset %" PRIu64
                    ", %" PRIu64 " bytes, %" PRIu64 " bytes available)", name, t->offset, t->nbytes, avail);
            return -1;
        }
        if (t->offset % f->alignment != 0) {
            gguf_errf(err, errlen, "tensor '%s': data offset %" PRIu64 " is not a multiple of the file's alignment %" PRIu64,
                    name, t->offset, f->alignment);
            return -1;
        }
        t->data = f->map + data_start + t->offset;
    }
    return 0;
}

static gguf_file *open_map(const uint8_t *map, size_t size, int owns, char *err, size_t errlen)
{
    gguf_file *f = calloc(1, sizeof *f);
    if (!f) {
        gguf_errf(err, errlen, "out of memory");
        return NULL;
    }
    f->map = map;
    f->size = size;
    f->owns_map = owns;
    if (parse(f, err, errlen)) {
        gguf_close(f);
        return NULL;
    }
    return f;
}

gguf_file *gguf_open_memory(const void *buf, size_t size, char *err, size_t errlen)
{
    if (!buf && size) {
        gguf_errf(err, errlen, "no buffer");
        return NULL;
    }
    return open_map(buf, size, 0, err, errlen);
}

gguf_file *gguf_open(const char *path, char *err, size_t errlen)
{
    /* O_NONBLOCK: a FIFO would block this open until someone writes to it,
     * before the regular-file check below could refuse it. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        gguf_errf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        gguf_errf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || st.st_size < 8) {
        gguf_errf(err, errlen, "%s: not a GGUF file (%s)", path,
                  S_ISDIR(st.st_mode) ? "a directory" : !S_ISREG(st.st_mode) ? "not a regular file" : "too small");
        close(fd);
        return NULL;
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        gguf_errf(err, errlen, "%s: mmap: %s", path, strerror(errno));
        return NULL;
    }
    char inner[400];
    inner[0] = 0;
    gguf_file *f = open_map(m, (size_t)st.st_size, 1, inner, sizeof inner);
    if (!f)
        gguf_errf(err, errlen, "%s: %s", path, inner);
    return f;
}

void gguf_close(gguf_file *f)
{
    if (!f)
        return;
    if (f->owns_map && f->map)
        munmap((void *)f->map, f->size);
    free(f->kv);
    free(f->tensors);
    free(f);
}

const gguf_kv *gguf_find(const gguf_file *f, const char *key)
{
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (gguf_str_eq(f->kv[i].key, key))
            return &f->kv[i];
    return NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name)
{
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (gguf_str_eq(f->tensors[i].name, name))
            return &f->tensors[i];
    return NULL;
}

/* Reads an integer-typed value as a signed/unsigned pair; returns -2 for non-integers. */
static int read_int(uint32_t type, const uint8_t *p, int64_t *s, uint64_t *u, int *is_signed)
{
    switch (type) {
    case GGUF_T_U8: *u = p[0]; *is_signed = 0; return 0;
    case GGUF_T_I8: { int8_t v; memcpy(&v, p, 1); *s = v; *is_signed = 1; return 0; }
    case GGUF_T_U16: { uint16_t v; memcpy(&v, p, 2); *u = v; *is_signed = 0; return 0; }
    case GGUF_T_I16: { int16_t v; memcpy(&v, p, 2); *s = v; *is_signed = 1; return 0; }
    case GGUF_T_U32: { uint32_t v; memcpy(&v, p, 4); *u = v; *is_signed = 0; return 0; }
    case GGUF_T_I32: { int32_t v; memcpy(&v, p, 4); *s = v; *is_signed = 1; return 0; }
    case GGUF_T_U64: { uint64_t v; memcpy(&v, p, 8); *u = v; *is_signed = 0; return 0; }
    case GGUF_T_I64: { int64_t v; memcpy(&v, p, 8); *s = v; *is_signed = 1; return 0; }
    default: return -2;
    }
}

static int int_in_range(uint32_t type, const uint8_t *p, int64_t lo, uint64_t hi, int64_t *out)
{
    int64_t s = 0;
    uint64_t u = 0;
    int sg = 0;
    if (read_int(type, p, &s, &u, &sg))
        return -2;
    if (sg) {
        if (s < lo || (s >= 0 && (uint64_t)s > hi))
            return -2;
        *out = s;
    } else {
        if (u > hi)
            return -2;
        *out = (int64_t)u;
    }
    return 0;
}

int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out)
{
    const gguf_kv *kv = gguf_find(f, key);
    int64_t v;
    if (!kv)
        return -1;
    if (int_in_range(kv->type, kv->data, 0, UINT32_MAX, &v))
        return -2;
    *out = (uint32_t)v;
    return 0;
}

int gguf_get_i32(const gguf_file *f, const char *key, int32_t *out)
{
    const gguf_kv *kv = gguf_find(f, key);
    int64_t v;
    if (!kv)
        return -1;
    if (int_in_range(kv->type, kv->data, INT32_MIN, INT32_MAX, &v))
        return -2;
    *out = (int32_t)v;
    return 0;
}

int gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out)
{
    const gguf_kv *kv = gguf_find(f, key);
    int64_t s = 0;
    uint64_t u = 0;
    int sg = 0;
    if (!kv)
        return -1;
    if (read_int(kv->type, kv->data, &s, &u, &sg))
        return -2;
    if (sg) {
        if (s < 0)
            return -2;
        u = (uint64_t)s;
    }
    *out = u;
    return 0;
}

int gguf_get_f32(const gguf_file *f, const char *key, float *out)
{
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv)
        return -1;
    if (kv->type == GGUF_T_F32) {
        memcpy(out, kv->data, 4);
        return 0;
    }
    if (kv->type == GGUF_T_F64) {
        double d;
        memcpy(&d, kv->data, 8);
        *out = (float)d;
        return 0;
    }
    return -2;
}

int gguf_get_bool(const gguf_file *f, const char *key, int *out)
{
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv)
        return -1;
    if (kv->type != GGUF_T_BOOL)
        return -2;
    *out = kv->data[0] != 0;
    return 0;
}

int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out)
{
    const gguf_kv *kv = gguf_find(f, key);
    uint64_t len;
    if (!kv)
        return -1;
    if (kv->type != GGUF_T_STR)
        return -2;
    memcpy(&len, kv->data, 8);
    out->ptr = (const char *)kv->data + 8;
    out->len = len;
    return 0;
}

int gguf_get_str_array(const gguf_file *f, const char *key, gguf_str **out, uint64_t *n)
{
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv)
        return -1;
    if (kv->type != GGUF_T_ARR || kv->arr_type != GGUF_T_STR)
        return -2;
    gguf_str *a = malloc((kv->arr_n ? kv->arr_n : 1) * sizeof *a);
    if (!a)
        return -2;
    /* Bounds were validated when the file was parsed. */
    const uint8_t *p = kv->data;
    for (uint64_t i = 0; i < kv->arr_n; i++) {
        uint64_t len;
        memcpy(&len, p, 8);
        a[i].ptr = (const char *)p + 8;
        a[i].len = len;
        p += 8 + len;
    }
    *out = a;
    *n = kv->arr_n;
    return 0;
}

static int elem_to_double(uint32_t type, const uint8_t *p, double *d)
{
    int64_t s = 0;
    uint64_t u = 0;
    int sg = 0;
    if (type == GGUF_T_F32) {
        float v;
        memcpy(&v, p, 4);
        *d = v;
        return 0;
    }
    if (type == GGUF_T_F64) {
        memcpy(d, p, 8);
        return 0;
    }
    if (read_int(type, p, &s, &u, &sg))
        return -2;
    *d = sg ? (double)s : (double)u;
    return 0;
}

int gguf_get_f32_array(const gguf_file *f, const char *key, float **out, uint64_t *n)
{
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv)
        return -1;
    size_t esz = kv->type == GGUF_T_ARR ? gguf_type_size(kv->arr_type) : 0;
    if (!esz || kv->arr_type == GGUF_T_BOOL)
        return -2;
    float *a = malloc((kv->arr_n ? kv->arr_n : 1) * sizeof *a);
    if (!a)
        return -2;
    for (uint64_t i = 0; i < kv->arr_n; i++) {
        double d;
        elem_to_double(kv->arr_type, kv->data + i * esz, &d);
        a[i] = (float)d;
    }
    *out = a;
    *n = kv->arr_n;
    return 0;
}

int gguf_get_i32_array(const gguf_file *f, const char *key, int32_t **out, uint64_t *n)
{
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv)
        return -1;
    size_t esz = kv->type == GGUF_T_ARR ? gguf_type_size(kv->arr_type) : 0;
    if (!esz || kv->arr_type == GGUF_T_BOOL || kv->arr_type == GGUF_T_F32 || kv->arr_type == GGUF_T_F64)
        return -2;
    int32_t *a = malloc((kv->arr_n ? kv->arr_n : 1) * sizeof *a);
    if (!a)
        return -2;
    for (uint64_t i = 0; i < kv->arr_n; i++) {
        int64_t v;
        if (int_in_range(kv->arr_type, kv->data + i * esz, INT32_MIN, INT32_MAX, &v)) {
            free(a);
            return -2;
        }
        a[i] = (int32_t)v;
    }
    *out = a;
    *n = kv->arr_n;
    return 0;
}
