/* draft_model.c -- drafter: a small model of the same vocabulary proposes a chain, or a tree of `width` chains. */
/*
 * The draft model is the pipeline's `draft:` block.  The drafter keeps one
 * sequence of it per completion and reuses whatever prefix of its cache
 * still matches the committed text.  At the first drafted position it
 * takes `width` alternatives (the most likely ones, or draws without
 * replacement when `sample` is on); each continues as a chain, all chains
 * evaluated together in one batched call per depth.  A chain stops when
 * the draft's most likely next token is below p_min: the decision rests on
 * the draft's distribution, never on the value drawn, so rejection sampling
 * stays exact (METHODS.md 18.12).  With propose_dist every node carries the
 * exact row it was drawn from: the softmax at `temp` (renormalised without
 * its earlier siblings), or a point mass for tokens taken by rank.
 *
 * VocabTrim (METHODS.md 6): with `vocab_trim` the draft only ever sees the
 * listed tokens.  A draft model that can compute a subset of its output
 * rows (DK_MODEL_CAP_HEAD) computes only those; otherwise the full row is
 * computed and the other tokens are set to -inf, which gives the same q.
 * Verification is unchanged and stays exact: q is 0 outside the list.
 */
#include "drafter_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define DM_MAX_WIDTH 16

static const dk_param_spec dm_params[] = {
    {"k", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "5", 1, 64, "Tokens per drafted chain."},
    {"width", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "1", 1, DM_MAX_WIDTH,
     "Alternatives at the first drafted position, each continued as its own chain (a tree; "
     "needs a draft model with fork and batched evaluation when above 1)."},
    {"p_min", DK_PARAM_DOUBLE, DK_PARAM_MIN | DK_PARAM_MAX, "0", 0, 1,
     "Adaptive length: a chain stops where the draft's most likely next token has a probability "
     "below p_min."},
    {"sample", DK_PARAM_BOOL, 0, "false", 0, 0,
     "false: take the draft's most likely tokens (reported as point masses). true: draw them from "
     "the draft's softmax at temp (alternatives without replacement), reported exactly, which "
     "raises acceptance under rejection sampling."},
    {"temp", DK_PARAM_DOUBLE, DK_PARAM_MIN, "1.0", 0.001, 0,
     "Temperature of the draft's softmax (used by sample and p_min)."},
    {"vocab_trim", DK_PARAM_PATH, 0, NULL, 0, 0,
     "VocabTrim: a file of token ids (decimal, separated by white space), the only tokens the draft "
     "proposes, e.g. the ids the target generates most on calibration prompts. The draft computes "
     "logits for these only when the draft model supports output-row subsets."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

typedef struct dmodel {
  const dk_host *h;
  dk_rng *rng;
  int32_t nv;
  size_t k, width;
  double p_min, temp;
  int sample;
  float *logits; /* width rows */
  float *prob;   /* width rows: each alternative's softmax */
  dk_token *trim; /* sorted vocab_trim ids, or NULL */
  size_t n_trim;
  uint8_t *kept;  /* nv flags: in trim */
  float *sub;     /* width * n_trim: logits of the trimmed ids */
  int head;       /* the draft model computes only the trimmed rows */
  /* per completion */
  const dk_model_ref *m;
  dk_seq seq;
  dk_token *cached; /* what seq holds */
  size_t n_cached, cap_cached;
} dmodel;

static int by_id(const void *a, const void *b) {
  dk_token x = *(const dk_token *)a, y = *(const dk_token *)b;
  return (x > y) - (x < y);
}

/* The trimmed vocabulary: ids from a file, sorted, without duplicates. */
static int load_trim(dmodel *d, const char *path, dk_error *err) {
  const dk_host *h = d->h;
  FILE *f = fopen(path, "r");
  if (!f) return h->set_error(err, DK_ERR_IO, "vocab_trim: cannot open '%s'", path);
  size_t cap = 0;
  long v;
  int rc = DK_OK, got;
  while (!rc && (got = fscanf(f, "%ld", &v)) == 1) {
    if (v < 0 || v >= d->nv) {
      rc = h->set_error(err, DK_ERR_INVALID, "vocab_trim: '%s' lists token %ld, outside 0..%d", path,
                        v, d->nv - 1);
    } else if (d->n_trim == cap) {
      cap = cap ? 2 * cap : 256;
      dk_token *t = realloc(d->trim, cap * sizeof *t);
      if (!t) rc = h->set_error(err, DK_ERR_NOMEM, "out of memory");
      else d->trim = t;
    }
    if (!rc) d->trim[d->n_trim++] = (dk_token)v;
  }
  if (!rc && !feof(f))
    rc = h->set_error(err, DK_ERR_FORMAT, "vocab_trim: '%s' holds something other than token ids", path);
  fclose(f);
  if (!rc && !d->n_trim) rc = h->set_error(err, DK_ERR_INVALID, "vocab_trim: '%s' lists no token", path);
  if (rc) return rc;
  qsort(d->trim, d->n_trim, sizeof *d->trim, by_id);
  size_t n = 0;
  for (size_t i = 0; i < d->n_trim; i++)
    if (!n || d->trim[i] != d->trim[n - 1]) d->trim[n++] = d->trim[i];
  d->n_trim = n;
  d->kept = calloc((size_t)d->nv, 1);
  d->sub = malloc(d->width * n * sizeof *d->sub);
  if (!d->kept || !d->sub) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  for (size_t i = 0; i < n; i++) d->kept[d->trim[i]] = 1;
  return DK_OK;
}

static void dm_free(dmodel *d) {
  free(d->logits), free(d->prob), free(d->cached), free(d->trim), free(d->kept), free(d->sub), free(d);
}

static int dm_create(const dk_host *h, const dk_create_info *ci, void **inst, dk_error *err) {
  dmodel *d = calloc(1, sizeof *d);
  if (!d) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  d->h = h;
  d->rng = ci->rng;
  d->nv = ci->vocab->n_vocab;
  d->k = (size_t)h->cfg_int(ci->config, "k");
  d->width = (size_t)h->cfg_int(ci->config, "width");
  d->p_min = h->cfg_double(ci->config, "p_min");
  d->sample = h->cfg_bool(ci->config, "sample");
  d->temp = h->cfg_double(ci->config, "temp");
  d->seq = -1;
  d->logits = malloc(d->width * (size_t)d->nv * sizeof *d->logits);
  d->prob = malloc(d->width * (size_t)d->nv * sizeof *d->prob);
  if (!d->logits || !d->prob) {
    dm_free(d);
    return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  }
  const char *trim = h->cfg_string(ci->config, "vocab_trim");
  int rc = trim ? load_trim(d, trim, err) : DK_OK;
  if (rc) {
    dm_free(d);
    return rc;
  }
  *inst = d;
  return DK_OK;
}

static void dm_destroy(void *inst) { dm_free(inst); }

static int dm_begin(void *inst, dk_session *s, dk_error *err) {
  dmodel *d = inst;
  const dk_host *h = d->h;
  d->m = h->session_draft_model(s);
  if (!d->m)
    return h->set_error(err, DK_ERR_INVALID,
                        "needs a draft model: add a `draft:` block to the pipeline (for example "
                        "draft: { plugin: llama, path: draft.gguf })");
  uint32_t caps = d->m->info->caps;
  if (!(caps & DK_MODEL_CAP_TRUNCATE))
    return h->set_error(err, DK_ERR_UNSUPPORTED, "the draft model cannot truncate its cache");
  if (d->width > 1 && (!(caps & DK_MODEL_CAP_FORK) || !(caps & DK_MODEL_CAP_BATCH)))
    return h->set_error(err, DK_ERR_UNSUPPORTED,
                        "width %zu needs a draft model with fork and batched evaluation", d->width);
  d->head = d->trim && (caps & DK_MODEL_CAP_RAGGED) && (caps & DK_MODEL_CAP_HEAD) &&
            d->m->iface->eval_ragged;
  d->n_cached = 0;
  return d->m->iface->seq_new(d->m->inst, &d->seq, err);
}

static void dm_end(void *inst, dk_session *s) {
  dmodel *d = inst;
  (void)s;
  if (d->m && d->seq >= 0) d->m->iface->seq_free(d->m->inst, d->seq);
  d->seq = -1;
  d->m = NULL;
}

/* softmax(row / temp) in float, the exact row drafts are drawn from; returns
 * the largest probability. */
static float softmax(const dmodel *d, const float *row, float *p) {
  float max = -INFINITY;
  for (int32_t v = 0; v < d->nv; v++)
    if (row[v] > max) max = row[v];
  double z = 0;
  for (int32_t v = 0; v < d->nv; v++) z += exp(((double)row[v] - max) / d->temp);
  float best = 0;
  for (int32_t v = 0; v < d->nv; v++) {
    p[v] = (float)(exp(((double)row[v] - max) / d->temp) / z);
    if (p[v] > best) best = p[v];
  }
  return best;
}

/* Whether drafting needs the draft's probabilities: draws, the p_min
 * stop and the support of several alternatives do; a greedy chain needs
 * only the top logit, which saves a softmax over the vocabulary per token. */
static int needs_probs(const dmodel *d) { return d->sample || d->p_min > 0 || d->width > 1; }

/* The most likely token (lowest id on ties), from probabilities or logits. */
static dk_token argmax(const dmodel *d, const float *p) {
  dk_token best = 0;
  for (int32_t v = 1; v < d->nv; v++)
    if (p[v] > p[best]) best = v;
  return best;
}

static dk_token draw(const dmodel *d, const float *p) {
  double total = 0;
  for (int32_t v = 0; v < d->nv; v++) total += p[v];
  double u = d->h->rng_uniform(d->rng) * total, acc = 0;
  dk_token last = 0;
  for (int32_t v = 0; v < d->nv; v++) {
    if (p[v] <= 0) continue;
    acc += p[v];
    last = v;
    if (u < acc) return v;
  }
  return last;
}

/* Node i drew its token from p (or took it by rank: a point mass). */
static int put_q(const dmodel *d, dk_draft_dist *q, size_t i, dk_token tok, const float *p,
                 dk_error *err) {
  if (!q) return DK_OK;
  if (!d->sample) {
    dkd_point_mass(q, i, tok);
    return DK_OK;
  }
  if (q->k < (size_t)d->nv)
    return d->h->set_error(err, DK_ERR_RANGE, "sampled drafts need full rows (%d entries), got %zu",
                           d->nv, q->k);
  float *row = q->probs + i * q->k;
  memcpy(row, p, (size_t)d->nv * sizeof *row);
  for (size_t j = (size_t)d->nv; j < q->k; j++) row[j] = 0;
  if (q->ids)
    for (size_t j = 0; j < q->k; j++) q->ids[i * q->k + j] = j < (size_t)d->nv ? (dk_token)j : -1;
  return DK_OK;
}

/* Append toks to each of n sequences (n_tok[i] each; one each when n > 1)
 * and leave the logits after each in d->logits, trimmed ids only. */
static int draft_eval(dmodel *d, const dk_seq *seqs, const dk_token *toks, const size_t *n_tok,
                      size_t n, dk_error *err) {
  const struct dk_model_iface *mi = d->m->iface;
  size_t nv = (size_t)d->nv;
  int rc;
  if (d->head) {
    dk_batch b = {sizeof b, n, seqs, n_tok, toks, NULL, d->sub, NULL, d->trim, d->n_trim};
    rc = mi->eval_ragged(d->m->inst, &b, err);
    for (size_t r = 0; !rc && r < n; r++) {
      float *row = d->logits + r * nv;
      for (size_t v = 0; v < nv; v++) row[v] = -INFINITY;
      for (size_t k = 0; k < d->n_trim; k++) row[d->trim[k]] = d->sub[r * d->n_trim + k];
    }
    return rc;
  }
  if (n == 1) rc = mi->eval(d->m->inst, seqs[0], toks, n_tok[0], d->logits, 0, err);
  else rc = mi->eval_batch(d->m->inst, seqs, toks, n, d->logits, err);
  for (size_t r = 0; !rc && d->kept && r < n; r++)
    for (size_t v = 0; v < nv; v++)
      if (!d->kept[v]) d->logits[r * nv + v] = -INFINITY;
  return rc;
}

/* Bring the draft's sequence to ctx, reusing the matching prefix; leaves
 * the logits after ctx in row 0. */
static int sync(dmodel *d, const dk_token *ctx, size_t n_ctx, dk_error *err) {
  const struct dk_model_iface *mi = d->m->iface;
  size_t common = 0;
  while (common < d->n_cached && common + 1 < n_ctx && d->cached[common] == ctx[common]) common++;
  if (mi->seq_len(d->m->inst, d->seq) > common) {
    int rc = mi->truncate(d->m->inst, d->seq, common, err);
    if (rc) return rc;
  }
  if (n_ctx > d->cap_cached) {
    size_t nc = d->cap_cached ? d->cap_cached : 256;
    while (nc < n_ctx + d->k + 1) nc *= 2;
    dk_token *t = realloc(d->cached, nc * sizeof *t);
    if (!t) return d->h->set_error(err, DK_ERR_NOMEM, "out of memory");
    d->cached = t;
    d->cap_cached = nc;
  }
  size_t n_new = n_ctx - common;
  int rc = draft_eval(d, &d->seq, ctx + common, &n_new, 1, err);
  if (rc) return rc;
  memcpy(d->cached, ctx, n_ctx * sizeof *ctx);
  d->n_cached = n_ctx;
  return DK_OK;
}

static int cached_push(dmodel *d, dk_token t, dk_error *err) {
  if (d->n_cached == d->cap_cached) {
    dk_token *n = realloc(d->cached, 2 * d->cap_cached * sizeof *n);
    if (!n) return d->h->set_error(err, DK_ERR_NOMEM, "out of memory");
    d->cached = n;
    d->cap_cached *= 2;
  }
  d->cached[d->n_cached++] = t;
  return DK_OK;
}

static int dm_propose_dist(void *inst, dk_session *s, const dk_token *ctx, size_t n_ctx,
                           dk_draft *out, dk_draft_dist *q, dk_error *err) {
  dmodel *d = inst;
  const struct dk_model_iface *mi = d->m ? d->m->iface : NULL;
  (void)s;
  out->n = 0;
  if (!mi) return d->h->set_error(err, DK_ERR_STATE, "propose before begin");
  /* The draft's context may be shorter than the target's. */
  size_t room = d->m->info->n_ctx > 0 ? (size_t)d->m->info->n_ctx : (size_t)-1;
  if (n_ctx + 1 > room) return DK_OK;
  size_t k = d->k < room - n_ctx ? d->k : room - n_ctx;
  int rc = sync(d, ctx, n_ctx, err);
  if (rc) return rc;

  /* The alternatives at the first position. */
  size_t nv = (size_t)d->nv;
  float *p0 = d->prob;
  int probs = needs_probs(d);
  if (probs && softmax(d, d->logits, p0) < d->p_min) return DK_OK;
  size_t support = 0;
  for (size_t v = 0; probs && v < nv; v++) support += p0[v] > 0;
  size_t w = !probs ? 1 : d->width < support ? d->width : support; /* decided before any draw */
  dk_token tok[DM_MAX_WIDTH];
  int32_t last[DM_MAX_WIDTH];
  dk_seq seqs[DM_MAX_WIDTH];
  size_t alive = 0;
  for (size_t j = 0; j < w && out->n < out->cap; j++) {
    /* Row j is the root distribution without the earlier alternatives. */
    float *pj = d->prob + j * nv;
    if (j) {
      memcpy(pj, pj - nv, nv * sizeof *pj);
      pj[tok[j - 1]] = 0;
      double z = 0;
      for (size_t v = 0; v < nv; v++) z += pj[v];
      for (size_t v = 0; v < nv; v++) pj[v] = (float)(pj[v] / z);
    }
    tok[j] = d->sample ? draw(d, pj) : argmax(d, probs ? pj : d->logits);
    rc = put_q(d, q, out->n, tok[j], pj, err);
    if (rc) return rc;
    last[j] = (int32_t)out->n;
    dkd_push(out, tok[j], -1);
    alive++;
  }

  /* The chains, all alternatives one depth per batched call.  Alternative
   * 0 extends the drafter's own sequence; the others run on forks. */
  size_t n_seqs = 1;
  seqs[0] = d->seq;
  for (size_t j = 1; j < alive && !rc; j++) {
    rc = mi->fork(d->m->inst, d->seq, &seqs[j], err);
    if (!rc) n_seqs++;
  }
  size_t live[DM_MAX_WIDTH], n_live = alive;
  for (size_t j = 0; j < alive; j++) live[j] = j;
  for (size_t depth = 1; depth < k && n_live && !rc && out->n < out->cap; depth++) {
    dk_seq bs[DM_MAX_WIDTH];
    dk_token bt[DM_MAX_WIDTH];
    size_t ones[DM_MAX_WIDTH];
    for (size_t i = 0; i < n_live; i++) bs[i] = seqs[live[i]], bt[i] = tok[live[i]], ones[i] = 1;
    rc = draft_eval(d, bs, bt, ones, n_live, err);
    if (!rc && live[0] == 0) rc = cached_push(d, bt[0], err);
    size_t still = 0;
    for (size_t i = 0; i < n_live && !rc && out->n < out->cap; i++) {
      size_t j = live[i];
      float *pj = d->prob + j * nv;
      if (probs && softmax(d, d->logits + i * nv, pj) < d->p_min) continue;
      tok[j] = d->sample ? draw(d, pj) : argmax(d, probs ? pj : d->logits + i * nv);
      rc = put_q(d, q, out->n, tok[j], pj, err);
      if (rc) break;
      int32_t parent = last[j];
      last[j] = (int32_t)out->n;
      dkd_push(out, tok[j], parent);
      live[still++] = j;
    }
    n_live = still;
  }
  for (size_t j = 1; j < n_seqs; j++) mi->seq_free(d->m->inst, seqs[j]);
  if (rc) out->n = 0;
  return rc;
}

static int dm_propose(void *inst, dk_session *s, const dk_token *ctx, size_t n_ctx, dk_draft *out,
                      dk_error *err) {
  return dm_propose_dist(inst, s, ctx, n_ctx, out, NULL, err);
}

static const struct dk_drafter_iface dm_iface = {
    .hdr = {.struct_size = sizeof(struct dk_drafter_iface),
            .kind = DK_KIND_DRAFTER,
            .name = "draft_model",
            .version = "1.0.0",
            .summary = "draft with the pipeline's draft model: a chain, or a tree of chains",
            .params = dm_params,
            .param_stride = sizeof(dk_param_spec),
            .caps = DK_CAP_DRAFTER_NEEDS_DRAFT_MODEL},
    .create = dm_create,
    .destroy = dm_destroy,
    .propose = dm_propose,
    .begin = dm_begin,
    .end = dm_end,
    .propose_dist = dm_propose_dist,
};

static const dk_iface_header *const components[] = {&dm_iface.hdr};

static const dk_plugin_desc desc = {
    DK_PLUGIN_DESC_HEAD, "draft_model", "1.0.0", components, 1, NULL, NULL,
};

DK_PLUGIN_ENTRY(draft_model) { return &desc; }
