/* log.h -- the host's log sink: the library hands messages to whoever embeds it. */
#ifndef DK_CORE_LOG_H
#define DK_CORE_LOG_H

#include <stdarg.h>
#include <decokit/plugin.h>

typedef void (*dk_log_sink)(int level, const char *msg, void *user);

/* Install the sink (the CLI prints to stderr); NULL discards. */
void dk_log_set_sink(dk_log_sink sink, void *user, int max_level);
void dk_log(int level, const char *fmt, ...) DK_PRINTF(2, 3);
void dk_vlog(int level, const char *fmt, va_list ap) DK_PRINTF(2, 0);
/* Level of plugin-loading traces: not a severity, shown only when asked for. */
#define DK_LOG_TRACE 4

/* DECOKIT_PLUGIN_VERBOSE=1: trace each path tried, symbol looked up and refusal. */
int dk_trace_enabled(void);
void dk_trace(const char *fmt, ...) DK_PRINTF(1, 2);

#endif
