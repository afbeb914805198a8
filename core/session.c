/* session.c -- run a pipeline: prompt prefill, per-completion sessions, commit, stops, stats. */
#include "session.h"

#include "candidates.h"
#include "chain.h"
#include "error.h"
#include "model_proxy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* OpenBLAS's thread pool is process-global: only the host sets it. */
extern void openblas_set_num_threads(int n);

double dk_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct dk_run {
  dk_pipeline *p;
  dk_run_opts opts;
  int threads;
  uint64_t seed;
  dk_instance *model, *draft, *decoder, *drafter;
  dk_instance **scorers;
  size_t n_scorers;
  dk_model_info info, draft_info;
  dk_vocab vocab;
  const char **pieces;
  uint32_t *piece_len;
  uint8_t *attr;
  dk_model_proxy model_px, draft_px; /* for commands that use the models directly */
  dk_model_meter meter0;
};

struct dk_session {
  dk_run *run;
  size_t index;
  dk_seq seq;
  dk_token *toks;
  size_t n_toks, cap_toks, n_prompt;
  const float *prompt_logits;
  dk_chain chain;
  dk_instance *constraint;
  dk_rng rng;
  dk_model_meter meter, draft_meter;
  dk_model_proxy model_px, draft_px;
  dk_drafter_ref drafter_ref;
  dk_constraint_ref constraint_ref;
  dk_scorer_ref *scorer_refs;
  dk_token_data *cand_buf;
  dk_token *ctx_buf;
  uint32_t *mask;
  dk_completion *out;
  size_t emitted, cap_text, cap_recs, cap_mask;
  int64_t max_tokens;
  int ignore_eos;
  size_t n_generated;
  size_t max_stop;
  dk_token_record pending; /* logprobs of the last sampled token */
  int logprobs;
};

/* ---- run setup ---- */

static int make_instance(dk_run *run, dk_block *b, uint64_t stream, const dk_vocab *vocab,
                         dk_instance **out, dk_error *err) {
  return dk_instance_create(b->comp, &b->cfg, run->seed, stream, vocab, run->threads, out, err);
}

static const struct dk_model_iface *model_iface(const dk_instance *in) {
  return (const struct dk_model_iface *)(const void *)in->comp->hdr;
}

static int build_vocab(dk_run *run, dk_error *err) {
  const struct dk_model_iface *mi = model_iface(run->model);
  void *m = run->model->inst;
  size_t n = (size_t)run->info.n_vocab;
  run->pieces = calloc(n, sizeof *run->pieces);
  run->piece_len = calloc(n, sizeof *run->piece_len);
  run->attr = calloc(n, 1);
  if (!run->pieces || !run->piece_len || !run->attr)
    return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  for (size_t i = 0; i < n; i++) {
    size_t len = 0;
    const char *pc = mi->token_piece(m, (dk_token)i, &len);
    run->pieces[i] = pc ? pc : "";
    run->piece_len[i] = pc ? (uint32_t)len : 0;
    run->attr[i] = mi->token_attr ? (uint8_t)mi->token_attr(m, (dk_token)i) : 0;
  }
  dk_token sp[3] = {run->info.bos, run->info.eos, run->info.eot};
  for (int k = 0; k < 3; k++)
    if (sp[k] >= 0 && (size_t)sp[k] < n) run->attr[sp[k]] |= DK_TOKEN_CONTROL;
  run->vocab = (dk_vocab){.struct_size = sizeof(dk_vocab),
                          .n_vocab = run->info.n_vocab,
                          .bos = run->info.bos,
                          .eos = run->info.eos,
                          .eot = run->info.eot,
                          .piece = run->pieces,
                          .piece_len = run->piece_len,
                          .attr = run->attr};
  return DK_OK;
}

