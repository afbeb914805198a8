/* cli.h -- shared pieces of the decokit command-line program. */
#ifndef DK_CLI_H
#define DK_CLI_H

#include <signal.h>
#include <stdio.h>

#include <decokit/decokit.h>

#include "api_impl.h"
#include "error.h"
#include "loader.h"
#include "pipeline.h"
#include "session.h"

/* Exit statuses, documented in decokit(1). */
enum {
  DK_EXIT_OK = 0,
  DK_EXIT_RUNTIME = 1,  /* generation or model failure */
  DK_EXIT_USAGE = 2,    /* bad command line */
  DK_EXIT_PIPELINE = 3, /* invalid pipeline or plugin */
  DK_EXIT_INTERRUPTED = 130, /* stopped by SIGINT; what was generated is printed */
};

/* The sampler shortcuts (--temp ...), in the order they join a chain. */
enum { DK_SHORT_PENALTY, DK_SHORT_TOP_K, DK_SHORT_TOP_P, DK_SHORT_MIN_P, DK_SHORT_TEMP, DK_N_SHORT };

/* Options every pipeline-driven command understands. */
typedef struct dk_cli_common {
  const char *pipeline;    /* NULL: an all-defaults pipeline */
  const char *plugin_path; /* --plugin-path */
  const char *sets[64];    /* --set assignments (and --sampler blocks) in order */
  char gen_buf[3][64];     /* the --set texts of -n, --seed and -t */
  unsigned char is_sampler[64]; /* sets[i] is a --sampler block to append */
  size_t n_sets;
  const char *shortcut[DK_N_SHORT]; /* values of --temp etc.; NULL when not given */
  const char *stops[32];            /* --stop strings, literal */
  size_t n_stops;
  int reads_draft;         /* the command itself reads the draft model (perplexity --draft) */
} dk_cli_common;

/* The shared part of every command's option loop: --set, --plugin-path and
 * -h/--help (printed with usage).  Returns DK_CLI_NEXT when argv[*i] was
 * consumed, DK_CLI_MINE when it is the command's own, or an exit status to
 * return now (after --help, or a usage error already printed). */
enum { DK_CLI_MINE = -1, DK_CLI_NEXT = -2 };
int dk_cli_common_opt(dk_cli_common *c, int argc, char **argv, int *i, void (*usage)(FILE *));
/* The sampling options of commands that generate: --sampler, --temp,
 * --top-k, --top-p, --min-p, --repeat-penalty, --stop.  Same returns as
 * dk_cli_common_opt. */
int dk_cli_sampling_opt(dk_cli_common *c, int argc, char **argv, int *i);
/* The exit status of a failure before generation starts (loading,
 * resolving or creating the pipeline's plugins), from its dk_status. */
int dk_cli_exit_status(int rc);
/* The generate options of commands that generate: -n/--max-tokens,
 * --seed (-1: a random one), -t/--threads.  Same returns as
 * dk_cli_common_opt. */
int dk_cli_generate_opt(dk_cli_common *c, int argc, char **argv, int *i);
/* Ctrl-C while generating: dk_cli_catch_sigint clears the flag and installs
 * a one-shot handler (a second Ctrl-C kills as usual), saving the old one
 * for sigaction to restore; dk_cli_should_abort is the run's should_abort
 * and dk_cli_interrupted says whether it fired. */
void dk_cli_catch_sigint(struct sigaction *old);
int dk_cli_should_abort(void *user);
int dk_cli_interrupted(void);
/* The argument left after a command's options: the pipeline file, once.
 * DK_CLI_NEXT, or DK_EXIT_USAGE with the error printed. */
int dk_cli_pipeline_arg(dk_cli_common *c, const char *cmd, const char *a);
/* Load, override and resolve through decokit.h; prints the error and
 * returns an exit status. */
int dk_cli_open_pipeline(const dk_cli_common *c, decokit_pipeline **out);
/* The same, handing over the objects behind the handle (for commands that
 * use the host's own API). */
int dk_cli_load_pipeline(const dk_cli_common *c, dk_registry **reg, dk_pipeline **p);
/* The bundled default model, or NULL if none can be found. */
const char *dk_cli_default_model(void);
/* Registry with the standard search path (and the build tree when run from it). */
dk_registry *dk_cli_registry(const char *cli_path, const char *pipeline_path);
void dk_cli_error(const char *fmt, ...) DK_PRINTF(1, 2);
/* Read all of a stream (for prompts from stdin). */
/* All of f, NUL-terminated; NULL on a read error or out of memory. */
char *dk_cli_slurp(FILE *f);
/* Value of "--opt VALUE" or "--opt=VALUE" at argv[*i]; NULL if not this option. */
const char *dk_cli_value(const char *opt, int argc, char **argv, int *i);
/* 1 when an option's value is not empty; otherwise says so (once) and returns 0. */
int dk_cli_nonempty(const char *opt, const char *v);

int dk_cmd_run(int argc, char **argv);
int dk_cmd_validate(int argc, char **argv);
int dk_cmd_plugins(int argc, char **argv);
int dk_cmd_tokenize(int argc, char **argv);
int dk_cmd_perplexity(int argc, char **argv);
int dk_cmd_model(int argc, char **argv);
int dk_cmd_bench(int argc, char **argv);
int dk_cmd_grammar(int argc, char **argv);
int dk_cmd_chat(int argc, char **argv);
int dk_cmd_serve(int argc, char **argv);
int dk_cmd_batch(int argc, char **argv);

/* A seed nobody chose (--seed -1): from the kernel, else clock and pid. */
long long dk_cli_random_seed(void);
/* The chat format (a dk_chat_format) for p: name if given, else the
 * pipeline's generate.chat_template, else the model's own template;
 * prints the error and returns an exit status. */
int dk_cli_chat_format(const dk_pipeline *p, const char *name, int *out);
/* Add the format's end-of-turn text to the resolved stop strings. */
int dk_cli_chat_stop(dk_pipeline *p, int format);

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
size_t dk_utf8_seq(const unsigned char *s, size_t n);

/* Model text as decokit shows it, on stdout and in JSON alike: every byte
 * that does not start a valid UTF-8 sequence becomes U+FFFD.  out holds
 * 3 * n bytes; returns the length written. */
size_t dk_utf8_sanitize(const char *in, size_t n, char *out);
/* Model text to f under that policy. */
void dk_cli_write_text(FILE *f, const char *bytes, size_t len);

/* JSON result of `run --json` (jansson): indented, or one line that starts
 * with "event": "done" for --json-stream. */
int dk_cli_print_json(FILE *out, const dk_result *r, dk_run *run, const dk_pipeline *p, int top,
                      int stream);
/* One --json-stream token event: the token and the text it made safe to show. */
void dk_cli_json_token_event(FILE *out, const dk_vocab *v, size_t completion,
                             const dk_token_record *r, const char *text, size_t len);

#endif
