/* token_recycling.c -- drafter: a tree filled from the target's recycled top-k successors of every token (Token Recycling). */
/*
 * METHODS.md section 5.  Row u of an adjacency matrix M holds the target's
 * last-seen top-8 successors of token u.  A draft is a static tree
 * template (the "2.2.2" tree: 80 nodes over 6 levels) filled breadth first
 * from the last token: node n gets M[token of n's parent][rank of n].
 * After each verification the verifier's feedback overwrites the row of
 * every token it evaluated with that node's top-8.  M is never reset: it
 * carries over from one completion to the next, as the method prescribes.
 * Entries not yet seen are -1 and their nodes (with their subtrees) are
 * left out.  The draft is deterministic: q is a point mass per node.
 */
#include "drafter_common.h"

#include <stdlib.h>

#define TR_K 8

/* The template, breadth first: each node's path of ranks from the root. */
static const char *const tr_template[] = {
    "0", "1", "2", "3", "4", "5", "6", "7",
    /* depth 2 (21) */
    "00", "01", "02", "03", "04", "05", "06", "07", "10", "11", "12", "13", "20", "21", "22", "30",
    "31", "40", "50", "60", "70",
    /* depth 3 (25) */
    "000", "001", "002", "003", "004", "005", "006", "007", "010", "011", "012", "020", "021", "030",
    "040", "050", "060", "070", "100", "101", "110", "200", "300", "400", "500",
    /* depth 4 (15) */
    "0000", "0001", "0002", "0003", "0004", "0010", "0011", "0020", "0030", "0040", "0100", "0200",
    "1000", "2000", "3000",
    /* depth 5 (8) */
    "00000", "00001", "00002", "00010", "00020", "00100", "01000", "10000",
    /* depth 6 (3) */
    "000000", "000001", "000100"};
#define TR_NODES (sizeof tr_template / sizeof *tr_template)

static const dk_param_spec tr_params[] = {
    {"nodes", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "80", 1, (double)TR_NODES,
     "Nodes of the 2.2.2 template used, breadth first (80 is the whole tree, 6 levels deep); "
     "the speculative decoder's max_draft caps it too."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

typedef struct recycle {
  int32_t nv;
  size_t nodes;
  int32_t parent[TR_NODES]; /* template node -> its parent's index, -1 for the root */
  uint8_t rank[TR_NODES];
  dk_token *succ;           /* nv * TR_K, -1 = not seen yet */
} recycle;

static int tr_create(const dk_host *h, const dk_create_info *ci, void **inst, dk_error *err) {
  if (!ci->vocab || ci->vocab->n_vocab <= 0)
    return h->set_error(err, DK_ERR_INVALID, "needs the model's vocabulary");
  recycle *r = calloc(1, sizeof *r);
  if (!r) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  r->nv = ci->vocab->n_vocab;
  r->nodes = (size_t)h->cfg_int(ci->config, "nodes");
  r->succ = malloc((size_t)r->nv * TR_K * sizeof *r->succ);
  if (!r->succ) {
    free(r);
    return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  }
  for (size_t i = 0; i < (size_t)r->nv * TR_K; i++) r->succ[i] = -1;
  /* A node's parent is the node whose path is its own minus the last rank. */
  for (size_t i = 0; i < TR_NODES; i++) {
    size_t len = strlen(tr_template[i]);
    r->rank[i] = (uint8_t)(tr_template[i][len - 1] - '0');
    r->parent[i] = -1;
    for (size_t j = 0; j < i && len > 1; j++)
      if (strlen(tr_template[j]) == len - 1 && !strncmp(tr_template[j], tr_template[i], len - 1))
        r->parent[i] = (int32_t)j;
  }
  *inst = r;
  return DK_OK;
}

static void tr_destroy(void *inst) {
  recycle *r = inst;
  free(r->succ);
  free(r);
}

static int tr_propose_dist(void *inst, dk_session *s, const dk_token *ctx, size_t n_ctx,
                           dk_draft *out, dk_draft_dist *q, dk_error *err) {
  const recycle *r = inst;
  (void)s;
  (void)err;
  out->n = 0;
  if (!n_ctx) return DK_OK;
  int32_t at[TR_NODES]; /* template node -> draft node, -1 when left out */
  for (size_t i = 0; i < r->nodes; i++) {
    at[i] = -1;
    int32_t p = r->parent[i];
    if (p >= 0 && at[p] < 0) continue; /* its parent was left out */
    dk_token from = p >= 0 ? out->tokens[at[p]] : ctx[n_ctx - 1];
    dk_token tok = r->succ[(size_t)from * TR_K + r->rank[i]];
    if (tok < 0) continue;
    int32_t node = (int32_t)out->n;
    if (!dkd_push(out, tok, p >= 0 ? at[p] : -1)) break;
    at[i] = node;
  }
  dkd_point_masses(q, out);
  return DK_OK;
}

static int tr_propose(void *inst, dk_session *s, const dk_token *ctx, size_t n_ctx, dk_draft *out,
                      dk_error *err) {
  return tr_propose_dist(inst, s, ctx, n_ctx, out, NULL, err);
}

/* Every evaluated token's row becomes the target's fresh top-k there; a
 * token seen twice keeps the last. */
static void tr_observe_verified(void *inst, dk_session *s, const dk_verify_feedback *fb) {
  recycle *r = inst;
  (void)s;
  for (size_t j = 0; j < fb->n_positions; j++) {
    dk_token u = fb->pos_tokens[j];
    if (u < 0 || u >= r->nv) continue;
    dk_token *row = r->succ + (size_t)u * TR_K;
    for (size_t k = 0; k < TR_K; k++) {
      dk_token t = k < fb->top_k ? fb->top_ids[j * fb->top_k + k] : -1;
      row[k] = t >= 0 && t < r->nv ? t : -1;
    }
  }
}

static const struct dk_drafter_iface tr_iface = {
    .hdr = {.struct_size = sizeof(struct dk_drafter_iface),
            .kind = DK_KIND_DRAFTER,
            .name = "token_recycling",
            .version = "1.0.0",
            .summary = "draft a tree from the target's recycled top-k successors of each token",
            .params = tr_params,
            .param_stride = sizeof(dk_param_spec),
            .caps = 0},
    .create = tr_create,
    .destroy = tr_destroy,
    .propose = tr_propose,
    .propose_dist = tr_propose_dist,
    .observe_verified = tr_observe_verified,
};

static const dk_iface_header *const components[] = {&tr_iface.hdr};

static const dk_plugin_desc desc = {
    DK_PLUGIN_DESC_HEAD, "token_recycling", "1.0.0", components, 1, NULL, NULL,
};

DK_PLUGIN_ENTRY(token_recycling) { return &desc; }
