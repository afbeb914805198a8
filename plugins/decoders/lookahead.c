/* lookahead.c -- decoder: lookahead decoding, a Jacobi window and its n-gram pool verified in one target call per step. */
/*
 * METHODS.md 18.4.  The decoder is the speculative verifier with the
 * lookahead drafter built in: every step evaluates one tree holding up to
 * G pooled n-grams that start at the last token (verification branch) and
 * the N-1 levels of the W-wide window (lookahead branch); the target's
 * choices at the window's top refill it and add W n-grams to the pool.
 * With verify: match the output equals the sample decoder's token for
 * token (greedy included); reject is exact in distribution.  This plugin
 * also provides the `lookahead` drafter for the speculative decoder.
 */
#include "../drafters/lookahead.h"
#include "speculative_core.h"

#include <stdlib.h>

static const dk_param_spec lad_params[] = {
    DKS_VERIFY_PARAM, DKS_JUMP_PARAM, DKL_PARAMS, {NULL, 0, 0, NULL, 0, 0, NULL}};

typedef struct lad {
  const dk_host *h;
  void *verifier;
  dk_drafter_ref drafter;
} lad;

static void lad_destroy(void *inst) {
  lad *l = inst;
  if (l->drafter.inst) dkl_drafter_iface.destroy(l->drafter.inst);
  dks_destroy(l->verifier);
  free(l);
}

static int lad_create(const dk_host *h, const dk_create_info *ci, void **inst, dk_error *err) {
  size_t n = (size_t)h->cfg_int(ci->config, "n"), w = (size_t)h->cfg_int(ci->config, "window"),
         g = (size_t)h->cfg_int(ci->config, "guesses");
  size_t cap = (w + g) * (n - 1);
  if (cap > DKS_MAX_DRAFT)
    return h->set_error(err, DK_ERR_INVALID, "(window + guesses) * (n - 1) is %zu; at most %d nodes fit a step",
                        cap, DKS_MAX_DRAFT);
  lad *l = calloc(1, sizeof *l);
  if (!l) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  l->h = h;
  l->drafter.iface = &dkl_drafter_iface;
  /* Only the top token of each window column is needed back. */
  int rc = dks_create(h, ci, cap, 1, &l->verifier, err);
  if (!rc) rc = dkl_drafter_iface.create(h, ci, &l->drafter.inst, err);
  if (rc) {
    lad_destroy(l);
    return rc;
  }
  *inst = l;
  return DK_OK;
}

static int lad_begin(void *inst, dk_session *s, dk_error *err) {
  lad *l = inst;
  if (l->h->session_drafter(s))
    return l->h->set_error(err, DK_ERR_INVALID,
                           "lookahead drafts by itself: remove the `drafter:` block (or use the "
                           "speculative decoder with that drafter)");
  int rc = dkl_drafter_iface.begin(l->drafter.inst, s, err);
  return rc ? rc : dks_begin(l->verifier, s, &l->drafter, err);
}

static int lad_step(void *inst, dk_session *s, dk_error *err) {
  lad *l = inst;
  return dks_step(l->verifier, s, err);
}

static void lad_end(void *inst, dk_session *s) {
  lad *l = inst;
  dks_end(l->verifier, s);
}

static const dk_decoder_iface lad_iface = {
    .hdr = {.struct_size = sizeof(dk_decoder_iface),
            .kind = DK_KIND_DECODER,
            .name = "lookahead",
            .version = "1.0.0",
            .summary = "lookahead decoding: a Jacobi window and its n-gram pool verified in one call per step",
            .params = lad_params,
            .param_stride = sizeof(dk_param_spec),
            .caps = 0},
    .create = lad_create,
    .destroy = lad_destroy,
    .begin = lad_begin,
    .step = lad_step,
    .end = lad_end,
};

static const dk_iface_header *const components[] = {&lad_iface.hdr, &dkl_drafter_iface.hdr};

static const dk_plugin_desc desc = {
    DK_PLUGIN_DESC_HEAD, "lookahead", "1.0.0", components, 2, NULL, NULL,
};

DK_PLUGIN_ENTRY(lookahead) { return &desc; }
