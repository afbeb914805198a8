/* repetition.c -- scorer: minus the share of the generated token n-grams that repeat an earlier one. */
#include "scorer_text.h"

#include <stdlib.h>
#include <string.h>

static const dk_param_spec repetition_params[] = {
    {"n", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "3", 1, 64,
     "Length of the token n-grams compared.  The score is minus the fraction of the text's "
     "n-grams that already occurred earlier in it: 0 without repetition, near -1 for a loop."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

typedef struct repetition {
  st_base base;
  size_t n;
} repetition;

static double repetition_fn(void *inst, const dk_token *gen, size_t n, const char *text,
                            size_t len) {
  const repetition *r = inst;
  (void)text;
  (void)len;
  size_t g = r->n;
  if (n < g) return 0.0;
  size_t total = n - g + 1, repeated = 0;
  for (size_t i = 1; i < total; i++)
    for (size_t j = 0; j < i; j++)
      if (memcmp(gen + i, gen + j, g * sizeof *gen) == 0) {
        repeated++;
        break;
      }
  return -(double)repeated / (double)total;
}

static void repetition_destroy(void *inst) {
  st_free(inst);
  free(inst);
}

static int repetition_create(const dk_host *h, const dk_create_info *ci, void **inst,
                             dk_error *err) {
  repetition *r = calloc(1, sizeof *r);
  if (!r) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  int rc = st_init(&r->base, h, ci, repetition_fn, err);
  if (rc) {
    free(r);
    return rc;
  }
  r->n = (size_t)h->cfg_int(ci->config, "n");
  *inst = r;
  return DK_OK;
}

static const struct dk_scorer_iface repetition_iface = {
    .hdr = {sizeof(struct dk_scorer_iface), DK_KIND_SCORER, "repetition", "1.0.0",
            "minus the share of repeated token n-grams in the generated text", repetition_params,
            sizeof(dk_param_spec), DK_CAP_INSTANCE_MT},
    .create = repetition_create,
    .destroy = repetition_destroy,
    .score = st_score,
    .score_batch = st_score_batch,
    .score_next = st_score_next,
};

static const dk_iface_header *const components[] = {&repetition_iface.hdr};
static const dk_plugin_desc desc = {DK_PLUGIN_DESC_HEAD, "repetition", "1.0.0", components, 1,
                                    NULL, NULL};
DK_PLUGIN_ENTRY(repetition) { return &desc; }
