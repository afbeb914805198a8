/* speculative.c -- speculative decoding: a drafter proposes a chain or tree, the target verifies it in one call. */
/*
 * Every step after the first evaluates the last committed token together
 * with the drafter's proposal (a tree: eval_tree + accept_path, or a chain
 * on models without trees: eval of every position + truncate), walks the
 * tree from the root and commits the accepted path plus one token of the
 * target's own.  Two verification rules (METHODS.md 18.2, 18.12):
 *
 *  match:  at each node the pipeline's sampler chain chooses the target's
 *          token; the first child holding that token is followed.  Every
 *          committed token is the chain's own choice, with the same random
 *          draws in the same order as the `sample` decoder makes, so the
 *          output is identical to `sample` (greedy or not).
 *  reject: recursive rejection sampling with the drafter's q (propose_dist):
 *          child j of a node is accepted iff U * q_j(c_j) < r(c_j), else r
 *          becomes norm(max(0, r - q_j)); when no child is accepted a token
 *          is drawn from r.  The output is distributed exactly as the
 *          target's processed distribution, and accepts more than match.
 *
 * The decoder samples in one long-lived branch that follows the committed
 * text: its sampler states (random streams, mirostat's mu) advance exactly
 * as the completion's own would under `sample`.  With a constraint every
 * draft node is first tried on a branch of its parent; nodes the grammar
 * refuses are not evaluated (in reject mode they still count as rejected
 * draws, which keeps the residual updates and so the distribution exact).
 */
#include <decokit/plugin.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SPEC_MAX_DRAFT 256
#define SPEC_FEEDBACK_K 8

