/* gguf_add_kv.c -- test helper: copy a GGUF file with one more key (a string, or a u32 written u32:N). */
#include "gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int put(FILE *f, const void *p, size_t n) { return fwrite(p, 1, n, f) == n ? 0 : -1; }

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: gguf_add_kv IN OUT KEY VALUE\n");
    return 2;
  }
  char msg[256];
  gguf_file *g = gguf_open(argv[1], msg, sizeof msg);
  if (!g) {
    fprintf(stderr, "gguf_add_kv: %s\n", msg);
    return 1;
  }
  if (!g->n_tensors) {
    fprintf(stderr, "gguf_add_kv: %s has no tensors\n", argv[1]);
    return 1;
  }
  /* Header 24 bytes, then the key-value pairs up to the first tensor's
   * info (its name's length prefix), then the tensor infos, padding and
   * data, whose offsets are relative to the data section and do not move. */
  const uint8_t *map = g->map;
  size_t kv_end = (size_t)((const uint8_t *)g->tensors[0].name.ptr - 8 - map);
  size_t ti_len = 0;
  for (uint64_t i = 0; i < g->n_tensors; i++)
    ti_len += 8 + g->tensors[i].name.len + 4 + 8 * (size_t)g->tensors[i].n_dims + 4 + 8;
  size_t data = (size_t)((const uint8_t *)g->tensors[0].data - map) - (size_t)g->tensors[0].offset;
  FILE *f = fopen(argv[2], "wb");
  if (!f) {
    perror(argv[2]);
    return 1;
  }
  uint32_t version = g->version, type = GGUF_T_STR;
  uint64_t n_tensors = g->n_tensors, n_kv = g->n_kv + 1;
  uint64_t klen = strlen(argv[3]), vlen = strlen(argv[4]);
  int u32 = strncmp(argv[4], "u32:", 4) == 0;
  uint32_t num = u32 ? (uint32_t)strtoul(argv[4] + 4, NULL, 10) : 0;
  if (u32) type = GGUF_T_U32;
  int rc = put(f, "GGUF", 4) || put(f, &version, 4) || put(f, &n_tensors, 8) || put(f, &n_kv, 8) ||
           put(f, map + 24, kv_end - 24) || put(f, &klen, 8) || put(f, argv[3], klen) || put(f, &type, 4) ||
           (u32 ? put(f, &num, 4) : put(f, &vlen, 8) || put(f, argv[4], vlen)) ||
           put(f, map + kv_end, ti_len);
  long pos = ftell(f);
  static const uint8_t zeros[256];
  size_t pad = (size_t)((g->alignment - (uint64_t)pos % g->alignment) % g->alignment);
  rc = rc || pad > sizeof zeros || put(f, zeros, pad) || put(f, map + data, g->size - data);
  rc = fclose(f) || rc;
  gguf_close(g);
  if (rc) fprintf(stderr, "gguf_add_kv: could not write %s\n", argv[2]);
  return rc ? 1 : 0;
}
