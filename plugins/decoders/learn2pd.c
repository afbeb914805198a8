/* learn2pd.c -- Learn2PD: a tiny learned filter decides which masked positions are final, plus end-of-text prediction. */
#include <decokit/plugin.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dllm.h"

/* METHODS 10.  Each forward gives every masked position of the block a
 * token and its confidence.  The filter, a two-layer perceptron
 *   z = W2 relu(W1 c + b1) + b2
 * over the block's confidences c (1 for positions already decided), says
 * which positions keep their token for good: those whose sigmoid(z) is at
 * least tau; when it keeps none, the most confident one is kept so every
 * call advances.  Without a filter only that one is: one position per
 * step.  End-of-text prediction: once the end-of-text token is decided,
 * every position after it takes it too and later forwards stop there.
 * With `record` each forward's block and the final canvas are written to
 * a file, the training data of tools/train/learn2pd.py: per forward a line
 * "S <block offset> <confidence or -1 for decided positions>... <token>..."
 * and per completion "F <canvas tokens>...". */
typedef struct learn2pd {
  dllm d; /* first: the engine's functions take the instance */
  size_t dim;      /* the filter's block length; 0 = no filter */
  float *w;        /* W1 (dim x dim, row-major), b1, W2, b2 */
  double tau;
  int eotp;
  dk_token eot;    /* -1: the model's */
  char *record;
  FILE *rec;
  float *c, *h, *z;
} learn2pd;