static int model_info(dk_instance *in, dk_model_info *info, dk_error *err) {
  memset(info, 0, sizeof *info);
  info->struct_size = sizeof *info;
  info->bos = info->eos = info->eot = info->mask = -1;
  int rc = model_iface(in)->info(in->inst, info);
  if (rc) {
    dk_error_ensure(err, rc, "model info");
    return rc;
  }
  if (info->n_vocab <= 0)
    return dk_error_set(err, DK_ERR_INTERNAL, "model '%s' reports %d vocabulary entries",
                        in->comp->hdr->name, info->n_vocab);
  return DK_OK;
}

int dk_run_new(dk_pipeline *p, const dk_run_opts *opts, dk_run **out, dk_error *err) {
  *out = NULL;
  if (!p->resolved) return dk_error_set(err, DK_ERR_STATE, "pipeline is not resolved");
  dk_run *run = calloc(1, sizeof *run);
  if (!run) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  run->p = p;
  if (opts) run->opts = *opts;
  if (!opts || opts->logprobs < 0) run->opts.logprobs = (int)dk_gen_int(p, "logprobs");
  run->seed = (uint64_t)dk_gen_int(p, "seed");
  run->threads = run->opts.threads > 0 ? run->opts.threads : (int)dk_gen_int(p, "threads");
  if (run->threads <= 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    run->threads = n > 0 ? (int)n : 1;
  }
  openblas_set_num_threads(run->threads);
  /* Stream ids: 0 model, 1 draft, 2 decoder, 3 drafter, 100+ scorers,
   * 1000*(completion+1)+i samplers/constraint. */
  int rc = make_instance(run, p->model, 0, NULL, &run->model, err);
  if (!rc) rc = model_info(run->model, &run->info, err);
  if (!rc) rc = build_vocab(run, err);
  if (!rc && p->draft) rc = make_instance(run, p->draft, 1, NULL, &run->draft, err);
  if (!rc && run->draft) rc = model_info(run->draft, &run->draft_info, err);
  if (!rc && run->draft && run->draft_info.n_vocab != run->info.n_vocab)
    rc = dk_error_set(err, DK_ERR_INVALID,
                      "%s: draft model has %d vocabulary entries, the model has %d: they must "
                      "share one tokenizer",
                      p->file, run->draft_info.n_vocab, run->info.n_vocab);
  if (!rc) rc = make_instance(run, p->decoder, 2, &run->vocab, &run->decoder, err);
  if (!rc && p->drafter) rc = make_instance(run, p->drafter, 3, &run->vocab, &run->drafter, err);
  if (!rc && p->n_scorers) {
    run->scorers = calloc(p->n_scorers, sizeof *run->scorers);
    if (!run->scorers) rc = dk_error_set(err, DK_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !rc && i < p->n_scorers; i++) {
      rc = make_instance(run, &p->scorers[i], 100 + i, &run->vocab, &run->scorers[i], err);
      run->n_scorers = i + 1;
    }
  }
  if (rc) {
    dk_run_free(run);
    return rc;
  }
  dk_model_proxy_init(&run->model_px, model_iface(run->model), run->model->inst, &run->info,
                      &run->meter0);
  if (run->draft)
    dk_model_proxy_init(&run->draft_px, model_iface(run->draft), run->draft->inst,
                        &run->draft_info, &run->meter0);
  *out = run;
  return DK_OK;
}

void dk_run_free(dk_run *run) {
  if (!run) return;
  for (size_t i = 0; i < run->n_scorers; i++) dk_instance_destroy(run->scorers[i]);
  free(run->scorers);
  dk_instance_destroy(run->drafter);
  dk_instance_destroy(run->decoder);
  dk_instance_destroy(run->draft);
  dk_instance_destroy(run->model);
  free(run->pieces);
  free(run->piece_len);
  free(run->attr);
  free(run);
}

const dk_model_ref *dk_run_model(dk_run *run) { return &run->model_px.ref; }
const dk_model_ref *dk_run_draft_model(dk_run *run) {
  return run->draft ? &run->draft_px.ref : NULL;
}
const dk_vocab *dk_run_vocab(dk_run *run) { return &run->vocab; }

/* ---- session services ---- */

