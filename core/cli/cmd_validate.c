/* cmd_validate.c -- `decokit validate`: load and check pipelines without running them. */
#include "cli.h"

#include <string.h>

/* Every plugin's own checks: the model reads its file, the constraint opens
 * and compiles its grammar or schema against the model's vocabulary, every
 * other component is created once with its parameters, as a run would. */
static int check_plugins(dk_pipeline *p) {
  dk_error err;
  dk_error_clear(&err);
  dk_run *run = NULL;
  int rc = dk_run_new(p, &(dk_run_opts){.logprobs = -1, .threads = 1}, &run, &err);
  dk_run_free(run);
  if (rc) {
    dk_cli_error("%s", err.msg);
    return dk_cli_exit_status(rc);
  }
  return DK_EXIT_OK;
}

static void validate_usage(FILE *f) {
  fputs("Usage: decokit validate [OPTIONS] PIPELINE...\n"
        "\n"
        "Check each pipeline: YAML syntax, known sections and keys, every plugin found\n"
        "and loadable, every parameter typed and in range, no section its decoder\n"
        "ignores, and every plugin created once as a run would (the model file read,\n"
        "the constraint's grammar or schema compiled).  Prints the pipeline's\n"
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
    st = check_plugins(p);
    if (st) {
      status = st;
      dk_pipeline_free(p);
      dk_registry_free(reg);
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
