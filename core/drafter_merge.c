/* drafter_merge.c -- propose with every drafter of a list and merge the proposals into one tree. */
#include "drafter_merge.h"

#include "error.h"

#include <stdlib.h>
#include <string.h>

#define DM(inst) ((dk_drafter_merge *)(inst))

void dk_draft_merge_into(dk_token *w_tok, int32_t *w_par, int32_t *w_depth, int32_t *w_new,
                         size_t *wn, size_t cap, const dk_token *tok, const int32_t *par,
                         size_t n, int32_t *map) {
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
      end++;
    }
    map[j] = (int32_t)k;
  }
  if (end <= cap) {
    *wn = end;
    return;
  }
  /* Keep the shallowest new nodes, earlier first at equal depth: every kept
   * node's parent is then kept too (it is shallower, or was already there). */
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
    out++;
  }
  *wn = out;
}

static int grow(dk_drafter_merge *m, size_t cap) {
  if (cap <= m->cap) return DK_OK;
  dk_token *a = realloc(m->m_tok, cap * sizeof *a);
  if (a) m->m_tok = a;
  int32_t *b = realloc(m->m_par, cap * sizeof *b);
  if (b) m->m_par = b;
  int32_t *c = realloc(m->map, cap * sizeof *c);
  if (c) m->map = c;
  dk_token *d = realloc(m->w_tok, 2 * cap * sizeof *d);
  if (d) m->w_tok = d;
  int32_t *e = realloc(m->w_par, 2 * cap * sizeof *e);
  if (e) m->w_par = e;
  int32_t *f = realloc(m->w_depth, 2 * cap * sizeof *f);
  if (f) m->w_depth = f;
  int32_t *g = realloc(m->w_new, 2 * cap * sizeof *g);
  if (g) m->w_new = g;
  if (!a || !b || !c || !d || !e || !f || !g) return DK_ERR_NOMEM;
  m->cap = cap;
  return DK_OK;
}

static int dm_propose(void *inst, dk_session *s, const dk_token *ctx, size_t n_ctx, dk_draft *out,
                      dk_error *err) {
  dk_drafter_merge *m = DM(inst);
  out->n = 0;
  if (grow(m, out->cap)) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  size_t wn = 0;
  for (size_t i = 0; i < m->n; i++) {
    dk_drafter_proxy *px = &m->members[i];
    /* Every member may fill the whole capacity: what does not fit is cut
     * from the later members, deepest first. */
    dk_draft d = {m->m_tok, m->m_par, 0, out->cap};
    int rc = px->iface.propose(px, s, ctx, n_ctx, &d, err);
    if (rc) return rc; /* the proxy checked it and named the drafter */
    dk_draft_merge_into(m->w_tok, m->w_par, m->w_depth, m->w_new, &wn, out->cap, d.tokens,
                        d.parents, d.n, m->map);
  }
  if (wn) {
    memcpy(out->tokens, m->w_tok, wn * sizeof *out->tokens);
    memcpy(out->parents, m->w_par, wn * sizeof *out->parents);
  }
  out->n = wn;
  return DK_OK;
}

/* Nodes from several drafters have no common q: only a list with exactly
 * one member that reports its distribution offers propose_dist, and then
 * that member alone proposes (the others still get every feedback). */
static int dm_propose_dist(void *inst, dk_session *s, const dk_token *ctx, size_t n_ctx,
                           dk_draft *out, dk_draft_dist *q, dk_error *err) {
  dk_drafter_proxy *px = (dk_drafter_proxy *)DM(inst)->dist;
  return px->iface.propose_dist(px, s, ctx, n_ctx, out, q, err);
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
  int any_obs = 0, any_obs_v = 0, any_life = 0;
  size_t n_dist = 0;
  for (size_t i = 0; i < n; i++) {
    const struct dk_drafter_iface *f = &members[i].iface;
    any_obs |= f->observe != NULL;
    any_obs_v |= f->observe_verified != NULL;
    any_life |= f->begin != NULL || f->end != NULL;
    if (f->propose_dist) {
      n_dist++;
      m->dist = &members[i];
    }
  }
  if (n_dist != 1) m->dist = NULL;
  m->iface = members[0].iface; /* the header: the list speaks the first member's ABI */
  m->iface.propose = dm_propose;
  m->iface.propose_dist = m->dist ? dm_propose_dist : NULL;
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
  memset(m, 0, sizeof *m);
}
