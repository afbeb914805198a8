/* branch.c -- hypotheses of one completion, each with its own constraint state, sampler states and uncommitted tokens. */
#include "session_impl.h"

#include "error.h"

#include <stdlib.h>
#include <string.h>

/* A forked or cloned plugin instance keeps the original's component; it
 * draws from the original's random stream (plugins hold their create-time
 * stream), which keeps runs reproducible. */
int dk_instance_dup(const dk_instance *orig, dk_dup_fn dup, const char *op, dk_instance **out,
                    dk_error *err) {
  void *inst = NULL;
  *out = NULL;
  int rc = dup(orig->inst, &inst, err);
  if (rc == DK_OK && !inst) rc = dk_error_set(err, DK_ERR_INTERNAL, "%s gave no instance", op);
  if (rc) {
    dk_error_ensure(err, rc, op);
    return dk_error_prefix(err, "%s '%s': ", dk_kind_name(orig->comp->kind), orig->comp->hdr->name);
  }
  dk_instance *in = calloc(1, sizeof *in);
  if (!in) {
    /* destroy sits at the same place in every kind struct */
    ((const dk_sampler_iface *)(const void *)orig->comp->hdr)->destroy(inst);
    return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  }
  in->comp = orig->comp;
  in->inst = inst;
  in->rng = orig->rng;
  in->seed = orig->seed;
  *out = in;
  return DK_OK;
}

/* Sampler i of a branch: a clone of the source's, or, for a sampler that
 * cannot clone, a fresh instance replayed every generated token. */
static int copy_sampler(dk_session *s, const dk_chain *src, size_t i, const dk_token *tail,
                        size_t n_tail, dk_instance **out, dk_error *err) {
  const dk_instance *orig = src->in[i];
  const dk_sampler_iface *si = (const dk_sampler_iface *)(const void *)orig->comp->hdr;
  if (si->clone) return dk_instance_dup(orig, si->clone, "clone", out, err);
  const dk_pipeline *p = s->run->p;
  int rc = dk_instance_create(p->samplers[i].comp, &p->samplers[i].cfg, s->run->seed,
                              1000 * (s->index + 1) + 600 + i, &s->run->vocab, 1, out, err);
  if (rc) return rc;
  if (si->accept) {
    for (size_t k = s->n_prompt; k < s->n_toks; k++) si->accept((*out)->inst, s->toks[k]);
    for (size_t k = 0; k < n_tail; k++) si->accept((*out)->inst, tail[k]);
  }
  return DK_OK;
}

int dk_branch_check(dk_session *s, const dk_branch *b, dk_error *err) {
  if (!b) return DK_OK;
  if (b->s != s) return dk_error_set(err, DK_ERR_INVALID, "the branch belongs to another completion");
  if (b->stale)
    return dk_error_set(err, DK_ERR_STATE,
                        "the branch diverged from the committed text; fork a new one");
  return DK_OK;
}

void dk_branch_free(dk_session *s, dk_branch *b) {
  if (!b || b->s != s) return;
  if (b->prev) b->prev->next = b->next;
  else s->branches = b->next;
  if (b->next) b->next->prev = b->prev;
  dk_chain_free(&b->chain);
  dk_instance_destroy(b->constraint);
  free(b->toks);
  free(b);
}

int dk_branch_new(dk_session *s, dk_branch *from, dk_branch **out, dk_error *err) {
  if (!out) return dk_error_set(err, DK_ERR_INVALID, "branch_new: no output pointer");
  *out = NULL;
  int rc = dk_branch_check(s, from, err);
  if (rc) return rc;
  dk_branch *b = calloc(1, sizeof *b);
  if (!b) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  b->s = s;
  b->next = s->branches;
  if (s->branches) s->branches->prev = b;
  s->branches = b;
  const dk_chain *src = from ? &from->chain : &s->chain;
  const dk_token *tail = from ? from->toks : NULL;
  size_t n_tail = from ? from->n : 0;
  if (n_tail && dk_grow((void **)&b->toks, &b->cap, n_tail, sizeof *b->toks)) {
    rc = dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  } else if (n_tail) {
    memcpy(b->toks, tail, n_tail * sizeof *tail);
    b->n = n_tail;
  }
  if (!rc && src->n) {
    b->chain.p = src->p;
    b->chain.in = calloc(src->n, sizeof *b->chain.in);
    if (!b->chain.in) rc = dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  }
  for (size_t i = 0; !rc && i < src->n; i++) {
    rc = copy_sampler(s, src, i, tail, n_tail, &b->chain.in[i], err);
    if (!rc) b->chain.n = i + 1;
  }
  const dk_instance *con = from ? from->constraint : s->constraint;
  if (!rc && con)
    rc = dk_instance_dup(con, ((const struct dk_constraint_iface *)(const void *)con->comp->hdr)->fork,
                         "fork", &b->constraint, err);
  if (rc) {
    dk_branch_free(s, b);
    return rc;
  }
  *out = b;
  return DK_OK;
}

