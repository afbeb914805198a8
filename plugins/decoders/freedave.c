/* freedave.c -- FreeDave: draft the next static decoding states, verify them in one batched call, keep the longest agreeing chain. */
#include <decokit/plugin.h>

#include <stdlib.h>
#include <string.h>

#include "dllm.h"
#include "freedave_chain.h"

/* METHODS 9.  The reference unmasks one position per step, the best by
 * the order's key.  From the current state s and its prediction, draft d_k
 * is s with its k best positions filled (k = 1..K); d_1 is exactly the
 * reference's next state.  All drafts go through the model in one call;
 * draft d_{j+1} is verified when the reference's step from d_j (from d_j's
 * own prediction, now in hand) fills the same position with the same
 * token.  The last verified draft becomes s, and its prediction is the
 * next round's, so a round costs one call and advances 1..K steps: the
 * output is the reference's, token for token.  Without the batched call
 * the drafts are evaluated one by one while the chain holds, which is
 * exactly the reference's cost. */
typedef struct freedave {
  dllm d; /* first: the engine's functions take the instance */
  size_t k;
  dk_token *canv;     /* k drafts of n_total tokens */
  float *logits;      /* k * max_rows rows */
  dllm_row *stat;     /* per draft: max_rows rows of its prediction */
  size_t *n_stat;     /* rows of each draft */
  dllm_row *rank;     /* s's prediction, best first */
  size_t n_rank;
  size_t *pos;        /* s's masked positions in the block */
  size_t *add_pos, *next_pos;
  dk_token *add_tok, *next_tok;
  dllm_row *next;     /* per draft: its best row, the reference's next step */
  int have_pred;      /* d->stat holds s's prediction */
} freedave;

