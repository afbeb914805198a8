/* fuzz.h -- what every fuzz target provides: libFuzzer's entry points and an availability check. */
#ifndef DK_FUZZ_H
#define DK_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* NULL when the target can run; otherwise why not (e.g. reference models absent). */
const char *fuzz_unavailable(void);

/* data[0..size) as a NUL-terminated string (caller frees); NULL when out of memory. */
char *fuzz_text(const uint8_t *data, size_t size);

/* A finding: print what broke and abort, so libFuzzer saves the input. */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
