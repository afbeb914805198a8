/* hyp_cache.h -- hypotheses evaluated on a model, kept as sequences so the next call extends them by their new tokens only. */
#ifndef DK_HYP_CACHE_H
#define DK_HYP_CACHE_H

#include <decokit/plugin.h>

#include <stddef.h>

/* One evaluated hypothesis: its sequence holds toks[0..n) and row is the
 * model's last row after toks[n - 1] (logits or hidden state). */
typedef struct hc_entry {
  dk_seq seq;
  dk_token *toks;
  size_t n;
  double value; /* the scorer's score of exactly these tokens */
  float *row;
  int keep;
} hc_entry;

/* The value of toks[0..n_old + n_new) from its parent's (NULL when toks were
 * evaluated from nothing) and the rows the model gave for the new positions:
 * every new position with HC_ALL_ROWS, else the last one only. */
typedef int (*hc_value_fn)(void *user, const hc_entry *parent, const dk_token *toks,
                           size_t n_old, size_t n_new, size_t n_prompt, const float *rows,
                           double *value, dk_error *err);

#define HC_HIDDEN 1u   /* rows are hidden states (the model needs HID), else logits */
#define HC_ALL_ROWS 2u /* the value needs a row for every new position */

typedef struct hc_cache {
  const dk_host *h;
  uint32_t flags;
  size_t row_len;       /* floats per row: n_embd or n_vocab, set on first use */
  dk_session *sess;     /* whose completion the entries belong to */
  hc_entry *e;
  size_t n, cap;
  /* scratch of one call */
  size_t *parent, *todo;
  dk_seq *seqs;
  size_t *n_new;
  dk_token *toks;
  uint8_t *out_flags;
  float *rows;
  size_t cap_hyps, cap_toks, cap_rows;
} hc_cache;

void hc_init(hc_cache *c, const dk_host *h, uint32_t flags);
/* Free the cached sequences on m (the model they were made on). */
void hc_clear(hc_cache *c, const dk_model_ref *m);
void hc_free(hc_cache *c);

/* Score n_hyps hypotheses toks[i][0..n[i]) sharing toks[i][0..n_prompt) on
 * model m in one ragged call: each one forks the longest cached prefix (the
 * prompt is evaluated once) and evaluates only what follows it.  Entries
 * not used by this call are dropped; a new session drops them all. */
int hc_score(hc_cache *c, dk_session *s, const dk_model_ref *m, const dk_token *const *toks,
             const size_t *n, size_t n_hyps, size_t n_prompt, hc_value_fn fn, void *user,
             double *out, dk_error *err);

/* The entry holding exactly toks[0..n), or NULL: after hc_score, each of its
 * hypotheses (the row a one-step lookahead reads). */
const hc_entry *hc_find(const hc_cache *c, const dk_token *toks, size_t n);

#endif