const dk_model_ref *dk_session_model(dk_session *s) { return &s->model_px.ref; }
const dk_model_ref *dk_session_draft_model(dk_session *s) {
  return s->run->draft ? &s->draft_px.ref : NULL;
}
const dk_drafter_ref *dk_session_drafter(dk_session *s) {
  return s->run->drafter ? &s->drafter_ref : NULL;
}
const dk_constraint_ref *dk_session_constraint(dk_session *s) {
  return s->constraint ? &s->constraint_ref : NULL;
}
size_t dk_session_n_scorers(dk_session *s) { return s->run->n_scorers; }
const dk_scorer_ref *dk_session_scorer(dk_session *s, size_t i) {
  return i < s->run->n_scorers ? &s->scorer_refs[i] : NULL;
}
dk_seq dk_session_seq(dk_session *s) { return s->seq; }
const float *dk_session_prompt_logits(dk_session *s) { return s->prompt_logits; }
dk_rng *dk_session_rng(dk_session *s) { return &s->rng; }

const dk_token *dk_session_tokens(dk_session *s, size_t *n, size_t *n_prompt) {
  if (n) *n = s->n_toks;
  if (n_prompt) *n_prompt = s->n_prompt;
  return s->toks;
}

void dk_session_metric_add(dk_session *s, const char *name, double value) {
  dk_completion *c = s->out;
  for (size_t i = 0; i < c->n_metrics; i++)
    if (strcmp(c->metrics[i].name, name) == 0) {
      c->metrics[i].value += value;
      return;
    }
  dk_metric *t = realloc(c->metrics, (c->n_metrics + 1) * sizeof *t);
  if (!t) return;
  c->metrics = t;
  c->metrics[c->n_metrics].name = dk_strdup(name);
  if (!c->metrics[c->n_metrics].name) return;
  c->metrics[c->n_metrics++].value = value;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t nc = *cap ? *cap * 2 : 64;
  while (nc < need) nc *= 2;
  void *t = realloc(*p, nc * elem);
  if (!t) return -1;
  *p = t;
  *cap = nc;
  return 0;
}

static int nan_logit(dk_error *err, size_t i) {
  return dk_error_set(err, DK_ERR_INVALID, "the model returned a NaN logit for token %zu", i);
}

/* Constraint mask + sampler chain over one row of logits; leaves the final
 * candidates in s->cand_buf. */
static int run_chain(dk_session *s, const float *logits, const dk_token *extra, size_t n_extra,
                     dk_candidates *cand, dk_error *err) {
  dk_run *run = s->run;
  size_t nv = (size_t)run->info.n_vocab;
  cand->data = s->cand_buf;
  cand->selected = -1;
  cand->flags = 0;
  size_t k = 0;
  if (!s->constraint) {
    for (size_t i = 0; i < nv; i++) {
      if (isnan(logits[i])) return nan_logit(err, i);
      cand->data[k++] = (dk_token_data){(dk_token)i, logits[i], 0.0f};
    }
  } else {
    double t0 = dk_now();
    const struct dk_constraint_iface *ci =
        (const struct dk_constraint_iface *)(const void *)s->constraint->comp->hdr;
    /* Constraint state already includes committed tokens; a decoder asking
     * about uncommitted extra tokens gets them advanced and rolled back. */
    size_t advanced = 0;
    int rc = DK_OK;
    for (; advanced < n_extra && rc == DK_OK; advanced++)
      rc = ci->advance(s->constraint->inst, extra[advanced], err);
    double tm = dk_now();
    if (rc == DK_OK) rc = ci->mask(s->constraint->inst, s->mask, err);
    double mask_s = dk_now() - tm;
    if (advanced) {
      size_t undo = rc == DK_OK ? advanced : advanced - 1;
      if (undo) ci->rollback(s->constraint->inst, undo, NULL);
    }
    if (rc) {
      dk_error_ensure(err, rc, "constraint");
      return dk_error_prefix(err, "constraint '%s': ", s->constraint->comp->hdr->name);
    }
    /* Only allowed tokens become candidates: walk set bits, skipping empty
     * words, so a narrow grammar costs little even at 128k tokens. */
    for (size_t w = 0; w < (nv + 31) / 32; w++) {
      uint32_t bits = s->mask[w];
      if (w == nv / 32) bits &= (1u << (nv % 32)) - 1u; /* no ids past the vocabulary */
      while (bits) {
        size_t i = w * 32 + (size_t)__builtin_ctz(bits);
        bits &= bits - 1;
        if (isnan(logits[i])) return nan_logit(err, i);
        cand->data[k++] = (dk_token_data){(dk_token)i, logits[i], 0.0f};
      }
    }
    s->out->t_constraint += dk_now() - t0;
    if (!grow((void **)&s->out->mask_us, &s->cap_mask, s->out->n_mask + 1, sizeof(double)))
      s->out->mask_us[s->out->n_mask++] = mask_s * 1e6;
    if (k == 0)
      return dk_error_set(err, DK_ERR_STATE, "constraint '%s' allows no token after %zu tokens",
                          s->constraint->comp->hdr->name, s->n_generated);
  }
  cand->n = k;
  double t0 = dk_now();
  const dk_token *ctx = s->toks;
  size_t n_ctx = s->n_toks;
  if (n_extra) {
    memcpy(s->ctx_buf, s->toks, s->n_toks * sizeof *s->toks);
    memcpy(s->ctx_buf + s->n_toks, extra, n_extra * sizeof *extra);
    ctx = s->ctx_buf;
    n_ctx += n_extra;
  }
  dk_sample_ctx sc = {sizeof sc, ctx, n_ctx, s->n_prompt};
  int rc = dk_chain_apply(&s->chain, &sc, cand, err);
  s->out->t_sample += dk_now() - t0;
  return rc;
}

