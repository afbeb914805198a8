/* mcts.c -- ADED's draft maker (METHODS.md 4): PUCT selection, expansion of all successors, weighted rollouts. */
#include "mcts.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void dka_mcts_free(dka_mcts *m) {
  free(m->nodes);
  m->nodes = NULL;
  m->n_nodes = m->cap_nodes = 0;
}

double dka_puct(double w_child, double n_child, double p, double n_parent, double c1, double c2) {
  if (n_child <= 0) return INFINITY;
  return w_child / n_child + (c1 + log((n_parent + c2 + 1) / c2)) * p * sqrt(n_parent) / (1 + n_child);
}

static int add_node(dka_mcts *m, dk_token tok, int32_t parent, uint32_t depth, double p) {
  if (m->n_nodes == m->cap_nodes) {
    size_t nc = m->cap_nodes ? 2 * m->cap_nodes : 1024;
    dka_node *t = realloc(m->nodes, nc * sizeof *t);
    if (!t) return DK_ERR_NOMEM;
    m->nodes = t;
    m->cap_nodes = nc;
  }
  m->nodes[m->n_nodes++] = (dka_node){tok, parent, depth, 0, 0, 0, 0, 0, p};
  return DK_OK;
}

/* The token before node i (its parent's token, or prev above the root). */
static dk_token before(const dka_mcts *m, size_t i, dk_token prev) {
  return m->nodes[i].parent >= 0 ? m->nodes[m->nodes[i].parent].tok : prev;
}

static int expand(dka_mcts *m, const dka_store *st, size_t i, dk_token prev) {
  size_t n;
  const dka_succ *s = dka_store_get(st, before(m, i, prev), m->nodes[i].tok, &n);
  m->nodes[i].expanded = 1;
  m->nodes[i].first = (uint32_t)m->n_nodes;
  for (size_t k = 0; k < n; k++) {
    int rc = add_node(m, s[k].tok, (int32_t)i, m->nodes[i].depth + 1, s[k].w);
    if (rc) return rc;
  }
  m->nodes[i].n_child = (uint32_t)n;
  return DK_OK;
}

/* A successor drawn in proportion to the weights; -1 when there is none. */
static int pick(const dka_succ *s, size_t n, double r) {
  double total = 0;
  for (size_t k = 0; k < n; k++) total += s[k].w;
  if (!(total > 0)) return -1;
  double at = r * total, acc = 0;
  for (size_t k = 0; k < n; k++) {
    acc += s[k].w;
    if (at < acc) return (int)k;
  }
  return (int)n - 1;
}

static int by_visits(const void *a, const void *b) {
  const dka_path *x = a, *y = b;
  if (x->visits != y->visits) return (x->visits < y->visits) - (x->visits > y->visits);
  return (x->found > y->found) - (x->found < y->found);
}

