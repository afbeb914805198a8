/* aded.c -- drafter: ADED's adaptive tri-gram store searched by PUCT tree search, proposing a draft tree. */
/*
 * METHODS.md 4.  The store maps a token pair to weighted successors, read
 * from a file that `tools/aded-store` writes from a tokenized corpus (or
 * empty).  Before every draft the tri-grams of the last `window` tokens
 * gain `boost` (up to `max_weight`), so the store drifts toward what this
 * model says; the adaptation lasts as long as the drafter instance.  The
 * search starts at the last two tokens, runs `iterations` PUCT rounds to
 * `depth`, keeps the `paths` most visited root-to-node paths, extends each
 * by its heaviest successor and merges them into one tree of at most
 * `choices` nodes.  Drafts do not depend on the target: q is a point mass.
 */
#include "../drafter_common.h"
#include "mcts.h"

#include <stdlib.h>

static const dk_param_spec aded_params[] = {
    {"store", DK_PARAM_PATH, 0, NULL, 0, 0,
     "Tri-gram store file written by aded-store from a corpus tokenized with this model's "
     "tokenizer. Unset: start empty and learn from the text only."},
    {"successors", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "12", 1, DKA_MAX_SUCC,
     "Successors of each token pair kept from the store file (the heaviest)."},
    {"iterations", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "150", 1, 10000, "Search rounds per draft."},
    {"depth", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "4", 1, DKA_MAX_DEPTH,
     "Tokens below the last one that the search explores (each kept path gets one more)."},
    {"paths", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "24", 1, DKA_MAX_PATHS,
     "Most visited paths merged into the draft tree."},
    {"choices", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "64", 1, 1024,
     "Most nodes in the draft tree (also bounded by the decoder's max_draft)."},
    {"boost", DK_PARAM_DOUBLE, DK_PARAM_MIN | DK_PARAM_MAX, "0.04", 0, 1,
     "Weight a tri-gram of the recent text gains before each draft."},
    {"max_weight", DK_PARAM_DOUBLE, DK_PARAM_MIN | DK_PARAM_MAX, "3.0", 0, 1000,
     "Cap of an adapted weight."},
    {"window", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "16", 0, 4096,
     "Recent tokens whose tri-grams are boosted (0: no adaptation)."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

typedef struct aded {
  const dk_host *h;
  dk_rng *rng;
  dka_store store;
  dka_mcts mcts;
  dka_params prm;
  size_t choices, window;
  float boost, max_weight;
  dka_path paths[DKA_MAX_PATHS];
} aded;

static void aded_destroy(void *inst) {
  aded *a = inst;
  dka_store_free(&a->store);
  dka_mcts_free(&a->mcts);
  free(a);
}

static int aded_create(const dk_host *h, const dk_create_info *ci, void **inst, dk_error *err) {
  if (!ci->vocab || ci->vocab->n_vocab <= 0)
    return h->set_error(err, DK_ERR_INVALID, "needs the model's vocabulary");
  aded *a = calloc(1, sizeof *a);
  if (!a) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  a->h = h;
  a->rng = ci->rng;
  a->prm = (dka_params){(size_t)h->cfg_int(ci->config, "iterations"), (size_t)h->cfg_int(ci->config, "depth"),
                        (size_t)h->cfg_int(ci->config, "paths"), 32, 8};
  a->choices = (size_t)h->cfg_int(ci->config, "choices");
  a->window = (size_t)h->cfg_int(ci->config, "window");
  a->boost = (float)h->cfg_double(ci->config, "boost");
  a->max_weight = (float)h->cfg_double(ci->config, "max_weight");
  const char *path = h->cfg_string(ci->config, "store");
  if (path) {
    char msg[512];
    int rc = dka_store_load(&a->store, path, ci->vocab->n_vocab,
                            (size_t)h->cfg_int(ci->config, "successors"), msg, sizeof msg);
    if (rc) {
      aded_destroy(a);
      return h->set_error(err, rc, "%s", msg);
    }
  }
  *inst = a;
  return DK_OK;
}

static double uniform(void *u) {
  aded *a = u;
  return a->h->rng_uniform(a->rng);
}

static int aded_propose_dist(void *inst, dk_session *s, const dk_token *ctx, size_t n_ctx, dk_draft *out,
                             dk_draft_dist *q, dk_error *err) {
  aded *a = inst;
  (void)s;
  out->n = 0;
  if (n_ctx < 2) return DK_OK;
  int rc = dka_store_adapt(&a->store, ctx, n_ctx, a->window, a->boost, a->max_weight);
  size_t n_paths = 0;
  if (!rc) rc = dka_search(&a->mcts, &a->store, ctx[n_ctx - 2], ctx[n_ctx - 1], &a->prm, uniform, a, a->paths,
                           &n_paths);
  if (rc) return a->h->set_error(err, rc, "out of memory");
  out->n = dka_tree(a->paths, n_paths, a->choices < out->cap ? a->choices : out->cap, out->tokens, out->parents);
  dkd_point_masses(q, out);
  return DK_OK;
}

static int aded_propose(void *inst, dk_session *s, const dk_token *ctx, size_t n_ctx, dk_draft *out,
                        dk_error *err) {
  return aded_propose_dist(inst, s, ctx, n_ctx, out, NULL, err);
}

static const struct dk_drafter_iface aded_iface = {
    .hdr = {.struct_size = sizeof(struct dk_drafter_iface),
            .kind = DK_KIND_DRAFTER,
            .name = "aded",
            .version = "1.0.0",
            .summary = "ADED: an adaptive tri-gram store searched by PUCT tree search into a draft tree",
            .params = aded_params,
            .param_stride = sizeof(dk_param_spec),
            .caps = 0},
    .create = aded_create,
    .destroy = aded_destroy,
    .propose = aded_propose,
    .propose_dist = aded_propose_dist,
};

static const dk_iface_header *const components[] = {&aded_iface.hdr};

static const dk_plugin_desc desc = {
    DK_PLUGIN_DESC_HEAD, "aded", "1.0.0", components, 1, NULL, NULL,
};

DK_PLUGIN_ENTRY(aded) { return &desc; }
