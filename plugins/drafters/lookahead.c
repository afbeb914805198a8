/* lookahead.c -- drafter: lookahead decoding's Jacobi window and n-gram pool, verified by the speculative decoder's tree. */
/*
 * METHODS.md 18.4.  The drafter keeps a window of N-1 levels of W guessed
 * tokens and a pool of n-grams keyed by their first token.  Each proposal
 * is one tree holding both branches of the method:
 *  - verification: up to G pooled n-grams whose key is the last token, each
 *    a chain under the root;
 *  - lookahead: level 0 of the window as a chain under the root (a trunk),
 *    and under trunk node j the column j of the higher levels.  Node (i, j)
 *    then sees exactly what lookahead's attention mask gives it: the
 *    context, level 0 up to column j, and the levels below it in column j.
 * Any path of the tree is a real continuation, so the verifier may accept
 * from either branch.  The verifier's feedback carries the target's best
 * token at every node: at the top of column j it completes the n-gram
 * (level 0..N-2 of column j, that token), which joins the pool, and the
 * window shifts down one level with those tokens as its new top level.
 * The feedback is used only when it covers every proposed node in order
 * (the speculative decoder without a constraint); otherwise the window
 * waits.  Drafts are deterministic: q is a point mass per node.
 * The same plugin holds the lookahead decoder, which drafts with this.
 */
#include "drafter_common.h"
#include "lookahead.h"

#include <stdlib.h>

static const dk_param_spec dkl_drafter_params[] = {DKL_PARAMS, {NULL, 0, 0, NULL, 0, 0, NULL}};

typedef struct la_gram {
  dk_token key;
  dk_token rest[LA_MAX_N - 1];
  uint64_t stamp; /* when it was last added */
} la_gram;

typedef struct lookahead {
  const dk_host *h;
  dk_rng *rng;
  int32_t nv;
  size_t n, w, g;
  dk_token win[LA_MAX_N - 1][LA_MAX_W];
  int have_window;
  la_gram *pool;
  size_t n_pool, cap_pool;
  uint64_t clock;
  /* the last proposal */
  dk_token prop[(LA_MAX_W + LA_MAX_G) * (LA_MAX_N - 1)];
  size_t n_prop;
  int32_t top[LA_MAX_W]; /* node at the top of column j, -1 when not proposed */
} lookahead;

static int la_create(const dk_host *h, const dk_create_info *ci, void **inst, dk_error *err) {
  if (!ci->vocab || ci->vocab->n_vocab <= 0)
    return h->set_error(err, DK_ERR_INVALID, "needs the model's vocabulary");
  lookahead *l = calloc(1, sizeof *l);
  if (!l) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  l->h = h;
  l->rng = ci->rng;
  l->nv = ci->vocab->n_vocab;
  l->n = (size_t)h->cfg_int(ci->config, "n");
  l->w = (size_t)h->cfg_int(ci->config, "window");
  l->g = (size_t)h->cfg_int(ci->config, "guesses");
  *inst = l;
  return DK_OK;
}

static void la_destroy(void *inst) {
  lookahead *l = inst;
  free(l->pool);
  free(l);
}

static int la_begin(void *inst, dk_session *s, dk_error *err) {
  lookahead *l = inst;
  (void)s;
  (void)err;
  l->n_pool = 0;
  l->have_window = 0;
  l->n_prop = 0;
  return DK_OK;
}

/* Add an n-gram, or refresh it when present. */
static int pool_add(lookahead *l, dk_token key, const dk_token *rest) {
  size_t m = l->n - 1;
  l->clock++;
  for (size_t i = 0; i < l->n_pool; i++)
    if (l->pool[i].key == key && !memcmp(l->pool[i].rest, rest, m * sizeof *rest)) {
      l->pool[i].stamp = l->clock;
      return DK_OK;
    }
  if (l->n_pool == l->cap_pool) {
    size_t nc = l->cap_pool ? 2 * l->cap_pool : 256;
    la_gram *t = realloc(l->pool, nc * sizeof *t);
    if (!t) return DK_ERR_NOMEM;
    l->pool = t;
    l->cap_pool = nc;
  }
  la_gram *e = &l->pool[l->n_pool++];
  e->key = key;
  memcpy(e->rest, rest, m * sizeof *rest);
  e->stamp = l->clock;
  return DK_OK;
}

