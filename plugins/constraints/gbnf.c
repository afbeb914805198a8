/* gbnf.c -- the gbnf constraint: output restricted to a GBNF grammar (llama.cpp dialect) */
#include <stdlib.h>

#include "constraint_glue.h"

static const dk_param_spec gbnf_params[] = {
    {"file", DK_PARAM_PATH, 0, NULL, 0, 0,
     "GBNF grammar file (llama.cpp dialect); the text must match rule root. Relative paths resolve "
     "against the pipeline's folder. Give either file or grammar."},
    {"grammar", DK_PARAM_STRING, 0, NULL, 0, 0,
     "The grammar inline, as GBNF text; for short grammars instead of file."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static int gbnf_create(const dk_host *host, const dk_create_info *ci, void **inst, dk_error *err) {
  const char *file = host->cfg_string(ci->config, "file");
  const char *inline_text = host->cfg_string(ci->config, "grammar");
  if ((file != NULL) == (inline_text != NULL))
    return host->set_error(err, DK_ERR_INVALID, "gbnf: give exactly one of file and grammar");
  if (inline_text) return dkc_create_from_gbnf(host, ci, "gbnf", "grammar", inline_text, inst, err);
  char *text;
  size_t len;
  int rc = dkc_read_file(host, "gbnf", file, &text, &len, err);
  if (rc) return rc;
  rc = dkc_create_from_gbnf(host, ci, "gbnf", file, text, inst, err);
  free(text);
  return rc;
}

static const dk_constraint_iface gbnf_iface =
    DKC_IFACE("gbnf", "output restricted to a GBNF grammar", gbnf_params, gbnf_create);

DKC_PLUGIN(gbnf, gbnf_iface)
