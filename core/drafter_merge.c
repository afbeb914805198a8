/* drafter_merge.c -- propose with every drafter of a list and merge the proposals into one tree. */
#include "drafter_merge.h"

#include "error.h"

#include <stdlib.h>
#include <string.h>

#define DM(inst) ((dk_drafter_merge *)(inst))

/* Merge draft (tok, par, n) into the tree w[0..*wn) of capacity cap: a node
 * with the token path of an existing node becomes that node; when the new
 * nodes do not fit, the deepest of them (the latest at equal depth) are
 * left out.  Nodes already in the tree never move.  Afterwards
 * src[t - base] is the draft node that new node t (base = *wn before) came
 * from.  w_tok, w_par, w_depth hold 2*cap entries, w_new and src cap, map n. */
static void merge_into(dk_drafter_merge *m, size_t *wn, size_t cap, const dk_token *tok,
                       const int32_t *par, size_t n) {
  dk_token *w_tok = m->w_tok;
  int32_t *w_par = m->w_par, *w_depth = m->w_depth, *w_new = m->w_new, *src = m->src, *map = m->map;
  size_t base = *wn, end = base;
  int32_t max_depth = 0;
  for (size_t j = 0; j < n; j++) {
    int32_t mp = par[j] < 0 ? -1 : map[par[j]];
    size_t k = 0;
    /* A new parent has no children yet, but a drafter may repeat a sibling. */
    while (k < end && !(w_par[k] == mp && w_tok[k] == tok[j])) k++;
    if (k == end) {
      w_tok[end] = tok[j];
      w_par[end] = mp;
      w_depth[end] = mp < 0 ? 1 : w_depth[mp] + 1;
      if (w_depth[end] > max_depth) max_depth = w_depth[end];
      src[end - base] = (int32_t)j;
      end++;
    }
    map[j] = (int32_t)k;
  }
  if (end <= cap) {
    *wn = end;
    return;
  }
  /* Keep the shallowest new nodes, earlier first at equal depth: every kept
   * node's parent is then kept too (it is shallower, or was already there),
   * and a kept sibling never follows a dropped one. */
  size_t room = cap - base;
  for (size_t k = base; k < end; k++) w_new[k - base] = -1;
  for (int32_t d = 1; room && d <= max_depth; d++)
    for (size_t k = base; room && k < end; k++)
      if (w_depth[k] == d) {
        w_new[k - base] = 0;
        room--;
      }
  size_t out = base;
  for (size_t k = base; k < end; k++) {
    if (w_new[k - base] < 0) continue;
    w_new[k - base] = (int32_t)out;
    int32_t p = w_par[k];
    w_tok[out] = w_tok[k];
    w_par[out] = p < (int32_t)base ? p : w_new[p - (int32_t)base];
    w_depth[out] = w_depth[k];
    src[out - base] = src[k - base];
    out++;
  }
  *wn = out;
}

static int grow(dk_drafter_merge *m, size_t cap, size_t q_entries) {
  int ok = 1;
#define GROW(p, n)                                     \
  do {                                                 \
    void *t_ = realloc((p), (n) * sizeof *(p));        \
    if (t_) (p) = t_;                                  \
    ok &= t_ != NULL;                                  \
  } while (0)
  if (cap > m->cap) {
    GROW(m->m_tok, cap);
    GROW(m->m_par, cap);
    GROW(m->map, cap);
    GROW(m->src, cap);
    GROW(m->w_new, cap);
    GROW(m->w_tok, 2 * cap);
    GROW(m->w_par, 2 * cap);
    GROW(m->w_depth, 2 * cap);
    if (ok) m->cap = cap;
  }
  if (q_entries > m->cap_q) {
    GROW(m->q_probs, q_entries);
    GROW(m->q_ids, q_entries);
    if (ok) m->cap_q = q_entries;
  }
#undef GROW
  return ok ? DK_OK : DK_ERR_NOMEM;
}

/* Every member proposes through its checking proxy with the whole
 * capacity; what does not fit is cut from the later members, deepest
 * first.  With q, each node keeps the row of the member that added it:
 * that row is the distribution its token was drawn from, given everything
 * proposed before it, which is what recursive rejection needs. */
