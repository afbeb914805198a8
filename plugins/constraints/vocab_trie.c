/* vocab_trie.c -- token pieces and their byte trie, laid out in preorder for mask walks */
#include "grammar_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sortent {
  const uint8_t *p;
  uint32_t len;
  int32_t id;
} sortent;

/* Byte order with a prefix first, so a node's own tokens open its subtree range. */
static int cmp_piece(const void *a, const void *b) {
  const sortent *x = a, *y = b;
  uint32_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->p, y->p, n);
  if (c) return c;
  if (x->len != y->len) return x->len < y->len ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

void dkg_vocab_free(dkg_vocab *v) {
  if (!v) return;
  if (__atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) > 0) return;
  free(v->is_special);
  free(v->bytes);
  free(v->off);
  free(v->len);
  free(v->node_byte);
  free(v->node_depth);
  free(v->node_skip);
  free(v->node_tok_lo);
  free(v->node_tok_hi);
  free(v->node_n_end);
  free(v->node_maxlen);
  free(v->width);
  free(v->len_le);
  free(v->sorted);
  free(v);
}

/* Places where a code point can end: a byte that is not a lead byte, followed by
 * the end or by a byte that is not a continuation byte. A code point that ends just
 * before a stray continuation byte is not counted, but nothing of the grammar
 * survives that byte, and the run of continuation bytes ends on a counted place. */
static uint32_t piece_width(const uint8_t *p, uint32_t n) {
  uint32_t w = 0;
  for (uint32_t i = 0; i < n; i++)
    if (p[i] < 0xC0 && (i + 1 == n || (p[i + 1] & 0xC0) != 0x80)) w++;
  return w;
}

int32_t dkg_vocab_size(const dkg_vocab *v) { return v->n_vocab; }
int32_t dkg_vocab_eos(const dkg_vocab *v) { return v->eos; }