static const dk_param_spec freedave_params[] = {
    DLLM_PARAMS_CORE,
    {"draft_steps", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "4", 1, 64,
     "K: drafts per model call, the states one-position-per-step decoding would reach after "
     "1..K steps if predictions did not change; a call advances 1..K steps."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static void release(freedave *f) {
  free(f->canv);
  free(f->logits);
  free(f->stat);
  free(f->n_stat);
  free(f->rank);
  free(f->pos);
  free(f->next);
  free(f->add_pos);
  free(f->next_pos);
  free(f->add_tok);
  free(f->next_tok);
  f->canv = NULL;
  f->logits = NULL;
  f->stat = f->rank = f->next = NULL;
  f->n_stat = f->pos = f->add_pos = f->next_pos = NULL;
  f->add_tok = f->next_tok = NULL;
  dllm_end(&f->d);
}

static int freedave_create(const dk_host *h, const dk_create_info *ci, void **inst, dk_error *err) {
  freedave *f = calloc(1, sizeof *f);
  if (!f) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  int rc = dllm_init(&f->d, h, ci, -1, err);
  if (!rc && f->d.o.order == DLLM_RANDOM)
    rc = h->set_error(err, DK_ERR_INVALID,
                      "order: random draws new keys every call, so drafts cannot be verified");
  if (!rc && f->d.o.cfg > 0)
    rc = h->set_error(err, DK_ERR_INVALID, "cfg_scale: guidance is not supported by freedave");
  if (rc) {
    free(f);
    return rc;
  }
  f->k = (size_t)h->cfg_int(ci->config, "draft_steps");
  *inst = f;
  return DK_OK;
}

static void freedave_destroy(void *inst) {
  release(inst);
  free(inst);
}

static int freedave_begin(void *inst, dk_session *s, dk_error *err) {
  freedave *f = inst;
  dllm *d = &f->d;
  release(f);
  int rc = dllm_begin(d, s, 0, err);
  if (rc) return rc;
  size_t k = f->k, rows = d->max_rows, nv = (size_t)d->nv;
  if ((double)k * (double)rows * (double)nv * sizeof(float) > 4294967296.0)
    return d->h->set_error(err, DK_ERR_RANGE,
                           "draft_steps: logits of %zu drafts of %zu positions of %zu tokens would take "
                           "over 4 GiB",
                           k, rows, nv);
  f->canv = malloc(k * d->n_total * sizeof *f->canv);
  f->logits = malloc(k * rows * nv * sizeof *f->logits);
  f->stat = malloc(k * rows * sizeof *f->stat);
  f->n_stat = malloc(k * sizeof *f->n_stat);
  f->rank = malloc(rows * sizeof *f->rank);
  f->pos = malloc(rows * sizeof *f->pos);
  f->next = malloc(k * sizeof *f->next);
  f->add_pos = malloc(k * sizeof *f->add_pos);
  f->next_pos = malloc(k * sizeof *f->next_pos);
  f->add_tok = malloc(k * sizeof *f->add_tok);
  f->next_tok = malloc(k * sizeof *f->next_tok);
  if (!f->canv || !f->logits || !f->stat || !f->n_stat || !f->rank || !f->pos || !f->next ||
      !f->add_pos || !f->next_pos ||
      !f->add_tok || !f->next_tok) {
    release(f);
    return d->h->set_error(err, DK_ERR_NOMEM, "draft_steps: no memory for %zu drafts", k);
  }
  f->have_pred = 0;
  dllm_next_block(d);
  return DK_OK;
}

static void freedave_end(void *inst, dk_session *s) {
  (void)s;
  release(inst);
}

/* Larger key first, ties to the lower position: the engine's order. */
static int rank_cmp(const void *a, const void *b) {
  const dllm_row *x = a, *y = b;
  if (x->score != y->score) return x->score > y->score ? -1 : 1;
  return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Draft j's best row: the reference's next step from it. */
static void note_next(freedave *f, size_t j) {
  const dllm_row *st = f->stat + j * f->d.max_rows, *best = st;
  for (size_t i = 1; i < f->n_stat[j]; i++)
    if (rank_cmp(&st[i], best) < 0) best = &st[i];
  f->next[j] = *best;
  f->next_pos[j] = best->pos;
  f->next_tok[j] = best->x0;
}

/* Draft j's prediction from its rows among the n rows at s's masked
 * positions (rows of the positions draft j fills are skipped).  One row
 * at a time: the engine works out each row's sampler context itself. */
static int draft_stats(freedave *f, size_t j, float *rows, size_t n, dk_error *err) {
  dllm *d = &f->d;
  size_t nv = (size_t)d->nv, m = 0;
  const dk_token *x = f->canv + j * d->n_total;
  dllm_row *st = f->stat + j * d->max_rows;
  for (size_t i = 0; i < n; i++) {
    if (x[f->pos[i]] != d->mask) continue;
    st[m].pos = f->pos[i];
    int rc = dllm_stats(d, x, rows + i * nv, &st[m], 1, 0, err);
    if (rc) return rc;
    m++;
  }
  f->n_stat[j] = m;
  if (m) note_next(f, j);
  return DK_OK;
}

/* Drafts [from, from + cnt), all with masks left, through the model.  The
 * dual cache stores its canvas on a block's second call, as the reference
 * does: then draft 1 goes alone, storing, and the rest reuse it. */
static int eval_drafts(freedave *f, size_t from, size_t cnt, dk_error *err) {
  dllm *d = &f->d;
  size_t n = 0, nv = (size_t)d->nv;
  if (from == 0 && d->o.cache == DLLM_CACHE_DUAL && !d->stored) {
    dllm_fill(d, &f->rank[0]);
    int rc = dllm_forward(d, d->b0, d->b1, err);
    d->x[f->rank[0].pos] = d->mask;
    if (rc) return rc;
    f->n_stat[0] = d->n_stat;
    memcpy(f->stat, d->stat, d->n_stat * sizeof *d->stat);
    if (d->n_stat) note_next(f, 0);
    from++;
    cnt--;
    if (!cnt) return DK_OK;
  }
  size_t n_rows;
  float *out = f->logits + from * d->max_rows * nv;
  int rc = dllm_eval_canvases(d, f->canv + from * d->n_total, cnt, d->b0, d->b1, out, &n_rows, err);
  if (rc) return rc;
  for (size_t p = d->b0; p < d->b1; p++)
    if (d->x[p] == d->mask) f->pos[n++] = p;
  if (n != n_rows) return d->h->set_error(err, DK_ERR_INTERNAL, "rows do not match the masks");
  for (size_t c = 0; c < cnt; c++) {
    rc = draft_stats(f, from + c, out + c * n * nv, n, err);
    if (rc) return rc;
  }
  return DK_OK;
}

/* Accept draft `best` (1-based): it becomes s, its prediction s's. */
static void accept(freedave *f, size_t best) {
  dllm *d = &f->d;
  size_t j = best - 1;
  memcpy(d->x, f->canv + j * d->n_total, d->n_total * sizeof *d->x);
  /* Each position keeps the numbers of the prediction the reference
   * unmasked it from: s's for the first, then each draft's before it. */
  for (size_t i = 0; i < best; i++) {
    const dllm_row *r = i ? &f->next[i - 1] : &f->rank[0];
    d->raw[r->pos] = r->raw;
    d->processed[r->pos] = r->processed;
  }
  d->n_stat = f->n_stat[j];
  memcpy(d->stat, f->stat + j * d->max_rows, d->n_stat * sizeof *d->stat);
  f->have_pred = d->n_stat > 0;
}

static int freedave_step(void *inst, dk_session *s, dk_error *err) {
  freedave *f = inst;
  dllm *d = &f->d;
  int rc;
  if (!f->have_pred) {
    /* A new block: s's prediction costs one call, as the reference's first. */
    rc = dllm_forward(d, d->b0, d->b1, err);
    if (rc) return rc;
    f->have_pred = 1;
  }
  f->n_rank = d->n_stat;
  memcpy(f->rank, d->stat, d->n_stat * sizeof *d->stat);
  qsort(f->rank, f->n_rank, sizeof *f->rank, rank_cmp);
  size_t masks = f->n_rank, k = f->k < masks ? f->k : masks;
  /* A model may lay the canvases side by side after the prefix: no more
   * drafts than the context holds (fewer drafts verify fewer steps, never
   * different ones). */
  int32_t n_ctx = d->m->info->n_ctx;
  if (n_ctx > 0 && d->use_seq) {
    size_t len = d->n_total - d->cached, room = (size_t)n_ctx - d->cached;
    size_t fit = room / (len ? len : 1);
    if (k > fit) k = fit ? fit : 1;
  }
  for (size_t j = 0; j < k; j++) {
    dk_token *x = f->canv + j * d->n_total;
    if (j == 0) memcpy(x, d->x, d->n_total * sizeof *x);
    else memcpy(x, x - d->n_total, d->n_total * sizeof *x);
    x[f->rank[j].pos] = f->rank[j].x0;
    f->add_pos[j] = f->rank[j].pos;
    f->add_tok[j] = f->rank[j].x0;
  }
  /* Drafts that leave masks need a prediction; a full one is the block's end. */
  memset(f->n_stat, 0, k * sizeof *f->n_stat);
  size_t n_eval = k < masks ? k : masks - 1, known = 0;
  if (n_eval && dllm_can_batch(d)) {
    rc = eval_drafts(f, 0, n_eval, err);
    if (rc) return rc;
    known = n_eval;
  } else {
    for (; known < n_eval; known++) {
      if (known && freedave_chain(k, f->add_pos, f->add_tok, known, f->next_pos, f->next_tok) < known + 1)
        break;
      rc = eval_drafts(f, known, 1, err);
      if (rc) return rc;
    }
  }
  size_t best = freedave_chain(k, f->add_pos, f->add_tok, known, f->next_pos, f->next_tok);
  accept(f, best);
  d->h->metric_add(s, "freedave_rounds", 1);
  d->h->metric_add(s, "freedave_accepted", (double)best);
  /* The engine counts one step per position, as the reference does. */
  d->step_in_block += best - 1;
  d->global_step += best - 1;
  return dllm_advance(d, err);
}

static const dk_decoder_iface freedave_iface = {
    .hdr = {.struct_size = sizeof(dk_decoder_iface),
            .kind = DK_KIND_DECODER,
            .name = "freedave",
            .version = "1.0.0",
            .summary = "FreeDave draft-and-verify for diffusion LMs: one-position-per-step output "
                       "with fewer model calls (batched masked evaluation)",
            .params = freedave_params,
            .param_stride = sizeof(dk_param_spec),
            .caps = DK_CAP_INSTANCE_MT | DK_CAP_DECODER_NO_PREFILL},
    .create = freedave_create,
    .destroy = freedave_destroy,
    .begin = freedave_begin,
    .step = freedave_step,
    .end = freedave_end,
};

static const dk_iface_header *const components[] = {&freedave_iface.hdr};

static const dk_plugin_desc desc = {
    DK_PLUGIN_DESC_HEAD, "freedave", "1.0.0", components, 1, NULL, NULL,
};

DK_PLUGIN_ENTRY(freedave) { return &desc; }
