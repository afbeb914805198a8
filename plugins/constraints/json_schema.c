/* json_schema.c -- the json_schema constraint: JSON that matches a JSON Schema (2020-12 subset) */
#include <stdlib.h>
#include <string.h>

#include "constraint_glue.h"
#include "grammar.h"

static const dk_param_spec json_schema_params[] = {
    {"file", DK_PARAM_PATH, 0, NULL, 0, 0,
     "JSON Schema file (Draft 2020-12 subset: type, properties, required, additionalProperties, "
     "items, prefixItems, enum, const, anyOf, oneOf, allOf of objects, $ref/$defs, "
     "minLength/maxLength, minItems/maxItems, integer minimum/maximum, pattern, format date, time, "
     "date-time, uuid, email). Any other keyword is an error. Give either file or schema."},
    {"schema", DK_PARAM_STRING, 0, NULL, 0, 0, "The schema inline, as JSON text."},
    {"whitespace", DK_PARAM_STRING, 0, "flexible", 0, 0,
     "flexible: a space or a newline plus indentation may appear between JSON tokens; none: "
     "compact JSON without any whitespace. Properties come in the schema's order; when "
     "additionalProperties is absent, no other properties are produced."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static int json_schema_create(const dk_host *host, const dk_create_info *ci, void **inst,
                              dk_error *err) {
  char msg[512];
  const char *file = host->cfg_string(ci->config, "file");
  const char *inline_text = host->cfg_string(ci->config, "schema");
  const char *ws = host->cfg_string(ci->config, "whitespace");
  int wsmode;
  if (!ws || !strcmp(ws, "flexible")) wsmode = DKG_WS_FLEXIBLE;
  else if (!strcmp(ws, "none")) wsmode = DKG_WS_NONE;
  else
    return host->set_error(err, DK_ERR_INVALID,
                           "json_schema: whitespace must be none or flexible, not '%s'", ws);
  if ((file != NULL) == (inline_text != NULL))
    return host->set_error(err, DK_ERR_INVALID, "json_schema: give exactly one of file and schema");
  char *text = NULL;
  size_t len = 0;
  if (file) {
    int rc = dkc_read_file(host, "json_schema", file, &text, &len, err);
    if (rc) return rc;
  }
  char *gbnf = dkg_json_schema_to_gbnf(file ? text : inline_text, file ? len : strlen(inline_text),
                                       wsmode, msg, sizeof msg);
  free(text);
  if (!gbnf)
    return host->set_error(err, DK_ERR_INVALID, "json_schema: %s: %s", file ? file : "schema", msg);
  int rc = dkc_create_from_gbnf(host, ci, "json_schema", "generated grammar", gbnf, inst, err);
  free(gbnf);
  return rc;
}

static const dk_constraint_iface json_schema_iface = DKC_IFACE(
    "json_schema", "JSON matching a JSON Schema", json_schema_params, json_schema_create);

DKC_PLUGIN(json_schema, json_schema_iface)
