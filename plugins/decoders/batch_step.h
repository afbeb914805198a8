/* batch_step.h -- one new token on each of n sequences in one model call: a ragged batch when the model has one, else eval_batch. */
#ifndef DK_BATCH_STEP_H
#define DK_BATCH_STEP_H

#include <decokit/plugin.h>

#include <stdlib.h>

/* Decoders that move several hypotheses a token at a time need fork and
 * one of the batched evaluations; say so by name when the model has not. */
static inline int batch_step_check(const dk_host *h, const dk_model_ref *m, const char *who,
                                   dk_error *err) {
  uint32_t caps = m->info ? m->info->caps : 0;
  if (!(caps & DK_MODEL_CAP_FORK) || !m->iface->fork)
    return h->set_error(err, DK_ERR_UNSUPPORTED, "%s needs a model that can fork sequences", who);
  int ragged = (caps & DK_MODEL_CAP_RAGGED) && m->iface->eval_ragged;
  int batch = (caps & DK_MODEL_CAP_BATCH) && m->iface->eval_batch;
  if (!ragged && !batch)
    return h->set_error(err, DK_ERR_UNSUPPORTED,
                        "%s needs a model with batched evaluation (eval_batch or eval_ragged)", who);
  return DK_OK;
}

/* logits: n rows of n_vocab; hidden (nullable): n rows of n_embd, read
 * from the batch itself or, after eval_batch, with hidden() per sequence. */
static inline int batch_step(const dk_host *h, const dk_model_ref *m, const dk_seq *seqs, const dk_token *toks,
                             size_t n, float *logits, float *hidden, dk_error *err) {
  uint32_t caps = m->info ? m->info->caps : 0;
  if ((caps & DK_MODEL_CAP_RAGGED) && m->iface->eval_ragged) {
    size_t *ones = malloc(n * sizeof *ones);
    if (!ones) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) ones[i] = 1;
    dk_batch b = {.struct_size = sizeof b, .n_seqs = n, .seqs = seqs, .n_tokens = ones,
                  .tokens = toks, .logits = logits, .hidden = hidden};
    int rc = m->iface->eval_ragged(m->inst, &b, err);
    free(ones);
    return rc;
  }
  int rc = m->iface->eval_batch(m->inst, seqs, toks, n, logits, err);
  size_t d = m->info ? (size_t)m->info->n_embd : 0;
  for (size_t i = 0; rc == DK_OK && hidden && i < n; i++)
    rc = m->iface->hidden(m->inst, seqs[i], 1, hidden + i * d, err);
  return rc;
}

#endif
