/* dllm.c -- the masked-diffusion engine the dLLM decoders share (see dllm.h). */
#include "dllm.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One forward's logits may take this many bytes: past it a canvas is
 * refused up front instead of failing (or thrashing) in an allocation. */
#define DLLM_MAX_LOGITS 4294967296.0

static int pick(const char *v, const char *const *names, int n) {
  for (int i = 0; i < n; i++)
    if (strcmp(v, names[i]) == 0) return i;
  return -1;
}

int dllm_init(dllm *d, const dk_host *h, const dk_create_info *ci, int steps, dk_error *err) {
  static const char *const orders[] = {"confidence", "margin", "entropy", "random"};
  static const char *const schedules[] = {"linear", "eps"};
  static const char *const caches[] = {"none", "prefix", "dual"};
  memset(d, 0, sizeof *d);
  d->h = h;
  /* commit_ex, session_sample_ex and session_limits came with ABI 1.1. */
  if (!DK_HAS(h, dk_host, session_limits))
    return h->set_error(err, DK_ERR_ABI, "needs a host of plugin ABI 1.1 or later");
  if (!ci->vocab || ci->vocab->n_vocab <= 0)
    return h->set_error(err, DK_ERR_INVALID, "needs the model's vocabulary");
  d->nv = ci->vocab->n_vocab;
  const dk_config *c = ci->config;
  dllm_opts *o = &d->o;
  o->gen_length = (size_t)h->cfg_int(c, "gen_length");
  o->block_length = (size_t)h->cfg_int(c, "block_length");
  o->cfg = h->cfg_double(c, "cfg_scale");
  d->longest_block = o->block_length;
  const char *v = h->cfg_string(c, "order");
  if ((o->order = pick(v, orders, 4)) < 0)
    return h->set_error(err, DK_ERR_INVALID, "order: '%s' is not confidence, margin, entropy or random", v);
  v = h->cfg_string(c, "cache");
  if ((o->cache = pick(v, caches, 3)) < 0)
    return h->set_error(err, DK_ERR_INVALID, "cache: '%s' is not none, prefix or dual", v);
  if (steps < 0) {
    /* One position per step (the static decoding draft-and-verify
     * methods reproduce): whole blocks, a step each position. */
    o->steps = o->gen_length;
    if (o->gen_length % o->block_length)
      return h->set_error(err, DK_ERR_INVALID, "block_length: %zu does not divide gen_length %zu",
                          o->block_length, o->gen_length);
    return DK_OK;
  }
  if (!steps) {
    /* Blocks of varying length, each unmasked by the threshold. */
    o->use_threshold = 1;
    o->threshold = h->cfg_double(c, "threshold");
    o->steps = o->gen_length;
    return DK_OK;
  }
  o->steps = (size_t)h->cfg_int(c, "steps");
  o->eps = h->cfg_double(c, "eps");
  o->use_threshold = h->cfg_is_set(c, "threshold");
  o->threshold = o->use_threshold ? h->cfg_double(c, "threshold") : 0;
  v = h->cfg_string(c, "schedule");
  if ((o->schedule = pick(v, schedules, 2)) < 0)
    return h->set_error(err, DK_ERR_INVALID, "schedule: '%s' is not linear or eps", v);
  if (o->gen_length % o->block_length)
    return h->set_error(err, DK_ERR_INVALID, "block_length: %zu does not divide gen_length %zu",
                        o->block_length, o->gen_length);
  size_t blocks = o->gen_length / o->block_length;
  if (!o->use_threshold && (o->steps < blocks || o->steps % blocks))
    return h->set_error(err, DK_ERR_INVALID,
                        "steps: %zu is not a multiple of the %zu blocks (gen_length / block_length)",
                        o->steps, blocks);
  if (o->schedule == DLLM_EPS && o->eps <= 0)
    return h->set_error(err, DK_ERR_INVALID, "eps: must be above 0 for the eps schedule");
  return DK_OK;
}

void dllm_end(dllm *d) {
  if (d->has_useq) d->m->iface->seq_free(d->m->inst, d->useq);
  d->has_useq = 0;
  free(d->xu);
  free(d->ulogits);
  d->xu = NULL;
  d->ulogits = NULL;
  free(d->x);
  free(d->raw);
  free(d->processed);
  free(d->extra);
  free(d->logits);
  free(d->rows);
  free(d->stat);
  d->x = NULL;
  d->raw = NULL;
  d->processed = NULL;
  d->extra = NULL;
  d->logits = NULL;
  d->rows = NULL;
  d->stat = NULL;
  d->m = NULL;
}

