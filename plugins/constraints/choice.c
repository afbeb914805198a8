/* choice.c -- the choice constraint: the output is exactly one string of a list */
#include <stdlib.h>

#include "constraint_glue.h"
#include "grammar.h"

static const dk_param_spec choice_params[] = {
    {"options", DK_PARAM_LIST, DK_PARAM_REQUIRED, NULL, 0, 0,
     "The strings the output may be, e.g. [positive, negative, neutral]; generation ends after one "
     "of them is complete (an option may be a prefix of another)."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static int choice_create(const dk_host *host, const dk_create_info *ci, void **inst, dk_error *err) {
  char msg[256];
  size_t n = host->cfg_list_len(ci->config, "options");
  if (n == 0) return host->set_error(err, DK_ERR_INVALID, "choice: options is empty");
  const char **opts = malloc(n * sizeof *opts);
  if (!opts) return host->set_error(err, DK_ERR_NOMEM, "choice: out of memory");
  for (size_t i = 0; i < n; i++) opts[i] = host->cfg_list_item(ci->config, "options", i);
  char *gbnf = dkg_choice_to_gbnf(opts, n, msg, sizeof msg);
  free(opts);
  if (!gbnf) return host->set_error(err, DK_ERR_INVALID, "choice: %s", msg);
  int rc = dkc_create_from_gbnf(host, ci, "choice", "options", gbnf, inst, err);
  free(gbnf);
  return rc;
}

static const dk_constraint_iface choice_iface =
    DKC_IFACE("choice", "output is one string of a list", choice_params, choice_create);

DKC_PLUGIN(choice, choice_iface)
