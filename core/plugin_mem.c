/* plugin_mem.c -- copies out of a plugin's static data that fail instead of faulting. */
#include "plugin_mem.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

int dk_plugin_mem_copy(void *dst, const void *src, size_t n) {
  if (n == 0) return 0;
  /* The kernel does the reading, so a descriptor that claims more than it
   * has (n_components past its array) yields EFAULT, not SIGSEGV, and
   * AddressSanitizer does not flag the host for the plugin's mistake. */
  struct iovec local = {dst, n}, remote = {(void *)(uintptr_t)src, n};
  ssize_t got = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
  if (got == (ssize_t)n) return 0;
  if (got < 0 && (errno == ENOSYS || errno == EPERM)) {
    /* A sandbox without the call: read directly, as before this check. */
    memcpy(dst, src, n);
    return 0;
  }
  return -1;
}

int dk_plugin_mem_string(const char *s, size_t max) {
  char c;
  for (size_t i = 0; s && i < max; i++) {
    if (dk_plugin_mem_copy(&c, s + i, 1)) return 0;
    if (!c) return 1;
  }
  return 0;
}