dkg_vocab *dkg_vocab_new(const char *const *piece, const uint32_t *piece_len,
                         int32_t n_vocab, int32_t eos, const uint8_t *is_special,
                         char *err, size_t errlen) {
  if (n_vocab <= 0) {
    snprintf(err, errlen, "empty vocabulary");
    return NULL;
  }
  dkg_vocab *v = calloc(1, sizeof *v);
  sortent *se = NULL;
  uint32_t *path = NULL;
  if (!v) goto oom;
  v->refs = 1;
  v->n_vocab = n_vocab;
  v->eos = eos;
  size_t total = 0;
  uint32_t maxlen = 0;
  for (int32_t t = 0; t < n_vocab; t++) {
    total += piece_len[t];
    if (piece_len[t] > maxlen) maxlen = piece_len[t];
  }
  if (maxlen > 65535) {
    snprintf(err, errlen, "token %s is longer than 65535 bytes", "piece");
    dkg_vocab_free(v);
    return NULL;
  }
  v->is_special = calloc((size_t)n_vocab, 1);
  v->bytes = malloc(total ? total : 1);
  v->off = malloc((size_t)n_vocab * sizeof *v->off);
  v->len = malloc((size_t)n_vocab * sizeof *v->len);
  se = malloc((size_t)n_vocab * sizeof *se);
  if (!v->is_special || !v->bytes || !v->off || !v->len || !se) goto oom;
  size_t o = 0;
  uint32_t ns = 0;
  for (int32_t t = 0; t < n_vocab; t++) {
    v->off[t] = (uint32_t)o;
    v->len[t] = piece_len[t];
    if (piece_len[t]) memcpy(v->bytes + o, piece[t], piece_len[t]);
    o += piece_len[t];
    v->is_special[t] = is_special ? (is_special[t] != 0) : 0;
    /* EOS, special tokens and empty pieces never take part in byte matching */
    if (t != eos && !v->is_special[t] && piece_len[t] > 0)
      se[ns++] = (sortent){(const uint8_t *)v->bytes + v->off[t], piece_len[t], t};
  }
  qsort(se, ns, sizeof *se, cmp_piece);
  v->n_sorted = ns;
  v->sorted = malloc((ns ? ns : 1) * sizeof *v->sorted);
  if (!v->sorted) goto oom;
  for (uint32_t i = 0; i < ns; i++) v->sorted[i] = se[i].id;
  /* node count: bytes beyond the common prefix with the previous piece */
  uint32_t nn = 0;
  for (uint32_t i = 0; i < ns; i++) {
    uint32_t l = 0;
    if (i) {
      uint32_t m = se[i].len < se[i - 1].len ? se[i].len : se[i - 1].len;
      while (l < m && se[i].p[l] == se[i - 1].p[l]) l++;
    }
    nn += se[i].len - l;
  }
  v->n_nodes = nn;
  v->max_depth = maxlen;
  size_t cn = nn ? nn : 1;
  v->node_byte = malloc(cn);
  v->node_depth = malloc(cn * sizeof *v->node_depth);
  v->node_skip = malloc(cn * sizeof *v->node_skip);
  v->node_tok_lo = malloc(cn * sizeof *v->node_tok_lo);
  v->node_tok_hi = malloc(cn * sizeof *v->node_tok_hi);
  v->node_n_end = calloc(cn, sizeof *v->node_n_end);
  path = malloc(((size_t)maxlen + 1) * sizeof *path);
  if (!v->node_byte || !v->node_depth || !v->node_skip || !v->node_tok_lo ||
      !v->node_tok_hi || !v->node_n_end || !path)
    goto oom;
  uint32_t k = 0, cur_depth = 0;
  for (uint32_t i = 0; i < ns; i++) {
    uint32_t l = 0;
    if (i) {
      uint32_t m = se[i].len < se[i - 1].len ? se[i].len : se[i - 1].len;
      while (l < m && se[i].p[l] == se[i - 1].p[l]) l++;
    }
    for (uint32_t d = cur_depth; d > l; d--) {   /* close nodes off the shared path */
      v->node_skip[path[d]] = k;
      v->node_tok_hi[path[d]] = i;
    }
    for (uint32_t d = l + 1; d <= se[i].len; d++) {
      v->node_byte[k] = se[i].p[d - 1];
      v->node_depth[k] = (uint16_t)d;
      v->node_tok_lo[k] = i;
      path[d] = k++;
    }
    v->node_n_end[path[se[i].len]]++;
    cur_depth = se[i].len;
  }
  for (uint32_t d = cur_depth; d > 0; d--) {
    v->node_skip[path[d]] = k;
    v->node_tok_hi[path[d]] = ns;
  }
  v->width = calloc((size_t)n_vocab, sizeof *v->width);
  if (!v->width) goto oom;
  for (int32_t t = 0; t < n_vocab; t++) {
    v->width[t] = (uint16_t)piece_width((const uint8_t *)v->bytes + v->off[t], v->len[t]);
    if (v->width[t] > v->max_width) v->max_width = v->width[t];
  }
  /* subtree maxima: a node's children follow it, so a backward pass sees them first */
  v->node_maxlen = calloc(cn, sizeof *v->node_maxlen);
  if (!v->node_maxlen) goto oom;
  for (uint32_t i = nn; i-- > 0;) {
    uint32_t m = v->node_n_end[i] ? v->width[v->sorted[v->node_tok_lo[i]]] : 0;
    for (uint32_t j = i + 1; j < v->node_skip[i]; j = v->node_skip[j])
      if (v->node_maxlen[j] > m) m = v->node_maxlen[j];
    v->node_maxlen[i] = (uint16_t)m;
  }
  v->words = ((uint32_t)n_vocab + 31) / 32;
  v->n_len_le = v->max_width < DKG_LEN_CLASSES ? v->max_width : DKG_LEN_CLASSES;
  v->len_le = calloc((size_t)v->n_len_le * v->words + 1, sizeof *v->len_le);
  if (!v->len_le) goto oom;
  for (uint32_t i = 0; i < ns; i++) {
    int32_t t = v->sorted[i];
    for (uint32_t l = v->width[t]; l < v->n_len_le; l++)
      v->len_le[(size_t)l * v->words + ((uint32_t)t >> 5)] |= 1u << (t & 31);
  }
  free(path);
  free(se);
  return v;
oom:
  snprintf(err, errlen, "out of memory");
  free(path);
  free(se);
  dkg_vocab_free(v);
  return NULL;
}
