/* matcher.c -- pushdown recogniser over bytes with interned persistent stacks, token masks */
#include "grammar_impl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* Stacks are linked lists of interned nodes (pos, parent): equal stacks are the same
 * node, so parser states (sorted node-id sets) intern too, and every transition and
 * mask can be memoised on the state. Node 0 is the empty stack (the input may end
 * here); node 1 stands for "the unknown rest of a stack" below a truncated top. */
enum { N_EMPTY = 0, N_BOTTOM = 1 };
enum { S_DEAD = 0 };

/* count is 0 for a return address (continue at pos), or c for the counter of the
 * repeat at pos while its c-th iteration runs (c - 1 iterations are complete). */
typedef struct rnode {
  uint32_t pos, parent, depth, count;
  uint32_t counted;   /* some node of this stack is a counter: states may need pruning */
  uint32_t csum;      /* the counters of the stack added up (saturating): orders pruning */
  uint64_t shape;     /* hash of the positions, counters left out */
} rnode;

/* Work item of the closure: continue at pos over parent, or decide what follows
 * `done` complete iterations of the repeat at pos. */
typedef struct citem {
  uint32_t rep, pos, parent, done;
} citem;

/* What the top of a stack decides on its own: tokens accepted whatever lies below
 * (ci), and tokens that reach below the truncation and must be checked against the
 * full stack (cd). */
typedef struct ctxinfo {
  uint32_t *ci;
  int32_t *cd;
  uint32_t n_cd;
} ctxinfo;

typedef struct rstate {
  uint32_t off, n;
  uint64_t hash;
  uint32_t *next;     /* 256 memoised transitions, state id + 1, 0 = not yet known */
  uint32_t *mask;     /* cached full mask */
  ctxinfo *ctx;
  uint32_t trunc;     /* truncated form, id + 1 */
  uint8_t has_empty, has_bottom;
  uint8_t has_tok;    /* some stack waits for a whole token (a token reference) */
} rstate;

/* History entries are refcounted: one reference from each matcher standing on the
 * entry and one from each later entry built on it. An entry no matcher can reach by
 * rolling back is freed at once, so a long-lived engine keeps only live histories. */
typedef struct hist {
  struct hist *prev;   /* on the free list: the next free entry */
  size_t depth;
  uint32_t state;
  uint32_t finished;
  uint32_t refs;
} hist;

typedef struct hchunk {
  struct hchunk *next;
  uint32_t used;
  hist h[1024];
} hchunk;

struct dkg_engine {
  pthread_mutex_t mu;
  int refs;
  int oom;
  dkg_prog prog;
  dkg_vocab *vocab;
  uint32_t words;
  rnode *nodes;
  uint32_t n_nodes, cap_nodes;
  uint32_t *node_tab;          /* open addressing, node id + 1 */
  uint32_t node_tab_cap;
  rstate *states;
  uint32_t n_states, cap_states;
  uint32_t *pool;
  size_t n_pool, cap_pool;
  uint32_t *state_tab;         /* open addressing, state id + 1 */
  uint32_t state_tab_cap;
  uint32_t *scratch;
  size_t n_scratch, cap_scratch;
  uint64_t *visit_key;
  uint32_t *visit_gen;
  uint32_t visit_cap, visit_n, gen;
  citem *work;                 /* the closure's explicit stack */
  size_t n_work, cap_work;
  uint32_t max_stacks;         /* stacks one state may hold before matching fails */
  int too_ambiguous;
  uint32_t *walk;              /* state per trie depth */
  uint32_t init_state;
  uint32_t ctx_depth;
  int plain;                   /* walk every count and token itself, for comparisons */
  uint32_t n_masks, max_masks;
  hchunk *chunks;
  hist *free_hist;
  uint64_t n_hist;             /* live history entries */
  hist *root_hist;
  dkg_engine_stats st;
};

struct dkg_matcher {
  dkg_engine *e;
  hist *cur;
};

/* ---- interning ---- */

static uint32_t node_hash3(uint32_t pos, uint32_t count, uint32_t parent) {
  uint64_t k = ((uint64_t)pos << 32) | parent;
  k ^= (uint64_t)count * 0x9E3779B97F4A7C15ULL;
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  return (uint32_t)k;
}

static uint32_t node_hash(uint32_t pos, uint32_t parent) { return node_hash3(pos, 0, parent); }

static int node_tab_grow(dkg_engine *e) {
  uint32_t nc = e->node_tab_cap ? e->node_tab_cap * 2 : 4096;
  uint32_t *t = calloc(nc, sizeof *t);
  if (!t) return -1;
  for (uint32_t id = 2; id < e->n_nodes; id++) {
    const rnode *n = &e->nodes[id];
    uint32_t h = node_hash3(n->pos, n->count, n->parent) & (nc - 1);
    while (t[h]) h = (h + 1) & (nc - 1);
    t[h] = id + 1;
  }
  free(e->node_tab);
  e->node_tab = t;
  e->node_tab_cap = nc;
  return 0;
}

/* The node (pos, count, parent) if it exists, else 0 (never a real node). */
static uint32_t find_node(const dkg_engine *e, uint32_t pos, uint32_t count, uint32_t parent) {
  uint32_t mask = e->node_tab_cap - 1, h = node_hash3(pos, count, parent) & mask;
  for (; e->node_tab[h]; h = (h + 1) & mask) {
    const rnode *n = &e->nodes[e->node_tab[h] - 1];
    if (n->pos == pos && n->parent == parent && n->count == count) return e->node_tab[h] - 1;
  }
  return 0;
}