int dllm_begin(dllm *d, dk_session *s, size_t max_rows, dk_error *err) {
  const dk_host *h = d->h;
  dllm_end(d);
  d->s = s;
  d->m = h->session_model(s);
  const dk_model_info *mi = d->m->info;
  /* The GGUF keys are named because that is where a user can fix the file. */
  if (!DK_HAS(mi, dk_model_info, logit_shift) || mi->attention == DK_ATTN_CAUSAL)
    return h->set_error(err, DK_ERR_UNSUPPORTED,
                        "model '%s' is causal: masked diffusion needs a bidirectional model (in GGUF: "
                        "architecture llada or dream, or <arch>.attention.causal = false)",
                        mi->arch ? mi->arch : "?");
  if (mi->mask < 0)
    return h->set_error(err, DK_ERR_UNSUPPORTED,
                        "model '%s' has no mask token (in GGUF: tokenizer.ggml.mask_token_id): not a "
                        "diffusion LM",
                        mi->arch ? mi->arch : "?");
  d->mask = mi->mask;
  d->lead = mi->logit_shift ? 1 : 0;
  d->use_seq = (mi->caps & DK_MODEL_CAP_MASKED_SEQ) && d->m->iface->eval_masked_seq;
  if (!d->use_seq && !((mi->caps & DK_MODEL_CAP_MASKED) && d->m->iface->eval_masked))
    return h->set_error(err, DK_ERR_UNSUPPORTED, "model '%s' has no masked evaluation", mi->arch);
  if (d->o.cache != DLLM_CACHE_NONE && !d->use_seq)
    return h->set_error(err, DK_ERR_UNSUPPORTED,
                        "cache: %s needs a model with eval_masked_seq; use cache: none",
                        d->o.cache == DLLM_CACHE_PREFIX ? "prefix" : "dual");
  if (d->o.cache == DLLM_CACHE_DUAL && !(mi->caps & DK_MODEL_CAP_DUAL_CACHE))
    return h->set_error(err, DK_ERR_UNSUPPORTED, "cache: dual needs a model with the dual cache");
  if (h->session_constraint(s))
    return h->set_error(err, DK_ERR_UNSUPPORTED,
                        "a constraint cannot follow a canvas that is not filled left to right");
  size_t n_tok;
  const dk_token *t = h->session_tokens(s, &n_tok, &d->n_prompt);
  d->seq = h->session_seq(s);
  if (d->use_seq && d->m->iface->seq_len(d->m->inst, d->seq) != 0)
    return h->set_error(err, DK_ERR_STATE, "the host prefilled the prompt (decoder lacks no-prefill)");
  /* A block's steps may commit nothing until its last one; the host ends a
   * completion after 4 * (max_tokens + 64) such steps in a row. */
  dk_limits lim = {.struct_size = sizeof lim};
  int rc = h->session_limits(s, &lim);
  if (rc) return rc;
  size_t blocks = d->o.gen_length / d->o.block_length, idle_max = 4 * ((size_t)lim.max_tokens_left + 64);
  size_t per_block = d->o.use_threshold || !blocks ? d->longest_block : d->o.steps / blocks;
  if (per_block > idle_max + 1)
    return h->set_error(err, DK_ERR_INVALID,
                        "%s: up to %zu steps of a block may pass before it commits a token, more "
                        "than the %zu the host allows with max_tokens %lld; shorten the blocks or "
                        "raise max_tokens",
                        d->o.use_threshold ? "block_length" : "steps", per_block - 1, idle_max,
                        (long long)lim.max_tokens_left);
  size_t gen = d->o.gen_length;
  if (mi->n_ctx > 0 && (gen > (size_t)mi->n_ctx || d->n_prompt > (size_t)mi->n_ctx - gen))
    return h->set_error(err, DK_ERR_RANGE,
                        "gen_length: %zu positions after a prompt of %zu do not fit the model's "
                        "context of %d",
                        gen, d->n_prompt, mi->n_ctx);
  if (gen > SIZE_MAX / sizeof(float) - d->n_prompt)
    return h->set_error(err, DK_ERR_RANGE, "gen_length: %zu is too long", gen);
  d->n_total = d->n_prompt + gen;
  if (!max_rows) max_rows = d->o.block_length;
  d->max_rows = max_rows;
  /* Without eval_masked_seq every call returns a row per position. */
  size_t out_rows = d->use_seq ? max_rows : d->n_total;
  if ((double)out_rows * (double)d->nv * sizeof(float) > DLLM_MAX_LOGITS)
    return h->set_error(err, DK_ERR_RANGE,
                        "gen_length: logits for %zu positions of %d tokens would take %.1f GiB, "
                        "over the %.0f GiB one forward may use%s",
                        out_rows, d->nv, (double)out_rows * (double)d->nv * sizeof(float) / 1073741824.0,
                        DLLM_MAX_LOGITS / 1073741824.0,
                        d->use_seq ? "" : ": the model has no eval_masked_seq to return a block's rows");
  d->x = malloc(d->n_total * sizeof *d->x);
  d->raw = malloc(d->n_total * sizeof *d->raw);
  d->processed = malloc(d->n_total * sizeof *d->processed);
  d->extra = malloc(d->n_total * sizeof *d->extra);
  d->logits = malloc(out_rows * (size_t)d->nv * sizeof *d->logits);
  d->rows = malloc(max_rows * sizeof *d->rows);
  d->stat = malloc(max_rows * sizeof *d->stat);
  if (!d->x || !d->raw || !d->processed || !d->extra || !d->logits || !d->rows || !d->stat) {
    dllm_end(d);
    return h->set_error(err, DK_ERR_NOMEM,
                        "gen_length: no memory for logits of %zu positions of %d tokens", out_rows,
                        d->nv);
  }
  memcpy(d->x, t, d->n_prompt * sizeof *d->x);
  for (size_t i = d->n_prompt; i < d->n_total; i++) d->x[i] = d->mask;
  if (d->o.cfg > 0) {
    /* The unconditional canvas: the prompt masked, in a sequence of its own. */
    d->xu = malloc(d->n_total * sizeof *d->xu);
    d->ulogits = malloc(out_rows * (size_t)d->nv * sizeof *d->ulogits);
    if (!d->xu || !d->ulogits) {
      dllm_end(d);
      return h->set_error(err, DK_ERR_NOMEM, "cfg_scale: no memory for the unconditional logits");
    }
    for (size_t i = 0; i < d->n_total; i++) d->xu[i] = d->mask;
    if (d->use_seq) {
      rc = d->m->iface->seq_new(d->m->inst, &d->useq, err);
      if (rc) {
        dllm_end(d);
        return rc;
      }
      d->has_useq = 1;
    }
  }
  d->cached = 0;
  d->stored = 0;
  d->b0 = d->b1 = d->committed = d->n_prompt;
  d->end = 0;
  d->global_step = 0;
  d->n_stat = 0;
  return DK_OK;
}

