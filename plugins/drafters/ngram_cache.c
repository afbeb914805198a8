/* ngram_cache.c -- drafter: follow the most frequent continuation of the last n-gram in a cache of the completion's n-grams. */
/*
 * Every n-gram (min_n <= n <= max_n) of prompt + output is counted with
 * the tokens that followed it, incrementally as the text grows.  A draft
 * is a chain: after the text and the tokens drafted so far, the longest
 * n-gram present in the cache proposes its most frequent successor (the
 * most recent one on ties), until `tokens` are drafted or no n-gram is
 * known.  Unlike prompt_lookup, which copies after the earliest match,
 * this votes across all earlier occurrences and re-looks up after every
 * drafted token.  The cache starts empty with each completion; drafts are
 * deterministic, so q is a point mass per node.
 */
#include "drafter_common.h"

#include <stdlib.h>

#define NG_MAX_N 8
#define NG_SUCC 4 /* successors remembered per n-gram */

static const dk_param_spec ng_params[] = {
    {"min_n", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "1", 1, NG_MAX_N, "Shortest n-gram looked up."},
    {"max_n", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "4", 1, NG_MAX_N,
     "Longest n-gram looked up; longer ones are tried first."},
    {"tokens", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "8", 1, 256, "Most tokens drafted per step."},
    {"min_count", DK_PARAM_INT, DK_PARAM_MIN, "1", 1, 0,
     "A continuation is drafted only once seen at least this many times after its n-gram."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

typedef struct ng_entry {
  uint32_t n; /* 0 = empty slot */
  dk_token key[NG_MAX_N];
  dk_token succ[NG_SUCC];
  uint32_t count[NG_SUCC];
  uint64_t seen[NG_SUCC]; /* position of the latest sighting */
} ng_entry;

typedef struct ngcache {
  const dk_host *h;
  size_t min_n, max_n, tokens, min_count;
  ng_entry *tab;
  size_t cap, used; /* cap is a power of two */
  size_t indexed;   /* text positions already counted */
} ngcache;

static int ng_create(const dk_host *h, const dk_create_info *ci, void **inst, dk_error *err) {
  ngcache *c = calloc(1, sizeof *c);
  if (!c) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  c->h = h;
  c->min_n = (size_t)h->cfg_int(ci->config, "min_n");
  c->max_n = (size_t)h->cfg_int(ci->config, "max_n");
  c->tokens = (size_t)h->cfg_int(ci->config, "tokens");
  c->min_count = (size_t)h->cfg_int(ci->config, "min_count");
  if (c->min_n > c->max_n) {
    free(c);
    return h->set_error(err, DK_ERR_INVALID, "min_n is larger than max_n");
  }
  *inst = c;
  return DK_OK;
}

static void ng_destroy(void *inst) {
  ngcache *c = inst;
  free(c->tab);
  free(c);
}

static uint64_t ng_hash(const dk_token *key, size_t n) {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
  for (size_t i = 0; i < n; i++) {
    h ^= (uint32_t)key[i];
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
  }
  return h;
}

/* The slot of key[0..n): its entry, or the empty slot where it would go. */
static ng_entry *ng_slot(const ngcache *c, const dk_token *key, size_t n) {
  size_t i = (size_t)ng_hash(key, n) & (c->cap - 1);
  for (;; i = (i + 1) & (c->cap - 1)) {
    ng_entry *e = &c->tab[i];
    if (!e->n || (e->n == n && !memcmp(e->key, key, n * sizeof *key))) return e;
  }
}

static int ng_grow(ngcache *c, dk_error *err) {
  size_t nc = c->cap ? 2 * c->cap : 1024;
  ng_entry *old = c->tab, *t = calloc(nc, sizeof *t);
  if (!t) return c->h->set_error(err, DK_ERR_NOMEM, "out of memory");
  size_t oc = c->cap;
  c->tab = t;
  c->cap = nc;
  for (size_t i = 0; i < oc; i++)
    if (old[i].n) *ng_slot(c, old[i].key, old[i].n) = old[i];
  free(old);
  return DK_OK;
}

/* Count `next` after key[0..n); a full list replaces its weakest entry. */
static int ng_add(ngcache *c, const dk_token *key, size_t n, dk_token next, uint64_t pos,
                  dk_error *err) {
  if (4 * (c->used + 1) > 3 * c->cap) {
    int rc = ng_grow(c, err);
    if (rc) return rc;
  }
  ng_entry *e = ng_slot(c, key, n);
  if (!e->n) {
    e->n = (uint32_t)n;
    memcpy(e->key, key, n * sizeof *key);
    for (size_t j = 0; j < NG_SUCC; j++) e->succ[j] = -1;
    c->used++;
  }
  size_t at = NG_SUCC, weakest = 0;
  for (size_t j = 0; j < NG_SUCC; j++) {
    if (e->succ[j] == next) at = j;
    if (e->count[j] < e->count[weakest]) weakest = j;
  }
  if (at == NG_SUCC) {
    at = weakest;
    e->succ[at] = next;
    e->count[at] = 0;
  }
  e->count[at]++;
  e->seen[at] = pos;
  return DK_OK;
}

/* The best known continuation of the text ending at t[len - 1], or -1. */
static dk_token ng_next(const ngcache *c, const dk_token *t, size_t len) {
  if (!c->cap) return -1;
  for (size_t n = c->max_n; n >= c->min_n; n--) {
    if (len < n) continue;
    const ng_entry *e = ng_slot(c, t + len - n, n);
    if (!e->n) continue;
    int best = -1;
    for (int j = 0; j < NG_SUCC; j++)
      if (e->succ[j] >= 0 && e->count[j] >= c->min_count &&
          (best < 0 || e->count[j] > e->count[best] ||
           (e->count[j] == e->count[best] && e->seen[j] > e->seen[best])))
        best = j;
    if (best >= 0) return e->succ[best];
  }
  return -1;
}

static void ng_clear(ngcache *c) {
  if (c->tab) memset(c->tab, 0, c->cap * sizeof *c->tab);
  c->used = 0;
  c->indexed = 0;
}

static int ng_begin(void *inst, dk_session *s, dk_error *err) {
  (void)s;
  (void)err;
  ng_clear(inst);
  return DK_OK;
}

static int ng_propose_dist(void *inst, dk_session *s, const dk_token *ctx, size_t n_ctx,
                           dk_draft *out, dk_draft_dist *q, dk_error *err) {
  ngcache *c = inst;
  (void)s;
  out->n = 0;
  /* A completion's text only grows: count the positions not yet seen. */
  if (c->indexed > n_ctx) ng_clear(c); /* another text: start over */
  for (; c->indexed < n_ctx; c->indexed++) {
    size_t i = c->indexed;
    for (size_t n = c->min_n; n <= c->max_n && n <= i; n++) {
      int rc = ng_add(c, ctx + i - n, n, ctx[i], i, err);
      if (rc) return rc;
    }
  }
  /* The chain is looked up in the text followed by the drafted tokens. */
  dk_token tail[2 * NG_MAX_N + 256];
  size_t keep = n_ctx < c->max_n ? n_ctx : c->max_n, len = keep;
  memcpy(tail, ctx + n_ctx - keep, keep * sizeof *ctx);
  while (out->n < c->tokens) {
    dk_token t = ng_next(c, tail, len);
    if (t < 0 || !dkd_push(out, t, (int32_t)out->n - 1)) break;
    tail[len++] = t;
  }
  dkd_point_masses(q, out);
  return DK_OK;
}

static int ng_propose(void *inst, dk_session *s, const dk_token *ctx, size_t n_ctx, dk_draft *out,
                      dk_error *err) {
  return ng_propose_dist(inst, s, ctx, n_ctx, out, NULL, err);
}

static const struct dk_drafter_iface ng_iface = {
    .hdr = {.struct_size = sizeof(struct dk_drafter_iface),
            .kind = DK_KIND_DRAFTER,
            .name = "ngram_cache",
            .version = "1.0.0",
            .summary = "draft the most frequent continuation of the last n-gram seen so far",
            .params = ng_params,
            .param_stride = sizeof(dk_param_spec),
            .caps = 0},
    .create = ng_create,
    .destroy = ng_destroy,
    .propose = ng_propose,
    .begin = ng_begin,
    .propose_dist = ng_propose_dist,
};

static const dk_iface_header *const components[] = {&ng_iface.hdr};

static const dk_plugin_desc desc = {
    DK_PLUGIN_DESC_HEAD, "ngram_cache", "1.0.0", components, 1, NULL, NULL,
};

DK_PLUGIN_ENTRY(ngram_cache) { return &desc; }