static uint32_t intern_node3(dkg_engine *e, uint32_t pos, uint32_t count, uint32_t parent) {
  if ((uint64_t)e->n_nodes * 2 >= e->node_tab_cap && node_tab_grow(e)) {
    e->oom = 1;
    return N_BOTTOM;
  }
  uint32_t mask = e->node_tab_cap - 1, h = node_hash3(pos, count, parent) & mask;
  for (; e->node_tab[h]; h = (h + 1) & mask) {
    const rnode *n = &e->nodes[e->node_tab[h] - 1];
    if (n->pos == pos && n->parent == parent && n->count == count) return e->node_tab[h] - 1;
  }
  if (e->n_nodes == e->cap_nodes) {
    uint32_t nc = e->cap_nodes * 2;
    rnode *nn = realloc(e->nodes, nc * sizeof *nn);
    if (!nn) {
      e->oom = 1;
      return N_BOTTOM;
    }
    e->nodes = nn;
    e->cap_nodes = nc;
  }
  uint32_t id = e->n_nodes++;
  rnode *nd = &e->nodes[id];
  const rnode *up = parent <= N_BOTTOM ? NULL : &e->nodes[parent];
  nd->pos = pos;
  nd->parent = parent;
  nd->count = count;
  nd->depth = (up ? up->depth : 0) + 1;
  nd->counted = (count != 0) | (up ? up->counted : 0);
  uint32_t below = up ? up->csum : 0;
  nd->csum = count > UINT32_MAX - below ? UINT32_MAX : below + count;
  nd->shape = ((up ? up->shape : (uint64_t)parent) * 0x100000001B3ULL) ^
              (((uint64_t)pos << 1) | (count != 0));
  e->node_tab[h] = id + 1;
  return id;
}

static uint32_t intern_node(dkg_engine *e, uint32_t pos, uint32_t parent) {
  return intern_node3(e, pos, 0, parent);
}

