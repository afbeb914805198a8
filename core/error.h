/* error.h -- the host-owned error object behind the opaque dk_error. */
#ifndef DK_CORE_ERROR_H
#define DK_CORE_ERROR_H

#include <stdarg.h>
#include <decokit/plugin.h>

#define DK_ERROR_MAX 2048

struct dk_error {
  int code;
  char msg[DK_ERROR_MAX];
};

void dk_error_clear(dk_error *err);
/* Record code and message; returns code so callers can `return dk_error_set(...)`. */
int dk_error_set(dk_error *err, int code, const char *fmt, ...) DK_PRINTF(3, 4);
int dk_error_vset(dk_error *err, int code, const char *fmt, va_list ap) DK_PRINTF(3, 0);
/* Put context in front of an existing message ("pipeline.yaml:3:5: " + msg). */
int dk_error_prefix(dk_error *err, const char *fmt, ...) DK_PRINTF(2, 3);
/* A plugin returned an error code without a message: make one up. */
void dk_error_ensure(dk_error *err, int code, const char *what);
const char *dk_status_name(int code);

#endif