static void record_logprobs(dk_session *s, const float *logits, const dk_candidates *cand,
                            dk_token chosen) {
  dk_token_record *r = &s->pending;
  free(r->raw_top);
  free(r->proc_top);
  memset(r, 0, sizeof *r);
  r->id = chosen;
  size_t nv = (size_t)s->run->info.n_vocab, top = (size_t)s->logprobs;
  float max = -INFINITY;
  for (size_t i = 0; i < nv; i++)
    if (logits[i] > max) max = logits[i];
  double sum = 0;
  for (size_t i = 0; i < nv; i++) sum += exp((double)logits[i] - max);
  double lse = max + log(sum);
  r->raw_lp = (float)(logits[chosen] - lse);
  r->raw_top = calloc(top ? top : 1, sizeof *r->raw_top);
  r->proc_top = calloc(top ? top : 1, sizeof *r->proc_top);
  if (!r->raw_top || !r->proc_top) return;
  /* Top-N raw alternatives by insertion: N is small (<= 64). */
  size_t n = 0;
  for (size_t i = 0; i < nv; i++) {
    float lp = (float)(logits[i] - lse);
    if (n == top && (top == 0 || lp <= r->raw_top[n - 1].logprob)) continue;
    size_t j = n < top ? n++ : n - 1;
    while (j > 0 && r->raw_top[j - 1].logprob < lp) {
      r->raw_top[j] = r->raw_top[j - 1];
      j--;
    }
    r->raw_top[j] = (dk_logprob_alt){(dk_token)i, lp};
  }
  /* Post-chain: probabilities of the surviving candidates. */
  dk_candidates c = *cand;
  c.data = s->cand_buf;
  c.selected = -1;
  dk_cand_sort(&c);
  dk_cand_softmax(&c);
  r->proc_lp = -INFINITY;
  for (size_t i = 0; i < c.n; i++) {
    if (c.data[i].id == chosen) r->proc_lp = logf(c.data[i].p);
    if (i < top) r->proc_top[i] = (dk_logprob_alt){c.data[i].id, logf(c.data[i].p)};
  }
  r->n_top = top;
  if (c.n < top)
    for (size_t i = c.n; i < top; i++) r->proc_top[i] = (dk_logprob_alt){-1, -INFINITY};
  r->has_lp = 1;
}