static void push_scratch(dkg_engine *e, uint32_t id) {
  if (e->n_scratch == e->cap_scratch) {
    size_t nc = e->cap_scratch ? e->cap_scratch * 2 : 256;
    uint32_t *ns = realloc(e->scratch, nc * sizeof *ns);
    if (!ns) {
      e->oom = 1;
      return;
    }
    e->scratch = ns;
    e->cap_scratch = nc;
  }
  e->scratch[e->n_scratch++] = id;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static int state_tab_grow(dkg_engine *e) {
  uint32_t nc = e->state_tab_cap ? e->state_tab_cap * 2 : 1024;
  uint32_t *t = calloc(nc, sizeof *t);
  if (!t) return -1;
  for (uint32_t id = 0; id < e->n_states; id++) {
    uint32_t h = (uint32_t)e->states[id].hash & (nc - 1);
    while (t[h]) h = (h + 1) & (nc - 1);
    t[h] = id + 1;
  }
  free(e->state_tab);
  e->state_tab = t;
  e->state_tab_cap = nc;
  return 0;
}

/* Interns the node set in scratch (sorted and deduplicated here). */
static uint32_t intern_state(dkg_engine *e) {
  if (e->oom) return S_DEAD;
  size_t n = e->n_scratch;
  if (n > 1) {
    qsort(e->scratch, n, sizeof *e->scratch, cmp_u32);
    size_t w = 1;
    for (size_t i = 1; i < n; i++)
      if (e->scratch[i] != e->scratch[w - 1]) e->scratch[w++] = e->scratch[i];
    n = w;
  }
  uint64_t h = XXH3_64bits(e->scratch, n * sizeof *e->scratch);
  if ((uint64_t)e->n_states * 2 >= e->state_tab_cap && state_tab_grow(e)) {
    e->oom = 1;
    return S_DEAD;
  }
  uint32_t mask = e->state_tab_cap - 1, slot = (uint32_t)h & mask;
  for (; e->state_tab[slot]; slot = (slot + 1) & mask) {
    const rstate *s = &e->states[e->state_tab[slot] - 1];
    if (s->hash == h && s->n == n &&
        (n == 0 || !memcmp(e->pool + s->off, e->scratch, n * sizeof *e->scratch)))
      return e->state_tab[slot] - 1;
  }
  if (e->n_states == e->cap_states) {
    uint32_t nc = e->cap_states * 2;
    rstate *ns = realloc(e->states, nc * sizeof *ns);
    if (!ns) {
      e->oom = 1;
      return S_DEAD;
    }
    e->states = ns;
    e->cap_states = nc;
  }
  if (e->n_pool + n > e->cap_pool) {
    size_t nc = e->cap_pool * 2;
    while (nc < e->n_pool + n) nc *= 2;
    uint32_t *np = realloc(e->pool, nc * sizeof *np);
    if (!np) {
      e->oom = 1;
      return S_DEAD;
    }
    e->pool = np;
    e->cap_pool = nc;
  }
  uint32_t id = e->n_states++;
  rstate *s = &e->states[id];
  memset(s, 0, sizeof *s);
  s->off = (uint32_t)e->n_pool;
  s->n = (uint32_t)n;
  s->hash = h;
  if (n) memcpy(e->pool + e->n_pool, e->scratch, n * sizeof *e->scratch);
  e->n_pool += n;
  for (size_t i = 0; i < n; i++) {
    uint32_t x = e->scratch[i];
    if (x == N_EMPTY) s->has_empty = 1;
    else if (x == N_BOTTOM) s->has_bottom = 1;
    else if (OP_KIND(e->prog.code[e->nodes[x].pos]) == OP_TOKEN) s->has_tok = 1;
  }
  e->state_tab[slot] = id + 1;
  return id;
}

/* ---- closure and transitions ---- */

static int visit_insert(dkg_engine *e, uint64_t key) {
  if (e->visit_n * 2 >= e->visit_cap) {
    uint32_t nc = e->visit_cap ? e->visit_cap * 2 : 1024;
    uint64_t *nk = malloc(nc * sizeof *nk);
    uint32_t *ng = calloc(nc, sizeof *ng);
    if (!nk || !ng) {
      free(nk);
      free(ng);
      e->oom = 1;
      return 0;
    }
    for (uint32_t i = 0; i < e->visit_cap; i++)
      if (e->visit_gen[i] == e->gen) {
        uint32_t h = node_hash((uint32_t)(e->visit_key[i] >> 32), (uint32_t)e->visit_key[i]) &
                     (nc - 1);
        while (ng[h] == e->gen) h = (h + 1) & (nc - 1);
        nk[h] = e->visit_key[i];
        ng[h] = e->gen;
      }
    free(e->visit_key);
    free(e->visit_gen);
    e->visit_key = nk;
    e->visit_gen = ng;
    e->visit_cap = nc;
  }
  uint32_t mask = e->visit_cap - 1;
  uint32_t h = node_hash((uint32_t)(key >> 32), (uint32_t)key) & mask;
  for (; e->visit_gen[h] == e->gen; h = (h + 1) & mask)
    if (e->visit_key[h] == key) return 0;
  e->visit_key[h] = key;
  e->visit_gen[h] = e->gen;
  e->visit_n++;
  return 1;
}

static int visit_has(const dkg_engine *e, uint64_t key) {
  if (!e->visit_cap) return 0;
  uint32_t mask = e->visit_cap - 1;
  uint32_t h = node_hash((uint32_t)(key >> 32), (uint32_t)key) & mask;
  for (; e->visit_gen[h] == e->gen; h = (h + 1) & mask)
    if (e->visit_key[h] == key) return 1;
  return 0;
}

static void visit_clear(dkg_engine *e) {
  e->visit_n = 0;
  if (++e->gen == 0) {   /* wrapped: stale stamps could collide */
    if (e->visit_gen) memset(e->visit_gen, 0, e->visit_cap * sizeof *e->visit_gen);
    e->gen = 1;
  }
}

static void work_push(dkg_engine *e, uint32_t rep, uint32_t pos, uint32_t parent,
                      uint32_t done) {
  if (e->n_work == e->cap_work) {
    size_t nc = e->cap_work ? e->cap_work * 2 : 256;
    citem *nw = realloc(e->work, nc * sizeof *nw);
    if (!nw) {
      e->oom = 1;
      return;
    }
    e->work = nw;
    e->cap_work = nc;
  }
  e->work[e->n_work++] = (citem){rep, pos, parent, done};
}

/* Visit keys: (pos, parent) for "continue at pos", and the counter node a repeat
 * decision would push, tagged by the top bit (code positions stay below 2^31). */
#define REP_KEY(node) ((1ull << 63) | (node))

/* After `done` iterations of the repeat at pos: continue past it when done >= min,
 * and start another iteration while done < max. */
static void closure_rep(dkg_engine *e, uint32_t pos, uint32_t done, uint32_t parent) {
  const dkg_rep *rp = &e->prog.reps[OP_ARG(e->prog.code[pos])];
  if (rp->max == DKG_REPEAT_INF && done > rp->min) done = rp->min;   /* counts past min agree */
  /* With done - 1 >= min already decided here, done is the same choices with fewer
   * iterations left: nothing new. This also stops chains of empty iterations. */
  if (done > rp->min) {
    uint32_t prev = find_node(e, pos, done, parent);
    if (prev && visit_has(e, REP_KEY(prev))) return;
  }
  uint32_t self = intern_node3(e, pos, done + 1, parent);
  if (e->oom || !visit_insert(e, REP_KEY(self))) return;
  if (done >= rp->min) work_push(e, 0, pos + 1, parent, 0);
  if (done >= rp->max) return;
  uint32_t cont = self;
  if (done + 1 == rp->max)   /* the last iteration returns straight past the repeat */
    cont = OP_KIND(e->prog.code[pos + 1]) == OP_END ? parent : intern_node(e, pos + 1, parent);
  for (uint32_t a = e->prog.rule_alt[rp->rule]; a < e->prog.rule_alt[rp->rule + 1]; a++)
    work_push(e, 0, e->prog.alt_start[a], cont, 0);
}

/* Adds to scratch every stack with a byte test on top reachable from continuing at
 * pos over parent without reading input; the visit set cuts nullable cycles. Uses an
 * explicit stack: nested repeats and long nullable chains must not recurse. */
static void closure(dkg_engine *e, uint32_t pos0, uint32_t parent0) {
  size_t base = e->n_work;
  work_push(e, 0, pos0, parent0, 0);
  while (e->n_work > base && !e->oom) {
    citem it = e->work[--e->n_work];
    if (it.rep) {
      closure_rep(e, it.pos, it.done, it.parent);
      continue;
    }
    uint32_t pos = it.pos, parent = it.parent;
    if (!visit_insert(e, ((uint64_t)pos << 32) | parent)) continue;
    uint32_t op = e->prog.code[pos];
    switch (OP_KIND(op)) {
      case OP_END:
        if (parent <= N_BOTTOM) {
          push_scratch(e, parent);
        } else {
          rnode p = e->nodes[parent];
          if (p.count) work_push(e, 1, p.pos, p.parent, p.count);
          else work_push(e, 0, p.pos, p.parent, 0);
        }
        break;
      case OP_BYTES:
      case OP_TOKEN:   /* waits for input: bytes, or one whole token */
        push_scratch(e, intern_node(e, pos, parent));
        break;
      case OP_REPEAT:
        work_push(e, 1, pos, parent, 0);
        break;
      default: {
        /* a reference in tail position needs no return address */
        uint32_t cont = OP_KIND(e->prog.code[pos + 1]) == OP_END ? parent
                                                                   : intern_node(e, pos + 1, parent);
        uint32_t r = OP_ARG(op);
        for (uint32_t a = e->prog.rule_alt[r]; a < e->prog.rule_alt[r + 1]; a++)
          work_push(e, 0, e->prog.alt_start[a], cont, 0);
      }
    }
    if (e->n_scratch > e->max_stacks) {
      e->too_ambiguous = 1;
      e->oom = 1;
    }
  }
  e->n_work = base;
}

/* Stack a makes stack b redundant: same positions, and where their counters differ a
 * has done fewer iterations but enough to stop, so b's futures are a subset of a's.
 * Each level compared spends one unit of *budget; none left answers no. */
static int dominates(const dkg_engine *e, uint32_t a, uint32_t b, uint32_t *budget) {
  while (a != b) {
    if (a <= N_BOTTOM || b <= N_BOTTOM || !*budget) return 0;
    --*budget;
    const rnode *x = &e->nodes[a], *y = &e->nodes[b];
    if (x->pos != y->pos || (x->count == 0) != (y->count == 0)) return 0;
    if (x->count != y->count) {
      const dkg_rep *rp = &e->prog.reps[OP_ARG(e->prog.code[x->pos])];
      if (x->count > y->count || x->count < rp->min) return 0;
    }
    a = x->parent;
    b = y->parent;
  }
  return 1;
}

typedef struct prune_key {
  uint64_t shape;
  uint32_t csum, at;   /* at: index in scratch */
} prune_key;

static int cmp_prune_key(const void *pa, const void *pb) {
  const prune_key *a = pa, *b = pb;
  if (a->shape != b->shape) return a->shape < b->shape ? -1 : 1;
  if (a->csum != b->csum) return a->csum < b->csum ? -1 : 1;
  return a->at < b->at ? -1 : a->at > b->at;
}

/* Removes from scratch the stacks another one dominates. Without this, nested
 * counted repeats keep every combination of their counters: ((x*){0,99}){0,99}
 * would grow a state per combination. Only stacks of one shape can dominate each
 * other, and a dominator has the smaller counter sum, so sorting by (shape, sum)
 * leaves each stack to be checked against the undominated ones before it: the
 * minimal stacks dominate everything else (domination is transitive). */
static void prune_dominated(dkg_engine *e) {
  size_t n = e->n_scratch, m = 0;
  for (size_t i = 0; i < n; i++)
    if (e->scratch[i] > N_BOTTOM && e->nodes[e->scratch[i]].counted) m++;
  /* beyond a few thousand counted stacks, keep them all */
  if (m < 2 || m > 2048) return;
  prune_key *k = malloc(m * sizeof *k);
  uint32_t *kept = malloc(m * sizeof *kept);
  uint8_t *gone = calloc(n, 1);
  if (!k || !kept || !gone) {   /* the state stays correct without pruning */
    free(k);
    free(kept);
    free(gone);
    return;
  }
  m = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t id = e->scratch[i];
    if (id > N_BOTTOM && e->nodes[id].counted)
      k[m++] = (prune_key){e->nodes[id].shape, e->nodes[id].csum, (uint32_t)i};
  }
  qsort(k, m, sizeof *k, cmp_prune_key);
  /* Levels dominates() may compare in one step, as many as the stacks a state may
   * hold: pruning only saves work, so past this a step keeps the stacks it has not
   * checked rather than spend more. */
  uint32_t budget = e->max_stacks;
  for (size_t g = 0; g < m && budget;) {
    size_t end = g + 1, n_kept = 0;
    while (end < m && k[end].shape == k[g].shape) end++;
    for (size_t i = g; i < end; i++) {
      uint32_t b = e->scratch[k[i].at];
      size_t j = 0;
      while (j < n_kept && !dominates(e, e->scratch[k[kept[j]].at], b, &budget)) j++;
      if (j < n_kept) gone[k[i].at] = 1;
      else kept[n_kept++] = (uint32_t)i;
    }
    g = end;
  }
  size_t w = 0;
  for (size_t i = 0; i < n; i++)
    if (!gone[i]) e->scratch[w++] = e->scratch[i];
  e->n_scratch = w;
  free(k);
  free(kept);
  free(gone);
}

