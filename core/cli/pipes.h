/* pipes.h -- the named pipelines that decokit serve and decokit batch load, each with one shared batched model. */
#ifndef DK_CLI_PIPES_H
#define DK_CLI_PIPES_H

#include <stddef.h>

#include "serve/server.h"

/* Loads files[0..n) ("[NAME=]FILE": NAME defaults to the file's name less .yaml)
 * into *out (n entries, allocated here), each with its model opened for batching.
 * Returns a DK_EXIT_* status; *n_open is how many entries dk_cli_close_pipes must
 * free, set on failure too.  cmd names the command in messages. */
int dk_cli_open_pipes(const char *cmd, const char *const *files, size_t n, const char *plugin_path,
                      long long threads, unsigned window_us, dk_serve_pipe **out, size_t *n_open);
void dk_cli_close_pipes(dk_serve_pipe *pipes, size_t n);

#endif
