/* hyp_cache.c -- hypotheses evaluated on a model, kept as sequences so the next call extends them by their new tokens only. */
/*
 * A search scores hypotheses that grow by one token a step, so the cache
 * keeps exactly the last call's hypotheses: the next call finds each new
 * hypothesis' longest cached prefix, forks its sequence (copy on write)
 * and evaluates the rest, all hypotheses in one ragged call.  A hypothesis
 * equal to a cached one (a beam that ends with EOS, scored without it) is
 * answered from the cache.
 */
#include "hyp_cache.h"

#include <stdlib.h>
#include <string.h>

#define NONE ((size_t)-1)

void hc_init(hc_cache *c, const dk_host *h, uint32_t flags) {
  memset(c, 0, sizeof *c);
  c->h = h;
  c->flags = flags;
}

static void drop(hc_cache *c, const dk_model_ref *m, size_t i) {
  if (m && c->e[i].seq >= 0) m->iface->seq_free(m->inst, c->e[i].seq);
  free(c->e[i].toks);
  free(c->e[i].row);
}

void hc_clear(hc_cache *c, const dk_model_ref *m) {
  for (size_t i = 0; i < c->n; i++) drop(c, m, i);
  c->n = 0;
}

void hc_free(hc_cache *c) {
  /* Sequences left here belong to the model instance, which frees them. */
  hc_clear(c, NULL);
  free(c->e);
  free(c->parent);
  free(c->todo);
  free(c->seqs);
  free(c->n_new);
  free(c->toks);
  free(c->out_flags);
  free(c->rows);
  memset(c, 0, sizeof *c);
}

static int grow(void **p, size_t *cap, size_t want, size_t size) {
  if (want <= *cap) return 0;
  size_t n = *cap ? *cap : 16;
  while (n < want) n *= 2;
  void *q = realloc(*p, n * size);
  if (!q) return -1;
  *p = q;
  *cap = n;
  return 0;
}

/* The longest cached prefix of toks[0..n) (n itself included), or NONE. */
static size_t longest_prefix(const hc_cache *c, const dk_token *toks, size_t n) {
  size_t best = NONE;
  for (size_t i = 0; i < c->n; i++) {
    const hc_entry *e = &c->e[i];
    if (e->n > n || (best != NONE && e->n <= c->e[best].n)) continue;
    if (memcmp(e->toks, toks, e->n * sizeof *toks) == 0) best = i;
  }
  return best;
}

const hc_entry *hc_find(const hc_cache *c, const dk_token *toks, size_t n) {
  size_t p = longest_prefix(c, toks, n);
  return p != NONE && c->e[p].n == n ? &c->e[p] : NULL;
}

/* A new entry holding seq (owned from now on) and toks[0..n). */
static int add_entry(hc_cache *c, dk_seq seq, const dk_token *toks, size_t n, double value,
                     const float *row, dk_error *err) {
  if (grow((void **)&c->e, &c->cap, c->n + 1, sizeof *c->e)) goto nomem;
  hc_entry *e = &c->e[c->n];
  *e = (hc_entry){.seq = seq, .n = n, .value = value, .keep = 1};
  e->toks = malloc((n ? n : 1) * sizeof *toks);
  e->row = malloc(c->row_len * sizeof *row);
  if (!e->toks || !e->row) {
    free(e->toks);
    free(e->row);
    goto nomem;
  }
  memcpy(e->toks, toks, n * sizeof *toks);
  memcpy(e->row, row, c->row_len * sizeof *row);
  c->n++;
  return DK_OK;
nomem:
  return c->h->set_error(err, DK_ERR_NOMEM, "out of memory");
}

/* Rows wanted for n_new new positions. */
static size_t rows_for(const hc_cache *c, size_t n_new) {
  return (c->flags & HC_ALL_ROWS) ? n_new : 1;
}

/* Evaluate `count` hypotheses (indices todo[]) in one ragged call, each
 * after its parent's tokens, and add them as entries. */