static const dk_param_spec spec_params[] = {
    {"verify", DK_PARAM_STRING, 0, "match", 0, 0,
     "match: follow the draft while it agrees with the token the sampler chain chooses at each "
     "node; the output equals the sample decoder's (greedy or seeded sampling) token for token. "
     "reject: rejection sampling against the drafter's distribution q (needs a drafter with "
     "draft distributions); the output has the target's processed distribution and accepts more "
     "drafts when sampling, but differs from sample's draws. With reject the chain must end in a "
     "draw (dist) or have no selector: a greedy selector is not a distribution."},
    {"max_draft", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "16", 1, SPEC_MAX_DRAFT,
     "Most draft nodes verified per target call (the drafter's capacity)."},
    {"feedback_k", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "8", 1, 64,
     "Target top-k reported to drafters that learn from verification (token_recycling)."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

typedef struct spec {
  const dk_host *h;
  int32_t nv;
  int reject;
  size_t cap, fk;
  /* per step, sized for cap draft nodes plus the root */
  float *rows;           /* (cap + 1) * nv: one row per evaluated node */
  dk_token_data *cand;   /* nv */
  double *r;             /* nv: the target's (residual) distribution at a node */
  float *p;              /* nv: the target's processed distribution at a node */
  float *q;              /* cap * nv: the drafter's rows, dense */
  dk_token *dtok;        /* cap: the draft */
  int32_t *dpar;
  dk_token *etok;        /* cap + 1: what is evaluated (root first) */
  int32_t *epar;
  int32_t *eidx;         /* cap: draft node -> evaluated node, -1 when pruned */
  dk_branch **nb;        /* cap: grammar check branches */
  dk_token *fb_ids;      /* (cap + 1) * fk */
  float *fb_lg;
  /* per completion */
  dk_branch *main;       /* follows the committed text */
  dk_token last;         /* committed, not yet in the target's cache */
  int fresh;
  double accepted, steps, target_calls, committed, t_draft, t_verify;
} spec;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void spec_free(spec *d) {
  free(d->rows), free(d->cand), free(d->r), free(d->p), free(d->q), free(d->dtok), free(d->dpar);
  free(d->etok), free(d->epar), free(d->eidx), free(d->nb), free(d->fb_ids), free(d->fb_lg);
  free(d);
}

static int spec_create(const dk_host *h, const dk_create_info *ci, void **inst, dk_error *err) {
  if (!ci->vocab || ci->vocab->n_vocab <= 0)
    return h->set_error(err, DK_ERR_INVALID, "needs the model's vocabulary");
  const char *mode = h->cfg_string(ci->config, "verify");
  if (mode && strcmp(mode, "match") && strcmp(mode, "reject"))
    return h->set_error(err, DK_ERR_INVALID, "verify must be match or reject, not '%s'", mode);
  spec *d = calloc(1, sizeof *d);
  if (!d) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  d->h = h;
  d->nv = ci->vocab->n_vocab;
  d->reject = mode && !strcmp(mode, "reject");
  d->cap = (size_t)h->cfg_int(ci->config, "max_draft");
  d->fk = (size_t)h->cfg_int(ci->config, "feedback_k");
  if (d->fk > (size_t)d->nv) d->fk = (size_t)d->nv;
  size_t nv = (size_t)d->nv, c = d->cap;
  d->rows = malloc((c + 1) * nv * sizeof *d->rows);
  d->cand = malloc(nv * sizeof *d->cand);
  d->r = malloc(nv * sizeof *d->r);
  d->p = malloc(nv * sizeof *d->p);
  d->q = d->reject ? malloc(c * nv * sizeof *d->q) : NULL;
  d->dtok = malloc(c * sizeof *d->dtok);
  d->dpar = malloc(c * sizeof *d->dpar);
  d->etok = malloc((c + 1) * sizeof *d->etok);
  d->epar = malloc((c + 1) * sizeof *d->epar);
  d->eidx = malloc(c * sizeof *d->eidx);
  d->nb = calloc(c, sizeof *d->nb);
  d->fb_ids = malloc((c + 1) * d->fk * sizeof *d->fb_ids);
  d->fb_lg = malloc((c + 1) * d->fk * sizeof *d->fb_lg);
  if (!d->rows || !d->cand || !d->r || !d->p || (d->reject && !d->q) || !d->dtok || !d->dpar ||
      !d->etok || !d->epar || !d->eidx || !d->nb || !d->fb_ids || !d->fb_lg) {
    spec_free(d);
    return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  }
  *inst = d;
  return DK_OK;
}

static void spec_destroy(void *inst) { spec_free(inst); }

static int spec_begin(void *inst, dk_session *s, dk_error *err) {
  spec *d = inst;
  const dk_host *h = d->h;
  const dk_drafter_ref *dr = h->session_drafter(s);
  if (!dr)
    return h->set_error(err, DK_ERR_INVALID,
                        "needs a `drafter:` block (for example draft_model or prompt_lookup)");
  if (d->reject && !dr->iface->propose_dist)
    return h->set_error(err, DK_ERR_INVALID,
                        "verify: reject needs a drafter that reports its distribution "
                        "(propose_dist); this drafter has none: use verify: match");
  const dk_model_ref *m = h->session_model(s);
  uint32_t caps = m->info->caps;
  if (!(caps & DK_MODEL_CAP_TREE) && !(caps & DK_MODEL_CAP_TRUNCATE))
    return h->set_error(err, DK_ERR_UNSUPPORTED,
                        "the model can neither verify a tree (eval_tree) nor drop rejected "
                        "positions (truncate)");
  d->fresh = 1;
  d->accepted = d->steps = d->target_calls = d->committed = 0;
  d->t_draft = d->t_verify = 0;
  return h->branch_new(s, NULL, &d->main, err);
}

/* The processed distribution at a node, dense, into d->p and d->r. */
static int target_dist(spec *d, dk_session *s, const float *row, dk_error *err) {
  dk_candidates c = {d->cand, (size_t)d->nv, -1, 0};
  int rc = d->h->session_distribution_ex(s, d->main, row, NULL, 0, &c, err);
  if (rc) return rc;
  memset(d->p, 0, (size_t)d->nv * sizeof *d->p);
  for (size_t i = 0; i < c.n; i++) d->p[c.data[i].id] = c.data[i].p;
  for (int32_t v = 0; v < d->nv; v++) d->r[v] = d->p[v];
  return DK_OK;
}

/* A draw from the weights r (not necessarily normalised). */
static dk_token draw(const spec *d, dk_session *s, const double *r) {
  double total = 0;
  for (int32_t v = 0; v < d->nv; v++) total += r[v];
  double u = d->h->rng_uniform(d->h->session_rng(s)) * total, acc = 0;
  dk_token last = -1;
  for (int32_t v = 0; v < d->nv; v++) {
    if (r[v] <= 0) continue;
    acc += r[v];
    last = v;
    if (u < acc) return v;
  }
  return last;
}

/* r <- norm(max(0, r - q)); when rounding leaves nothing, r stays as it
 * was (a rejection then had probability zero). */
static void residual(spec *d, const float *q) {
  double z = 0;
  for (int32_t v = 0; v < d->nv; v++) z += d->r[v] > q[v] ? d->r[v] - q[v] : 0;
  if (z <= 0) return;
  for (int32_t v = 0; v < d->nv; v++) d->r[v] = d->r[v] > q[v] ? (d->r[v] - q[v]) / z : 0;
}

/* Grammar pruning: each draft node on a branch of its parent's; a node the
 * constraint refuses (and everything under it) is not evaluated. */
static int prune(spec *d, dk_session *s, size_t n, const int *skip, int *refused, dk_error *err) {
  const dk_host *h = d->h;
  int rc = DK_OK;
  for (size_t i = 0; i < n && !rc; i++) {
    d->nb[i] = NULL;
    refused[i] = d->dpar[i] >= 0 && (refused[d->dpar[i]] || skip[d->dpar[i]]);
    if (refused[i] || skip[i]) continue;
    rc = h->branch_new(s, d->dpar[i] >= 0 ? d->nb[d->dpar[i]] : d->main, &d->nb[i], err);
    if (rc) break;
    int ext = h->branch_extend(s, d->nb[i], &d->dtok[i], 1, err);
    if (ext == DK_ERR_INVALID) { /* refused: the branch is unchanged, and no longer needed */
      refused[i] = 1;
      h->branch_free(s, d->nb[i]);
      d->nb[i] = NULL;
    } else {
      rc = ext;
    }
  }
  for (size_t i = 0; i < n; i++)
    if (d->nb[i]) h->branch_free(s, d->nb[i]), d->nb[i] = NULL;
  return rc;
}

/* Top-k of one row, best first (ties to the lower id). */
static void top_k(const float *row, int32_t nv, size_t k, dk_token *ids, float *lg) {
  size_t n = 0;
  for (int32_t v = 0; v < nv; v++) {
    if (n == k && !(row[v] > lg[k - 1])) continue;
    size_t at = n < k ? n++ : k - 1;
    while (at > 0 && row[v] > lg[at - 1]) {
      ids[at] = ids[at - 1];
      lg[at] = lg[at - 1];
      at--;
    }
    ids[at] = v;
    lg[at] = row[v];
  }
  for (; n < k; n++) ids[n] = -1, lg[n] = -INFINITY;
}

static int spec_step(void *inst, dk_session *s, dk_error *err) {
  spec *d = inst;
  const dk_host *h = d->h;
  const dk_model_ref *m = h->session_model(s);
  const dk_drafter_ref *dr = h->session_drafter(s);
  dk_seq seq = h->session_seq(s);
  size_t nv = (size_t)d->nv;
  int rc;

  /* Draft, within the positions the context has left. */
  dk_limits lim = {.struct_size = sizeof lim};
  rc = h->session_limits(s, &lim);
  if (rc) return h->set_error(err, rc, "session_limits failed");
  size_t cap = d->cap;
  if (lim.context_left >= 0 && lim.context_left - 2 < (int64_t)cap)
    cap = lim.context_left > 2 ? (size_t)lim.context_left - 2 : 0;
  size_t n_ctx, n_prompt;
  const dk_token *ctx = h->session_tokens(s, &n_ctx, &n_prompt);
  if (d->fresh) d->last = ctx[n_ctx - 1];
  dk_draft dft = {d->dtok, d->dpar, 0, cap};
  dk_draft_dist qd = {sizeof qd, nv, NULL, d->q};
  double t0 = now();
  if (cap) {
    rc = d->reject ? dr->iface->propose_dist(dr->inst, s, ctx, n_ctx, &dft, &qd, err)
                   : dr->iface->propose(dr->inst, s, ctx, n_ctx, &dft, err);
    if (rc) return rc;
  }
  size_t n = dft.n;
  double t1 = now();
  d->t_draft += t1 - t0;

  /* Without trees only one chain can be verified: the first child of each
   * node (a drafter's best guess comes first).  The other nodes are left
   * out as if never drawn, which keeps rejection sampling exact: how many
   * siblings are tried does not depend on their values. */
  int tree = (m->info->caps & DK_MODEL_CAP_TREE) != 0;
  int skip[SPEC_MAX_DRAFT], refused[SPEC_MAX_DRAFT];
  memset(skip, 0, n * sizeof *skip);
  memset(refused, 0, n * sizeof *refused);
  if (!tree) {
    int32_t at = -1;
    for (size_t i = 0; i < n; i++) {
      skip[i] = 1;
      if (d->dpar[i] == at) skip[i] = 0, at = (int32_t)i;
    }
  }
  if (n && h->session_constraint(s)) {
    rc = prune(d, s, n, skip, refused, err);
    if (rc) return rc;
    double n_refused = 0;
    for (size_t i = 0; i < n; i++) n_refused += refused[i];
    h->metric_add(s, "refused", n_refused);
  }

  /* Node 0 is the root: the last committed token, evaluated with the kept
   * draft nodes in one call.  In the first round the prompt's logits are
   * its row and it is not evaluated (off = 1 then). */
  size_t off = d->fresh ? 1 : 0, ne = 1, before = m->iface->seq_len(m->inst, seq);
  d->etok[0] = d->last;
  d->epar[0] = -1;
  for (size_t i = 0; i < n; i++) {
    d->eidx[i] = -1;
    if (skip[i] || refused[i]) continue;
    d->eidx[i] = (int32_t)ne;
    d->etok[ne] = d->dtok[i];
    d->epar[ne] = (d->dpar[i] >= 0 ? d->eidx[d->dpar[i]] : 0) - (int32_t)off;
    ne++;
  }
  size_t n_eval = ne - off;
  if (off) memcpy(d->rows, h->session_prompt_logits(s), nv * sizeof *d->rows);
  const dk_token *et = d->etok + off;
  float *er = d->rows + off * nv;
  if (n_eval == 1 && !off) rc = m->iface->eval(m->inst, seq, et, 1, er, 0, err);
  else if (n_eval && tree) rc = m->iface->eval_tree(m->inst, seq, et, d->epar + off, n_eval, er, err);
  else if (n_eval) rc = m->iface->eval(m->inst, seq, et, n_eval, er, DK_EVAL_ALL_LOGITS, err);
  if (rc) return rc;
  if (n_eval) d->target_calls += 1;

  /* Walk from the root. */
  dk_token out[SPEC_MAX_DRAFT + 1];
  dk_token_logprob lps[SPEC_MAX_DRAFT + 1];
  int32_t path[SPEC_MAX_DRAFT + 1]; /* in the evaluated call's numbering */
  size_t n_out = 0, n_path = 0;
  if (!off) path[n_path++] = 0;
  int32_t u = -1; /* the draft node we stand on; -1 = the root */
  for (;;) {
    const float *row = d->rows + (size_t)(u < 0 ? 0 : d->eidx[u]) * nv;
    dk_token t = -1;
    int32_t next = -1;
    dk_token_logprob *lp = &lps[n_out];
    *lp = (dk_token_logprob){sizeof *lp, NAN, NAN, row, NULL};
    if (d->reject) {
      rc = target_dist(d, s, row, err);
      if (rc) return rc;
      for (size_t i = 0; i < n && next < 0; i++) {
        if (d->dpar[i] != u || skip[i]) continue;
        /* A refused node is a draw the target gives probability 0: it is
         * rejected, and its residual update still applies. */
        const float *q = d->q + i * nv;
        dk_token c = d->dtok[i];
        double uu = h->rng_uniform(h->session_rng(s));
        if (!refused[i] && uu * q[c] < d->r[c]) next = (int32_t)i;
        else residual(d, q);
      }
      t = next >= 0 ? d->dtok[next] : draw(d, s, d->r);
      lp->processed = logf(d->p[t]);
    } else {
      rc = h->session_sample_ex(s, d->main, row, NULL, 0, &t, lp, err);
      if (rc) return rc;
      lp->logits = row;
      for (size_t i = 0; i < n && next < 0; i++)
        if (d->dpar[i] == u && !skip[i] && !refused[i] && d->dtok[i] == t) next = (int32_t)i;
    }
    rc = h->branch_extend(s, d->main, &t, 1, err);
    if (rc) return rc;
    out[n_out++] = t;
    if (next < 0) break;
    path[n_path++] = d->eidx[next] - (int32_t)off;
    u = next;
    /* An accepted EOS or a stop ends the round: nothing after it counts. */
    uint32_t why;
    if (h->session_would_stop(s, out, n_out, &why) < n_out || why != DK_STOP_NONE) break;
  }
  size_t acc = n_path - (off ? 0 : 1);

  /* Keep the cache rows of the root and the accepted nodes only. */
  if (n_eval > 1 || off) {
    if (tree && n_path) rc = m->iface->accept_path(m->inst, seq, path, n_path, err);
    else if (n_eval && m->iface->truncate) rc = m->iface->truncate(m->inst, seq, before + n_path, err);
    else if (n_eval) rc = m->iface->accept_path(m->inst, seq, path, 0, err); /* drop the tree */
    if (rc) return rc;
  }
  d->t_verify += now() - t1;

  /* Feedback: the target's top-k at every row seen, the root's included. */
  if (dr->iface->observe_verified) {
    for (size_t j = 0; j < ne; j++)
      top_k(d->rows + j * nv, d->nv, d->fk, d->fb_ids + j * d->fk, d->fb_lg + j * d->fk);
    dk_verify_feedback fb = {sizeof fb, out, acc, n, ne, d->fk, d->etok, d->fb_ids, d->fb_lg};
    dr->iface->observe_verified(dr->inst, s, &fb);
  } else if (dr->iface->observe) {
    dr->iface->observe(dr->inst, out, acc, n);
  }
  d->fresh = 0;
  d->steps += 1;
  if (n_eval) d->committed += (double)n_out;
  h->metric_add(s, "drafted", (double)n);
  h->metric_add(s, "accepted", (double)acc);
  d->accepted += (double)acc;
  d->last = out[n_out - 1];
  return h->commit_ex(s, d->main, out, n_out, lps, err);
}

/* Means are reported once, at the end of the completion. */
static void spec_end(void *inst, dk_session *s) {
  spec *d = inst;
  const dk_host *h = d->h;
  if (d->main) h->branch_free(s, d->main);
  d->main = NULL;
  h->metric_add(s, "verify_steps", d->steps);
  h->metric_add(s, "tau", d->steps > 0 ? d->accepted / d->steps : 0);
  h->metric_add(s, "target_calls", d->target_calls);
  /* Tokens of the rounds that called the target, per call. */
  h->metric_add(s, "tokens_per_target_call",
                d->target_calls > 0 ? d->committed / d->target_calls : 0);
  h->metric_add(s, "draft_time", d->t_draft);
  h->metric_add(s, "verify_time", d->t_verify);
}

static const dk_decoder_iface spec_iface = {
    .hdr = {.struct_size = sizeof(dk_decoder_iface),
            .kind = DK_KIND_DECODER,
            .name = "speculative",
            .version = "1.0.0",
            .summary = "speculative decoding: verify a drafter's chain or tree in one target call",
            .params = spec_params,
            .param_stride = sizeof(dk_param_spec),
            .caps = DK_CAP_INSTANCE_MT | DK_CAP_DECODER_USES_DRAFTER},
    .create = spec_create,
    .destroy = spec_destroy,
    .begin = spec_begin,
    .step = spec_step,
    .end = spec_end,
};

static const dk_iface_header *const components[] = {&spec_iface.hdr};

static const dk_plugin_desc desc = {
    DK_PLUGIN_DESC_HEAD, "speculative", "1.0.0", components, 1, NULL, NULL,
};

DK_PLUGIN_ENTRY(speculative) { return &desc; }