static const dk_param_spec learn2pd_params[] = {
    DLLM_PARAMS_CORE,
    {"filter", DK_PARAM_PATH, 0, NULL, 0, 0,
     "The filter file (decokit-learn2pd text: the block length, then W1, b1, W2, b2), made by "
     "tools/train/learn2pd.py; its block length must be block_length.  Unset: no filter, one "
     "position per step."},
    {"tau", DK_PARAM_DOUBLE, DK_PARAM_MIN | DK_PARAM_MAX, "0.5", 0, 1,
     "A masked position is final when the sigmoid of its filter output is at least tau."},
    {"eotp", DK_PARAM_BOOL, 0, "true", 0, 0,
     "End-of-text prediction: positions after a decided end-of-text token take it too, and "
     "forwards stop after it."},
    {"eot_id", DK_PARAM_INT, DK_PARAM_MIN, "-1", -1, 0,
     "The end-of-text token: -1 for the model's EOT, or its EOS without one."},
    {"record", DK_PARAM_PATH, 0, NULL, 0, 0,
     "Training data: append each forward's block confidences and tokens and each completion's "
     "final canvas to this file."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

/* The file: "decokit-learn2pd 1 <dim>" then 2 dim^2 + 2 dim numbers. */
static int load_filter(learn2pd *f, const dk_host *h, const char *path, dk_error *err) {
  FILE *in = fopen(path, "r");
  if (!in) return h->set_error(err, DK_ERR_IO, "filter: cannot open '%s': %s", path, strerror(errno));
  int version = 0;
  long dim = 0;
  int rc = DK_OK;
  if (fscanf(in, "decokit-learn2pd %d %ld", &version, &dim) != 2 || version != 1 || dim < 1 || dim > 4096) {
    rc = h->set_error(err, DK_ERR_FORMAT, "filter: '%s' is not a decokit-learn2pd 1 file", path);
  } else {
    size_t n = 2 * (size_t)dim * (size_t)dim + 2 * (size_t)dim;
    f->w = malloc(n * sizeof *f->w);
    if (!f->w) rc = h->set_error(err, DK_ERR_NOMEM, "filter: out of memory");
    for (size_t i = 0; !rc && i < n; i++)
      if (fscanf(in, "%f", &f->w[i]) != 1 || !isfinite(f->w[i]))
        rc = h->set_error(err, DK_ERR_FORMAT, "filter: '%s' has %zu numbers, %zu expected for block %ld", path,
                          i, n, dim);
    float extra;
    if (!rc && fscanf(in, "%f", &extra) == 1)
      rc = h->set_error(err, DK_ERR_FORMAT, "filter: '%s' has more than the %zu numbers of block %ld", path, n,
                        dim);
    f->dim = (size_t)dim;
  }
  fclose(in);
  return rc;
}

static void release(learn2pd *f) {
  if (f->rec) fclose(f->rec);
  f->rec = NULL;
  free(f->c);
  free(f->h);
  free(f->z);
  f->c = f->h = f->z = NULL;
  dllm_end(&f->d);
}

static void learn2pd_destroy(void *inst) {
  learn2pd *f = inst;
  release(f);
  free(f->w);
  free(f->record);
  free(f);
}

static int learn2pd_create(const dk_host *h, const dk_create_info *ci, void **inst, dk_error *err) {
  learn2pd *f = calloc(1, sizeof *f);
  if (!f) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  const dk_config *c = ci->config;
  int rc = dllm_init(&f->d, h, ci, -1, err);
  if (!rc && f->d.o.order == DLLM_RANDOM)
    rc = h->set_error(err, DK_ERR_INVALID, "order: the filter reads confidences; use confidence, margin or entropy");
  f->tau = h->cfg_double(c, "tau");
  f->eotp = h->cfg_bool(c, "eotp");
  f->eot = (dk_token)h->cfg_int(c, "eot_id");
  const char *path = h->cfg_string(c, "filter");
  if (!rc && path) rc = load_filter(f, h, path, err);
  if (!rc && f->dim && f->dim != f->d.o.block_length)
    rc = h->set_error(err, DK_ERR_INVALID, "block_length: %zu, but the filter was trained on blocks of %zu",
                      f->d.o.block_length, f->dim);
  const char *r = h->cfg_string(c, "record");
  if (!rc && r && !(f->record = strdup(r))) rc = h->set_error(err, DK_ERR_NOMEM, "out of memory");
  if (!rc && f->eot >= f->d.nv)
    rc = h->set_error(err, DK_ERR_INVALID, "eot_id: %d is outside the vocabulary", f->eot);
  if (rc) {
    learn2pd_destroy(f);
    return rc;
  }
  *inst = f;
  return DK_OK;
}

static int learn2pd_begin(void *inst, dk_session *s, dk_error *err) {
  learn2pd *f = inst;
  dllm *d = &f->d;
  release(f);
  int rc = dllm_begin(d, s, 0, err);
  if (rc) return rc;
  size_t b = d->o.block_length;
  f->c = malloc(b * sizeof *f->c);
  f->h = malloc(b * sizeof *f->h);
  f->z = malloc(b * sizeof *f->z);
  if (!f->c || !f->h || !f->z) {
    release(f);
    return d->h->set_error(err, DK_ERR_NOMEM, "out of memory");
  }
  if (f->eot < 0) {
    const dk_model_info *mi = d->m->info;
    f->eot = mi->eot >= 0 ? mi->eot : mi->eos;
  }
  if (f->record && !(f->rec = fopen(f->record, "a"))) {
    release(f);
    return d->h->set_error(err, DK_ERR_IO, "record: cannot open '%s': %s", f->record, strerror(errno));
  }
  if (f->dim) d->h->metric_add(s, "learn2pd_params", (double)(2 * f->dim * f->dim + 2 * f->dim));
  dllm_next_block(d);
  return DK_OK;
}

static void learn2pd_end(void *inst, dk_session *s) {
  learn2pd *f = inst;
  (void)s;
  if (f->rec && f->d.x) {
    fputs("F", f->rec);
    for (size_t i = f->d.n_prompt; i < f->d.n_total; i++) fprintf(f->rec, " %d", f->d.x[i]);
    fputs("\n", f->rec);
  }
  release(f);
}

/* z = W2 relu(W1 c + b1) + b2. */
static void run_filter(learn2pd *f) {
  size_t n = f->dim;
  const float *w1 = f->w, *b1 = w1 + n * n, *w2 = b1 + n, *b2 = w2 + n * n;
  for (size_t i = 0; i < n; i++) {
    float a = b1[i];
    for (size_t j = 0; j < n; j++) a += w1[i * n + j] * f->c[j];
    f->h[i] = a > 0 ? a : 0;
  }
  for (size_t i = 0; i < n; i++) {
    float a = b2[i];
    for (size_t j = 0; j < n; j++) a += w2[i * n + j] * f->h[j];
    f->z[i] = a;
  }
}

/* The first decided end-of-text token after the prompt: everything after
 * it takes it, and forwards end there. */
static void end_of_text(learn2pd *f) {
  dllm *d = &f->d;
  if (f->eot < 0) return;
  for (size_t p = d->n_prompt; p < d->n_total; p++)
    if (d->x[p] == f->eot) {
      for (size_t q = p + 1; q < d->n_total; q++) {
        d->x[q] = f->eot;
        d->raw[q] = d->processed[q] = NAN;
      }
      /* Every masked position is before p, and so is its row, also with
       * a logit shift. */
      dllm_set_end(d, p + 1);
      return;
    }
}

static int learn2pd_step(void *inst, dk_session *s, dk_error *err) {
  learn2pd *f = inst;
  dllm *d = &f->d;
  (void)s;
  if (dllm_masks(d, d->b0, d->b1)) {
    int rc = dllm_forward(d, d->b0, d->b1, err);
    if (rc) return rc;
    size_t b = d->b1 - d->b0;
    for (size_t i = 0; i < b; i++) f->c[i] = 1.0f;
    for (size_t i = 0; i < d->n_stat; i++) f->c[d->stat[i].pos - d->b0] = d->stat[i].conf;
    if (f->rec) {
      fprintf(f->rec, "S %zu", d->b0 - d->n_prompt);
      /* Decided positions read 1 in the filter and -1 here, so the
       * training tool can tell them from masked ones at confidence 1. */
      for (size_t i = 0; i < b; i++)
        fprintf(f->rec, " %.6g", d->x[d->b0 + i] == d->mask ? (double)f->c[i] : -1.0);
      size_t k = 0;
      for (size_t p = d->b0; p < d->b1; p++) {
        dk_token t = d->x[p];
        if (t == d->mask && k < d->n_stat && d->stat[k].pos == p) t = d->stat[k++].x0;
        fprintf(f->rec, " %d", t);
      }
      fputs("\n", f->rec);
    }
    size_t done = 0;
    if (f->dim && b == f->dim) {
      run_filter(f);
      for (size_t i = 0; i < d->n_stat; i++) {
        double z = f->z[d->stat[i].pos - d->b0];
        if (1.0 / (1.0 + exp(-z)) >= f->tau) {
          dllm_fill(d, &d->stat[i]);
          done++;
        }
      }
      d->h->metric_add(s, "learn2pd_filtered", (double)done);
    }
    if (!done) dllm_unmask(d, 1);
    if (f->eotp) end_of_text(f);
  }
  return dllm_advance(d, err);
}

static const dk_decoder_iface learn2pd_iface = {
    .hdr = {.struct_size = sizeof(dk_decoder_iface),
            .kind = DK_KIND_DECODER,
            .name = "learn2pd",
            .version = "1.0.0",
            .summary = "Learn2PD for diffusion LMs: a learned filter finalizes positions early, and "
                       "end-of-text prediction stops forwards after the text ends",
            .params = learn2pd_params,
            .param_stride = sizeof(dk_param_spec),
            .caps = DK_CAP_INSTANCE_MT | DK_CAP_DECODER_NO_PREFILL},
    .create = learn2pd_create,
    .destroy = learn2pd_destroy,
    .begin = learn2pd_begin,
    .step = learn2pd_step,
    .end = learn2pd_end,
};

static const dk_iface_header *const components[] = {&learn2pd_iface.hdr};

static const dk_plugin_desc desc = {
    DK_PLUGIN_DESC_HEAD, "learn2pd", "1.0.0", components, 1, NULL, NULL,
};

DK_PLUGIN_ENTRY(learn2pd) { return &desc; }
