/* prophet.c -- Prophet: masked diffusion that commits every position at once when the top-2 gap says the answer is settled. */
#include <decokit/plugin.h>

#include <stdlib.h>

#include "dllm.h"

/* Early commit (METHODS 11): after each forward the mean gap between the
 * top-1 and top-2 logits over the block's masked positions is compared with
 * a threshold that falls as decoding progresses; once it is reached, every
 * masked position of the canvas takes its current argmax and decoding ends.
 * The paper watches the answer's positions; without a known answer region
 * the block being decoded stands in for it. */
typedef struct prophet {
  dllm d; /* first: the engine's functions take the instance */
  double gap[3];
} prophet;

static const dk_param_spec prophet_params[] = {
    DLLM_PARAMS,
    {"gap_early", DK_PARAM_DOUBLE, 0, "7.5", 0, 0,
     "Mean top-1 minus top-2 logit gap that ends decoding while under a third of the steps are "
     "done."},
    {"gap_mid", DK_PARAM_DOUBLE, 0, "5.0", 0, 0, "The gap that ends decoding up to two thirds of the steps."},
    {"gap_late", DK_PARAM_DOUBLE, 0, "2.5", 0, 0,
     "The gap that ends decoding after two thirds of the steps."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static int prophet_create(const dk_host *h, const dk_create_info *ci, void **inst, dk_error *err) {
  prophet *p = calloc(1, sizeof *p);
  if (!p) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  int rc = dllm_init(&p->d, h, ci, 1, err);
  if (rc) {
    free(p);
    return rc;
  }
  p->gap[0] = h->cfg_double(ci->config, "gap_early");
  p->gap[1] = h->cfg_double(ci->config, "gap_mid");
  p->gap[2] = h->cfg_double(ci->config, "gap_late");
  *inst = p;
  return DK_OK;
}

static void prophet_destroy(void *inst) {
  dllm_end(inst);
  free(inst);
}

/* Every forward returns the rows of all masked positions from the block to
 * the end: the early commit needs their argmax. */
static int prophet_begin(void *inst, dk_session *s, dk_error *err) {
  dllm *d = inst;
  int rc = dllm_begin(d, s, d->o.gen_length, err);
  if (!rc) dllm_next_block(d);
  return rc;
}

static void prophet_end(void *inst, dk_session *s) {
  (void)s;
  dllm_end(inst);
}

static int prophet_step(void *inst, dk_session *s, dk_error *err) {
  prophet *p = inst;
  dllm *d = &p->d;
  size_t k = dllm_plan(d);
  int rc = dllm_forward(d, d->b0, d->n_total, err);
  if (rc) return rc;
  double sum = 0;
  size_t n = 0;
  for (size_t i = 0; i < d->n_stat; i++)
    if (d->stat[i].pos < d->b1) {
      sum += (double)d->stat[i].z1 - d->stat[i].z2;
      n++;
    }
  double progress = (double)d->global_step / (double)d->o.steps;
  double thr = progress < 0.33 ? p->gap[0] : progress < 0.67 ? p->gap[1] : p->gap[2];
  if (n && sum / (double)n >= thr) {
    for (size_t i = 0; i < d->n_stat; i++) dllm_fill(d, &d->stat[i]);
    d->h->metric_add(s, "prophet_exit_step", (double)d->global_step + 1);
    rc = dllm_commit(d, d->n_total, err);
    return rc ? rc : DK_DONE;
  }
  dllm_unmask(d, k);
  return dllm_advance(d, err);
}

static const dk_decoder_iface prophet_iface = {
    .hdr = {.struct_size = sizeof(dk_decoder_iface),
            .kind = DK_KIND_DECODER,
            .name = "prophet",
            .version = "1.0.0",
            .summary = "masked diffusion with early commit: all positions at once when the top-2 "
                       "logit gap passes a threshold that falls with progress",
            .params = prophet_params,
            .param_stride = sizeof(dk_param_spec),
            .caps = DK_CAP_INSTANCE_MT | DK_CAP_DECODER_NO_PREFILL},
    .create = prophet_create,
    .destroy = prophet_destroy,
    .begin = prophet_begin,
    .step = prophet_step,
    .end = prophet_end,
};

static const dk_iface_header *const components[] = {&prophet_iface.hdr};

static const dk_plugin_desc desc = {
    DK_PLUGIN_DESC_HEAD, "prophet", "1.0.0", components, 1, NULL, NULL,
};

DK_PLUGIN_ENTRY(prophet) { return &desc; }