size_t dllm_masks(const dllm *d, size_t lo, size_t hi) {
  size_t n = 0;
  for (size_t i = lo; i < hi; i++) n += d->x[i] == d->mask;
  return n;
}

int dllm_next_block(dllm *d) {
  if (d->b1 >= d->n_total) return 0;
  d->b0 = d->b1;
  d->b1 = d->b0 + d->o.block_length;
  if (d->b1 > d->n_total) d->b1 = d->n_total;
  size_t blocks = d->o.gen_length / d->o.block_length;
  d->steps_b = blocks ? d->o.steps / blocks : d->o.steps; /* a schedule has whole blocks */
  d->step_in_block = 0;
  d->block_masks = dllm_masks(d, d->b0, d->b1);
  d->stored = 0;
  return 1;
}

size_t dllm_schedule(const dllm *d) {
  size_t left = dllm_masks(d, d->b0, d->b1), s = d->step_in_block, n = d->steps_b;
  if (s + 1 >= n) return left; /* the block's last step finishes it */
  size_t k;
  if (d->o.schedule == DLLM_LINEAR) {
    k = d->block_masks / n + (s < d->block_masks % n);
  } else {
    double t = 1 + (d->o.eps - 1) * (double)s / (double)n;
    double u = 1 + (d->o.eps - 1) * (double)(s + 1) / (double)n;
    k = (size_t)((double)left * (1 - u / t));
  }
  return k < left ? k : left;
}

