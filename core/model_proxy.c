/* model_proxy.c -- count forward passes and time spent in the model without the decoder knowing. */
#include "model_proxy.h"

#include "session.h"

#define PX(inst) ((dk_model_proxy *)(inst))

static int px_eval(void *inst, dk_seq seq, const dk_token *t, size_t n, float *lg, uint32_t fl,
                   dk_error *e) {
  double t0 = dk_now();
  int rc = PX(inst)->real->eval(PX(inst)->real_inst, seq, t, n, lg, fl, e);
  PX(inst)->meter->seconds += dk_now() - t0;
  PX(inst)->meter->forward_passes++;
  PX(inst)->meter->tokens += n;
  return rc;
}

static int px_eval_batch(void *inst, const dk_seq *seqs, const dk_token *t, size_t n, float *lg,
                         dk_error *e) {
  double t0 = dk_now();
  int rc = PX(inst)->real->eval_batch(PX(inst)->real_inst, seqs, t, n, lg, e);
  PX(inst)->meter->seconds += dk_now() - t0;
  PX(inst)->meter->forward_passes++;
  PX(inst)->meter->tokens += n;
  return rc;
}

static int px_eval_tree(void *inst, dk_seq seq, const dk_token *t, const int32_t *par, size_t n,
                        float *lg, dk_error *e) {
  double t0 = dk_now();
  int rc = PX(inst)->real->eval_tree(PX(inst)->real_inst, seq, t, par, n, lg, e);
  PX(inst)->meter->seconds += dk_now() - t0;
  PX(inst)->meter->forward_passes++;
  PX(inst)->meter->tokens += n;
  return rc;
}

static int px_eval_masked(void *inst, const dk_token *t, size_t n, float *lg, dk_error *e) {
  double t0 = dk_now();
  int rc = PX(inst)->real->eval_masked(PX(inst)->real_inst, t, n, lg, e);
  PX(inst)->meter->seconds += dk_now() - t0;
  PX(inst)->meter->forward_passes++;
  PX(inst)->meter->tokens += n;
  return rc;
}

static int px_info(void *inst, dk_model_info *o) { return PX(inst)->real->info(PX(inst)->real_inst, o); }
static int px_seq_new(void *inst, dk_seq *o, dk_error *e) {
  return PX(inst)->real->seq_new(PX(inst)->real_inst, o, e);
}
static void px_seq_free(void *inst, dk_seq s) { PX(inst)->real->seq_free(PX(inst)->real_inst, s); }
static size_t px_seq_len(void *inst, dk_seq s) { return PX(inst)->real->seq_len(PX(inst)->real_inst, s); }
static int px_tokenize(void *inst, const char *text, size_t len, uint32_t fl, dk_token *o, size_t cap,
                       size_t *n, dk_error *e) {
  return PX(inst)->real->tokenize(PX(inst)->real_inst, text, len, fl, o, cap, n, e);
}
static const char *px_piece(void *inst, dk_token t, size_t *len) {
  return PX(inst)->real->token_piece(PX(inst)->real_inst, t, len);
}
static uint32_t px_attr(void *inst, dk_token t) {
  return PX(inst)->real->token_attr(PX(inst)->real_inst, t);
}
static int px_detok(void *inst, const dk_token *t, size_t n, char *o, size_t cap, size_t *no,
                    dk_error *e) {
  return PX(inst)->real->detokenize(PX(inst)->real_inst, t, n, o, cap, no, e);
}
static int px_accept(void *inst, dk_seq s, const int32_t *path, size_t n, dk_error *e) {
  return PX(inst)->real->accept_path(PX(inst)->real_inst, s, path, n, e);
}
static int px_truncate(void *inst, dk_seq s, size_t keep, dk_error *e) {
  return PX(inst)->real->truncate(PX(inst)->real_inst, s, keep, e);
}
static int px_fork(void *inst, dk_seq s, dk_seq *o, dk_error *e) {
  return PX(inst)->real->fork(PX(inst)->real_inst, s, o, e);
}
static int px_describe(void *inst, char *o, size_t cap, size_t *n, dk_error *e) {
  return PX(inst)->real->describe(PX(inst)->real_inst, o, cap, n, e);
}
static int px_hidden(void *inst, dk_seq s, size_t n, float *o, dk_error *e) {
  return PX(inst)->real->hidden(PX(inst)->real_inst, s, n, o, e);
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
#define OPT(f, fn) px->iface.f = real->f ? fn : NULL
  OPT(token_attr, px_attr);
  OPT(detokenize, px_detok);
  OPT(eval_batch, px_eval_batch);
  OPT(eval_tree, px_eval_tree);
  OPT(accept_path, px_accept);
  OPT(truncate, px_truncate);
  OPT(fork, px_fork);
  OPT(eval_masked, px_eval_masked);
  OPT(hidden, px_hidden);
  OPT(describe, px_describe);
#undef OPT
  px->ref.iface = &px->iface;
  px->ref.inst = px;
  px->ref.info = info;
}
