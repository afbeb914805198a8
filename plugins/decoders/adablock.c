/* adablock.c -- AdaBlock-dLLM: threshold diffusion decoding whose blocks end after a confidently predicted delimiter. */
#include <decokit/plugin.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dllm.h"

/* METHODS 12: at the start of each block the forward looks over a window
 * of the next positions; if one whose argmax is a delimiter (newline by
 * default) is predicted with probability delimiter_threshold or more, the
 * block ends right after the most confident such position, else it is
 * block_length long.  Within a block every step unmasks the positions at
 * or over the threshold, and at least the first in order (Fast-dLLM). */
typedef struct adablock {
  dllm d; /* first: the engine's functions take the instance */
  double delim_thr, window;
  uint8_t *delim; /* per token: 1 for a delimiter */
  size_t opened;  /* start of the block last sized */
  int sized;
} adablock;

static const dk_param_spec adablock_params[] = {
    DLLM_PARAMS_CORE,
    {"threshold", DK_PARAM_DOUBLE, DK_PARAM_MIN, "0.9", 0, 0,
     "Each step unmasks every masked position of the block whose chosen token has at least this "
     "probability, and always the first in order."},
    {"delimiter_threshold", DK_PARAM_DOUBLE, DK_PARAM_MIN, "0.3", 0, 0,
     "A delimiter ends a block only when predicted with at least this probability (0.3 for "
     "LLaDA, 0.5 for Dream); a value over 1 keeps every block block_length long."},
    {"delimiters", DK_PARAM_LIST, 0, NULL, 0, 0,
     "Token texts that end a semantic step; a token whose piece equals one byte for byte is a "
     "delimiter.  Default: a newline."},
    {"window", DK_PARAM_DOUBLE, DK_PARAM_MIN | DK_PARAM_MAX, "0.25", 0, 1,
     "The look-ahead for a delimiter, as a fraction of gen_length (at least one position, at "
     "most what is left)."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static size_t window_len(const adablock *a) {
  size_t w = (size_t)floor(a->window * (double)a->d.o.gen_length);
  return w ? w : 1;
}

static void adablock_destroy(void *inst) {
  adablock *a = inst;
  dllm_end(&a->d);
  free(a->delim);
  free(a);
}

static int adablock_create(const dk_host *h, const dk_create_info *ci, void **inst, dk_error *err) {
  adablock *a = calloc(1, sizeof *a);
  if (!a) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  int rc = dllm_init(&a->d, h, ci, 0, err);
  if (rc) {
    free(a);
    return rc;
  }
  a->delim_thr = h->cfg_double(ci->config, "delimiter_threshold");
  a->window = h->cfg_double(ci->config, "window");
  if (window_len(a) > a->d.longest_block) a->d.longest_block = window_len(a);
  const dk_vocab *v = ci->vocab;
  a->delim = calloc((size_t)v->n_vocab, 1);
  if (!a->delim) {
    adablock_destroy(a);
    return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  }
  int set = h->cfg_is_set(ci->config, "delimiters");
  size_t n = set ? h->cfg_list_len(ci->config, "delimiters") : 1;
  for (size_t i = 0; i < n; i++) {
    const char *t = set ? h->cfg_list_item(ci->config, "delimiters", i) : "\n";
    size_t len = strlen(t), found = 0;
    for (int32_t k = 0; k < v->n_vocab; k++)
      if (v->piece_len[k] == len && memcmp(v->piece[k], t, len) == 0) a->delim[k] = 1, found++;
    if (!found) {
      adablock_destroy(a);
      return h->set_error(err, DK_ERR_INVALID, "delimiters: no token's piece is '%s'", t);
    }
  }
  *inst = a;
  return DK_OK;
}

static int adablock_begin(void *inst, dk_session *s, dk_error *err) {
  adablock *a = inst;
  size_t w = window_len(a), rows = a->d.o.block_length > w ? a->d.o.block_length : w;
  if (rows > a->d.o.gen_length) rows = a->d.o.gen_length;
  int rc = dllm_begin(&a->d, s, rows, err);
  if (!rc) dllm_next_block(&a->d);
  a->sized = 0;
  return rc;
}

static void adablock_end(void *inst, dk_session *s) {
  (void)s;
  dllm_end(&((adablock *)inst)->d);
}

/* The block's first forward covers the window and fixes the block's end. */
static int size_block(adablock *a, dk_session *s, dk_error *err) {
  dllm *d = &a->d;
  size_t left = d->n_total - d->b0, w = window_len(a);
  if (w > left) w = left;
  size_t len = d->o.block_length < left ? d->o.block_length : left;
  /* Rows for the window and for a default block: the step unmasks from
   * the same forward whichever the block turns out to be. */
  int rc = dllm_forward(d, d->b0, d->b0 + (w > len ? w : len), err);
  if (rc) return rc;
  const dllm_row *best = NULL;
  for (size_t i = 0; i < d->n_stat; i++)
    if (d->stat[i].pos < d->b0 + w && a->delim[d->stat[i].x0] && (!best || d->stat[i].conf > best->conf))
      best = &d->stat[i];
  if (best && best->conf >= a->delim_thr) len = best->pos - d->b0 + 1;
  d->b1 = d->b0 + len;
  d->block_masks = dllm_masks(d, d->b0, d->b1);
  d->h->metric_add(s, "blocks", 1);
  a->opened = d->b0;
  a->sized = 1;
  return DK_OK;
}

static int adablock_step(void *inst, dk_session *s, dk_error *err) {
  adablock *a = inst;
  dllm *d = &a->d;
  int rc = a->sized && a->opened == d->b0 ? dllm_forward(d, d->b0, d->b1, err) : size_block(a, s, err);
  if (rc) return rc;
  dllm_unmask(d, 1);
  return dllm_advance(d, err);
}

static const dk_decoder_iface adablock_iface = {
    .hdr = {.struct_size = sizeof(dk_decoder_iface),
            .kind = DK_KIND_DECODER,
            .name = "adablock",
            .version = "1.0.0",
            .summary = "masked diffusion with adaptive blocks: a block ends after a confidently "
                       "predicted delimiter",
            .params = adablock_params,
            .param_stride = sizeof(dk_param_spec),
            .caps = DK_CAP_INSTANCE_MT | DK_CAP_DECODER_NO_PREFILL},
    .create = adablock_create,
    .destroy = adablock_destroy,
    .begin = adablock_begin,
    .step = adablock_step,
    .end = adablock_end,
};

static const dk_iface_header *const components[] = {&adablock_iface.hdr};

static const dk_plugin_desc desc = {
    DK_PLUGIN_DESC_HEAD, "adablock", "1.0.0", components, 1, NULL, NULL,
};

DK_PLUGIN_ENTRY(adablock) { return &desc; }
