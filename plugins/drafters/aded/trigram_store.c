/* trigram_store.c -- ADED's tri-gram store: an open-addressing map from token pairs to weighted successors. */
#include "trigram_store.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t pair_key(dk_token a, dk_token b) { return (uint64_t)(uint32_t)a << 32 | (uint32_t)b; }

static size_t slot_of(uint64_t key, size_t n_slots) {
  uint64_t x = key + 0x9e3779b97f4a7c15u; /* splitmix64 finaliser */
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
  return (size_t)((x ^ (x >> 31)) & (n_slots - 1));
}

void dka_store_free(dka_store *st) {
  for (size_t i = 0; i < st->n_slots; i++) free(st->slots[i].succ);
  free(st->slots);
  st->slots = NULL;
  st->n_slots = st->n_used = 0;
}

static dka_slot *find(const dka_store *st, uint64_t key) {
  if (!st->n_slots) return NULL;
  for (size_t i = slot_of(key, st->n_slots);; i = (i + 1) & (st->n_slots - 1)) {
    if (!st->slots[i].used) return NULL;
    if (st->slots[i].key == key) return &st->slots[i];
  }
}

const dka_succ *dka_store_get(const dka_store *st, dk_token t1, dk_token t2, size_t *n) {
  const dka_slot *s = find(st, pair_key(t1, t2));
  *n = s ? s->n : 0;
  return s ? s->succ : NULL;
}

/* Keep the load at most one half, so probes stay short. */
static int grow(dka_store *st) {
  size_t n = st->n_slots ? 2 * st->n_slots : 1024;
  dka_slot *t = calloc(n, sizeof *t);
  if (!t) return DK_ERR_NOMEM;
  for (size_t i = 0; i < st->n_slots; i++) {
    if (!st->slots[i].used) continue;
    size_t j = slot_of(st->slots[i].key, n);
    while (t[j].used) j = (j + 1) & (n - 1);
    t[j] = st->slots[i];
  }
  free(st->slots);
  st->slots = t;
  st->n_slots = n;
  return DK_OK;
}

static dka_slot *find_or_add(dka_store *st, uint64_t key) {
  dka_slot *s = find(st, key);
  if (s) return s;
  if (2 * (st->n_used + 1) > st->n_slots && grow(st)) return NULL;
  size_t i = slot_of(key, st->n_slots);
  while (st->slots[i].used) i = (i + 1) & (st->n_slots - 1);
  s = &st->slots[i];
  s->succ = malloc(DKA_MAX_SUCC * sizeof *s->succ);
  if (!s->succ) return NULL;
  s->key = key;
  s->n = 0;
  s->used = 1;
  st->n_used++;
  return s;
}

int dka_store_bump(dka_store *st, dk_token t1, dk_token t2, dk_token t3, float w, float cap) {
  dka_slot *s = find_or_add(st, pair_key(t1, t2));
  if (!s) return DK_ERR_NOMEM;
  for (uint32_t i = 0; i < s->n; i++)
    if (s->succ[i].tok == t3) {
      s->succ[i].w = fminf(s->succ[i].w + w, cap);
      return DK_OK;
    }
  uint32_t at = s->n;
  if (at == DKA_MAX_SUCC) {
    at = 0;
    for (uint32_t i = 1; i < s->n; i++)
      if (s->succ[i].w < s->succ[at].w) at = i;
    if (!(s->succ[at].w < w)) return DK_OK;
  } else {
    s->n++;
  }
  s->succ[at] = (dka_succ){t3, fminf(w, cap)};
  return DK_OK;
}

int dka_store_adapt(dka_store *st, const dk_token *t, size_t n, size_t window, float boost, float cap) {
  size_t from = n > window ? n - window : 0;
  for (size_t i = from; i + 2 < n; i++) {
    int rc = dka_store_bump(st, t[i], t[i + 1], t[i + 2], boost, cap);
    if (rc) return rc;
  }
  return DK_OK;
}

static int heavier(const void *a, const void *b) {
  const dka_succ *x = a, *y = b;
  return (x->w < y->w) - (x->w > y->w);
}

/* One decimal id below n_vocab at *p; advances *p. */
static int read_id(char **p, int32_t n_vocab, dk_token *out) {
  char *end;
  errno = 0;
  long v = strtol(*p, &end, 10);
  if (end == *p || errno || v < 0 || v >= n_vocab) return -1;
  *p = end;
  *out = (dk_token)v;
  return 0;
}

int dka_store_load(dka_store *st, const char *path, int32_t n_vocab, size_t top, char *msg, size_t n_msg) {
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(msg, n_msg, "store: cannot open '%s'", path);
    return DK_ERR_IO;
  }
  char line[256];
  int rc = DK_OK;
  size_t lineno = 1;
  if (!fgets(line, sizeof line, f) || strncmp(line, "decokit-trigrams 1", 18) != 0) {
    snprintf(msg, n_msg, "store: '%s' is not a tri-gram store (first line: decokit-trigrams 1)", path);
    rc = DK_ERR_INVALID;
  }
  while (!rc && fgets(line, sizeof line, f)) {
    lineno++;
    char *p = line, *end;
    dk_token t[3];
    int bad = read_id(&p, n_vocab, &t[0]) || read_id(&p, n_vocab, &t[1]) || read_id(&p, n_vocab, &t[2]);
    double w = bad ? 0 : strtod(p, &end);
    if (!bad && (end == p || !(w >= 0 && w <= 1))) bad = 1;
    if (!bad)
      for (p = end; *p; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') bad = 1;
    if (bad) {
      snprintf(msg, n_msg, "store: '%s' line %zu: want 'T1 T2 T3 P' with ids below %d and 0 <= P <= 1",
               path, lineno, n_vocab);
      rc = DK_ERR_INVALID;
      break;
    }
    /* Keep every successor for now (up to the list's room), trim below. */
    dka_slot *s = find_or_add(st, pair_key(t[0], t[1]));
    if (!s) rc = DK_ERR_NOMEM;
    else if (s->n < DKA_MAX_SUCC) s->succ[s->n++] = (dka_succ){t[2], (float)w};
    else {
      uint32_t at = 0;
      for (uint32_t i = 1; i < s->n; i++)
        if (s->succ[i].w < s->succ[at].w) at = i;
      if (s->succ[at].w < (float)w) s->succ[at] = (dka_succ){t[2], (float)w};
    }
  }
  if (!rc && ferror(f)) {
    snprintf(msg, n_msg, "store: read error on '%s'", path);
    rc = DK_ERR_IO;
  }
  fclose(f);
  if (rc == DK_ERR_NOMEM) snprintf(msg, n_msg, "store: out of memory");
  for (size_t i = 0; !rc && i < st->n_slots; i++) {
    dka_slot *s = &st->slots[i];
    if (!s->used) continue;
    qsort(s->succ, s->n, sizeof *s->succ, heavier);
    if (s->n > top) s->n = (uint32_t)top;
  }
  return rc;
}
