/* error.c -- fill, prefix and name errors; nothing here prints. */
#include "error.h"

#include <stdio.h>
#include <string.h>

void dk_error_clear(dk_error *err) {
  if (!err) return;
  err->code = DK_OK;
  err->msg[0] = '\0';
}

int dk_error_vset(dk_error *err, int code, const char *fmt, va_list ap) {
  if (!err) return code;
  err->code = code;
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  return code;
}

int dk_error_set(dk_error *err, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  dk_error_vset(err, code, fmt, ap);
  va_end(ap);
  return code;
}

int dk_error_prefix(dk_error *err, const char *fmt, ...) {
  if (!err) return DK_ERR_INTERNAL;
  char head[DK_ERROR_MAX], old[DK_ERROR_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(head, sizeof head, fmt, ap);
  va_end(ap);
  memcpy(old, err->msg, sizeof old);
  /* Truncation is fine: the message's head is the useful part. */
  size_t hl = strlen(head);
  if (hl >= sizeof err->msg) hl = sizeof err->msg - 1;
  memcpy(err->msg, head, hl);
  size_t ol = strlen(old);
  if (ol > sizeof err->msg - 1 - hl) ol = sizeof err->msg - 1 - hl;
  memcpy(err->msg + hl, old, ol);
  err->msg[hl + ol] = '\0';
  return err->code;
}

void dk_error_ensure(dk_error *err, int code, const char *what) {
  if (!err) return;
  if (err->code == DK_OK) err->code = code;
  if (err->msg[0] == '\0')
    snprintf(err->msg, sizeof err->msg, "%s failed (%s) without a message", what,
             dk_status_name(code));
}

const char *dk_status_name(int code) {
  switch (code) {
  case DK_OK: return "ok";
  case DK_DONE: return "done";
  case DK_ERR_INVALID: return "invalid";
  case DK_ERR_NOMEM: return "out of memory";
  case DK_ERR_UNSUPPORTED: return "unsupported";
  case DK_ERR_STATE: return "bad state";
  case DK_ERR_ABI: return "ABI mismatch";
  case DK_ERR_INTERNAL: return "internal error";
  case DK_ERR_IO: return "I/O error";
  case DK_ERR_FORMAT: return "bad format";
  case DK_ERR_RANGE: return "out of range";
  default: return "unknown status";
  }
}
