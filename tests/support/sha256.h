/* sha256.h -- SHA-256 (FIPS 180-4) for checking the bundled model files. */
#ifndef DECOKIT_MODELS_SHA256_H
#define DECOKIT_MODELS_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct sha256_ctx {
    uint32_t h[8];
    uint64_t total;
    uint8_t buf[64];
    size_t used;
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t len);
void sha256_final(sha256_ctx *c, uint8_t out[32]);
/* Lower-case hex digest of a whole file into hex[65]; 0 = ok, -1 = cannot read it. */
int sha256_file_hex(const char *path, char hex[65]);

#endif
