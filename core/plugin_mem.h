/* plugin_mem.h -- read memory a plugin's descriptor points at without trusting the pointers. */
#ifndef DK_CORE_PLUGIN_MEM_H
#define DK_CORE_PLUGIN_MEM_H

#include <stddef.h>

/* Copy n bytes from src to dst; 0 on success, -1 when some of them are not
 * readable memory (nothing is faulted on, and sanitizers see no access). */
int dk_plugin_mem_copy(void *dst, const void *src, size_t n);

/* 1 when s is a readable NUL-terminated string of fewer than max bytes. */
int dk_plugin_mem_string(const char *s, size_t max);

#endif