static uint32_t step_slow(dkg_engine *e, uint32_t sid, unsigned b) {
  e->n_scratch = 0;
  visit_clear(e);
  uint32_t off = e->states[sid].off, n = e->states[sid].n;
  for (uint32_t k = 0; k < n; k++) {
    uint32_t id = e->pool[off + k];
    if (id == N_EMPTY) continue;
    if (id == N_BOTTOM) {
      push_scratch(e, N_BOTTOM);   /* unknown context stays unknown */
      continue;
    }
    rnode nd = e->nodes[id];
    uint32_t op = e->prog.code[nd.pos];
    if (OP_KIND(op) == OP_BYTES && byteset_has(&e->prog.sets[OP_ARG(op)], b))
      closure(e, nd.pos + 1, nd.parent);
  }
  if (!e->oom) prune_dominated(e);
  uint32_t r = intern_state(e);
  if (e->oom) return S_DEAD;
  rstate *s = &e->states[sid];
  if (!s->next) s->next = calloc(256, sizeof *s->next);
  if (s->next) s->next[b] = r + 1;
  return r;
}

static inline uint32_t step(dkg_engine *e, uint32_t sid, unsigned b) {
  const uint32_t *nx = e->states[sid].next;
  if (nx && nx[b]) return nx[b] - 1;
  return step_slow(e, sid, b);
}

static uint32_t step_bytes(dkg_engine *e, uint32_t sid, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n && sid != S_DEAD; i++) sid = step(e, sid, p[i]);
  return sid;
}

/* A counter as the vocabulary walk sees it. A walk reads tokens of width at most
 * max_width, so it completes at most max_width + 2 iterations (the skip in
 * closure_rep allows one empty one): counts that agree on every "done >= min" and
 * "done < max" test within that window give the same walk, and mapping them to one
 * value lets the context cache serve long bounded strings instead of walking the
 * trie at every position. */
static uint32_t canon_count(const dkg_engine *e, uint32_t pos, uint32_t c) {
  const dkg_rep *rp = &e->prog.reps[OP_ARG(e->prog.code[pos])];
  uint64_t w = (uint64_t)e->vocab->max_width + 4;
  if (e->plain) return c;
  if ((uint64_t)c + w < rp->min) return rp->min - (uint32_t)w - 1;
  if (c >= rp->min && (rp->max == DKG_REPEAT_INF || (uint64_t)rp->max - c > w))
    return rp->min > 1 ? rp->min : 1;
  return c;
}

