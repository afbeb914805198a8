/* fuzz_pipeline.c -- fuzz target: the pipeline reader, --set overrides and (with plugins) resolution. */
/*
 * Leading lines "@set ASSIGNMENT" are applied as --set overrides; the rest
 * is the pipeline's YAML.  With DECOKIT_PLUGIN_PATH set, a pipeline that
 * parses is also resolved against the plugins there (plugin names only:
 * a path in the input could load any library on the machine).
 */
#include "fuzz.h"

#include "error.h"
#include "loader.h"
#include "pipeline.h"

#include <stdlib.h>
#include <string.h>

#define MAX_SETS 8

static dk_registry *reg;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *path = getenv("DECOKIT_PLUGIN_PATH");
  if (path && *path) {
    reg = dk_registry_new();
    if (!reg || dk_registry_add_path(reg, path)) fuzz_fail("registry");
  }
  return 0;
}

const char *fuzz_unavailable(void) { return NULL; }

static int names_only(const dk_block *b) { return !b || !b->plugin || !strchr(b->plugin, '/'); }

static int safe_to_resolve(const dk_pipeline *p) {
  int ok = names_only(p->model) && names_only(p->draft) && names_only(p->decoder) &&
           names_only(p->constraint);
  for (size_t i = 0; ok && i < p->n_drafters; i++) ok = names_only(&p->drafter[i]);
  for (size_t i = 0; ok && i < p->n_samplers; i++) ok = names_only(&p->samplers[i]);
  for (size_t i = 0; ok && i < p->n_scorers; i++) ok = names_only(&p->scorers[i]);
  return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = fuzz_text(data, size);
  if (!text) return 0;
  const char *sets[MAX_SETS];
  size_t n_sets = 0;
  char *yaml = text;
  while (n_sets < MAX_SETS && strncmp(yaml, "@set ", 5) == 0) {
    char *nl = strchr(yaml, '\n');
    if (!nl) break;
    *nl = '\0';
    sets[n_sets++] = yaml + 5;
    yaml = nl + 1;
  }
  dk_error err;
  dk_error_clear(&err);
  dk_pipeline *p = NULL;
  size_t len = size - (size_t)(yaml - text);
  if (dk_pipeline_parse(yaml, len, "fuzz.yaml", "/fuzz", &p, &err) == DK_OK) {
    int rc = DK_OK;
    for (size_t i = 0; !rc && i < n_sets; i++) rc = dk_pipeline_override(p, sets[i], &err);
    if (!rc && reg && safe_to_resolve(p) && dk_pipeline_resolve(p, reg, "/fuzz/model.gguf", &err) == DK_OK) {
      char fp[17];
      dk_pipeline_fingerprint(p, fp);
      if (strlen(fp) != 16) fuzz_fail("fingerprint '%s'", fp);
    }
  }
  if (err.code && !err.msg[0]) fuzz_fail("error %d without a message", err.code);
  dk_pipeline_free(p);
  free(text);
  return 0;
}