/* The row's statistics, then its token from the pipeline's sampler chain
 * (greedy, lowest id on ties, when the pipeline has none).  The chain sees
 * the committed text and the block's tokens decided left of the row; the
 * mask id is never a candidate. */
static int row_stats(dllm *d, float *z, dllm_row *r, size_t n_extra, dk_error *err) {
  int32_t nv = d->nv;
  dk_token best = -1, second = -1;
  float zmax = -INFINITY;
  for (int32_t v = 0; v < nv; v++) {
    if (z[v] > zmax) zmax = z[v];
    if (v == d->mask) continue;
    if (best < 0 || z[v] > z[best]) {
      second = best;
      best = v;
    } else if (second < 0 || z[v] > z[second]) {
      second = v;
    }
  }
  double sum = 0, ez = 0;
  for (int32_t v = 0; v < nv; v++) {
    double e = exp((double)z[v] - zmax);
    sum += e;
    ez += e * ((double)z[v] - zmax);
  }
  double lse = zmax + log(sum);
  r->z1 = z[best];
  r->z2 = second >= 0 ? z[second] : -INFINITY;
  r->p1 = (float)exp(z[best] - lse);
  r->p2 = second >= 0 ? (float)exp(z[second] - lse) : 0.0f;
  /* -H = sum p log p = E[z] - lse. */
  r->neg_ent = (float)(ez / sum + zmax - lse);
  z[d->mask] = -INFINITY;
  dk_token_logprob lp = {.struct_size = sizeof lp};
  int rc = d->h->session_sample_ex(d->s, NULL, z, d->extra, n_extra, &r->x0, &lp, err);
  if (rc) return rc;
  if (r->x0 < 0 || r->x0 >= nv || r->x0 == d->mask)
    return d->h->set_error(err, DK_ERR_INTERNAL, "the sampler chain chose token %d", r->x0);
  r->raw = (float)(z[r->x0] - lse);
  r->conf = (float)exp(z[r->x0] - lse);
  r->processed = lp.processed;
  switch (d->o.order) {
  case DLLM_CONFIDENCE: r->score = r->conf; break;
  case DLLM_MARGIN: r->score = (double)r->p1 - r->p2; break;
  case DLLM_ENTROPY: r->score = r->neg_ent; break;
  default: r->score = d->h->rng_uniform(d->h->session_rng(d->s)); break;
  }
  return DK_OK;
}

int dllm_stats(dllm *d, const dk_token *x, float *logits, dllm_row *stat, size_t n, int stride_rows,
               dk_error *err) {
  size_t n_extra = 0, at = d->committed;
  for (size_t i = 0; i < n; i++) {
    for (; at < stat[i].pos; at++)
      if (x[at] != d->mask) d->extra[n_extra++] = x[at];
    size_t row = stride_rows ? stat[i].pos - d->lead : i;
    int rc = row_stats(d, logits + row * (size_t)d->nv, &stat[i], n_extra, err);
    if (rc) return rc;
  }
  return DK_OK;
}

/* Statistics of every row of the last forward (rows in position order). */
static int all_stats(dllm *d, int stride_rows, dk_error *err) {
  return dllm_stats(d, d->x, d->logits, d->stat, d->n_stat, stride_rows, err);
}

/* With guidance, mix the unconditional rows into the conditional ones. */
static void guide(dllm *d, size_t n_rows) {
  float w = (float)(d->o.cfg + 1);
  size_t n = n_rows * (size_t)d->nv;
  for (size_t i = 0; i < n; i++) d->logits[i] = d->ulogits[i] + w * (d->logits[i] - d->ulogits[i]);
}

