/* cmd_serve.c -- `decokit serve`: an OpenAI-compatible HTTP server over named pipelines. */
#include "cli.h"
#include "pipes.h"

#include "serve/batch_model.h"
#include "serve/server.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static void serve_usage(FILE *f) {
  fputs("Usage: decokit serve [OPTIONS] [NAME=]PIPELINE...\n"
        "\n"
        "Serve the pipelines over HTTP with OpenAI's API: POST /v1/completions and\n"
        "/v1/chat/completions, GET /v1/models, /health and /metrics (Prometheus).\n"
        "Each pipeline is a model id, named NAME or after its file (less .yaml); the\n"
        "first is the default.  Its model is loaded once and shared by every request,\n"
        "whose evaluations are batched together.\n"
        "\n"
        "Options:\n"
        "  --host ADDR           listen on this IPv4 or IPv6 address (default 127.0.0.1)\n"
        "  --port N              listen on port N (default 8080; 0 picks a free one)\n"
        "  --port-file FILE      write the port listened on to FILE once listening\n"
        "  --max-sessions N      generations running at once (default 16)\n"
        "  --queue N             requests that may wait for one; beyond, 503 with\n"
        "                        Retry-After (default 64)\n"
        "  --max-body BYTES      larger request bodies get 413 (default 1048576)\n"
        "  --timeout SECONDS     a generation ends (finish_reason length) after this\n"
        "                        long (default 600)\n"
        "  --max-tokens N        largest max_tokens a request may ask for, and the cap\n"
        "                        of the pipelines' own (default 4096)\n"
        "  --batch-window US     how long the batcher waits for the other running\n"
        "                        requests' evaluations to join a model call (default 2000)\n"
        "  -t, --threads N       model threads (default: the pipeline's generate.threads)\n"
        "  --plugin-path DIRS    search these folders for plugins first\n"
        "  -h, --help            show this help\n"
        "\n"
        "SIGINT or SIGTERM stops the server: running requests end as cancelled.\n",
        f);
}

/* A whole number in [lo, hi] for option opt; prints the error otherwise. */
static int num_opt(const char *opt, const char *v, long long lo, long long hi, long long *out) {
  char *end;
  errno = 0;
  long long x = strtoll(v, &end, 10);
  if (!*v || *end || errno || x < lo || x > hi) {
    dk_cli_error("option %s: expected a whole number from %lld to %lld, got '%s'", opt, lo, hi, v);
    return -1;
  }
  *out = x;
  return 0;
}

/* NAME=FILE, or FILE named after its base name less .yaml or .yml. */
int dk_cmd_serve(int argc, char **argv) {
  dk_serve_opts o = {.host = "127.0.0.1",
                     .port = 8080,
                     .max_sessions = 16,
                     .queue = 64,
                     .max_body = 1 << 20,
                     .timeout = 600,
                     .max_tokens = 4096};
  long long window = 2000, threads = 0, x;
  const char *plugin_path = NULL, *port_file = NULL;
  const char **files = calloc((size_t)argc, sizeof *files);
  size_t n_files = 0;
  if (!files) return DK_EXIT_RUNTIME;
  int status = DK_EXIT_OK;
  for (int i = 1; i < argc && !status; i++) {
    const char *a = argv[i], *v;
#define NUM(opt, lo, hi) ((v = dk_cli_value(opt, argc, argv, &i)) && (num_opt(opt, v, lo, hi, &x) ? (status = DK_EXIT_USAGE) : 1))
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      serve_usage(stdout);
      free(files);
      return DK_EXIT_OK;
    } else if ((v = dk_cli_value("--host", argc, argv, &i))) {
      if (!dk_cli_nonempty("--host", v)) status = DK_EXIT_USAGE;
      o.host = v;
    } else if ((v = dk_cli_value("--port-file", argc, argv, &i))) {
      if (!dk_cli_nonempty("--port-file", v)) status = DK_EXIT_USAGE;
      port_file = v;
    } else if ((v = dk_cli_value("--plugin-path", argc, argv, &i))) {
      if (!dk_cli_nonempty("--plugin-path", v)) status = DK_EXIT_USAGE;
      plugin_path = v;
    } else if (NUM("--port", 0, 65535)) {
      o.port = (int)x;
    } else if (NUM("--max-sessions", 1, 4096)) {
      o.max_sessions = (size_t)x;
    } else if (NUM("--queue", 0, 65536)) {
      o.queue = (size_t)x;
    } else if (NUM("--max-body", 64, 1LL << 30)) {
      o.max_body = (size_t)x;
    } else if (NUM("--timeout", 1, 1 << 24)) {
      o.timeout = (double)x;
    } else if (NUM("--max-tokens", 1, 1 << 30)) {
      o.max_tokens = x;
    } else if (NUM("--batch-window", 0, 1000000)) {
      window = x;
    } else if (NUM("--threads", 0, 256) || NUM("-t", 0, 256)) {
      threads = x;
    } else if (a[0] == '-' && a[1]) {
      dk_cli_error("serve: unknown option '%s' (try decokit serve --help)", a);
      status = DK_EXIT_USAGE;
    } else {
      files[n_files++] = a;
    }
#undef NUM
  }
  if (!status && !n_files) {
    dk_cli_error("serve: give at least one pipeline (try decokit serve --help)");
    status = DK_EXIT_USAGE;
  }
  if (status) {
    free(files);
    return status;
  }
  dk_serve_pipe *pipes = NULL;
  size_t n = 0;
  status = dk_cli_open_pipes("serve", files, n_files, plugin_path, threads, (unsigned)window, &pipes, &n);
  for (size_t k = 0; !status && k < n; k++) {
    int fmt = 0;
    if (dk_cli_chat_format(pipes[k].p, NULL, &fmt) == DK_EXIT_OK)
      pipes[k].chat = (dk_chat_format)fmt;
    else
      dk_cli_error("serve: %s: /v1/chat/completions is refused for this pipeline", pipes[k].name);
  }
  free(files);
  dk_server *srv = NULL;
  if (!status) {
    /* Every thread the server starts inherits this mask: the signals
     * reach only the sigwait below. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    char err[512];
    if (dk_server_start(pipes, n, &o, &srv, err, sizeof err)) {
      dk_cli_error("serve: %s", err);
      status = DK_EXIT_RUNTIME;
    } else {
      fprintf(stderr, "decokit: serving %zu pipeline%s on http://%s:%d/ (first: %s)\n", n,
              n == 1 ? "" : "s", o.host, dk_server_port(srv), pipes[0].name);
      if (port_file) {
        char tmp[PATH_MAX];
        snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%d\n", dk_server_port(srv)) < 0 || fclose(f) || rename(tmp, port_file)) {
          dk_cli_error("serve: cannot write the port to %s", port_file);
          status = DK_EXIT_RUNTIME;
        }
      }
      int sig = 0;
      if (!status) sigwait(&set, &sig);
      fprintf(stderr, "decokit: serve: stopping\n");
      dk_server_stop(srv);
    }
  }
  dk_cli_close_pipes(pipes, n);
  return status;
}