int dk_branch_extend(dk_session *s, dk_branch *b, const dk_token *toks, size_t n, dk_error *err) {
  if (!b) return dk_error_set(err, DK_ERR_INVALID, "branch_extend: no branch");
  int rc = dk_branch_check(s, b, err);
  if (rc) return rc;
  rc = dk_session_check_ids(s, toks, n, "branch_extend", err);
  if (rc) return rc;
  if (dk_grow((void **)&b->toks, &b->cap, b->n + n, sizeof *b->toks))
    return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  /* All of the constraint first, so a refusal leaves the samplers untouched. */
  if (b->constraint) {
    const struct dk_constraint_iface *ci =
        (const struct dk_constraint_iface *)(const void *)b->constraint->comp->hdr;
    size_t done = 0;
    for (; done < n; done++) {
      dk_token t = toks[done];
      if (dk_session_is_eos(s, t)) continue;
      rc = ci->advance(b->constraint->inst, t, err);
      if (rc) break;
    }
    if (rc) {
      size_t undo = 0;
      for (size_t k = 0; k < done; k++)
        if (!dk_session_is_eos(s, toks[k])) undo++;
      if (undo) ci->rollback(b->constraint->inst, undo, NULL);
      dk_error_ensure(err, rc, "advance");
      dk_error_prefix(err, "constraint '%s' refused token %d: ", b->constraint->comp->hdr->name,
                      toks[done]);
      return dk_block_error(s->run->p, s->run->p->constraint, err);
    }
  }
  for (size_t i = 0; i < n; i++) dk_chain_accept(&b->chain, toks[i]);
  memcpy(b->toks + b->n, toks, n * sizeof *toks);
  b->n += n;
  return DK_OK;
}

const dk_token *dk_branch_tokens(dk_session *s, const dk_branch *b, size_t *n) {
  if (!b || b->s != s) {
    if (n) *n = 0;
    return NULL;
  }
  if (n) *n = b->n;
  return b->toks;
}

void dk_branches_after_commit(dk_session *s, const dk_token *toks, size_t n) {
  if (!n) return;
  for (dk_branch *b = s->branches; b; b = b->next) {
    if (b->stale) continue;
    if (b->n >= n && memcmp(b->toks, toks, n * sizeof *toks) == 0) {
      memmove(b->toks, b->toks + n, (b->n - n) * sizeof *b->toks);
      b->n -= n;
    } else {
      b->stale = 1;
    }
  }
}

void dk_branches_free_all(dk_session *s) {
  while (s->branches) dk_branch_free(s, s->branches);
}

/* After a branch's whole token list is committed, the completion's samplers
 * continue from the branch's: their random streams go on where the
 * branch's draws left them instead of starting again from the completion's
 * (a decoder sampling in a fresh branch each step would otherwise draw the
 * same numbers every step).  Samplers that cannot clone keep the replayed
 * state commit gave them. */
int dk_chain_adopt(dk_session *s, const dk_branch *b, dk_error *err) {
  for (size_t i = 0; i < s->chain.n && i < b->chain.n; i++) {
    const dk_instance *from = b->chain.in[i];
    const dk_sampler_iface *si = (const dk_sampler_iface *)(const void *)from->comp->hdr;
    if (!si->clone) continue;
    dk_instance *copy;
    int rc = dk_instance_dup(from, si->clone, "clone", &copy, err);
    if (rc) return rc;
    dk_instance_destroy(s->chain.in[i]);
    s->chain.in[i] = copy;
  }
  return DK_OK;
}