int dk_session_sample(dk_session *s, const float *logits, const dk_token *extra, size_t n_extra,
                      dk_token *out, dk_error *err) {
  dk_candidates cand;
  int rc = run_chain(s, logits, extra, n_extra, &cand, err);
  if (rc) return rc;
  dk_token chosen = dk_chain_choose(&s->chain, &cand, &s->rng);
  if (s->run->opts.record_logprobs) record_logprobs(s, logits, &cand, chosen);
  *out = chosen;
  return DK_OK;
}

int dk_session_distribution(dk_session *s, const float *logits, dk_candidates *out,
                            dk_error *err) {
  dk_candidates cand;
  int rc = run_chain(s, logits, NULL, 0, &cand, err);
  if (rc) return rc;
  cand.selected = -1;
  dk_cand_softmax(&cand);
  memcpy(out->data, cand.data, cand.n * sizeof *cand.data);
  out->n = cand.n;
  out->flags = cand.flags;
  out->selected = -1;
  return DK_OK;
}

/* ---- output: stop strings and UTF-8-safe streaming ---- */

static size_t utf8_incomplete_tail(const char *t, size_t len) {
  /* Bytes at the end that start a multi-byte character not yet complete. */
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

/* Append text; returns 1 when a stop string completed (text is cut before it). */
static int append_text(dk_session *s, const char *bytes, size_t len) {
  dk_completion *c = s->out;
  if (grow((void **)&c->text, &s->cap_text, c->text_len + len + 1, 1)) return 0;
  size_t before = c->text_len;
  memcpy(c->text + c->text_len, bytes, len);
  c->text_len += len;
  c->text[c->text_len] = '\0';
  const dk_pipeline *p = s->run->p;
  size_t n_stop = dk_gen_list_len(p, "stop");
  /* A stop string may straddle tokens: search from where a new match could start. */
  size_t from = before > s->max_stop ? before - s->max_stop : 0;
  size_t cut = (size_t)-1;
  for (size_t i = 0; i < n_stop; i++) {
    const char *st = dk_gen_list_item(p, "stop", i);
    size_t sl = strlen(st);
    if (!sl || sl > c->text_len) continue;
    for (size_t pos = from; pos + sl <= c->text_len; pos++)
      if (memcmp(c->text + pos, st, sl) == 0) {
        if (pos < cut) cut = pos;
        break;
      }
  }
  if (cut != (size_t)-1) {
    c->text_len = cut;
    c->text[cut] = '\0';
    emit(s, cut);
    return 1;
  }
  /* Hold back a suffix that could still become a stop string. */
  size_t hold = 0;
  for (size_t i = 0; i < n_stop; i++) {
    const char *st = dk_gen_list_item(p, "stop", i);
    size_t sl = strlen(st);
    for (size_t k = sl > 1 ? sl - 1 : 0; k > hold; k--)
      if (k <= c->text_len && memcmp(c->text + c->text_len - k, st, k) == 0) {
        hold = k;
        break;
      }
  }
  size_t safe = c->text_len - hold;
  safe -= utf8_incomplete_tail(c->text, safe);
  emit(s, safe);
  return 0;
}

static int finish(dk_session *s, const char *reason) {
  s->out->stop_reason = reason;
  emit(s, s->out->text_len);
  return DK_DONE;
}

int dk_session_commit(dk_session *s, const dk_token *toks, size_t n, dk_error *err) {
  dk_run *run = s->run;
  dk_completion *c = s->out;
  if (c->stop_reason) return DK_DONE;
  for (size_t i = 0; i < n; i++) {
    dk_token t = toks[i];
    if (t < 0 || t >= run->info.n_vocab)
      return dk_error_set(err, DK_ERR_INVALID, "commit: token %d is outside the vocabulary (0..%d)",
                          t, run->info.n_vocab - 1);
    int is_eos = !s->ignore_eos && (t == run->info.eos || t == run->info.eot);
    if (s->constraint && !is_eos) {
      const struct dk_constraint_iface *ci =
          (const struct dk_constraint_iface *)(const void *)s->constraint->comp->hdr;
      double t0 = dk_now();
      int rc = ci->advance(s->constraint->inst, t, err);
      c->t_constraint += dk_now() - t0;
      if (rc) {
        dk_error_ensure(err, rc, "advance");
        return dk_error_prefix(err, "constraint '%s' refused token %d: ",
                               s->constraint->comp->hdr->name, t);
      }
    }
    dk_chain_accept(&s->chain, t);
    s->n_generated++;
    if (is_eos) return finish(s, "eos");
    if (grow((void **)&s->toks, &s->cap_toks, s->n_toks + 1, sizeof *s->toks) ||
        grow((void **)&c->tokens, &s->cap_recs, c->n_tokens + 1, sizeof *c->tokens))
      return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
    dk_token_record *nr = realloc(c->recs, s->cap_recs * sizeof *nr);
    if (!nr) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
    c->recs = nr;
    s->toks[s->n_toks++] = t;
    c->tokens[c->n_tokens] = t;
    dk_token_record *r = &c->recs[c->n_tokens++];
    memset(r, 0, sizeof *r);
    r->id = t;
    if (s->pending.has_lp && s->pending.id == t) {
      *r = s->pending;
      memset(&s->pending, 0, sizeof s->pending);
    }
    if (append_text(s, run->pieces[t], run->piece_len[t])) return finish(s, "stop");
    if ((int64_t)s->n_generated >= s->max_tokens) return finish(s, "length");
    if (run->info.n_ctx > 0 && s->n_toks >= (size_t)run->info.n_ctx) return finish(s, "context");
  }
  return DK_OK;
}

/* ---- completions ---- */

static void session_free(dk_session *s) {
  dk_chain_free(&s->chain);
  dk_instance_destroy(s->constraint);
  free(s->scorer_refs);
  free(s->cand_buf);
  free(s->ctx_buf);
  free(s->mask);
  free(s->toks);
  free(s->pending.raw_top);
  free(s->pending.proc_top);
}

static int session_init(dk_session *s, dk_run *run, size_t index, const dk_token *prompt,
                        size_t n_prompt, const float *prompt_logits, dk_completion *out,
                        dk_error *err) {
  memset(s, 0, sizeof *s);
  s->run = run;
  s->index = index;
  s->out = out;
  s->prompt_logits = prompt_logits;
  s->logprobs = run->opts.logprobs;
  s->max_tokens = dk_gen_int(run->p, "max_tokens");
  s->ignore_eos = dk_gen_bool(run->p, "ignore_eos");
  for (size_t i = 0; i < dk_gen_list_len(run->p, "stop"); i++) {
    size_t l = strlen(dk_gen_list_item(run->p, "stop", i));
    if (l > s->max_stop) s->max_stop = l;
  }
  dk_rng_seed(&s->rng, run->seed, 1000 * (index + 1) + 999);
  size_t nv = (size_t)run->info.n_vocab;
  size_t n_ctx = run->info.n_ctx > 0 ? (size_t)run->info.n_ctx : n_prompt + 4096;
  s->cand_buf = malloc(nv * sizeof *s->cand_buf);
  s->mask = calloc((nv + 31) / 32, sizeof *s->mask);
  s->ctx_buf = malloc((n_ctx + 1024) * sizeof *s->ctx_buf);
  if (grow((void **)&s->toks, &s->cap_toks, n_prompt + 64, sizeof *s->toks) || !s->cand_buf ||
      !s->mask || !s->ctx_buf)
    return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  memcpy(s->toks, prompt, n_prompt * sizeof *prompt);
  s->n_toks = s->n_prompt = n_prompt;
  const dk_pipeline *p = run->p;
  int rc = dk_chain_init(&s->chain, p, run->seed, 1000 * (index + 1), &run->vocab, err);
  if (rc) return rc;
  if (p->constraint) {
    rc = dk_instance_create(p->constraint->comp, &p->constraint->cfg, run->seed,
                                1000 * (index + 1) + 500, &run->vocab, 1, &s->constraint, err);
    if (rc) return rc;
    s->constraint_ref.iface =
        (const struct dk_constraint_iface *)(const void *)s->constraint->comp->hdr;
    s->constraint_ref.inst = s->constraint->inst;
  }
  dk_model_proxy_init(&s->model_px, model_iface(run->model), run->model->inst, &run->info,
                      &s->meter);
  if (run->draft)
    dk_model_proxy_init(&s->draft_px, model_iface(run->draft), run->draft->inst,
                        &run->draft_info, &s->draft_meter);
  if (run->drafter) {
    s->drafter_ref.iface = (const struct dk_drafter_iface *)(const void *)run->drafter->comp->hdr;
    s->drafter_ref.inst = run->drafter->inst;
    if (s->drafter_ref.iface->reset) s->drafter_ref.iface->reset(run->drafter->inst);
  }
  if (run->n_scorers) {
    s->scorer_refs = calloc(run->n_scorers, sizeof *s->scorer_refs);
    if (!s->scorer_refs) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < run->n_scorers; i++) {
      s->scorer_refs[i].iface =
          (const struct dk_scorer_iface *)(const void *)run->scorers[i]->comp->hdr;
      s->scorer_refs[i].inst = run->scorers[i]->inst;
    }
  }
  return DK_OK;
}