int dllm_forward(dllm *d, size_t lo, size_t hi, dk_error *err) {
  const dk_host *h = d->h;
  const struct dk_model_iface *mi = d->m->iface;
  size_t n = 0;
  for (size_t p = lo; p < hi; p++)
    if (d->x[p] == d->mask) {
      if (n == d->max_rows) return h->set_error(err, DK_ERR_INTERNAL, "more masked rows than room");
      d->stat[n++].pos = p;
    }
  d->n_stat = n;
  int rc;
  size_t end = d->end ? d->end : d->n_total;
  if (!d->use_seq) {
    rc = mi->eval_masked(d->m->inst, d->x, end, d->logits, err);
    if (!rc && d->xu) {
      rc = mi->eval_masked(d->m->inst, d->xu, end, d->ulogits, err);
      if (!rc) guide(d, end);
    }
    return rc ? rc : all_stats(d, 1, err);
  }
  /* Everything left of the block's first output row can join the cache:
   * with a logit shift that row is the position before the block. */
  size_t base = d->cached, target = d->b0 - d->lead;
  dk_masked_eval me = {.struct_size = sizeof me, .seq = d->seq, .tokens = d->x + base,
                       .n = end - base, .attention = DK_ATTN_BIDIRECTIONAL,
                       .rows = d->rows, .n_rows = n, .logits = d->logits};
  if (d->o.cache != DLLM_CACHE_NONE && target > base) me.n_commit = target - base;
  for (size_t i = 0; i < n; i++) d->rows[i] = (int32_t)(d->stat[i].pos - d->lead - base);
  if (d->o.cache == DLLM_CACHE_DUAL && !me.n_commit) {
    /* Models drop a stored canvas when rows join the prefix, so the store
     * comes on the first call of a block that commits nothing. */
    if (d->stored) {
      me.flags = DK_MASKED_REUSE;
      me.active_begin = lo - d->lead - base;
      me.active_end = (hi < end ? hi : end) - base;
    } else {
      me.flags = DK_MASKED_STORE;
    }
  }
  rc = mi->eval_masked_seq(d->m->inst, &me, err);
  if (rc) return rc;
  if (d->has_useq) {
    /* The same call on the unconditional sequence keeps its cache in step;
     * should it fail, the conditional one has moved on, so the completion
     * ends with the error. */
    me.seq = d->useq;
    me.tokens = d->xu + base;
    me.logits = d->ulogits;
    rc = mi->eval_masked_seq(d->m->inst, &me, err);
    if (rc) return rc;
    guide(d, n);
  }
  if (me.flags & DK_MASKED_STORE) d->stored = 1;
  if (me.n_commit) d->stored = 0;
  d->cached += me.n_commit;
  return all_stats(d, 0, err);
}

int dllm_can_batch(const dllm *d) {
  return d->use_seq && (d->m->info->caps & DK_MODEL_CAP_MASKED_BATCH) && d->m->iface->eval_masked_batch;
}

int dllm_eval_canvases(dllm *d, const dk_token *canv, size_t k, size_t lo, size_t hi, float *out,
                       size_t *n_rows, dk_error *err) {
  const dk_host *h = d->h;
  const struct dk_model_iface *mi = d->m->iface;
  size_t n = 0, nv = (size_t)d->nv;
  for (size_t p = lo; p < hi; p++)
    if (d->x[p] == d->mask) {
      if (n == d->max_rows) return h->set_error(err, DK_ERR_INTERNAL, "more masked rows than room");
      d->rows[n++] = (int32_t)p;
    }
  *n_rows = n;
  if (!d->use_seq) {
    /* The stateless call returns every position: one canvas at a time. */
    for (size_t c = 0; c < k; c++) {
      int rc = mi->eval_masked(d->m->inst, canv + c * d->n_total, d->n_total, d->logits, err);
      if (rc) return rc;
      for (size_t i = 0; i < n; i++)
        memcpy(out + (c * n + i) * nv, d->logits + ((size_t)d->rows[i] - d->lead) * nv, nv * sizeof *out);
    }
    return DK_OK;
  }
  size_t base = d->cached, len = d->n_total - base;
  for (size_t i = 0; i < n; i++) d->rows[i] = (int32_t)((size_t)d->rows[i] - d->lead - base);
  int reuse = d->o.cache == DLLM_CACHE_DUAL && d->stored;
  size_t ab = reuse ? lo - d->lead - base : 0, ae = reuse ? hi - base : 0;
  if (k == 1 && !dllm_can_batch(d)) {
    dk_masked_eval me = {.struct_size = sizeof me, .seq = d->seq, .tokens = canv + base, .n = len,
                         .attention = DK_ATTN_BIDIRECTIONAL, .flags = reuse ? DK_MASKED_REUSE : 0,
                         .active_begin = ab, .active_end = ae, .rows = d->rows, .n_rows = n,
                         .logits = out};
    return mi->eval_masked_seq(d->m->inst, &me, err);
  }
  if (!dllm_can_batch(d))
    return h->set_error(err, DK_ERR_UNSUPPORTED, "model '%s' has no batched masked evaluation",
                        d->m->info->arch ? d->m->info->arch : "?");
  dk_token *packed = malloc(k * len * sizeof *packed);
  if (!packed) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  for (size_t c = 0; c < k; c++) memcpy(packed + c * len, canv + c * d->n_total + base, len * sizeof *packed);
  dk_masked_batch mb = {.struct_size = sizeof mb, .seq = d->seq, .tokens = packed, .n = len, .n_canvas = k,
                        .attention = DK_ATTN_BIDIRECTIONAL, .flags = reuse ? DK_MASKED_REUSE : 0,
                        .active_begin = ab, .active_end = ae, .rows = d->rows, .n_rows = n, .logits = out};
  int rc = mi->eval_masked_batch(d->m->inst, &mb, err);
  free(packed);
  return rc;
}