static int propose_all(dk_drafter_merge *m, dk_session *s, const dk_token *ctx, size_t n_ctx,
                       dk_draft *out, dk_draft_dist *q, dk_error *err) {
  out->n = 0;
  size_t k = q ? q->k : 0;
  if (q && (!q->probs || !k))
    return dk_error_set(err, DK_ERR_INVALID, "propose_dist: the caller gave no room for q");
  if (grow(m, out->cap, out->cap * k))
    return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  size_t wn = 0;
  for (size_t i = 0; i < m->n; i++) {
    dk_drafter_proxy *px = &m->members[i];
    dk_draft d = {m->m_tok, m->m_par, 0, out->cap};
    dk_draft_dist mq = {sizeof mq, k, q && q->ids ? m->q_ids : NULL, m->q_probs};
    int rc = q ? px->iface.propose_dist(px, s, ctx, n_ctx, &d, &mq, err)
               : px->iface.propose(px, s, ctx, n_ctx, &d, err);
    if (rc) return rc; /* the proxy checked it and named the drafter */
    size_t base = wn;
    merge_into(m, &wn, out->cap, d.tokens, d.parents, d.n);
    for (size_t t = base; q && t < wn; t++) {
      size_t j = (size_t)m->src[t - base];
      memcpy(q->probs + t * k, m->q_probs + j * k, k * sizeof *q->probs);
      if (q->ids) memcpy(q->ids + t * k, m->q_ids + j * k, k * sizeof *q->ids);
    }
  }
  if (wn) {
    memcpy(out->tokens, m->w_tok, wn * sizeof *out->tokens);
    memcpy(out->parents, m->w_par, wn * sizeof *out->parents);
  }
  out->n = wn;
  return DK_OK;
}

static int dm_propose(void *inst, dk_session *s, const dk_token *ctx, size_t n_ctx, dk_draft *out,
                      dk_error *err) {
  return propose_all(DM(inst), s, ctx, n_ctx, out, NULL, err);
}

static int dm_propose_dist(void *inst, dk_session *s, const dk_token *ctx, size_t n_ctx,
                           dk_draft *out, dk_draft_dist *q, dk_error *err) {
  return propose_all(DM(inst), s, ctx, n_ctx, out, q, err);
}

static void dm_observe(void *inst, const dk_token *acc, size_t n_acc, size_t n_prop) {
  dk_drafter_merge *m = DM(inst);
  for (size_t i = 0; i < m->n; i++)
    if (m->members[i].iface.observe) m->members[i].iface.observe(&m->members[i], acc, n_acc, n_prop);
}

/* Verifiers call observe_verified instead of observe: members with only
 * observe get what it carries. */
static void dm_observe_verified(void *inst, dk_session *s, const dk_verify_feedback *fb) {
  dk_drafter_merge *m = DM(inst);
  for (size_t i = 0; i < m->n; i++) {
    dk_drafter_proxy *px = &m->members[i];
    if (px->iface.observe_verified)
      px->iface.observe_verified(px, s, fb);
    else if (px->iface.observe)
      px->iface.observe(px, fb->accepted, fb->n_accepted, fb->n_proposed);
  }
}

static void dm_reset(void *inst) {
  dk_drafter_merge *m = DM(inst);
  for (size_t i = 0; i < m->n; i++)
    if (m->members[i].iface.reset) m->members[i].iface.reset(&m->members[i]);
}

static void end_first(dk_drafter_merge *m, dk_session *s, size_t n) {
  for (size_t i = n; i-- > 0;)
    if (m->members[i].iface.end) m->members[i].iface.end(&m->members[i], s);
}

/* A member that fails to begin ends the ones already begun: end runs only
 * for a begin that succeeded. */
static int dm_begin(void *inst, dk_session *s, dk_error *err) {
  dk_drafter_merge *m = DM(inst);
  for (size_t i = 0; i < m->n; i++) {
    dk_drafter_proxy *px = &m->members[i];
    int rc = px->iface.begin ? px->iface.begin(px, s, err) : DK_OK;
    if (rc) {
      end_first(m, s, i);
      return rc;
    }
  }
  return DK_OK;
}

static void dm_end(void *inst, dk_session *s) { end_first(DM(inst), s, DM(inst)->n); }

void dk_drafter_merge_init(dk_drafter_merge *m, dk_drafter_proxy *members, size_t n) {
  memset(m, 0, sizeof *m);
  m->members = members;
  m->n = n;
  int any_obs = 0, any_obs_v = 0, any_life = 0, all_dist = 1;
  for (size_t i = 0; i < n; i++) {
    const struct dk_drafter_iface *f = &members[i].iface;
    any_obs |= f->observe != NULL;
    any_obs_v |= f->observe_verified != NULL;
    any_life |= f->begin != NULL || f->end != NULL;
    all_dist &= f->propose_dist != NULL;
  }
  m->iface = members[0].iface; /* the header: the list speaks the first member's ABI */
  m->iface.propose = dm_propose;
  /* A node without a row would leave the verifier without its q. */
  m->iface.propose_dist = all_dist ? dm_propose_dist : NULL;
  m->iface.observe = any_obs ? dm_observe : NULL;
  m->iface.observe_verified = any_obs_v ? dm_observe_verified : NULL;
  m->iface.reset = dm_reset;
  m->iface.begin = any_life ? dm_begin : NULL;
  m->iface.end = any_life ? dm_end : NULL;
  m->ref.iface = &m->iface;
  m->ref.inst = m;
}

void dk_drafter_merge_free(dk_drafter_merge *m) {
  free(m->m_tok);
  free(m->m_par);
  free(m->map);
  free(m->w_tok);
  free(m->w_par);
  free(m->w_depth);
  free(m->w_new);
  free(m->src);
  free(m->q_probs);
  free(m->q_ids);
  memset(m, 0, sizeof *m);
}