int dka_search(dka_mcts *m, const dka_store *st, dk_token prev, dk_token root, const dka_params *prm,
               double (*uniform)(void *), void *u, dka_path *paths, size_t *n_paths) {
  size_t depth = prm->depth < DKA_MAX_DEPTH ? prm->depth : DKA_MAX_DEPTH;
  m->n_nodes = 0;
  *n_paths = 0;
  int rc = add_node(m, root, -1, 0, 0);
  for (size_t it = 0; !rc && it < prm->iterations; it++) {
    /* Select down the expanded part of the tree. */
    size_t at = 0;
    double reward = 1;
    while (m->nodes[at].expanded && m->nodes[at].n_child && m->nodes[at].depth < depth) {
      const dka_node *nd = &m->nodes[at];
      size_t best = nd->first;
      double best_s = -INFINITY;
      for (size_t c = nd->first; c < nd->first + nd->n_child; c++) {
        double sc = dka_puct(m->nodes[c].w, m->nodes[c].n, m->nodes[c].p, nd->n, prm->c1, prm->c2);
        if (sc > best_s) best_s = sc, best = c;
      }
      at = best;
      reward += m->nodes[at].p;
    }
    if (!m->nodes[at].expanded && m->nodes[at].depth < depth) rc = expand(m, st, at, prev);
    if (rc) break;
    /* Roll out to the full depth by weight. */
    dk_token a = before(m, at, prev), b = m->nodes[at].tok;
    for (size_t d = m->nodes[at].depth; d < depth; d++) {
      size_t n;
      const dka_succ *s = dka_store_get(st, a, b, &n);
      int k = pick(s, n, uniform(u));
      if (k < 0) break;
      reward += s[k].w;
      a = b, b = s[k].tok;
    }
    for (int32_t i = (int32_t)at; i >= 0; i = m->nodes[i].parent) m->nodes[i].n += 1, m->nodes[i].w += reward;
  }
  if (rc) return rc;
  /* Every visited node's path, most visited first (ties: found first). */
  dka_path *all = malloc((m->n_nodes ? m->n_nodes : 1) * sizeof *all);
  if (!all) return DK_ERR_NOMEM;
  size_t n_all = 0;
  for (size_t i = 1; i < m->n_nodes; i++) {
    if (m->nodes[i].n <= 0) continue;
    dka_path *p = &all[n_all++];
    p->len = m->nodes[i].depth;
    p->visits = m->nodes[i].n;
    p->found = i;
    for (int32_t j = (int32_t)i; j > 0; j = m->nodes[j].parent) p->tok[m->nodes[j].depth - 1] = m->nodes[j].tok;
  }
  qsort(all, n_all, sizeof *all, by_visits);
  size_t keep = n_all < prm->n_paths ? n_all : prm->n_paths;
  for (size_t i = 0; i < keep; i++) {
    dka_path *p = &paths[i];
    *p = all[i];
    /* One greedy step past the node: the heaviest successor. */
    size_t n;
    dk_token a = p->len > 1 ? p->tok[p->len - 2] : root, b = p->tok[p->len - 1];
    const dka_succ *s = dka_store_get(st, a, b, &n);
    size_t best = 0;
    for (size_t k = 1; k < n; k++)
      if (s[k].w > s[best].w) best = k;
    if (n && p->len < DKA_MAX_DEPTH + 1) p->tok[p->len++] = s[best].tok;
  }
  free(all);
  *n_paths = keep;
  return DK_OK;
}

/* Nodes of the trie of the paths flagged in keep; writes it when tok. */
static size_t build(const dka_path *paths, size_t n, const uint8_t *keep, dk_token *tok, int32_t *par,
                    size_t cap) {
  size_t nn = 0;
  for (size_t i = 0; i < n; i++) {
    if (!keep[i]) continue;
    int32_t at = -1;
    for (size_t d = 0; d < paths[i].len; d++) {
      int32_t found = -1;
      for (size_t j = 0; j < nn && found < 0; j++)
        if (par[j] == at && tok[j] == paths[i].tok[d]) found = (int32_t)j;
      if (found < 0) {
        if (nn == cap) return nn + 1; /* over */
        tok[nn] = paths[i].tok[d];
        par[nn] = at;
        found = (int32_t)nn++;
      }
      at = found;
    }
  }
  return nn;
}

/* Nodes only path i holds: its length past the longest prefix it shares
 * with another kept path. */
static size_t own_nodes(const dka_path *paths, size_t n, const uint8_t *keep, size_t i) {
  size_t shared = 0;
  for (size_t j = 0; j < n; j++) {
    if (j == i || !keep[j]) continue;
    size_t d = 0;
    while (d < paths[i].len && d < paths[j].len && paths[i].tok[d] == paths[j].tok[d]) d++;
    if (d > shared) shared = d;
  }
  return paths[i].len - shared;
}

size_t dka_tree(const dka_path *paths, size_t n_paths, size_t cap, dk_token *tok, int32_t *par) {
  uint8_t keep[DKA_MAX_PATHS];
  if (n_paths > DKA_MAX_PATHS) n_paths = DKA_MAX_PATHS;
  memset(keep, 1, n_paths);
  /* The scratch trie may run one node past cap before it knows it is over. */
  dk_token st[(DKA_MAX_DEPTH + 1) * DKA_MAX_PATHS + 1];
  int32_t sp[(DKA_MAX_DEPTH + 1) * DKA_MAX_PATHS + 1];
  size_t lim = cap < (DKA_MAX_DEPTH + 1) * DKA_MAX_PATHS ? cap : (DKA_MAX_DEPTH + 1) * DKA_MAX_PATHS;
  while (build(paths, n_paths, keep, st, sp, lim) > lim) {
    size_t worst = 0, most = 0;
    for (size_t i = 0; i < n_paths; i++) {
      if (!keep[i]) continue;
      size_t o = own_nodes(paths, n_paths, keep, i);
      if (o >= most) most = o, worst = i;
    }
    keep[worst] = 0;
  }
  size_t nn = build(paths, n_paths, keep, st, sp, lim);
  memcpy(tok, st, nn * sizeof *tok);
  memcpy(par, sp, nn * sizeof *par);
  return nn;
}
