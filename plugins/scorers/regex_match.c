/* regex_match.c -- scorer: 1 when the generated text matches a POSIX extended regular expression, else 0. */
#include "scorer_text.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>

static const dk_param_spec regex_match_params[] = {
    {"pattern", DK_PARAM_STRING, DK_PARAM_REQUIRED, NULL, 0, 0,
     "A POSIX extended regular expression (regcomp with REG_EXTENDED), searched for anywhere "
     "in the generated text; anchor it with ^ and $ to match the whole text.  Text after a NUL "
     "byte is not searched."},
    {"ignore_case", DK_PARAM_BOOL, 0, "false", 0, 0, "Match regardless of case (REG_ICASE)."},
    {"invert", DK_PARAM_BOOL, 0, "false", 0, 0, "Score 1 when the text does not match instead."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

typedef struct regex_match {
  st_base base;
  regex_t re;
  int compiled, invert;
} regex_match;

static double regex_match_fn(void *inst, const dk_token *gen, size_t n, const char *text,
                             size_t len) {
  const regex_match *r = inst;
  (void)gen;
  (void)n;
  (void)len;
  int hit = regexec(&r->re, text, 0, NULL, 0) == 0;
  return hit != r->invert ? 1.0 : 0.0;
}

static void regex_match_destroy(void *inst) {
  regex_match *r = inst;
  if (r->compiled) regfree(&r->re);
  st_free(&r->base);
  free(r);
}

static int regex_match_create(const dk_host *h, const dk_create_info *ci, void **inst,
                              dk_error *err) {
  regex_match *r = calloc(1, sizeof *r);
  if (!r) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  int rc = st_init(&r->base, h, ci, regex_match_fn, err);
  if (rc) {
    free(r);
    return rc;
  }
  r->invert = h->cfg_bool(ci->config, "invert");
  int flags = REG_EXTENDED | REG_NOSUB | (h->cfg_bool(ci->config, "ignore_case") ? REG_ICASE : 0);
  int e = regcomp(&r->re, h->cfg_string(ci->config, "pattern"), flags);
  if (e) {
    char msg[256];
    regerror(e, &r->re, msg, sizeof msg);
    regex_match_destroy(r);
    return h->set_error(err, DK_ERR_INVALID, "key 'pattern': %s", msg);
  }
  r->compiled = 1;
  *inst = r;
  return DK_OK;
}

static const struct dk_scorer_iface regex_match_iface = {
    .hdr = {sizeof(struct dk_scorer_iface), DK_KIND_SCORER, "regex_match", "1.0.0",
            "1 when the generated text matches a regular expression", regex_match_params,
            sizeof(dk_param_spec), DK_CAP_INSTANCE_MT},
    .create = regex_match_create,
    .destroy = regex_match_destroy,
    .score = st_score,
    .score_batch = st_score_batch,
    .score_next = st_score_next,
};

static const dk_iface_header *const components[] = {&regex_match_iface.hdr};
static const dk_plugin_desc desc = {DK_PLUGIN_DESC_HEAD, "regex_match", "1.0.0", components, 1,
                                    NULL, NULL};
DK_PLUGIN_ENTRY(regex_match) { return &desc; }
