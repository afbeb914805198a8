/* server.h -- the HTTP server: OpenAI endpoints over named pipelines, limits, health and metrics. */
#ifndef DK_SERVE_SERVER_H
#define DK_SERVE_SERVER_H

#include <stddef.h>

#include "batch_model.h"
#include "chat_template.h"
#include "loader.h"
#include "pipeline.h"

/* One named pipeline the server offers (a model id of /v1/models). */
typedef struct dk_serve_pipe {
  char *name;
  const char *file;
  const char *default_model;
  dk_registry *reg;
  dk_pipeline *p; /* resolved at start: its model is the one loaded */
  dk_batch_model *bm;
  dk_chat_format chat; /* DK_CHAT_UNKNOWN: chat requests are refused */
} dk_serve_pipe;

typedef struct dk_serve_opts {
  const char *host;
  int port; /* 0: any free port */
  size_t max_sessions, queue, max_body;
  double timeout;       /* seconds per generation */
  long long max_tokens; /* per request */
} dk_serve_opts;

typedef struct dk_server dk_server;

/* Listen and serve pipes (borrowed until dk_server_stop).  0, or -1 with
 * the reason in err. */
int dk_server_start(dk_serve_pipe *pipes, size_t n, const dk_serve_opts *o, dk_server **out,
                    char *err, size_t errlen);
int dk_server_port(const dk_server *s);
/* Cancel what runs, refuse what waits, close every connection. */
void dk_server_stop(dk_server *s);

#endif
