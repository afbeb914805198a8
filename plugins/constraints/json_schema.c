/* json_schema.c -- the json_schema constraint: JSON that matches a JSON Schema (2020-12 subset) */
#include <stdlib.h>
#include <string.h>

#include "constraint_glue.h"
#include "grammar.h"

static const dk_param_spec json_schema_params[] = {
    {"file", DK_PARAM_PATH, 0, NULL, 0, 0,
     "JSON Schema file (2020-12; draft-04 to 2019-09 forms too). Compiled: type, enum, const, "
     "properties, required, additionalProperties, patternProperties, minProperties, "
     "maxProperties, items, prefixItems, additionalItems, minItems, maxItems, anyOf, oneOf (when "
     "its branches can be told apart), allOf, not (of a type), $ref (pointers, $id, $anchor), "
     "minimum/maximum/exclusive* on integers and numbers, minLength/maxLength, pattern, "
     "dependentRequired/dependentSchemas/dependencies, if/then/else (as if and then), multipleOf "
     "(whole numbers up to 1000), contains (by the first element), uniqueItems (over at most 8 "
     "constants), propertyNames (no extra names), and the formats date, time, "
     "date-time, uuid, email, hostname, ipv4, ipv6, uri. Annotations and unknown keywords are "
     "ignored; keywords known but not compiled (minContains, maxContains) are refused. Give "
     "either file or schema."},
    {"schema", DK_PARAM_STRING, 0, NULL, 0, 0, "The schema inline, as JSON text."},
    {"whitespace", DK_PARAM_STRING, 0, "flexible", 0, 0,
     "flexible: a space or a newline plus indentation may appear between JSON tokens; none: "
     "compact JSON without any whitespace. When additionalProperties is absent, no other "
     "properties are produced."},
    {"properties_order", DK_PARAM_STRING, 0, "declared", 0, 0,
     "declared: properties come in the schema's order; any: in any order (objects of up to 10 "
     "declared properties; larger ones keep the declared order). Required properties always "
     "appear, and no key appears twice."},
    {"strict", DK_PARAM_BOOL, 0, "false", 0, 0,
     "Refuse unknown keywords and formats this plugin does not enforce, instead of ignoring them "
     "as the specification says."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static int json_schema_create(const dk_host *host, const dk_create_info *ci, void **inst,
                              dk_error *err) {
  char msg[512];
  const char *file = host->cfg_string(ci->config, "file");
  const char *inline_text = host->cfg_string(ci->config, "schema");
  const char *ws = host->cfg_string(ci->config, "whitespace");
  const char *order = host->cfg_string(ci->config, "properties_order");
  dkg_schema_opts so = {.strict = host->cfg_bool(ci->config, "strict")};
  if (!ws || !strcmp(ws, "flexible")) so.ws = DKG_WS_FLEXIBLE;
  else if (!strcmp(ws, "none")) so.ws = DKG_WS_NONE;
  else
    return host->set_error(err, DK_ERR_INVALID,
                           "json_schema: whitespace must be none or flexible, not '%s'", ws);
  if (order && strcmp(order, "declared") && strcmp(order, "any"))
    return host->set_error(err, DK_ERR_INVALID,
                           "json_schema: properties_order must be declared or any, not '%s'",
                           order);
  so.any_order = order && !strcmp(order, "any");
  if ((file != NULL) == (inline_text != NULL))
    return host->set_error(err, DK_ERR_INVALID, "json_schema: give exactly one of file and schema");
  char *text = NULL;
  size_t len = 0;
  if (file) {
    int rc = dkc_read_file(host, "json_schema", file, &text, &len, err);
    if (rc) return rc;
  }
  char *gbnf = dkg_json_schema_to_gbnf_opts(file ? text : inline_text,
                                            file ? len : strlen(inline_text), &so, msg, sizeof msg);
  free(text);
  if (!gbnf)
    return host->set_error(err, DK_ERR_INVALID, "json_schema: %s: %s", file ? file : "inline", msg);
  int rc = dkc_create_from_gbnf(host, ci, "json_schema", "generated grammar", gbnf, inst, err);
  free(gbnf);
  return rc;
}

static const dk_constraint_iface json_schema_iface = DKC_IFACE(
    "json_schema", "JSON matching a JSON Schema", json_schema_params, json_schema_create);

DKC_PLUGIN(json_schema, json_schema_iface)
