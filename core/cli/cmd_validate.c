/* cmd_validate.c -- `decokit validate`: load and check pipelines without running them. */
#include "cli.h"

#include <string.h>

static void validate_usage(FILE *f) {
  fputs("Usage: decokit validate [OPTIONS] PIPELINE...\n"
        "\n"
        "Check each pipeline: YAML syntax, known sections and keys, every plugin found\n"
        "and loadable, every parameter typed and in range.  Prints the pipeline's\n"
        "fingerprint when it is valid.\n"
        "\n"
        "Options:\n"
        "  --set SECTION.KEY=V   override a value before checking\n"
        "  --plugin-path DIRS    search these folders for plugins first\n"
        "  -q, --quiet           print only errors\n"
        "  -h, --help            show this help\n",
        f);
}

int dk_cmd_validate(int argc, char **argv) {
  dk_cli_common c = {0};
  const char *files[256];
  size_t n_files = 0;
  int quiet = 0;
  for (int i = 1; i < argc; i++) {
    int r = dk_cli_common_opt(&c, argc, argv, &i, validate_usage);
    if (r == DK_CLI_NEXT) continue;
    if (r != DK_CLI_MINE) return r;
    if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
      quiet = 1;
    } else if (argv[i][0] == '-') {
      dk_cli_error("validate: unknown option '%s' (try decokit validate --help)", argv[i]);
      return DK_EXIT_USAGE;
    } else if (n_files < sizeof files / sizeof *files) {
      files[n_files++] = argv[i];
    }
  }
  if (!n_files) {
    validate_usage(stderr);
    return DK_EXIT_USAGE;
  }
  int status = DK_EXIT_OK;
  for (size_t f = 0; f < n_files; f++) {
    c.pipeline = files[f];
    dk_registry *reg;
    dk_pipeline *p;
    int st = dk_cli_load_pipeline(&c, &reg, &p);
    if (st) {
      if (status == DK_EXIT_OK || st == DK_EXIT_PIPELINE) status = st;
      continue;
    }
    if (!quiet) {
      char fp[17];
      if (dk_pipeline_fingerprint(p, fp)) {
        dk_cli_error("%s: out of memory for the fingerprint", files[f]);
        status = DK_EXIT_RUNTIME;
      } else {
        printf("%s: ok (fingerprint %s)\n", files[f], fp);
      }
    }
    dk_pipeline_free(p);
    dk_registry_free(reg);
  }
  return status;
}
