/* commit.c -- committed tokens become output: records, UTF-8-safe streaming, stop conditions, limits and n-best results. */
#include "session_impl.h"

#include "error.h"

#include <stdlib.h>
#include <string.h>

/* Bytes at the end that start a multi-byte character not yet complete. */
static size_t utf8_incomplete_tail(const char *t, size_t len) {
  for (size_t back = 1; back <= 4 && back <= len; back++) {
    unsigned char c = (unsigned char)t[len - back];
    if ((c & 0xC0) == 0x80) continue; /* continuation byte */
    size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

static void emit(dk_session *s, size_t upto) {
  dk_completion *c = s->out;
  if (upto > s->emitted && s->run->opts.on_text)
    s->run->opts.on_text(s->run->opts.user, s->index, c->text + s->emitted, upto - s->emitted);
  if (upto > s->emitted) s->emitted = upto;
}

/* The first position in t[0..len) at or after `from` where a stop string
 * starts and ends within len, or (size_t)-1. */
static size_t find_stop(const dk_session *s, const char *t, size_t len, size_t from) {
  size_t cut = (size_t)-1;
  for (size_t i = 0; i < s->n_stops; i++) {
    size_t sl = strlen(s->stops[i]);
    if (!sl || sl > len) continue;
    for (size_t pos = from; pos + sl <= len && pos < cut; pos++)
      if (memcmp(t + pos, s->stops[i], sl) == 0) {
        cut = pos;
        break;
      }
  }
  return cut;
}

/* Append text: 1 when a stop string completed (text is cut before it), 0,
 * or DK_ERR_NOMEM. */
static int append_text(dk_session *s, const char *bytes, size_t len) {
  dk_completion *c = s->out;
  if (dk_grow((void **)&c->text, &s->cap_text, c->text_len + len + 1, 1)) return DK_ERR_NOMEM;
  size_t before = c->text_len;
  memcpy(c->text + c->text_len, bytes, len);
  c->text_len += len;
  c->text[c->text_len] = '\0';
  /* A stop string may straddle tokens: search from where a new match could start. */
  size_t cut = find_stop(s, c->text, c->text_len, before > s->max_stop ? before - s->max_stop : 0);
  if (cut != (size_t)-1) {
    c->text_len = cut;
    c->text[cut] = '\0';
    emit(s, cut);
    return 1;
  }
  /* Hold back a suffix that could still become a stop string. */
  size_t hold = 0;
  for (size_t i = 0; i < s->n_stops; i++) {
    size_t sl = strlen(s->stops[i]);
    for (size_t k = sl > 1 ? sl - 1 : 0; k > hold; k--)
      if (k <= c->text_len && memcmp(c->text + c->text_len - k, s->stops[i], k) == 0) {
        hold = k;
        break;
      }
  }
  size_t safe = c->text_len - hold;
  safe -= utf8_incomplete_tail(c->text, safe);
  emit(s, safe);
  return 0;
}

int dk_session_finish(dk_session *s, const char *reason) {
  s->out->stop_reason = reason;
  emit(s, s->out->text_len);
  return DK_DONE;
}

int dk_session_is_eos(const dk_session *s, dk_token t) {
  return !s->ignore_eos && (t == s->run->info.eos || t == s->run->info.eot);
}

/* Every token id a decoder hands the host (commits, extra tokens, branch
 * tokens, results) is checked here, the same way. */
int dk_session_check_ids(const dk_session *s, const dk_token *toks, size_t n, const char *what,
                         dk_error *err) {
  int32_t nv = s->run->info.n_vocab;
  if (n && !toks) return dk_error_set(err, DK_ERR_INVALID, "%s: %zu tokens but no array", what, n);
  for (size_t i = 0; i < n; i++)
    if (toks[i] < 0 || toks[i] >= nv)
      return dk_error_set(err, DK_ERR_INVALID, "%s: token %zu is %d, outside the vocabulary (0..%d)",
                          what, i, toks[i], nv - 1);
  return DK_OK;
}

/* One token: the constraint and samplers accept it, then it becomes output. */
static int commit_one(dk_session *s, dk_token t, const dk_token_logprob *lp, int legacy,
                      dk_error *err) {
  dk_run *run = s->run;
  dk_completion *c = s->out;
  int eos = dk_session_is_eos(s, t);
  if (s->constraint && !eos) {
    const struct dk_constraint_iface *ci =
        (const struct dk_constraint_iface *)(const void *)s->constraint->comp->hdr;
    double t0 = dk_now();
    int rc = ci->advance(s->constraint->inst, t, err);
    c->t_constraint += dk_now() - t0;
    if (rc) {
      dk_error_ensure(err, rc, "advance");
      dk_error_prefix(err, "constraint '%s' refused token %d: ", s->constraint->comp->hdr->name, t);
      return dk_block_error(s->run->p, s->run->p->constraint, err);
    }
  }
  dk_chain_accept(&s->chain, t);
  s->n_generated++;
  if (eos) return dk_session_finish(s, "eos");
  if (dk_grow((void **)&s->toks, &s->cap_toks, s->n_toks + 1, sizeof *s->toks) ||
      dk_grow((void **)&c->tokens, &s->cap_recs, c->n_tokens + 1, sizeof *c->tokens))
    return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  dk_token_record *nr = realloc(c->recs, s->cap_recs * sizeof *nr);
  if (!nr) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  c->recs = nr;
  dk_token_record *r = &c->recs[c->n_tokens];
  memset(r, 0, sizeof *r);
  if (legacy) {
    /* A 1.0 commit: the last sample's numbers belong to this token only if
     * it was sampled here, in this context. */
    if (s->pending.id == t && s->pending_pos == s->n_toks && (s->pending.has_raw || s->pending.has_proc)) {
      *r = s->pending;
      memset(&s->pending, 0, sizeof s->pending);
    }
    r->id = t;
  } else if (s->run->opts.record_logprobs) {
    int rc = dk_record_fill(s, r, t, lp, err);
    if (rc) return rc;
  } else {
    r->id = t;
  }
  s->toks[s->n_toks++] = t;
  c->tokens[c->n_tokens++] = t;
  if (run->opts.on_token) run->opts.on_token(run->opts.user, s->index, r);
  int st = append_text(s, run->pieces[t], run->piece_len[t]);
  if (st < 0) return dk_error_set(err, DK_ERR_NOMEM, "out of memory for the output text");
  if (st) return dk_session_finish(s, "stop");
  if ((int64_t)s->n_generated >= s->max_tokens) return dk_session_finish(s, "length");
  if (run->info.n_ctx > 0 && s->n_toks >= (size_t)run->info.n_ctx) return dk_session_finish(s, "context");
  return DK_OK;
}

static int commit_tokens(dk_session *s, dk_branch *b, const dk_token *toks, size_t n,
                         const dk_token_logprob *lps, int legacy, dk_error *err) {
  if (s->out->stop_reason) return DK_DONE;
  int rc = dk_session_check_ids(s, toks, n, "commit", err);
  if (!rc && b) rc = dk_branch_check(s, b, err);
  if (rc) return rc;
  if (b && (n > b->n || memcmp(b->toks, toks, n * sizeof *toks) != 0))
    return dk_error_set(err, DK_ERR_INVALID,
                        "commit: the tokens are not the first %zu of the branch's %zu", n, b->n);
  size_t stride = lps ? (lps->struct_size ? lps->struct_size : sizeof *lps) : 0;
  int whole_branch = b && n == b->n;
  /* A refused token is not committed; a stopping one (EOS, a stop string,
   * the last allowed) is. */
  size_t done = 0;
  while (done < n && rc == DK_OK) {
    rc = commit_one(s, toks[done],
                    lps ? (const dk_token_logprob *)(const void *)((const char *)lps + done * stride) : NULL,
                    legacy, err);
    if (rc >= 0) done++;
  }
  dk_branches_after_commit(s, toks, done);
  if (rc >= 0 && whole_branch && done == n) {
    int arc = dk_chain_adopt(s, b, err);
    if (arc) return arc;
  }
  return rc;
}

int dk_session_commit(dk_session *s, const dk_token *toks, size_t n, dk_error *err) {
  return commit_tokens(s, NULL, toks, n, NULL, 1, err);
}

int dk_session_commit_ex(dk_session *s, dk_branch *b, const dk_token *toks, size_t n,
                         const dk_token_logprob *lps, dk_error *err) {
  return commit_tokens(s, b, toks, n, lps, 0, err);
}

int dk_session_limits(dk_session *s, dk_limits *out) {
  if (!out || out->struct_size < offsetof(dk_limits, ignore_eos)) return DK_ERR_INVALID;
  dk_limits v = {
      .struct_size = sizeof v,
      .max_tokens_left = s->max_tokens - (int64_t)s->n_generated,
      .context_left = s->run->info.n_ctx > 0 ? (int64_t)s->run->info.n_ctx - (int64_t)s->n_toks : -1,
      .ignore_eos = s->ignore_eos,
      .eos = s->run->info.eos,
      .eot = s->run->info.eot,
      .n_stop = s->n_stops,
      .stop = s->stops,
  };
  if (v.max_tokens_left < 0) v.max_tokens_left = 0;
  size_t sz = out->struct_size < sizeof v ? out->struct_size : sizeof v;
  memcpy(out, &v, sz);
  out->struct_size = (uint32_t)sz;
  return DK_OK;
}

size_t dk_session_would_stop(dk_session *s, const dk_token *toks, size_t n, uint32_t *reason) {
  uint32_t why = DK_STOP_NONE;
  size_t i = 0;
  const dk_completion *c = s->out;
  /* The committed text's last max_stop bytes, then the new pieces. */
  size_t keep = c->text_len < s->max_stop ? c->text_len : s->max_stop;
  char *buf = NULL;
  size_t len = 0, cap = 0;
  if (s->n_stops && (dk_grow((void **)&buf, &cap, keep + 1, 1) == 0)) {
    if (keep) memcpy(buf, c->text + c->text_len - keep, keep);
    len = keep;
  }
  if (c->stop_reason) { /* nothing more can be committed: say why */
    why = !strcmp(c->stop_reason, "eos") ? DK_STOP_EOS
          : !strcmp(c->stop_reason, "stop") ? DK_STOP_STRING
          : !strcmp(c->stop_reason, "context") ? DK_STOP_CONTEXT
                                               : DK_STOP_LENGTH;
    n = 0;
  }
  for (; i < n && why == DK_STOP_NONE; i++) {
    dk_token t = toks[i];
    if (t < 0 || t >= s->run->info.n_vocab) break;
    if (dk_session_is_eos(s, t)) {
      why = DK_STOP_EOS;
    } else if (buf && dk_grow((void **)&buf, &cap, len + s->run->piece_len[t] + 1, 1) == 0) {
      size_t before = len;
      memcpy(buf + len, s->run->pieces[t], s->run->piece_len[t]);
      len += s->run->piece_len[t];
      if (find_stop(s, buf, len, before > s->max_stop ? before - s->max_stop : 0) != (size_t)-1)
        why = DK_STOP_STRING;
    }
    if (why == DK_STOP_NONE && (int64_t)(s->n_generated + i + 1) >= s->max_tokens) why = DK_STOP_LENGTH;
    if (why == DK_STOP_NONE && s->run->info.n_ctx > 0 && s->n_toks + i + 1 >= (size_t)s->run->info.n_ctx)
      why = DK_STOP_CONTEXT;
  }
  free(buf);
  if (reason) *reason = why;
  return i;
}

int dk_session_add_result(dk_session *s, const dk_token *toks, size_t n, double score,
                          dk_error *err) {
  if (score != score) return dk_error_set(err, DK_ERR_INVALID, "add_result: the score is NaN");
  int rc = dk_session_check_ids(s, toks, n, "add_result", err);
  if (rc) return rc;
  dk_completion *c = s->out;
  dk_hypothesis *t = realloc(c->results, (c->n_results + 1) * sizeof *t);
  if (!t) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  c->results = t;
  dk_hypothesis *h = &c->results[c->n_results];
  memset(h, 0, sizeof *h);
  size_t len = 0;
  for (size_t i = 0; i < n; i++) len += dk_session_is_eos(s, toks[i]) ? 0 : s->run->piece_len[toks[i]];
  h->tokens = malloc((n ? n : 1) * sizeof *h->tokens);
  h->text = malloc(len + 1);
  if (!h->tokens || !h->text) {
    free(h->tokens);
    free(h->text);
    return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  }
  if (n) memcpy(h->tokens, toks, n * sizeof *toks);
  for (size_t i = 0; i < n; i++) {
    if (dk_session_is_eos(s, toks[i])) continue;
    memcpy(h->text + h->text_len, s->run->pieces[toks[i]], s->run->piece_len[toks[i]]);
    h->text_len += s->run->piece_len[toks[i]];
  }
  h->text[h->text_len] = '\0';
  h->n_tokens = n;
  h->score = score;
  c->n_results++;
  return DK_OK;
}