static int la_propose_dist(void *inst, dk_session *s, const dk_token *ctx, size_t n_ctx,
                           dk_draft *out, dk_draft_dist *q, dk_error *err) {
  lookahead *l = inst;
  (void)s;
  (void)err;
  out->n = 0;
  l->n_prop = 0;
  for (size_t j = 0; j < LA_MAX_W; j++) l->top[j] = -1;
  if (!n_ctx) return DK_OK;
  size_t m = l->n - 1;
  /* The first window: tokens of the text, at random. */
  if (!l->have_window) {
    for (size_t i = 0; i < m; i++)
      for (size_t j = 0; j < l->w; j++)
        l->win[i][j] = ctx[(size_t)(l->h->rng_uniform(l->rng) * (double)n_ctx)];
    l->have_window = 1;
  }
  dk_token root = ctx[n_ctx - 1];
  /* Verification branch: the most recently added n-grams of this key. */
  size_t picked = 0;
  uint64_t below = UINT64_MAX;
  while (picked < l->g && out->n + m <= out->cap) {
    size_t best = l->n_pool;
    for (size_t i = 0; i < l->n_pool; i++)
      if (l->pool[i].key == root && l->pool[i].stamp < below &&
          (best == l->n_pool || l->pool[i].stamp > l->pool[best].stamp))
        best = i;
    if (best == l->n_pool) break;
    below = l->pool[best].stamp;
    for (size_t k = 0; k < m; k++) dkd_push(out, l->pool[best].rest[k], k ? (int32_t)out->n - 1 : -1);
    picked++;
  }
  /* Lookahead branch: the trunk, then each column under its trunk node. */
  size_t w = l->w;
  while (w && out->n + w * m > out->cap) w--;
  int32_t trunk[LA_MAX_W];
  for (size_t j = 0; j < w; j++) {
    trunk[j] = (int32_t)out->n;
    dkd_push(out, l->win[0][j], j ? trunk[j - 1] : -1);
  }
  for (size_t j = 0; j < w; j++) {
    int32_t at = trunk[j];
    for (size_t i = 1; i < m; i++) {
      dkd_push(out, l->win[i][j], at);
      at = (int32_t)out->n - 1;
    }
    l->top[j] = at;
  }
  l->n_prop = out->n;
  memcpy(l->prop, out->tokens, out->n * sizeof *out->tokens);
  dkd_point_masses(q, out);
  return DK_OK;
}

static int la_propose(void *inst, dk_session *s, const dk_token *ctx, size_t n_ctx, dk_draft *out,
                      dk_error *err) {
  return la_propose_dist(inst, s, ctx, n_ctx, out, NULL, err);
}

static void la_observe_verified(void *inst, dk_session *s, const dk_verify_feedback *fb) {
  lookahead *l = inst;
  size_t m = l->n - 1;
  /* Row k + 1 of the feedback must be proposed node k (row 0: the root). */
  if (!l->n_prop || l->top[0] < 0 || fb->n_positions != l->n_prop + 1 || !fb->top_k) return;
  for (size_t k = 0; k < l->n_prop; k++)
    if (fb->pos_tokens[k + 1] != l->prop[k]) return;
  dk_token next[LA_MAX_W];
  size_t w = 0;
  for (; w < LA_MAX_W && l->top[w] >= 0; w++) {
    next[w] = fb->top_ids[(size_t)(l->top[w] + 1) * fb->top_k];
    if (next[w] < 0 || next[w] >= l->nv) return;
  }
  size_t added = 0;
  for (size_t j = 0; j < w; j++) {
    dk_token rest[LA_MAX_N - 1];
    for (size_t i = 1; i < m; i++) rest[i - 1] = l->win[i][j];
    rest[m - 1] = next[j];
    /* Out of memory: feedback cannot fail, the drafts just stay worse. */
    if (pool_add(l, l->win[0][j], rest)) return;
    added++;
    for (size_t i = 0; i + 1 < m; i++) l->win[i][j] = l->win[i + 1][j];
    l->win[m - 1][j] = next[j];
  }
  l->h->metric_add(s, "lookahead_ngrams", (double)added);
}

const struct dk_drafter_iface dkl_drafter_iface = {
    .hdr = {.struct_size = sizeof(struct dk_drafter_iface),
            .kind = DK_KIND_DRAFTER,
            .name = "lookahead",
            .version = "1.0.0",
            .summary = "lookahead decoding: a Jacobi window and an n-gram pool in one draft tree",
            .params = dkl_drafter_params,
            .param_stride = sizeof(dk_param_spec),
            .caps = 0},
    .create = la_create,
    .destroy = la_destroy,
    .propose = la_propose,
    .begin = la_begin,
    .propose_dist = la_propose_dist,
    .observe_verified = la_observe_verified,
};