/* Keeps the top ctx_depth nodes of every stack and replaces the rest by N_BOTTOM. */
static uint32_t truncate_state(dkg_engine *e, uint32_t sid) {
  if (e->states[sid].trunc) return e->states[sid].trunc - 1;
  uint32_t k = e->ctx_depth;
  uint32_t posbuf[64], cntbuf[64];
  if (k > 64) k = 64;
  e->n_scratch = 0;
  uint32_t off = e->states[sid].off, n = e->states[sid].n;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t id = e->pool[off + i];
    if (id <= N_BOTTOM || (e->nodes[id].depth <= k && !e->nodes[id].counted)) {
      push_scratch(e, id);
      continue;
    }
    /* the top k nodes, counters canonical; a shorter stack keeps its real bottom */
    uint32_t x = id, kk = e->nodes[id].depth < k ? e->nodes[id].depth : k;
    for (uint32_t d = 0; d < kk; d++) {
      posbuf[d] = e->nodes[x].pos;
      cntbuf[d] = e->nodes[x].count ? canon_count(e, posbuf[d], e->nodes[x].count) : 0;
      x = e->nodes[x].parent;
    }
    uint32_t t = e->nodes[id].depth <= k ? x : N_BOTTOM;
    for (uint32_t d = kk; d-- > 0;) t = intern_node3(e, posbuf[d], cntbuf[d], t);
    push_scratch(e, t);
  }
  uint32_t r = intern_state(e);
  if (!e->oom) e->states[sid].trunc = r + 1;
  return r;
}

/* ---- masks ---- */

static int cd_push(ctxinfo *c, uint32_t *cap, int32_t tok) {
  if (c->n_cd == *cap) {
    uint32_t nc = *cap ? *cap * 2 : 64;
    int32_t *n = realloc(c->cd, nc * sizeof *n);
    if (!n) return -1;
    c->cd = n;
    *cap = nc;
  }
  c->cd[c->n_cd++] = tok;
  return 0;
}

/* Counters of a truncated state moved as far from their bounds as canon_count ever
 * moves them: the state a whole range of counts shares. Tokens of width at most *ls
 * run the same bound tests from both (the window argument of canon_count, with the
 * counter's actual distance to its bound); *ls is 0 when no counter moved. */
static uint32_t far_state(dkg_engine *e, uint32_t tid, uint32_t *ls) {
  uint64_t w = (uint64_t)e->vocab->max_width + 4;
  uint32_t slack = UINT32_MAX, moved = 0;
  uint32_t posbuf[64], cntbuf[64];
  uint32_t off = e->states[tid].off, n = e->states[tid].n;
  e->n_scratch = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t id = e->pool[off + i], x = id, d = 0;
    if (id > N_BOTTOM && e->nodes[id].counted)
      for (; x > N_BOTTOM && d < 64; x = e->nodes[x].parent, d++) {
        posbuf[d] = e->nodes[x].pos;
        cntbuf[d] = e->nodes[x].count;
      }
    if (d == 0 || x > N_BOTTOM) {
      push_scratch(e, id);
      continue;
    }
    for (uint32_t k = 0; k < d; k++) {
      uint32_t c = cntbuf[k], f = c, dist = 0;
      if (!c) continue;
      const dkg_rep *rp = &e->prog.reps[OP_ARG(e->prog.code[posbuf[k]])];
      uint32_t lo = rp->min > 1 ? rp->min : 1;
      if (c >= rp->min && rp->max != DKG_REPEAT_INF && (uint64_t)rp->max - lo > w) {
        f = lo;
        dist = rp->max - c;
      } else if (c < rp->min && (uint64_t)rp->min > w + 1) {
        f = rp->min - (uint32_t)w - 1;
        dist = rp->min - c;
      }
      if (f == c) continue;
      cntbuf[k] = f;
      moved = 1;
      if (dist < slack) slack = dist;
    }
    for (uint32_t k = d; k-- > 0;) x = intern_node3(e, posbuf[k], cntbuf[k], x);
    push_scratch(e, x);
  }
  /* a bound this close leaves nothing worth sharing */
  *ls = moved && slack > 5 ? slack - 5 : 0;
  if (*ls >= e->vocab->n_len_le) *ls = e->vocab->n_len_le ? e->vocab->n_len_le - 1 : 0;
  return intern_state(e);
}

/* One walk of the vocabulary trie from a (truncated) state, pruning dead subtrees;
 * only tokens wider than minlen (all of them for -1), and only subtrees that hold
 * such tokens. */
static int walk_trie(dkg_engine *e, uint32_t tid, ctxinfo *c, uint32_t *cap, int32_t minlen) {
  const dkg_vocab *v = e->vocab;
  uint32_t *walk = e->walk;
  walk[0] = tid;
  for (uint32_t i = 0; i < v->n_nodes;) {
    uint32_t d = v->node_depth[i];
    if ((int32_t)v->node_maxlen[i] <= minlen) {
      i = v->node_skip[i];
      continue;
    }
    uint32_t x = step(e, walk[d - 1], v->node_byte[i]);
    if (e->oom) return -1;
    if (x == S_DEAD) {
      i = v->node_skip[i];
      continue;
    }
    const rstate *xs = &e->states[x];
    if (xs->n == 1 && xs->has_bottom) {   /* the whole subtree depends on context */
      for (uint32_t k = v->node_tok_lo[i]; k < v->node_tok_hi[i]; k++)
        if ((int32_t)v->width[v->sorted[k]] > minlen && cd_push(c, cap, v->sorted[k]))
          return -1;
      i = v->node_skip[i];
      continue;
    }
    walk[d] = x;
    if (v->node_n_end[i] && (int32_t)v->width[v->sorted[v->node_tok_lo[i]]] > minlen) {
      int real = xs->n > xs->has_bottom;
      for (uint32_t k = v->node_tok_lo[i]; k < v->node_tok_lo[i] + v->node_n_end[i]; k++) {
        int32_t t = v->sorted[k];
        if (real) c->ci[t >> 5] |= 1u << (t & 31);
        else if (xs->has_bottom && cd_push(c, cap, t)) return -1;
      }
    }
    i++;
  }
  return 0;
}

/* What the vocabulary does from a truncated state. A state with a counter near its
 * bound (the c-th character of a string of at most 40) takes its narrow tokens from
 * the far state every such count shares, and walks only the subtrees of the wider
 * ones: without this, each count within a walk's reach of the bound walked the
 * whole trie. */
