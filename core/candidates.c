/* candidates.c -- candidate-list helpers: one ordering rule (logit desc, id asc) for every plugin. */
#include "candidates.h"

#include <math.h>
#include <stdlib.h>

/* a ranks before b */
static int better(const dk_token_data *a, const dk_token_data *b) {
  if (a->logit != b->logit) return a->logit > b->logit;
  return a->id < b->id;
}

static int cmp_desc(const void *pa, const void *pb) {
  const dk_token_data *a = pa, *b = pb;
  if (better(a, b)) return -1;
  if (better(b, a)) return 1;
  return 0;
}

void dk_cand_sort(dk_candidates *cand) {
  if (cand->flags & DK_CAND_SORTED) return;
  qsort(cand->data, cand->n, sizeof *cand->data, cmp_desc);
  cand->flags |= DK_CAND_SORTED;
  cand->selected = -1;
}

/* Min-heap on "better": the root is the worst of the kept k. */
static void sift_down(dk_token_data *h, size_t n, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && better(&h[m], &h[l])) m = l;
    if (r < n && better(&h[m], &h[r])) m = r;
    if (m == i) return;
    dk_token_data t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
}

void dk_cand_top(dk_candidates *cand, size_t k) {
  if (k >= cand->n) {
    dk_cand_sort(cand);
    return;
  }
  if (cand->flags & DK_CAND_SORTED) {
    cand->n = k;
    return;
  }
  /* O(n log k): far cheaper than a full sort for k << n (top-k 40 of 32k). */
  dk_token_data *d = cand->data;
  for (size_t i = k / 2; i-- > 0;) sift_down(d, k, i);
  for (size_t i = k; i < cand->n; i++) {
    if (better(&d[i], &d[0])) {
      d[0] = d[i];
      sift_down(d, k, 0);
    }
  }
  cand->n = k;
  qsort(d, k, sizeof *d, cmp_desc);
  cand->flags = (cand->flags & ~DK_CAND_SOFTMAXED) | DK_CAND_SORTED;
  cand->selected = -1;
}

void dk_cand_softmax(dk_candidates *cand) {
  if (cand->flags & DK_CAND_SOFTMAXED) return;
  if (cand->n == 0) return;
  float max = -INFINITY;
  if (cand->flags & DK_CAND_SORTED)
    max = cand->data[0].logit;
  else
    for (size_t i = 0; i < cand->n; i++)
      if (cand->data[i].logit > max) max = cand->data[i].logit;
  double sum = 0;
  for (size_t i = 0; i < cand->n; i++) {
    float e = isinf(max) && max < 0 ? 1.0f : expf(cand->data[i].logit - max);
    cand->data[i].p = e;
    sum += e;
  }
  for (size_t i = 0; i < cand->n; i++) cand->data[i].p = (float)(cand->data[i].p / sum);
  cand->flags |= DK_CAND_SOFTMAXED;
}

void dk_cand_from_logits(dk_candidates *cand, const float *logits, size_t n) {
  for (size_t i = 0; i < n; i++) {
    cand->data[i].id = (dk_token)i;
    cand->data[i].logit = logits[i];
    cand->data[i].p = 0;
  }
  cand->n = n;
  cand->selected = -1;
  cand->flags = 0;
}