static int tokenize_prompt(dk_run *run, const char *text, dk_token **out, size_t *n,
                           dk_error *err) {
  const struct dk_model_iface *mi = model_iface(run->model);
  const char *ab = dk_gen_string(run->p, "add_bos");
  int add_bos = strcmp(ab, "auto") == 0 ? run->info.add_bos : strcmp(ab, "true") == 0;
  uint32_t flags = add_bos ? DK_TOKENIZE_ADD_SPECIAL : 0;
  size_t len = strlen(text), cap = len + 8, got = 0;
  *out = malloc(cap * sizeof **out);
  if (!*out) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  int rc = mi->tokenize(run->model->inst, text, len, flags, *out, cap, &got, err);
  if (rc == DK_ERR_RANGE && got > cap) {
    dk_token *t = realloc(*out, got * sizeof *t);
    if (!t) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
    *out = t;
    cap = got;
    rc = mi->tokenize(run->model->inst, text, len, flags, *out, cap, &got, err);
  }
  if (rc) {
    dk_error_ensure(err, rc, "tokenize");
    return dk_error_prefix(err, "tokenizing the prompt: ");
  }
  /* With nothing to condition on, start from BOS if the model has one. */
  if (got == 0 && run->info.bos >= 0) (*out)[got++] = run->info.bos;
  if (got == 0)
    return dk_error_set(err, DK_ERR_INVALID, "the prompt is empty and the model has no BOS token");
  if (run->info.n_ctx > 0 && got >= (size_t)run->info.n_ctx)
    return dk_error_set(err, DK_ERR_RANGE,
                        "the prompt has %zu tokens; the model's context holds %d", got,
                        run->info.n_ctx);
  *n = got;
  return DK_OK;
}

