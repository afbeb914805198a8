/* model_proxy.c -- count forward passes and time spent in the model without the decoder knowing. */
#include "model_proxy.h"

#include "error.h"
#include "plugin_proxy.h"
#include "session.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#define PX(inst) ((dk_model_proxy *)(inst))

/* Every evaluation is timed and counted; a status outside dk_status's
 * allowed set becomes an error here, before a decoder can misread it. */
static int metered(dk_model_proxy *px, double t0, size_t n, int rc, dk_error *e, const char *what) {
  px->meter->seconds += dk_now() - t0;
  px->meter->forward_passes++;
  px->meter->tokens += n;
  return dk_plugin_status(rc, 0, e, what);
}

static int px_eval(void *inst, dk_seq seq, const dk_token *t, size_t n, float *lg, uint32_t fl,
                   dk_error *e) {
  double t0 = dk_now();
  int rc = PX(inst)->real->eval(PX(inst)->real_inst, seq, t, n, lg, fl, e);
  return metered(PX(inst), t0, n, rc, e, "eval");
}

static int px_eval_batch(void *inst, const dk_seq *seqs, const dk_token *t, size_t n, float *lg,
                         dk_error *e) {
  double t0 = dk_now();
  int rc = PX(inst)->real->eval_batch(PX(inst)->real_inst, seqs, t, n, lg, e);
  return metered(PX(inst), t0, n, rc, e, "eval_batch");
}

static int px_eval_tree(void *inst, dk_seq seq, const dk_token *t, const int32_t *par, size_t n,
                        float *lg, dk_error *e) {
  double t0 = dk_now();
  int rc = PX(inst)->real->eval_tree(PX(inst)->real_inst, seq, t, par, n, lg, e);
  return metered(PX(inst), t0, n, rc, e, "eval_tree");
}

static int px_eval_masked(void *inst, const dk_token *t, size_t n, float *lg, dk_error *e) {
  double t0 = dk_now();
  int rc = PX(inst)->real->eval_masked(PX(inst)->real_inst, t, n, lg, e);
  return metered(PX(inst), t0, n, rc, e, "eval_masked");
}

static int px_eval_ragged(void *inst, const dk_batch *b, dk_error *e) {
  size_t n = 0;
  for (size_t i = 0; b && i < b->n_seqs; i++) n += b->n_tokens[i];
  double t0 = dk_now();
  int rc = PX(inst)->real->eval_ragged(PX(inst)->real_inst, b, e);
  return metered(PX(inst), t0, n, rc, e, "eval_ragged");
}

static int px_eval_masked_seq(void *inst, const dk_masked_eval *me, dk_error *e) {
  size_t n = me ? me->n : 0;
  if (me && (me->flags & DK_MASKED_REUSE) && me->active_end > me->active_begin)
    n = me->active_end - me->active_begin;
  double t0 = dk_now();
  int rc = PX(inst)->real->eval_masked_seq(PX(inst)->real_inst, me, e);
  return metered(PX(inst), t0, n, rc, e, "eval_masked_seq");
}

/* The batched masked call hands back rows the decoder cannot size-check
 * and promises to leave the sequence alone: every row's first and last
 * float start as NaN and must be overwritten, and the sequence's length
 * must not move. */
static int px_eval_masked_batch(void *inst, const dk_masked_batch *mb, dk_error *e) {
  dk_model_proxy *px = PX(inst);
  if (!mb || mb->struct_size < sizeof *mb || !mb->tokens || !mb->logits || !mb->n || !mb->n_canvas)
    return dk_error_set(e, DK_ERR_INVALID, "eval_masked_batch: no canvases, tokens or logits");
  int reuse = (mb->flags & DK_MASKED_REUSE) != 0;
  size_t per = mb->rows ? mb->n_rows : mb->n;
  if (reuse && (mb->active_begin >= mb->active_end || mb->active_end > mb->n))
    return dk_error_set(e, DK_ERR_INVALID, "eval_masked_batch: active rows [%zu, %zu) of a canvas of %zu",
                        mb->active_begin, mb->active_end, mb->n);
  size_t nv = px->info.n_vocab > 0 ? (size_t)px->info.n_vocab : 0, out = per * mb->n_canvas;
  if (!nv || !per || out / mb->n_canvas != per)
    return dk_error_set(e, DK_ERR_INVALID, "eval_masked_batch: no output rows");
  for (size_t r = 0; r < out; r++) mb->logits[r * nv] = mb->logits[r * nv + nv - 1] = NAN;
  size_t len = px->real->seq_len(px->real_inst, mb->seq);
  double t0 = dk_now();
  int rc = px->real->eval_masked_batch(px->real_inst, mb, e);
  rc = metered(px, t0, mb->n_canvas * (reuse ? mb->active_end - mb->active_begin : mb->n), rc, e,
               "eval_masked_batch");
  if (rc) return rc;
  size_t now = px->real->seq_len(px->real_inst, mb->seq);
  if (now != len)
    return dk_error_set(e, DK_ERR_INTERNAL,
                        "eval_masked_batch: the model changed the sequence from %zu to %zu positions",
                        len, now);
  for (size_t r = 0; r < out; r++)
    if (isnan(mb->logits[r * nv]) || isnan(mb->logits[r * nv + nv - 1]))
      return dk_error_set(e, DK_ERR_INTERNAL,
                          "eval_masked_batch: the model left output row %zu of canvas %zu unwritten",
                          r % per, r / per);
  return DK_OK;
}