static int eval_batch(hc_cache *c, const dk_model_ref *m, const dk_token *const *toks,
                      const size_t *n, size_t count, const size_t *todo, const size_t *parent,
                      size_t n_prompt, hc_value_fn fn, void *user, double *out, dk_error *err) {
  const dk_host *h = c->h;
  size_t total = 0, n_rows = 0;
  for (size_t k = 0; k < count; k++) {
    size_t i = todo[k], from = parent[i] == NONE ? 0 : c->e[parent[i]].n;
    c->n_new[k] = n[i] - from;
    total += c->n_new[k];
    n_rows += rows_for(c, c->n_new[k]);
  }
  size_t cap_t = c->cap_toks; /* toks and out_flags share a capacity */
  if (grow((void **)&c->toks, &cap_t, total, sizeof *c->toks) ||
      grow((void **)&c->out_flags, &c->cap_toks, total, sizeof *c->out_flags) ||
      grow((void **)&c->rows, &c->cap_rows, n_rows * c->row_len, sizeof *c->rows))
    return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  int rc = DK_OK;
  size_t made = 0, t = 0;
  for (size_t k = 0; k < count && !rc; k++, made++) {
    size_t i = todo[k];
    if (parent[i] == NONE) rc = m->iface->seq_new(m->inst, &c->seqs[k], err);
    else rc = m->iface->fork(m->inst, c->e[parent[i]].seq, &c->seqs[k], err);
    if (rc) break;
    memcpy(c->toks + t, toks[i] + (n[i] - c->n_new[k]), c->n_new[k] * sizeof *c->toks);
    for (size_t j = 0; j < c->n_new[k]; j++)
      c->out_flags[t + j] = (c->flags & HC_ALL_ROWS) || j + 1 == c->n_new[k];
    t += c->n_new[k];
  }
  if (!rc) {
    dk_batch b = {.struct_size = sizeof b, .n_seqs = count, .seqs = c->seqs, .n_tokens = c->n_new,
                  .tokens = c->toks, .output = c->out_flags};
    if (c->flags & HC_HIDDEN) b.hidden = c->rows;
    else b.logits = c->rows;
    rc = m->iface->eval_ragged(m->inst, &b, err);
  }
  size_t r = 0;
  for (size_t k = 0; k < made; k++) {
    size_t i = todo[k], n_old = n[i] - c->n_new[k], nr = rows_for(c, c->n_new[k]);
    const float *rows = c->rows + r * c->row_len;
    r += nr;
    double v = 0;
    if (!rc) {
      const hc_entry *par = parent[i] == NONE ? NULL : &c->e[parent[i]];
      rc = fn(user, par, toks[i], n_old, c->n_new[k], n_prompt, rows, &v, err);
    }
    if (!rc) rc = add_entry(c, c->seqs[k], toks[i], n[i], v, rows + (nr - 1) * c->row_len, err);
    if (rc) {
      m->iface->seq_free(m->inst, c->seqs[k]);
      continue;
    }
    if (out) out[i] = v;
  }
  return rc;
}

int hc_score(hc_cache *c, dk_session *s, const dk_model_ref *m, const dk_token *const *toks,
             const size_t *n, size_t n_hyps, size_t n_prompt, hc_value_fn fn, void *user,
             double *out, dk_error *err) {
  const dk_host *h = c->h;
  if (!(m->info->caps & DK_MODEL_CAP_RAGGED) || !m->iface->eval_ragged || !m->iface->fork)
    return h->set_error(err, DK_ERR_UNSUPPORTED, "the model cannot evaluate ragged batches and fork");
  if ((c->flags & HC_HIDDEN) && !(m->info->caps & DK_MODEL_CAP_HIDDEN))
    return h->set_error(err, DK_ERR_UNSUPPORTED, "the model gives no hidden states (HID)");
  if (s != c->sess) hc_clear(c, m);
  c->sess = s;
  c->row_len = (size_t)((c->flags & HC_HIDDEN) ? m->info->n_embd : m->info->n_vocab);
  if (n_hyps + 1 > c->cap_hyps) { /* four arrays of one capacity */
    size_t want = 2 * (n_hyps + 1);
    size_t *pa = realloc(c->parent, want * sizeof *pa);
    if (pa) c->parent = pa;
    size_t *td = realloc(c->todo, want * sizeof *td);
    if (td) c->todo = td;
    dk_seq *sq = realloc(c->seqs, want * sizeof *sq);
    if (sq) c->seqs = sq;
    size_t *nn = realloc(c->n_new, want * sizeof *nn);
    if (nn) c->n_new = nn;
    if (!pa || !td || !sq || !nn) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
    c->cap_hyps = want;
  }
  for (size_t i = 0; i < c->n; i++) c->e[i].keep = 0;
  int rc = DK_OK;
  /* The shared prompt first, once, so every hypothesis can fork it. */
  for (size_t i = 0; i < n_hyps && !rc; i++) {
    if (n[i] <= n_prompt || n_prompt == 0) continue;
    size_t p = longest_prefix(c, toks[i], n[i]);
    if (p != NONE && c->e[p].n >= n_prompt) break;
    const dk_token *const pt[1] = {toks[i]};
    const size_t n_p = n_prompt, first = 0, none = NONE;
    rc = eval_batch(c, m, pt, &n_p, 1, &first, &none, n_prompt, fn, user, NULL, err);
    break;
  }
  size_t count = 0;
  for (size_t i = 0; i < n_hyps && !rc; i++) {
    size_t p = longest_prefix(c, toks[i], n[i]);
    if (p != NONE) c->e[p].keep = 1;
    if (p != NONE && c->e[p].n == n[i]) {
      out[i] = c->e[p].value;
      c->parent[i] = NONE;
      continue;
    }
    if (n[i] == 0) {
      rc = h->set_error(err, DK_ERR_INVALID, "an empty hypothesis");
      break;
    }
    c->parent[i] = p;
    c->todo[count++] = i;
  }
  if (!rc && count)
    rc = eval_batch(c, m, toks, n, count, c->todo, c->parent, n_prompt, fn, user, out, err);
  /* Keep this call's hypotheses (and the prefixes they came from) only. */
  size_t w = 0;
  for (size_t i = 0; i < c->n; i++) {
    if (c->e[i].keep) c->e[w++] = c->e[i];
    else drop(c, m, i);
  }
  c->n = w;
  return rc;
}
