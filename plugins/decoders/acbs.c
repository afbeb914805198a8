/* acbs.c -- attribute-conditional beam search (METHODS 3): beam search for the mode of p(y | x, a), the attribute from the pipeline's scorers. */
/*
 * Each beam offers its top_k next tokens; a candidate ranks by its summed
 * log-probability plus log p(a | x, y<=t), which the pipeline's scorers give
 * on the hypothesis with the token (the classifier scorer: a head over the
 * model's hidden state).  The beams carry the plain log-probability; a
 * finished hypothesis scores sum / g^alpha plus its attribute, and the
 * early-stopping test adds the best running beam's attribute.  Everything
 * else is beam search's (beam_search.c): with a constant attribute and
 * top_k >= 2 * width (3 * width when the model has distinct EOS and EOT)
 * the result is beam's exactly.
 */
#include "beam_search.h"

#include <math.h>
#include <stdlib.h>

static const dk_param_spec acbs_params[] = {
    {"width", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "4", 1, 1024,
     "Beams kept each step (B); all of them advance in one batched model call."},
    {"top_k", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "8", 1, 4096,
     "Candidate next tokens per beam (k), its most likely after the sampler chain; each one is "
     "scored by the attribute, all of them in one scorer call a step."},
    {"weights", DK_PARAM_LIST, 0, NULL, 0, 0,
     "One weight per scorer of the pipeline, in order (default: all 1); the attribute is the "
     "weighted sum of their scores, a log-probability for the classifier scorer."},
    BS_COMMON_PARAMS,
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static int acbs_create(const dk_host *h, const dk_create_info *ci, void **inst, dk_error *err) {
  bs_params p;
  int rc = bs_read_params(h, ci->config, &p, err);
  if (rc) return rc;
  p.top_k = (size_t)h->cfg_int(ci->config, "top_k");
  p.n_weights = h->cfg_list_len(ci->config, "weights");
  double *w = calloc(p.n_weights ? p.n_weights : 1, sizeof *w);
  if (!w) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  for (size_t i = 0; i < p.n_weights; i++) {
    const char *item = h->cfg_list_item(ci->config, "weights", i);
    char *end;
    w[i] = strtod(item, &end);
    if (end == item || *end || !isfinite(w[i])) {
      free(w);
      return h->set_error(err, DK_ERR_INVALID, "key 'weights': item %zu ('%s') is not a number",
                          i, item);
    }
  }
  p.weights = w;
  rc = bs_create(h, ci, &p, inst, err);
  free(w);
  return rc;
}

static const dk_decoder_iface acbs_iface = {
    .hdr = {.struct_size = sizeof(dk_decoder_iface),
            .kind = DK_KIND_DECODER,
            .name = "acbs",
            .version = "1.0.0",
            .summary = "attribute-conditional beam search: beam search ranked by log p plus the "
                       "scorers' log p(attribute | prefix)",
            .params = acbs_params,
            .param_stride = sizeof(dk_param_spec),
            .caps = DK_CAP_INSTANCE_MT | DK_CAP_DECODER_USES_SCORERS |
                    DK_CAP_DECODER_NEEDS_SCORERS},
    .create = acbs_create,
    .destroy = bs_destroy,
    .begin = bs_begin,
    .step = bs_step,
    .end = bs_end,
};

static const dk_iface_header *const components[] = {&acbs_iface.hdr};

static const dk_plugin_desc desc = {
    DK_PLUGIN_DESC_HEAD, "acbs", "1.0.0", components, 1, NULL, NULL,
};

DK_PLUGIN_ENTRY(acbs) { return &desc; }