static int run_completion(dk_run *run, size_t index, dk_seq seq, const dk_token *prompt,
                          size_t n_prompt, const float *logits, dk_completion *c, dk_error *err) {
  dk_session s;
  double t0 = dk_now();
  int rc = session_init(&s, run, index, prompt, n_prompt, logits, c, err);
  s.seq = seq;
  const dk_decoder_iface *di = (const dk_decoder_iface *)(const void *)run->decoder->comp->hdr;
  void *dec = run->decoder->inst;
  const char *dname = run->decoder->comp->hdr->name;
  if (!rc && s.max_tokens == 0) {
    finish(&s, "length");
  } else if (!rc) {
    if (di->begin) rc = di->begin(dec, &s, err);
    while (rc == DK_OK) {
      size_t before = s.n_generated;
      rc = di->step(dec, &s, err);
      if (rc == DK_OK && s.out->stop_reason) rc = DK_DONE;
      if (rc == DK_OK && s.n_generated == before)
        rc = dk_error_set(err, DK_ERR_INTERNAL, "step returned without committing a token");
    }
    if (di->end) di->end(dec, &s);
    if (rc == DK_DONE) {
      if (!c->stop_reason) finish(&s, "eos");
      rc = DK_OK;
    } else if (rc < 0) {
      dk_error_ensure(err, rc, "step");
      dk_error_prefix(err, "decoder '%s': ", dname);
    }
  }
  c->forward_passes = s.meter.forward_passes + s.draft_meter.forward_passes;
  c->model_tokens = s.meter.tokens;
  c->t_model = s.meter.seconds + s.draft_meter.seconds;
  if (run->draft) {
    dk_session_metric_add(&s, "draft_forward_passes", (double)s.draft_meter.forward_passes);
    dk_session_metric_add(&s, "draft_seconds", s.draft_meter.seconds);
  }
  c->t_total = dk_now() - t0;
  /* An empty completion still has a (NUL-terminated) text. */
  if (!c->text && !grow((void **)&c->text, &s.cap_text, 1, 1)) c->text[0] = '\0';
  session_free(&s);
  return rc;
}

