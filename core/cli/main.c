/* main.c -- the decokit command: dispatch to subcommands, print errors, return exit codes. */
#include "config.h"

#include "cli.h"

#include "log.h"

#include <stdlib.h>
#include <string.h>

static void stderr_sink(int level, const char *msg, void *user) {
  (void)user;
  static const char *const names[] = {"error", "warning", "info", "debug", "trace"};
  const char *name = names[level >= 0 && level <= 4 ? level : 0];
  /* Every line of a multi-line message carries the prefix, so filters on
   * "decokit: warning:" see all of it. */
  do {
    const char *nl = strchr(msg, '\n');
    int len = nl ? (int)(nl - msg) : (int)strlen(msg);
    fprintf(stderr, "decokit: %s: %.*s\n", name, len, msg);
    msg = nl ? nl + 1 : NULL;
  } while (msg && *msg);
}

static void usage(FILE *f) {
  fputs("Usage: decokit COMMAND [OPTIONS]\n"
        "\n"
        "Decode from language models with plugins wired by a YAML pipeline.\n"
        "\n"
        "Commands:\n"
        "  run [PIPELINE]        generate text (see decokit run --help)\n"
        "  chat [PIPELINE]       talk with a chat model, line by line\n"
        "  serve PIPELINE...     an OpenAI-compatible HTTP server (decokit-serve(1))\n"
        "  batch PIPELINE...     a JSONL file of requests, sharded and resumable\n"
        "  validate PIPELINE...  check pipelines without running them\n"
        "  plugins [info NAME]   list plugins, or show one plugin's parameters\n"
        "  model info FILE       describe a model file\n"
        "  tokenize TEXT         show a model's token ids and pieces\n"
        "  perplexity FILE       a model's perplexity on a text file\n"
        "  bench                 measure speed of pipelines and components\n"
        "  grammar check|gbnf    test texts against a grammar, schema or regex\n"
        "\n"
        "Options:\n"
        "  -h, --help            show this help (COMMAND --help for a command's)\n"
        "  -V, --version         print the version and the plugin ABI version\n"
        "\n"
        "See decokit(1), decokit-serve(1), decokit-batch(1), decokit(3),\n"
        "decokit-pipeline(5) and decokit-plugins(7).\n",
        f);
}

int main(int argc, char **argv) {
  const char *lvl = getenv("DECOKIT_LOG");
  int level = lvl && strcmp(lvl, "debug") == 0 ? DK_LOG_DEBUG
              : lvl && strcmp(lvl, "info") == 0 ? DK_LOG_INFO
                                                 : DK_LOG_WARN;
  dk_log_set_sink(stderr_sink, NULL, level);
  if (argc < 2) {
    usage(stderr);
    return DK_EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
    usage(stdout);
    return DK_EXIT_OK;
  }
  if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
    printf("decokit %s (plugin ABI %d.%d)\n", PACKAGE_VERSION, DK_ABI_MAJOR, DK_ABI_MINOR);
    return DK_EXIT_OK;
  }
  static const struct {
    const char *name;
    int (*fn)(int, char **);
  } cmds[] = {{"run", dk_cmd_run},
              {"chat", dk_cmd_chat},
              {"validate", dk_cmd_validate},
              {"plugins", dk_cmd_plugins},
              {"tokenize", dk_cmd_tokenize},
              {"model", dk_cmd_model},
              {"perplexity", dk_cmd_perplexity},
              {"bench", dk_cmd_bench},
              {"grammar", dk_cmd_grammar},
              {"batch", dk_cmd_batch},
              {"serve", dk_cmd_serve}};
  for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
    if (strcmp(cmd, cmds[i].name) == 0) return cmds[i].fn(argc - 1, argv + 1);
  dk_cli_error("unknown command '%s' (try decokit --help)", cmd);
  return DK_EXIT_USAGE;
}
