/* replay.c -- make check's driver: run a fuzz target over its seed corpus and regression inputs. */
/*
 * Built with the ordinary compiler and no libFuzzer, so every committed
 * input (seeds and the crashes fuzzing found) is replayed cheaply on every
 * make check.  FUZZ_NAME names the target; inputs live in
 * tests/fuzz/corpus/NAME/ and tests/fuzz/regress/NAME/ (and FUZZ_MORE_SEEDS, a
 * folder of the source tree, when defined).
 */
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t replay_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  size_t n = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    FILE *f = fopen(path, "rb");
    if (!f) continue;
    size_t cap = 1 << 16, len = 0, got;
    unsigned char *buf = malloc(cap);
    while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
      len += got;
      if (len == cap) {
        unsigned char *t = realloc(buf, cap *= 2);
        if (!t) break;
        buf = t;
      }
    }
    fclose(f);
    if (!buf) continue;
    /* An exact-size copy, so reading past the input is caught as in libFuzzer. */
    unsigned char *exact = malloc(len ? len : 1);
    memcpy(exact, buf, len);
    free(buf);
    fprintf(stderr, "replay %s\n", path);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    n++;
  }
  closedir(d);
  return n;
}

int main(int argc, char **argv) {
  const char *src = getenv("DECOKIT_SRCDIR");
  if (!src) src = ".";
  LLVMFuzzerInitialize(&argc, &argv);
  const char *why = fuzz_unavailable();
  if (why) {
    printf("%s: skipping (%s)\n", FUZZ_NAME, why);
    return 77;
  }
  char dir[4096];
  size_t n = 0;
  snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", src, FUZZ_NAME);
  n += replay_dir(dir);
  snprintf(dir, sizeof dir, "%s/tests/fuzz/regress/%s", src, FUZZ_NAME);
  n += replay_dir(dir);
#ifdef FUZZ_MORE_SEEDS
  /* Seeds that live elsewhere in the tree (the example pipelines). */
  snprintf(dir, sizeof dir, "%s/%s", src, FUZZ_MORE_SEEDS);
  n += replay_dir(dir);
#endif
  printf("%s: %zu inputs replayed\n", FUZZ_NAME, n);
  return n ? 0 : 1;
}