int dk_run_generate(dk_run *run, dk_result **out, dk_error *err) {
  double t_start = dk_now();
  dk_result *r = calloc(1, sizeof *r);
  if (!r) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  *out = r;
  dk_pipeline_fingerprint(run->p, r->fingerprint);
  r->threads = run->threads;
  const char *prompt = run->opts.prompt ? run->opts.prompt : dk_gen_string(run->p, "prompt");
  int rc = tokenize_prompt(run, prompt, &r->prompt_tokens, &r->n_prompt, err);
  if (rc) return rc;
  size_t n = (size_t)dk_gen_int(run->p, "n");
  r->c = calloc(n, sizeof *r->c);
  float *logits = malloc((size_t)run->info.n_vocab * sizeof *logits);
  if (!r->c || !logits) {
    free(logits);
    return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  }
  r->n = n;
  const struct dk_model_iface *mi = model_iface(run->model);
  void *m = run->model->inst;
  dk_seq seq0;
  double t0 = dk_now();
  rc = mi->seq_new(m, &seq0, err);
  if (rc) {
    free(logits);
    dk_error_ensure(err, rc, "seq_new");
    return rc;
  }
  rc = mi->eval(m, seq0, r->prompt_tokens, r->n_prompt, logits, 0, err);
  r->t_prompt = dk_now() - t0;
  for (size_t i = 0; !rc && i < n; i++) {
    dk_seq seq = seq0;
    /* Completions after the first share the prompt's KV blocks. */
    if (i + 1 < n) {
      if (mi->fork) {
        rc = mi->fork(m, seq0, &seq, err);
      } else {
        rc = mi->seq_new(m, &seq, err);
        if (!rc) rc = mi->eval(m, seq, r->prompt_tokens, r->n_prompt, NULL, 0, err);
      }
    }
    if (!rc) rc = run_completion(run, i, seq, r->prompt_tokens, r->n_prompt, logits, &r->c[i], err);
    if (seq != seq0) mi->seq_free(m, seq);
  }
  mi->seq_free(m, seq0);
  free(logits);
  if (rc < 0) dk_error_ensure(err, rc, "generation");
  r->t_total = dk_now() - t_start;
  return rc < 0 ? rc : DK_OK;
}

void dk_result_free(dk_result *r) {
  if (!r) return;
  for (size_t i = 0; i < r->n; i++) {
    dk_completion *c = &r->c[i];
    for (size_t k = 0; k < c->n_tokens; k++) {
      free(c->recs[k].raw_top);
      free(c->recs[k].proc_top);
    }
    for (size_t k = 0; k < c->n_metrics; k++) free(c->metrics[k].name);
    free(c->metrics);
    free(c->recs);
    free(c->tokens);
    free(c->text);
    free(c->mask_us);
  }
  free(r->c);
  free(r->prompt_tokens);
  free(r);
}
