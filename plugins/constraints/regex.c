/* regex.c -- the regex constraint: the whole output matches a regular expression */
#include <stdlib.h>

#include "constraint_glue.h"
#include "grammar.h"

static const dk_param_spec regex_params[] = {
    {"pattern", DK_PARAM_STRING, DK_PARAM_REQUIRED, NULL, 0, 0,
     "The regular expression the whole output must match: literals, ., classes [a-z] [^...] with "
     "\\d \\w \\s, groups (...) (?:...), alternation |, quantifiers * + ? {m} {m,} {m,n}, and ^ $ "
     "at the ends. Backreferences, lookaround and word boundaries are refused."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static int regex_create(const dk_host *host, const dk_create_info *ci, void **inst, dk_error *err) {
  char msg[256];
  const char *pattern = host->cfg_string(ci->config, "pattern");
  if (!pattern) return host->set_error(err, DK_ERR_INVALID, "regex: pattern is required");
  char *gbnf = dkg_regex_to_gbnf(pattern, msg, sizeof msg);
  if (!gbnf) return host->set_error(err, DK_ERR_INVALID, "regex: %s", msg);
  int rc = dkc_create_from_gbnf(host, ci, "regex", "pattern", gbnf, inst, err);
  free(gbnf);
  return rc;
}

static const dk_constraint_iface regex_iface =
    DKC_IFACE("regex", "output matching a regular expression", regex_params, regex_create);

DKC_PLUGIN(regex, regex_iface)