static ctxinfo *context_info(dkg_engine *e, uint32_t tid) {
  if (e->states[tid].ctx) {
    e->st.ctx_hits++;
    return e->states[tid].ctx;
  }
  const dkg_vocab *v = e->vocab;
  uint32_t ls = 0, fid = e->plain ? tid : far_state(e, tid, &ls);
  const ctxinfo *fc = NULL;
  if (e->oom) return NULL;
  if (ls && fid != tid && !(fc = context_info(e, fid))) return NULL;
  if (!fc) ls = 0;
  e->st.ctx_walks++;
  ctxinfo *c = calloc(1, sizeof *c);
  uint32_t cap = 0;
  if (!c || !(c->ci = calloc(e->words, sizeof *c->ci))) goto oom;
  if (fc) {
    e->st.ctx_far++;
    const uint32_t *le = v->len_le + (size_t)ls * v->words;
    for (uint32_t k = 0; k < e->words; k++) c->ci[k] = fc->ci[k] & le[k];
    for (uint32_t k = 0; k < fc->n_cd; k++)
      if (v->width[fc->cd[k]] <= ls && cd_push(c, &cap, fc->cd[k])) goto oom;
  }
  if (walk_trie(e, tid, c, &cap, fc ? (int32_t)ls : -1)) goto oom;
  e->states[tid].ctx = c;
  return c;
oom:
  e->oom = 1;
  if (c) {
    free(c->ci);
    free(c->cd);
    free(c);
  }
  return NULL;
}

static int tok_matches(const dkg_engine *e, uint32_t op, int32_t t) {
  const dkg_ptok *pt = &e->prog.toks[OP_ARG(op)];
  return t != e->vocab->eos && (pt->negated ? t != pt->id : t == pt->id);
}

/* Tokens the state's token references allow (never the end token, which ends the
 * text instead). */
static void token_bits(dkg_engine *e, uint32_t sid, uint32_t *bits) {
  const dkg_vocab *v = e->vocab;
  uint32_t off = e->states[sid].off, n = e->states[sid].n;
  for (uint32_t k = 0; k < n; k++) {
    uint32_t id = e->pool[off + k];
    if (id <= N_BOTTOM) continue;
    uint32_t op = e->prog.code[e->nodes[id].pos];
    if (OP_KIND(op) != OP_TOKEN) continue;
    const dkg_ptok *pt = &e->prog.toks[OP_ARG(op)];
    if (!pt->negated) {
      if (pt->id != v->eos) bits[pt->id >> 5] |= 1u << (pt->id & 31);
      continue;
    }
    for (int32_t t = 0; t < v->n_vocab; t++)
      if (tok_matches(e, op, t)) bits[t >> 5] |= 1u << (t & 31);
  }
}

/* The state after token t: its bytes through the byte tests, united with the
 * stacks whose token reference takes t whole. */
static uint32_t step_token(dkg_engine *e, uint32_t sid, int32_t t) {
  const dkg_vocab *v = e->vocab;
  uint32_t sb = v->is_special[t] || v->len[t] == 0
                    ? S_DEAD
                    : step_bytes(e, sid, (const uint8_t *)v->bytes + v->off[t], v->len[t]);
  if (!e->states[sid].has_tok || e->oom) return sb;
  e->n_scratch = 0;
  visit_clear(e);
  uint32_t off = e->states[sid].off, n = e->states[sid].n;
  for (uint32_t k = 0; k < n; k++) {
    uint32_t id = e->pool[off + k];
    if (id <= N_BOTTOM) continue;
    rnode nd = e->nodes[id];
    uint32_t op = e->prog.code[nd.pos];
    if (OP_KIND(op) == OP_TOKEN && tok_matches(e, op, t)) closure(e, nd.pos + 1, nd.parent);
  }
  if (!e->n_scratch) return sb;
  if (sb != S_DEAD)
    for (uint32_t k = 0; k < e->states[sb].n; k++) push_scratch(e, e->pool[e->states[sb].off + k]);
  if (!e->oom) prune_dominated(e);
  return intern_state(e);
}

static void drop_cached_masks(dkg_engine *e) {
  for (uint32_t i = 0; i < e->n_states; i++) {
    free(e->states[i].mask);
    e->states[i].mask = NULL;
  }
  e->n_masks = 0;
}

static int state_mask(dkg_engine *e, uint32_t sid, uint32_t *bits) {
  e->st.mask_calls++;
  if (e->states[sid].mask) {
    e->st.mask_hits++;
    memcpy(bits, e->states[sid].mask, e->words * sizeof *bits);
    return 0;
  }
  const dkg_vocab *v = e->vocab;
  uint32_t tid = truncate_state(e, sid);
  const ctxinfo *c = e->oom ? NULL : context_info(e, tid);
  if (!c) return -1;
  memcpy(bits, c->ci, e->words * sizeof *bits);
  e->st.cd_checks += c->n_cd;
  for (uint32_t k = 0; k < c->n_cd; k++) {
    int32_t t = c->cd[k];
    if (step_bytes(e, sid, (const uint8_t *)v->bytes + v->off[t], v->len[t]) != S_DEAD)
      bits[t >> 5] |= 1u << (t & 31);
  }
  if (e->oom) return -1;
  if (e->states[sid].has_tok) token_bits(e, sid, bits);
  if (e->states[sid].has_empty && v->eos >= 0 && v->eos < v->n_vocab)
    bits[v->eos >> 5] |= 1u << (v->eos & 31);
  if (e->n_masks >= e->max_masks) drop_cached_masks(e);
  uint32_t *copy = malloc(e->words * sizeof *copy);
  if (copy) {
    memcpy(copy, bits, e->words * sizeof *copy);
    e->states[sid].mask = copy;
    e->n_masks++;
  }
  return 0;
}

/* ---- engine ---- */

