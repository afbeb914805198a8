/* cmd_validate.c -- `decokit validate`: load and check pipelines without running them. */
#include "cli.h"

#include "instance.h"

#include <string.h>

/* A constraint is compiled against a vocabulary: without the model's, one token per
 * byte and an end token are enough to find every grammar or schema the plugin would
 * refuse at run time. */
static int check_constraint(const dk_pipeline *p, const char *file) {
  const dk_block *b = p->constraint;
  if (!b || !b->comp) return DK_EXIT_OK;
  static char bytes[256];
  static const char *piece[257];
  static uint32_t len[257];
  static uint8_t attr[257];
  for (int i = 0; i < 256; i++) {
    bytes[i] = (char)i;
    piece[i] = &bytes[i];
    len[i] = 1;
  }
  piece[256] = "";
  len[256] = 0;
  attr[256] = DK_TOKEN_CONTROL;
  dk_vocab v = {sizeof v, 257, -1, 256, -1, piece, len, attr};
  dk_error err = {0};
  dk_instance *in = NULL;
  if (dk_instance_create(b->comp, &b->cfg, 0, 0, &v, 1, &in, &err)) {
    dk_cli_error("%s:%d:%d: %s", file, b->line, b->col, err.msg);
    return DK_EXIT_PIPELINE;
  }
  dk_instance_destroy(in);
  return DK_EXIT_OK;
}

static void validate_usage(FILE *f) {
  fputs("Usage: decokit validate [OPTIONS] PIPELINE...\n"
        "\n"
        "Check each pipeline: YAML syntax, known sections and keys, every plugin found\n"
        "and loadable, every parameter typed and in range, and the constraint's\n"
        "grammar or schema compiled.  Prints the pipeline's fingerprint when it is\n"
        "valid.\n"
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
    st = check_constraint(p, files[f]);
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
