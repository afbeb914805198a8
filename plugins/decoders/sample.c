/* sample.c -- the autoregressive decoder: eval, mask, sampler chain, commit, one token a step. */
#include <decokit/plugin.h>

#include <stdlib.h>

typedef struct sample_dec {
  const dk_host *host;
  float *logits;
  int fresh; /* next step samples from the prompt's logits */
} sample_dec;

static int sample_create(const dk_host *host, const dk_create_info *ci, void **inst,
                         dk_error *err) {
  if (!ci->vocab || ci->vocab->n_vocab <= 0)
    return host->set_error(err, DK_ERR_INVALID, "needs the model's vocabulary");
  sample_dec *d = calloc(1, sizeof *d);
  if (!d) return host->set_error(err, DK_ERR_NOMEM, "out of memory");
  d->logits = malloc((size_t)ci->vocab->n_vocab * sizeof *d->logits);
  if (!d->logits) {
    free(d);
    return host->set_error(err, DK_ERR_NOMEM, "out of memory");
  }
  d->host = host;
  *inst = d;
  return DK_OK;
}

static void sample_destroy(void *inst) {
  sample_dec *d = inst;
  free(d->logits);
  free(d);
}

static int sample_begin(void *inst, dk_session *s, dk_error *err) {
  sample_dec *d = inst;
  /* A drafter here would be silently ignored: say so instead. */
  if (d->host->session_drafter(s))
    return d->host->set_error(err, DK_ERR_INVALID,
                              "does not use a drafter: remove the `drafter:` block, or use "
                              "decoder: { plugin: speculative }");
  d->fresh = 1;
  return DK_OK;
}

static int sample_step(void *inst, dk_session *s, dk_error *err) {
  sample_dec *d = inst;
  const dk_host *h = d->host;
  const float *logits = d->fresh ? h->session_prompt_logits(s) : d->logits;
  d->fresh = 0;
  dk_token tok;
  int rc = h->session_sample(s, logits, NULL, 0, &tok, err);
  if (rc) return rc;
  rc = h->commit(s, &tok, 1, err);
  if (rc) return rc; /* DK_DONE: a stop fired, no need to evaluate the token */
  const dk_model_ref *m = h->session_model(s);
  return m->iface->eval(m->inst, h->session_seq(s), &tok, 1, d->logits, 0, err);
}

static const dk_decoder_iface sample_iface = {
    .hdr = {.struct_size = sizeof(dk_decoder_iface),
            .kind = DK_KIND_DECODER,
            .name = "sample",
            .version = "1.0.0",
            .summary = "autoregressive decoding: one model step, the sampler chain, one token",
            .params = NULL,
            .param_stride = sizeof(dk_param_spec),
            .caps = DK_CAP_INSTANCE_MT},
    .create = sample_create,
    .destroy = sample_destroy,
    .begin = sample_begin,
    .step = sample_step,
};

static const dk_iface_header *const components[] = {&sample_iface.hdr};

static const dk_plugin_desc desc = {
    DK_PLUGIN_DESC_HEAD, "sample", "1.0.0", components, 1, NULL, NULL,
};

DK_PLUGIN_ENTRY(sample) { return &desc; }
