/* logprob.c -- a committed token's raw and processed log-probabilities and top-N alternatives, from what its decoder knew. */
#include "session_impl.h"

#include "candidates.h"
#include "error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void dk_record_clear(dk_token_record *r) {
  free(r->raw_top);
  free(r->proc_top);
  memset(r, 0, sizeof *r);
}

double dk_row_lse(const float *logits, size_t nv) {
  float max = -INFINITY;
  for (size_t i = 0; i < nv; i++)
    if (logits[i] > max) max = logits[i];
  double sum = 0;
  for (size_t i = 0; i < nv; i++) sum += exp((double)logits[i] - max);
  return max + log(sum);
}

/* Raw numbers from the full row: the token's log softmax and the N best. */
static int from_row(dk_session *s, dk_token_record *r, const float *logits) {
  size_t nv = (size_t)s->run->info.n_vocab, top = (size_t)s->logprobs;
  double lse = dk_row_lse(logits, nv);
  r->raw_lp = (float)(logits[r->id] - lse);
  r->has_raw = 1;
  if (!top) return DK_OK;
  r->raw_top = calloc(top, sizeof *r->raw_top);
  if (!r->raw_top) return DK_ERR_NOMEM;
  /* Top-N by insertion: N is small (<= 64). */
  size_t n = 0;
  for (size_t i = 0; i < nv; i++) {
    float lp = (float)(logits[i] - lse);
    if (n == top && lp <= r->raw_top[n - 1].logprob) continue;
    size_t j = n < top ? n++ : n - 1;
    while (j > 0 && r->raw_top[j - 1].logprob < lp) {
      r->raw_top[j] = r->raw_top[j - 1];
      j--;
    }
    r->raw_top[j] = (dk_logprob_alt){(dk_token)i, lp};
  }
  for (size_t i = n; i < top; i++) r->raw_top[i] = (dk_logprob_alt){-1, -INFINITY};
  return DK_OK;
}

/* The chain's candidates sorted and softmaxed in a scratch copy, so the
 * decoder's buffer is never touched. */
static dk_candidates scratch_dist(dk_session *s, const dk_candidates *dist) {
  size_t n = dist->n;
  if (n > (size_t)s->run->info.n_vocab) n = (size_t)s->run->info.n_vocab;
  memcpy(s->lp_buf, dist->data, n * sizeof *s->lp_buf);
  dk_candidates c = {s->lp_buf, n, -1, 0};
  dk_cand_sort(&c);
  dk_cand_softmax(&c);
  return c;
}

/* One formula for every processed logprob the host reports: the chain's
 * softmax as dk_cand_softmax computes it, for one token, without the sort a
 * full distribution needs.  The sum runs in double, so its order does not
 * reach the float result; verifiers call this once per drafted token. */
float dk_processed_logprob(dk_session *s, const dk_candidates *dist, dk_token id) {
  size_t n = dist->n;
  if (n > (size_t)s->run->info.n_vocab) n = (size_t)s->run->info.n_vocab;
  const dk_token_data *d = dist->data;
  size_t at = n;
  float max = -INFINITY;
  for (size_t i = 0; i < n; i++) {
    if (d[i].id == id) at = i;
    if (d[i].logit > max) max = d[i].logit;
  }
  if (at == n) return -INFINITY;
  int flat = isinf(max) && max < 0;
  double sum = 0;
  for (size_t i = 0; i < n; i++) sum += flat ? 1.0f : expf(d[i].logit - max);
  float e = flat ? 1.0f : expf(d[at].logit - max);
  return logf((float)(e / sum));
}

/* Processed numbers from the chain's candidates. */
static int from_dist(dk_session *s, dk_token_record *r, const dk_candidates *dist) {
  size_t top = (size_t)s->logprobs;
  r->proc_lp = dk_processed_logprob(s, dist, r->id);
  r->has_proc = 1;
  if (!top) return DK_OK;
  dk_candidates c = scratch_dist(s, dist);
  r->proc_top = calloc(top, sizeof *r->proc_top);
  if (!r->proc_top) return DK_ERR_NOMEM;
  for (size_t i = 0; i < top; i++)
    r->proc_top[i] = i < c.n ? (dk_logprob_alt){c.data[i].id, logf(c.data[i].p)}
                             : (dk_logprob_alt){-1, -INFINITY};
  return DK_OK;
}

int dk_record_fill(dk_session *s, dk_token_record *r, dk_token id, const dk_token_logprob *lp,
                   dk_error *err) {
  dk_record_clear(r);
  r->id = id;
  if (!lp) return DK_OK;
  /* Read only the members the caller's struct has. */
  dk_token_logprob v = {sizeof v, NAN, NAN, NULL, NULL};
  size_t sz = lp->struct_size < sizeof v ? lp->struct_size : sizeof v;
  if (sz > sizeof(uint32_t)) memcpy((char *)&v + sizeof(uint32_t), (const char *)lp + sizeof(uint32_t), sz - sizeof(uint32_t));
  int rc = DK_OK;
  if (v.logits) {
    rc = from_row(s, r, v.logits);
  } else if (!isnan(v.raw)) {
    r->raw_lp = v.raw;
    r->has_raw = 1;
  }
  if (!rc && v.dist && v.dist->data) {
    rc = from_dist(s, r, v.dist);
  } else if (!rc && !isnan(v.processed)) {
    r->proc_lp = v.processed;
    r->has_proc = 1;
  }
  if (!rc) {
    r->n_top = (size_t)s->logprobs;
    return DK_OK;
  }
  dk_record_clear(r);
  return dk_error_set(err, DK_ERR_NOMEM, "out of memory for token logprobs");
}
