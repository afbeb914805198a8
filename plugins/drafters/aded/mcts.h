/* mcts.h -- ADED's draft maker: a PUCT tree search over the tri-gram store, and the draft tree built from its paths. */
#ifndef DKA_MCTS_H
#define DKA_MCTS_H

#include "trigram_store.h"

#define DKA_MAX_DEPTH 8
#define DKA_MAX_PATHS 64

typedef struct dka_params {
  size_t iterations; /* 150 */
  size_t depth;      /* 4: tokens below the root a rollout reaches */
  size_t n_paths;    /* 24: paths kept, by visit count */
  double c1, c2;     /* 32, 8 */
} dka_params;

/* A root-to-node path of the search (tokens below the root), with the
 * node's visit count; after extraction it carries one greedy step more. */
typedef struct dka_path {
  dk_token tok[DKA_MAX_DEPTH + 1];
  size_t len;
  double visits;
  size_t found; /* discovery order, which breaks ties in visits */
} dka_path;

typedef struct dka_node {
  dk_token tok;
  int32_t parent;
  uint32_t depth, first, n_child;
  uint8_t expanded;
  double n, w, p; /* visits, reward sum, the stored weight of the tri-gram ending here */
} dka_node;

/* The search's node pool, kept between calls. */
typedef struct dka_mcts {
  dka_node *nodes;
  size_t n_nodes, cap_nodes;
} dka_mcts;

void dka_mcts_free(dka_mcts *m);
/* PUCT score of a child with visit count n_child, reward sum w_child and
 * prior p under a parent visited n_parent times; +inf when unvisited. */
double dka_puct(double w_child, double n_child, double p, double n_parent, double c1, double c2);
/* Search from the pair (prev, root); writes at most prm->n_paths paths,
 * most visited first, each extended by the store's heaviest successor.
 * uniform() gives draws in [0, 1).  DK_OK or DK_ERR_NOMEM. */
int dka_search(dka_mcts *m, const dka_store *st, dk_token prev, dk_token root, const dka_params *prm,
               double (*uniform)(void *), void *u, dka_path *paths, size_t *n_paths);
/* The trie of the paths (duplicates merged), in path order, parents first,
 * with at most cap nodes: while too big, the path with the most nodes of
 * its own goes (the later one on ties).  Returns the number of nodes. */
size_t dka_tree(const dka_path *paths, size_t n_paths, size_t cap, dk_token *tok, int32_t *par);

#endif