/* What the real info says, less the bits of ops the proxy does not pass on. */
static int px_info(void *inst, dk_model_info *o) {
  int rc = PX(inst)->real->info(PX(inst)->real_inst, o);
  if (rc == DK_OK && o->struct_size >= offsetof(dk_model_info, caps) + sizeof o->caps)
    o->caps &= PX(inst)->info.caps;
  return rc;
}
static int px_seq_new(void *inst, dk_seq *o, dk_error *e) {
  return dk_plugin_status(PX(inst)->real->seq_new(PX(inst)->real_inst, o, e), 0, e, "seq_new");
}
static void px_seq_free(void *inst, dk_seq s) { PX(inst)->real->seq_free(PX(inst)->real_inst, s); }
static size_t px_seq_len(void *inst, dk_seq s) { return PX(inst)->real->seq_len(PX(inst)->real_inst, s); }
static int px_tokenize(void *inst, const char *text, size_t len, uint32_t fl, dk_token *o, size_t cap,
                       size_t *n, dk_error *e) {
  return dk_plugin_status(PX(inst)->real->tokenize(PX(inst)->real_inst, text, len, fl, o, cap, n, e), 0,
                          e, "tokenize");
}
static const char *px_piece(void *inst, dk_token t, size_t *len) {
  return PX(inst)->real->token_piece(PX(inst)->real_inst, t, len);
}
static uint32_t px_attr(void *inst, dk_token t) {
  return PX(inst)->real->token_attr(PX(inst)->real_inst, t);
}
static int px_detok(void *inst, const dk_token *t, size_t n, char *o, size_t cap, size_t *no,
                    dk_error *e) {
  return dk_plugin_status(PX(inst)->real->detokenize(PX(inst)->real_inst, t, n, o, cap, no, e), 0, e,
                          "detokenize");
}
static int px_accept(void *inst, dk_seq s, const int32_t *path, size_t n, dk_error *e) {
  return dk_plugin_status(PX(inst)->real->accept_path(PX(inst)->real_inst, s, path, n, e), 0, e,
                          "accept_path");
}
static int px_truncate(void *inst, dk_seq s, size_t keep, dk_error *e) {
  return dk_plugin_status(PX(inst)->real->truncate(PX(inst)->real_inst, s, keep, e), 0, e, "truncate");
}
static int px_fork(void *inst, dk_seq s, dk_seq *o, dk_error *e) {
  return dk_plugin_status(PX(inst)->real->fork(PX(inst)->real_inst, s, o, e), 0, e, "fork");
}
static int px_describe(void *inst, char *o, size_t cap, size_t *n, dk_error *e) {
  return dk_plugin_status(PX(inst)->real->describe(PX(inst)->real_inst, o, cap, n, e), 0, e, "describe");
}
static int px_hidden(void *inst, dk_seq s, size_t n, float *o, dk_error *e) {
  return dk_plugin_status(PX(inst)->real->hidden(PX(inst)->real_inst, s, n, o, e), 0, e, "hidden");
}

void dk_model_proxy_init(dk_model_proxy *px, const struct dk_model_iface *real, void *inst,
                         const dk_model_info *info, dk_model_meter *meter) {
  px->real = real;
  px->real_inst = inst;
  px->meter = meter;
  px->iface = *real;
  px->iface.info = px_info;
  px->iface.seq_new = px_seq_new;
  px->iface.seq_free = px_seq_free;
  px->iface.seq_len = px_seq_len;
  px->iface.eval = px_eval;
  px->iface.tokenize = px_tokenize;
  px->iface.token_piece = px_piece;
  /* Decoders test caps, so an op whose cap bit is clear is hidden, and
   * abort and weight sharing stay the host's. */
  uint32_t caps = info ? info->caps : 0;
#define OPT(f, fn) px->iface.f = real->f ? fn : NULL
#define CAP(bit, f, fn) px->iface.f = (caps & (bit)) && real->f ? fn : NULL
  OPT(token_attr, px_attr);
  OPT(detokenize, px_detok);
  OPT(describe, px_describe);
  CAP(DK_MODEL_CAP_BATCH, eval_batch, px_eval_batch);
  CAP(DK_MODEL_CAP_TREE, eval_tree, px_eval_tree);
  CAP(DK_MODEL_CAP_TREE, accept_path, px_accept);
  CAP(DK_MODEL_CAP_TRUNCATE, truncate, px_truncate);
  CAP(DK_MODEL_CAP_FORK, fork, px_fork);
  CAP(DK_MODEL_CAP_MASKED, eval_masked, px_eval_masked);
  CAP(DK_MODEL_CAP_HIDDEN, hidden, px_hidden);
  CAP(DK_MODEL_CAP_RAGGED, eval_ragged, px_eval_ragged);
  CAP(DK_MODEL_CAP_MASKED_SEQ, eval_masked_seq, px_eval_masked_seq);
  CAP(DK_MODEL_CAP_MASKED_BATCH, eval_masked_batch, px_eval_masked_batch);
#undef CAP
#undef OPT
  px->iface.set_abort = NULL;
  px->iface.clone_shared = NULL;
  if (info) px->info = *info;
  else memset(&px->info, 0, sizeof px->info);
  px->info.caps &= ~(uint32_t)(DK_MODEL_CAP_ABORT | DK_MODEL_CAP_SHARE);
  /* A model built before 1.3 cannot have the batch op; one that claims the
   * bit without the op is not believed. */
  if (!px->iface.eval_masked_batch) px->info.caps &= ~(uint32_t)DK_MODEL_CAP_MASKED_BATCH;
  px->ref.iface = &px->iface;
  px->ref.inst = px;
  px->ref.info = &px->info;
}
