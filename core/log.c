/* log.c -- route host and plugin log lines to one sink chosen by the embedding program. */
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Process-wide by nature: one program has one stderr.  Set once at start-up. */
static dk_log_sink g_sink;
static void *g_user;
static int g_max = DK_LOG_WARN;

void dk_log_set_sink(dk_log_sink sink, void *user, int max_level) {
  g_sink = sink;
  g_user = user;
  g_max = max_level;
}

void dk_vlog(int level, const char *fmt, va_list ap) {
  if (!g_sink || level > g_max) return;
  char msg[2048];
  vsnprintf(msg, sizeof msg, fmt, ap);
  g_sink(level, msg, g_user);
}

void dk_log(int level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  dk_vlog(level, fmt, ap);
  va_end(ap);
}

int dk_trace_enabled(void) {
  const char *v = getenv("DECOKIT_PLUGIN_VERBOSE");
  return v && *v && strcmp(v, "0") != 0;
}

void dk_trace(const char *fmt, ...) {
  if (!dk_trace_enabled() || !g_sink) return;
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  g_sink(DK_LOG_TRACE, msg, g_user); /* asked for: shown whatever the level */
}
