/* pipes.c -- the named pipelines that decokit serve and decokit batch load, each with one shared batched model. */
#include "pipes.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "serve/batch_model.h"

/* "NAME=FILE" names the pipeline; otherwise the file's name less .yaml/.yml does. */
static char *pipe_name(const char *arg, const char **file) {
  const char *eq = strchr(arg, '=');
  if (eq && eq != arg && !memchr(arg, '/', (size_t)(eq - arg))) {
    *file = eq + 1;
    return dk_strndup(arg, (size_t)(eq - arg));
  }
  *file = arg;
  const char *base = strrchr(arg, '/');
  base = base ? base + 1 : arg;
  size_t n = strlen(base);
  if (n > 5 && strcmp(base + n - 5, ".yaml") == 0) n -= 5;
  else if (n > 4 && strcmp(base + n - 4, ".yml") == 0) n -= 4;
  return dk_strndup(base, n);
}

int dk_cli_open_pipes(const char *cmd, const char *const *files, size_t n, const char *plugin_path,
                      long long threads, unsigned window_us, dk_serve_pipe **out, size_t *n_open) {
  *n_open = 0;
  dk_serve_pipe *pipes = *out = calloc(n, sizeof *pipes);
  if (!pipes) return DK_EXIT_RUNTIME;
  for (size_t k = 0; k < n; k++) {
    dk_serve_pipe *sp = &pipes[k];
    *n_open = k + 1;
    if (!(sp->name = pipe_name(files[k], &sp->file))) return DK_EXIT_RUNTIME;
    for (size_t j = 0; j < k; j++)
      if (strcmp(pipes[j].name, sp->name) == 0) {
        dk_cli_error("%s: two pipelines named '%s' (name one NAME=FILE)", cmd, sp->name);
        return DK_EXIT_USAGE;
      }
    dk_cli_common c = {.pipeline = sp->file, .plugin_path = plugin_path};
    int st = dk_cli_load_pipeline(&c, &sp->reg, &sp->p);
    if (st) return st;
    sp->default_model = dk_cli_default_model();
    dk_error err;
    dk_error_clear(&err);
    int t = threads ? (int)threads : (int)dk_gen_int(sp->p, "threads");
    if (dk_batch_model_open(sp->p, t, window_us, &sp->bm, &err)) {
      dk_cli_error("%s", err.msg);
      return DK_EXIT_PIPELINE;
    }
  }
  return DK_EXIT_OK;
}

void dk_cli_close_pipes(dk_serve_pipe *pipes, size_t n) {
  for (size_t i = 0; i < n; i++) {
    dk_batch_model_close(pipes[i].bm);
    dk_pipeline_free(pipes[i].p);
    dk_registry_free(pipes[i].reg);
    free(pipes[i].name);
  }
  free(pipes);
}
