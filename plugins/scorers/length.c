/* length.c -- scorer: 0 inside a length window, minus the distance outside it (DeAL's length reward). */
#include "scorer_text.h"

#include <stdlib.h>
#include <string.h>

static const dk_param_spec length_params[] = {
    {"min", DK_PARAM_INT, DK_PARAM_MIN, "0", 0, 0, "Shortest length that scores 0."},
    {"max", DK_PARAM_INT, DK_PARAM_MIN, "0", 0, 0,
     "Longest length that scores 0; 0 means no upper limit.  Outside [min, max] the score is "
     "minus the distance to the window."},
    {"unit", DK_PARAM_STRING, 0, "tokens", 0, 0,
     "What is counted: tokens (generated, without control tokens) or bytes of text."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

typedef struct length {
  st_base base;
  double min, max;
  int bytes;
} length;

static double length_fn(void *inst, const dk_token *gen, size_t n, const char *text, size_t len) {
  const length *l = inst;
  (void)gen;
  (void)text;
  double x = (double)(l->bytes ? len : n);
  if (x < l->min) return x - l->min;
  if (l->max > 0 && x > l->max) return l->max - x;
  return 0.0;
}

static void length_destroy(void *inst) {
  st_free(inst);
  free(inst);
}

static int length_create(const dk_host *h, const dk_create_info *ci, void **inst, dk_error *err) {
  const char *unit = h->cfg_string(ci->config, "unit");
  int bytes = unit && strcmp(unit, "bytes") == 0;
  if (!bytes && (!unit || strcmp(unit, "tokens") != 0))
    return h->set_error(err, DK_ERR_INVALID, "key 'unit': expected tokens or bytes, got '%s'",
                        unit ? unit : "");
  int64_t mn = h->cfg_int(ci->config, "min"), mx = h->cfg_int(ci->config, "max");
  if (mx > 0 && mx < mn)
    return h->set_error(err, DK_ERR_INVALID, "key 'max': %lld is below min %lld", (long long)mx,
                        (long long)mn);
  length *l = calloc(1, sizeof *l);
  if (!l) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  int rc = st_init(&l->base, h, ci, length_fn, err);
  if (rc) {
    free(l);
    return rc;
  }
  l->min = (double)mn;
  l->max = (double)mx;
  l->bytes = bytes;
  *inst = l;
  return DK_OK;
}

static const struct dk_scorer_iface length_iface = {
    .hdr = {sizeof(struct dk_scorer_iface), DK_KIND_SCORER, "length", "1.0.0",
            "minus the distance of the generated length from a window", length_params,
            sizeof(dk_param_spec), DK_CAP_INSTANCE_MT},
    .create = length_create,
    .destroy = length_destroy,
    .score = st_score,
    .score_batch = st_score_batch,
    .score_next = st_score_next,
};

static const dk_iface_header *const components[] = {&length_iface.hdr};
static const dk_plugin_desc desc = {DK_PLUGIN_DESC_HEAD, "length", "1.0.0", components, 1, NULL, NULL};
DK_PLUGIN_ENTRY(length) { return &desc; }
