/* ccd.c -- Coherent Contextual Decoding: masked diffusion that fast-tracks positions whose prediction held across steps. */
#include <decokit/plugin.h>

#include <stdlib.h>

#include "dllm.h"

/* METHODS 13, as its authors' released code does it: after a warm-up of
 * ordinary steps, the positions ranked just after those a step unmasks
 * form a verification buffer (with their predicted tokens) that grows by
 * one a step up to k * (1 + expand_ratio).  At the next step, if the
 * schedule's top k meet that buffer, every position among the top
 * buffer-size that was in it and still predicts the same token is
 * unmasked, when there are at least k of them: a prediction that
 * survived a change of context is trusted.  Near the end (late fraction
 * of the canvas masked) the buffer shrinks back to one. */
typedef struct ccd {
  dllm d; /* first: the engine's functions take the instance */
  size_t warmup;
  double expand, late;
  size_t *vpos; /* the verification buffer: positions and their tokens */
  dk_token *vtok;
  size_t n_prev, n_verify, opened;
} ccd;

static const dk_param_spec ccd_params[] = {
    DLLM_PARAMS,
    {"warmup", DK_PARAM_INT, DK_PARAM_MIN, "5", 0, 0, "Ordinary steps before the buffer is consulted."},
    {"expand_ratio", DK_PARAM_DOUBLE, DK_PARAM_MIN, "4", 0, 0,
     "The buffer grows to k * (1 + expand_ratio) positions, k being the schedule's count; 0 gives "
     "plain diffusion decoding."},
    {"late", DK_PARAM_DOUBLE, DK_PARAM_MIN | DK_PARAM_MAX, "0.1", 0, 1,
     "When at most this fraction of the canvas is masked the buffer is one position again."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static void ccd_destroy(void *inst) {
  ccd *c = inst;
  dllm_end(&c->d);
  free(c->vpos);
  free(c->vtok);
  free(c);
}

static int ccd_create(const dk_host *h, const dk_create_info *ci, void **inst, dk_error *err) {
  ccd *c = calloc(1, sizeof *c);
  if (!c) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  int rc = dllm_init(&c->d, h, ci, 1, err);
  if (rc) {
    free(c);
    return rc;
  }
  c->warmup = (size_t)h->cfg_int(ci->config, "warmup");
  c->expand = h->cfg_double(ci->config, "expand_ratio");
  c->late = h->cfg_double(ci->config, "late");
  c->vpos = malloc(c->d.o.block_length * sizeof *c->vpos);
  c->vtok = malloc(c->d.o.block_length * sizeof *c->vtok);
  if (!c->vpos || !c->vtok) {
    ccd_destroy(c);
    return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  }
  *inst = c;
  return DK_OK;
}

static int ccd_begin(void *inst, dk_session *s, dk_error *err) {
  ccd *c = inst;
  int rc = dllm_begin(&c->d, s, 0, err);
  if (!rc) dllm_next_block(&c->d);
  c->n_prev = 0;
  c->n_verify = 1;
  c->opened = c->d.b0;
  return rc;
}

static void ccd_end(void *inst, dk_session *s) {
  (void)s;
  dllm_end(&((ccd *)inst)->d);
}

/* The token the buffer holds for pos, or -1 when pos is not in it. */
static dk_token buffered(const ccd *c, size_t pos) {
  for (size_t i = 0; i < c->n_prev; i++)
    if (c->vpos[i] == pos) return c->vtok[i];
  return -1;
}

/* Unmask the rows among the first n_verify that the buffer predicted the
 * same way, if at least k; returns how many (0: take the ordinary k). */
static size_t fast_path(ccd *c, size_t k) {
  dllm *d = &c->d;
  size_t met = 0, same = 0;
  for (size_t i = 0; i < k && i < d->n_stat; i++) met += buffered(c, d->stat[i].pos) >= 0;
  if (!met) return 0;
  for (size_t i = 0; i < c->n_verify && i < d->n_stat; i++)
    same += buffered(c, d->stat[i].pos) == d->stat[i].x0;
  if (same < k) return 0;
  for (size_t i = 0; i < c->n_verify && i < d->n_stat; i++)
    if (buffered(c, d->stat[i].pos) == d->stat[i].x0) dllm_fill(d, &d->stat[i]);
  return same;
}

static int ccd_step(void *inst, dk_session *s, dk_error *err) {
  ccd *c = inst;
  dllm *d = &c->d;
  size_t k = dllm_plan(d);
  int rc = dllm_forward(d, d->b0, d->b1, err);
  if (rc) return rc;
  if (c->opened != d->b0) {
    /* Positions of another block: nothing carries over. */
    c->n_prev = 0;
    c->n_verify = 1;
    c->opened = d->b0;
  }
  dllm_rank(d);
  size_t fast = d->global_step >= c->warmup && c->n_prev ? fast_path(c, k) : 0;
  if (fast > k) d->h->metric_add(s, "ccd_extra", (double)(fast - k));
  if (!fast) dllm_unmask(d, k);
  size_t cap = (size_t)((double)k * (1 + c->expand));
  c->n_verify = c->n_verify + 1 < cap ? c->n_verify + 1 : cap ? cap : 1;
  if ((double)dllm_masks(d, d->n_prompt, d->n_total) <= c->late * (double)d->o.gen_length)
    c->n_verify = 1;
  c->n_prev = 0;
  for (size_t i = 0; i < d->n_stat && c->n_prev < c->n_verify && c->n_prev < d->o.block_length; i++)
    if (d->x[d->stat[i].pos] == d->mask) {
      c->vpos[c->n_prev] = d->stat[i].pos;
      c->vtok[c->n_prev++] = d->stat[i].x0;
    }
  return dllm_advance(d, err);
}

static const dk_decoder_iface ccd_iface = {
    .hdr = {.struct_size = sizeof(dk_decoder_iface),
            .kind = DK_KIND_DECODER,
            .name = "ccd",
            .version = "1.0.0",
            .summary = "masked diffusion that unmasks at once the positions whose prediction held "
                       "across steps (coherent contextual decoding)",
            .params = ccd_params,
            .param_stride = sizeof(dk_param_spec),
            .caps = DK_CAP_INSTANCE_MT | DK_CAP_DECODER_NO_PREFILL},
    .create = ccd_create,
    .destroy = ccd_destroy,
    .begin = ccd_begin,
    .step = ccd_step,
    .end = ccd_end,
};

static const dk_iface_header *const components[] = {&ccd_iface.hdr};

static const dk_plugin_desc desc = {
    DK_PLUGIN_DESC_HEAD, "ccd", "1.0.0", components, 1, NULL, NULL,
};

DK_PLUGIN_ENTRY(ccd) { return &desc; }