void dllm_fill(dllm *d, const dllm_row *r) {
  d->x[r->pos] = r->x0;
  if (d->xu) d->xu[r->pos] = r->x0;
  d->raw[r->pos] = r->raw;
  d->processed[r->pos] = r->processed;
}

/* Larger score first; ties to the lower position (rows are in position order). */
static int before(const dllm_row *a, const dllm_row *b) {
  return a->score > b->score || (a->score == b->score && a->pos < b->pos);
}

static int rank_cmp(const void *a, const void *b) {
  const dllm_row *x = a, *y = b;
  return before(x, y) ? -1 : before(y, x) ? 1 : 0;
}

void dllm_rank(dllm *d) { qsort(d->stat, d->n_stat, sizeof *d->stat, rank_cmp); }

size_t dllm_unmask(dllm *d, size_t k) {
  size_t done = 0;
  dllm_row *best = NULL;
  for (size_t i = 0; i < d->n_stat; i++) {
    dllm_row *r = &d->stat[i];
    if (r->pos < d->b0 || r->pos >= d->b1) continue;
    if (!best || before(r, best)) best = r;
    if (d->o.use_threshold && r->conf >= d->o.threshold) {
      dllm_fill(d, r);
      done++;
    }
  }
  if (d->o.use_threshold) {
    if (best && d->x[best->pos] == d->mask) {
      dllm_fill(d, best);
      done++;
    }
    return done;
  }
  /* k rounds of "best remaining": k is a block's worth at most. */
  for (; done < k; done++) {
    best = NULL;
    for (size_t i = 0; i < d->n_stat; i++) {
      dllm_row *r = &d->stat[i];
      if (r->pos < d->b0 || r->pos >= d->b1 || d->x[r->pos] != d->mask) continue;
      if (!best || before(r, best)) best = r;
    }
    if (!best) break;
    dllm_fill(d, best);
  }
  return done;
}

void dllm_set_end(dllm *d, size_t end) {
  if (end != d->end) d->stored = 0;
  d->end = end;
}

int dllm_commit(dllm *d, size_t upto, dk_error *err) {
  if (upto <= d->committed) return DK_OK;
  size_t n = upto - d->committed;
  dk_token_logprob *lp = malloc(n * sizeof *lp);
  if (!lp) return d->h->set_error(err, DK_ERR_NOMEM, "out of memory");
  for (size_t i = 0; i < n; i++)
    lp[i] = (dk_token_logprob){.struct_size = sizeof *lp, .raw = d->raw[d->committed + i],
                               .processed = d->processed[d->committed + i]};
  int rc = d->h->commit_ex(d->s, NULL, d->x + d->committed, n, lp, err);
  free(lp);
  if (rc >= 0) d->committed = upto;
  return rc;
}

size_t dllm_plan(dllm *d) {
  if (d->o.use_threshold) return 1;
  size_t k;
  while ((k = dllm_schedule(d)) == 0) {
    d->step_in_block++;
    d->global_step++;
  }
  return k;
}

int dllm_advance(dllm *d, dk_error *err) {
  d->step_in_block++;
  d->global_step++;
  /* What is decided from the block's left end on can be streamed now (and
   * an EOS there ends the completion without the rest of the block). */
  size_t upto = d->committed;
  while (upto < d->b1 && d->x[upto] != d->mask) upto++;
  int rc = dllm_commit(d, upto, err);
  if (rc || upto < d->b1) return rc;
  return dllm_next_block(d) ? DK_OK : DK_DONE;
}
