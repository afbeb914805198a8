/* trigram_store.h -- ADED's tri-gram store: weighted successors of token pairs, loaded from a file and adapted online. */
#ifndef DKA_TRIGRAM_STORE_H
#define DKA_TRIGRAM_STORE_H

#include <decokit/plugin.h>

#include <stddef.h>
#include <stdint.h>

/* Successors kept per pair: the file's top ones plus room for what the
 * online adaptation adds. */
#define DKA_MAX_SUCC 32

typedef struct dka_succ {
  dk_token tok;
  float w;
} dka_succ;

typedef struct dka_slot {
  uint64_t key; /* (t1 << 32) | t2 */
  uint32_t n;
  uint8_t used;
  dka_succ *succ; /* DKA_MAX_SUCC entries */
} dka_slot;

typedef struct dka_store {
  dka_slot *slots;
  size_t n_slots, n_used;
} dka_store;

void dka_store_free(dka_store *st);
/* The successors of (t1, t2), or NULL (and *n = 0) when none are known. */
const dka_succ *dka_store_get(const dka_store *st, dk_token t1, dk_token t2, size_t *n);
/* Add w to the weight of t1 t2 -> t3 (creating it), capped at cap.  When
 * the pair's list is full the lightest successor lighter than the new
 * weight makes room.  DK_OK or DK_ERR_NOMEM. */
int dka_store_bump(dka_store *st, dk_token t1, dk_token t2, dk_token t3, float w, float cap);
/* Online adaptation (METHODS.md 4): every tri-gram inside the last `window`
 * tokens of t gains `boost`, capped at `cap`. */
int dka_store_adapt(dka_store *st, const dk_token *t, size_t n, size_t window, float boost, float cap);
/* Load a store file ("decokit-trigrams 1", then lines "T1 T2 T3 P"),
 * keeping the `top` heaviest successors of each pair.  Ids must be below
 * n_vocab and P a probability.  On error writes a message to msg. */
int dka_store_load(dka_store *st, const char *path, int32_t n_vocab, size_t top, char *msg, size_t n_msg);

#endif
