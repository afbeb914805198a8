/* cmd_validate.c -- `decokit validate`: load and check pipelines without running them. */
#include "cli.h"

#include <string.h>

static int always(void *user) {
  (void)user;
  return 1;
}

/* Every plugin's own checks: the model reads its file, the constraint opens
 * and compiles its grammar or schema against the model's vocabulary, every
 * other component is created once with its parameters, as a run would.
 * A decoder that evaluates the prompt itself (a diffusion decoder) checks
 * the model only when a completion begins -- its attention, mask token,
 * caches, context and the memory its canvas needs -- and no capability bit
 * says so beforehand, so it is begun on the pipeline's prompt with every
 * step cancelled before it runs: no model call is made.  Other decoders are
 * not begun, since the host would evaluate the prompt first. */
static int check_plugins(dk_pipeline *p) {
  dk_error err;
  dk_error_clear(&err);
  dk_run *run = NULL;
  dk_result *r = NULL;
  int rc = dk_run_new(p, &(dk_run_opts){.logprobs = -1, .threads = 1, .should_abort = always}, &run, &err);
  if (!rc && (p->decoder->comp->hdr->caps & DK_CAP_DECODER_NO_PREFILL)) rc = dk_run_generate(run, &r, &err);
  dk_result_free(r);
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
        "the constraint's grammar or schema compiled); a diffusion decoder also\n"
        "begins a completion without a step, so it checks the model (bidirectional,\n"
        "with a mask token) without evaluating it.  Prints the pipeline's\n"
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