/* A new entry on prev, with one reference for its holder; it takes one on prev. */
static hist *new_hist(dkg_engine *e, hist *prev, uint32_t state, uint32_t finished) {
  hist *h = e->free_hist;
  if (h) {
    e->free_hist = h->prev;
  } else {
    if (!e->chunks || e->chunks->used == 1024) {
      hchunk *c = malloc(sizeof *c);
      if (!c) return NULL;
      c->next = e->chunks;
      c->used = 0;
      e->chunks = c;
    }
    h = &e->chunks->h[e->chunks->used++];
  }
  h->prev = prev;
  h->depth = prev ? prev->depth + 1 : 0;
  h->state = state;
  h->finished = finished;
  h->refs = 1;
  if (prev) prev->refs++;
  e->n_hist++;
  return h;
}

/* Drops one reference; entries left without any go back to the free list, and so
 * may their predecessors (a loop, not recursion: histories are as long as outputs). */
static void hist_unref(dkg_engine *e, hist *h) {
  while (h && --h->refs == 0) {
    hist *prev = h->prev;
    h->prev = e->free_hist;
    e->free_hist = h;
    e->n_hist--;
    h = prev;
  }
}

static void engine_destroy(dkg_engine *e) {
  if (!e) return;
  for (uint32_t i = 0; i < e->n_states; i++) {
    free(e->states[i].next);
    free(e->states[i].mask);
    if (e->states[i].ctx) {
      free(e->states[i].ctx->ci);
      free(e->states[i].ctx->cd);
      free(e->states[i].ctx);
    }
  }
  while (e->chunks) {
    hchunk *c = e->chunks;
    e->chunks = c->next;
    free(c);
  }
  free(e->nodes);
  free(e->node_tab);
  free(e->states);
  free(e->pool);
  free(e->state_tab);
  free(e->scratch);
  free(e->visit_key);
  free(e->visit_gen);
  free(e->work);
  free(e->walk);
  dkg_prog_free(&e->prog);
  if (e->vocab) dkg_vocab_free(e->vocab);
  pthread_mutex_destroy(&e->mu);
  free(e);
}

dkg_engine *dkg_engine_new(const dkg_grammar *g, dkg_vocab *v, char *err, size_t errlen) {
  dkg_engine *e = calloc(1, sizeof *e);
  if (!e) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  if (pthread_mutex_init(&e->mu, NULL)) {
    free(e);
    snprintf(err, errlen, "cannot create a mutex");
    return NULL;
  }
  if (dkg_prog_compile(g, v, &e->prog, err, errlen)) {
    pthread_mutex_destroy(&e->mu);
    free(e);
    return NULL;
  }
  e->refs = 1;
  __atomic_add_fetch(&v->refs, 1, __ATOMIC_ACQ_REL);
  e->vocab = v;
  e->words = ((uint32_t)v->n_vocab + 31) / 32;
  e->ctx_depth = 4;
  e->max_masks = (uint32_t)((64u << 20) / (e->words * 4u));
  if (e->max_masks < 64) e->max_masks = 64;
  e->cap_nodes = 1024;
  e->nodes = malloc(e->cap_nodes * sizeof *e->nodes);
  e->cap_states = 256;
  e->states = malloc(e->cap_states * sizeof *e->states);
  e->cap_pool = 1024;
  e->pool = malloc(e->cap_pool * sizeof *e->pool);
  e->walk = malloc(((size_t)v->max_depth + 1) * sizeof *e->walk);
  e->gen = 1;
  e->max_stacks = 1u << 20;
  if (!e->nodes || !e->states || !e->pool || !e->walk || node_tab_grow(e) ||
      state_tab_grow(e))
    goto oom;
  e->nodes[N_EMPTY] = (rnode){0};
  e->nodes[N_BOTTOM] = (rnode){0};
  e->n_nodes = 2;
  e->n_scratch = 0;
  if (intern_state(e) != S_DEAD) goto oom;   /* the dead state is id 0 */
  visit_clear(e);
  for (uint32_t a = e->prog.rule_alt[e->prog.root]; a < e->prog.rule_alt[e->prog.root + 1]; a++)
    closure(e, e->prog.alt_start[a], N_EMPTY);
  e->init_state = intern_state(e);
  e->root_hist = new_hist(e, NULL, e->init_state, 0);
  if (e->oom || !e->root_hist) goto oom;
  return e;
oom:
  snprintf(err, errlen, "out of memory");
  engine_destroy(e);
  return NULL;
}

void dkg_engine_release(dkg_engine *e) {
  if (!e) return;
  pthread_mutex_lock(&e->mu);
  int left = --e->refs;
  pthread_mutex_unlock(&e->mu);
  if (left == 0) engine_destroy(e);
}

void dkg_engine_get_stats(dkg_engine *e, dkg_engine_stats *st) {
  pthread_mutex_lock(&e->mu);
  *st = e->st;
  st->n_nodes = e->n_nodes;
  st->n_states = e->n_states;
  st->n_hist = e->n_hist;
  pthread_mutex_unlock(&e->mu);
}

void dkg_engine_set_max_stacks(dkg_engine *e, uint32_t n) {
  pthread_mutex_lock(&e->mu);
  if (n) e->max_stacks = n;
  pthread_mutex_unlock(&e->mu);
}

/* Forgets what masks were built from, so none of them shortcut a plain walk. */
static void drop_walks(dkg_engine *e) {
  for (uint32_t i = 0; i < e->n_states; i++) {
    rstate *s = &e->states[i];
    s->trunc = 0;
    free(s->mask);
    s->mask = NULL;
    if (s->ctx) {
      free(s->ctx->ci);
      free(s->ctx->cd);
      free(s->ctx);
      s->ctx = NULL;
    }
  }
  e->n_masks = 0;
}

void dkg_engine_set_plain_walks(dkg_engine *e, int on) {
  pthread_mutex_lock(&e->mu);
  if ((on != 0) != e->plain) {
    e->plain = on != 0;
    drop_walks(e);
  }
  pthread_mutex_unlock(&e->mu);
}

void dkg_engine_set_context_depth(dkg_engine *e, uint32_t depth) {
  pthread_mutex_lock(&e->mu);
  if (depth >= 1 && depth <= 64 && depth != e->ctx_depth) {
    e->ctx_depth = depth;
    for (uint32_t i = 0; i < e->n_states; i++) {
      e->states[i].trunc = 0;
      free(e->states[i].mask);
      e->states[i].mask = NULL;
    }
    e->n_masks = 0;
  }
  pthread_mutex_unlock(&e->mu);
}

/* ---- matchers ---- */

dkg_matcher *dkg_matcher_new(dkg_engine *e) {
  dkg_matcher *m = malloc(sizeof *m);
  if (!m) return NULL;
  pthread_mutex_lock(&e->mu);
  e->refs++;
  m->e = e;
  m->cur = e->root_hist;
  m->cur->refs++;
  pthread_mutex_unlock(&e->mu);
  return m;
}

dkg_matcher *dkg_matcher_fork(const dkg_matcher *src) {
  dkg_matcher *m = malloc(sizeof *m);
  if (!m) return NULL;
  pthread_mutex_lock(&src->e->mu);
  src->e->refs++;
  m->e = src->e;
  m->cur = src->cur;
  m->cur->refs++;
  pthread_mutex_unlock(&src->e->mu);
  return m;
}

void dkg_matcher_free(dkg_matcher *m) {
  if (!m) return;
  pthread_mutex_lock(&m->e->mu);
  hist_unref(m->e, m->cur);
  pthread_mutex_unlock(&m->e->mu);
  dkg_engine_release(m->e);
  free(m);
}

int dkg_matcher_mask(dkg_matcher *m, uint32_t *bits) {
  dkg_engine *e = m->e;
  pthread_mutex_lock(&e->mu);
  int rc = 0;
  if (e->oom) rc = -1;   /* a failed engine stays failed */
  else if (m->cur->finished) memset(bits, 0, e->words * sizeof *bits);
  else rc = state_mask(e, m->cur->state, bits);
  if (rc && e->too_ambiguous) rc = DKG_TOO_AMBIGUOUS;
  pthread_mutex_unlock(&e->mu);
  return rc;
}

/* One step: by the bytes p[0..n) when token < 0, else by that token. */
static int step_locked(dkg_matcher *m, const uint8_t *p, size_t n, int32_t token) {
  dkg_engine *e = m->e;
  if (m->cur->finished) return -1;
  uint32_t sid = m->cur->state;
  uint32_t fin = 0;
  if (token >= 0 && token == e->vocab->eos) {
    if (!e->states[sid].has_empty) return -1;
    fin = 1;
  } else {
    sid = token >= 0 ? step_token(e, sid, token) : step_bytes(e, sid, p, n);
    if (sid == S_DEAD) return -1;
  }
  hist *h = new_hist(e, m->cur, sid, fin);
  if (!h) return -1;
  hist_unref(e, m->cur);   /* now held by h */
  m->cur = h;
  return 0;
}

/* A step that needed more stacks than the cap is refused for that reason,
 * not as a token the grammar does not allow: the mask may have allowed it. */
static int advance_locked(dkg_matcher *m, const uint8_t *p, size_t n, int32_t token) {
  int rc = step_locked(m, p, n, token);
  return rc && m->e->too_ambiguous ? DKG_TOO_AMBIGUOUS : rc;
}

int dkg_matcher_advance(dkg_matcher *m, int32_t token) {
  dkg_engine *e = m->e;
  const dkg_vocab *v = e->vocab;
  if (token < 0 || token >= v->n_vocab) return -1;
  pthread_mutex_lock(&e->mu);
  int rc = advance_locked(m, NULL, 0, token);
  pthread_mutex_unlock(&e->mu);
  return rc;
}

int dkg_matcher_advance_bytes(dkg_matcher *m, const char *s, size_t n) {
  pthread_mutex_lock(&m->e->mu);
  int rc = advance_locked(m, (const uint8_t *)s, n, -1);
  pthread_mutex_unlock(&m->e->mu);
  return rc;
}

int dkg_matcher_rollback(dkg_matcher *m, size_t n) {
  if (n > m->cur->depth) return -1;
  if (!n) return 0;
  hist *to = m->cur;
  while (n--) to = to->prev;
  pthread_mutex_lock(&m->e->mu);   /* refcounts are shared with forks */
  to->refs++;
  hist_unref(m->e, m->cur);
  m->cur = to;
  pthread_mutex_unlock(&m->e->mu);
  return 0;
}

size_t dkg_matcher_n_steps(const dkg_matcher *m) { return m->cur->depth; }

int dkg_matcher_is_complete(const dkg_matcher *m) {
  if (m->cur->finished) return 1;
  pthread_mutex_lock(&m->e->mu);
  int r = m->e->states[m->cur->state].has_empty;
  pthread_mutex_unlock(&m->e->mu);
  return r;
}

int dkg_matcher_is_finished(const dkg_matcher *m) { return (int)m->cur->finished; }

size_t dkg_matcher_forced(dkg_matcher *m, char *buf, size_t cap) {
  dkg_engine *e = m->e;
  if (m->cur->finished) return 0;
  pthread_mutex_lock(&e->mu);
  uint32_t sid = m->cur->state;
  size_t n = 0;
  /* a token reference is a choice the bytes cannot force */
  while (n < cap && !e->states[sid].has_empty && !e->states[sid].has_tok) {
    int only = -1;
    uint32_t next = S_DEAD;
    for (unsigned b = 0; b < 256; b++) {
      uint32_t x = step(e, sid, b);
      if (x == S_DEAD) continue;
      if (only >= 0) {
        only = -2;
        break;
      }
      only = (int)b;
      next = x;
    }
    if (only < 0 || e->oom) break;
    buf[n++] = (char)only;
    sid = next;
  }
  pthread_mutex_unlock(&e->mu);
  return n;
}

int dkg_matcher_accepts_bytes(dkg_matcher *m, const char *s, size_t n) {
  if (m->cur->finished) return n == 0;
  pthread_mutex_lock(&m->e->mu);
  int r = step_bytes(m->e, m->cur->state, (const uint8_t *)s, n) != S_DEAD;
  pthread_mutex_unlock(&m->e->mu);
  return r;
}
