/* session.c -- run a pipeline: prompt prefill, per-completion sessions, commit, stops, stats. */
#include "session_impl.h"

#include "candidates.h"
#include "error.h"

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

/* ---- run setup ---- */

/* A plugin's refusal names the pipeline block that asked for it. */
static int make_instance(dk_run *run, dk_block *b, uint64_t stream,
                         const dk_vocab *vocab, dk_instance **out, dk_error *err) {
  int rc = dk_instance_create(b->comp, &b->cfg, run->seed, stream, vocab, run->threads, out, err);
  return rc ? dk_block_error(run->p, b, err) : DK_OK;
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

/* Decoders trust cap bits, so a bit whose op is missing is refused here. */
static int check_caps(const dk_instance *in, const dk_model_info *info, dk_error *err) {
  const struct dk_model_iface *mi = model_iface(in);
  static const struct {
    uint32_t bit;
    const char *name;
    size_t off;
  } ops[] = {
#define OP(bit, f) {bit, #f, offsetof(struct dk_model_iface, f)}
      OP(DK_MODEL_CAP_BATCH, eval_batch),        OP(DK_MODEL_CAP_TREE, eval_tree),
      OP(DK_MODEL_CAP_TREE, accept_path),        OP(DK_MODEL_CAP_FORK, fork),
      OP(DK_MODEL_CAP_TRUNCATE, truncate),       OP(DK_MODEL_CAP_MASKED, eval_masked),
      OP(DK_MODEL_CAP_HIDDEN, hidden),           OP(DK_MODEL_CAP_RAGGED, eval_ragged),
      OP(DK_MODEL_CAP_HEAD, eval_ragged),        OP(DK_MODEL_CAP_MASKED_SEQ, eval_masked_seq),
      OP(DK_MODEL_CAP_DUAL_CACHE, eval_masked_seq), OP(DK_MODEL_CAP_BLOCK_CAUSAL, eval_masked_seq),
      OP(DK_MODEL_CAP_ABORT, set_abort),         OP(DK_MODEL_CAP_SHARE, clone_shared),
#undef OP
  };
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
    void (*fn)(void);
    memcpy(&fn, (const char *)mi + ops[i].off, sizeof fn);
    if ((info->caps & ops[i].bit) && !fn)
      return dk_error_set(err, DK_ERR_ABI,
                          "model '%s' reports capability bit 0x%x but has no %s operation",
                          in->comp->hdr->name, ops[i].bit, ops[i].name);
  }
  if (info->attention != DK_ATTN_CAUSAL && info->attention != DK_ATTN_BIDIRECTIONAL)
    return dk_error_set(err, DK_ERR_INTERNAL, "model '%s' reports unknown attention %u",
                        in->comp->hdr->name, info->attention);
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
  return check_caps(in, info, err);
}

/* A plugin that declares it reads hidden states, on a model without them,
 * is refused before any output, at the plugin's block. */
static int check_hidden(const dk_run *run, const dk_block *b, const dk_instance *in, dk_error *err) {
  const dk_component *c = in->comp;
  if (c->lib->desc.abi_minor < 2 || !(c->hdr->caps & DK_CAP_NEEDS_HIDDEN) ||
      (run->info.caps & DK_MODEL_CAP_HIDDEN))
    return DK_OK;
  dk_error_set(err, DK_ERR_UNSUPPORTED,
               "%s: '%s' needs the model's hidden states, which model '%s' does not provide",
               dk_kind_name(c->kind), c->hdr->name, run->model->comp->hdr->name);
  return dk_block_error(run->p, b, err);
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
  /* Stream ids: 0 model, 1 draft, 2 decoder, 3 (first) drafter, 4 constraint,
   * 100+ scorers, 200+i drafter i > 0, 1000*(completion+1)+i samplers, +600+i branch samplers,
   * +998 the chain's final draw, +999 the decoder's session_rng. */
  int rc = make_instance(run, p->model, 0, NULL, &run->model, err);
  if (!rc && (rc = model_info(run->model, &run->info, err))) dk_block_error(p, p->model, err);
  if (!rc) rc = build_vocab(run, err);
  if (!rc && p->draft) rc = make_instance(run, p->draft, 1, NULL, &run->draft, err);
  if (!rc && run->draft && (rc = model_info(run->draft, &run->draft_info, err)))
    dk_block_error(p, p->draft, err);
  if (!rc && run->draft && run->draft_info.n_vocab != run->info.n_vocab)
    rc = dk_error_set(err, DK_ERR_INVALID,
                      "%s: draft model has %d vocabulary entries, the model has %d: they must "
                      "share one tokenizer",
                      p->file, run->draft_info.n_vocab, run->info.n_vocab);
  if (!rc) rc = make_instance(run, p->decoder, 2, &run->vocab, &run->decoder, err);
  if (!rc) {
    run->no_prefill = (run->decoder->comp->hdr->caps & DK_CAP_DECODER_NO_PREFILL) != 0;
    if (run->info.attention != DK_ATTN_CAUSAL && !run->no_prefill && !run->opts.model_only)
      rc = dk_error_set(err, DK_ERR_INVALID,
                        "%s: model '%s' is not causal (a diffusion LM); decoder '%s' would "
                        "evaluate it autoregressively: use a diffusion decoder",
                        p->file, run->model->comp->hdr->name, run->decoder->comp->hdr->name);
  }
  if (!rc) rc = check_hidden(run, p->decoder, run->decoder, err);
  /* One compiled constraint per run; completions fork it. */
  if (!rc && p->constraint)
    rc = make_instance(run, p->constraint, 4, &run->vocab, &run->constraint, err);
  if (!rc && p->n_drafters) {
    run->drafters = calloc(p->n_drafters, sizeof *run->drafters);
    if (!run->drafters) rc = dk_error_set(err, DK_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !rc && i < p->n_drafters; i++) {
      rc = make_instance(run, &p->drafter[i], i ? 200 + i : 3, &run->vocab, &run->drafters[i], err);
      run->n_drafters = i + 1;
    }
  }
  if (!rc && p->n_scorers) {
    run->scorers = calloc(p->n_scorers, sizeof *run->scorers);
    if (!run->scorers) rc = dk_error_set(err, DK_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !rc && i < p->n_scorers; i++) {
      rc = make_instance(run, &p->scorers[i], 100 + i, &run->vocab, &run->scorers[i], err);
      run->n_scorers = i + 1;
      if (!rc) rc = check_hidden(run, &p->scorers[i], run->scorers[i], err);
    }
  }
  /* Samplers are made per completion; make the first completion's chain now
   * so a refusal is reported before any output, like every other plugin's. */
  if (!rc) {
    dk_chain probe = {0};
    rc = dk_chain_init(&probe, p, run->seed, 1000, &run->vocab, err);
    dk_chain_free(&probe);
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
  for (size_t i = 0; i < run->n_drafters; i++) dk_instance_destroy(run->drafters[i]);
  free(run->drafters);
  dk_instance_destroy(run->constraint);
  dk_instance_destroy(run->decoder);
  dk_instance_destroy(run->draft);
  dk_instance_destroy(run->model);
  free(run->pieces);
  free(run->piece_len);
  free(run->attr);
  free(run);
}

const dk_model_ref *dk_run_model(dk_run *run) { return &run->model_px.ref; }
const dk_model_info *dk_run_model_info(dk_run *run) { return &run->info; }
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
  size_t n = s->run->n_drafters;
  return n > 1 ? &s->drafter_merge.ref : n ? &s->drafter_px[0].ref : NULL;
}
const dk_constraint_ref *dk_session_constraint(dk_session *s) {
  return s->constraint ? &s->constraint_ref : NULL;
}
size_t dk_session_n_scorers(dk_session *s) { return s->run->n_scorers; }
const dk_scorer_ref *dk_session_scorer(dk_session *s, size_t i) {
  return i < s->run->n_scorers ? &s->scorer_px[i].ref : NULL;
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
  /* metric_add cannot return a status: a lost metric fails the step. */
  dk_metric *t = realloc(c->metrics, (c->n_metrics + 1) * sizeof *t);
  if (t) c->metrics = t;
  char *nm = t && name ? dk_strdup(name) : NULL;
  if (!nm) {
    s->lost_metric = 1;
    return;
  }
  c->metrics[c->n_metrics].name = nm;
  c->metrics[c->n_metrics++].value = value;
}

/* ---- completions ---- */

static void session_free(dk_session *s) {
  dk_branches_free_all(s);
  dk_chain_free(&s->chain);
  dk_instance_destroy(s->constraint);
  free(s->scorer_px);
  dk_drafter_merge_free(&s->drafter_merge);
  free(s->drafter_px);
  free(s->cand_buf);
  free(s->lp_buf);
  free(s->ctx_buf);
  free(s->mask);
  free(s->toks);
  free(s->stops);
  dk_record_clear(&s->pending);
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
  s->pending_pos = (size_t)-1;
  s->n_stops = dk_gen_list_len(run->p, "stop");
  s->stops = calloc(s->n_stops ? s->n_stops : 1, sizeof *s->stops);
  if (!s->stops) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  for (size_t i = 0; i < s->n_stops; i++) {
    s->stops[i] = dk_gen_list_item(run->p, "stop", i);
    size_t l = strlen(s->stops[i]);
    if (l > s->max_stop) s->max_stop = l;
  }
  dk_rng_seed(&s->rng, run->seed, 1000 * (index + 1) + 999);
  dk_rng_seed(&s->chain_rng, run->seed, 1000 * (index + 1) + 998);
  size_t nv = (size_t)run->info.n_vocab;
  s->cand_buf = malloc(nv * sizeof *s->cand_buf);
  s->lp_buf = malloc(nv * sizeof *s->lp_buf);
  s->mask = calloc((nv + 31) / 32, sizeof *s->mask);
  if (dk_grow((void **)&s->toks, &s->cap_toks, n_prompt + 64, sizeof *s->toks) || !s->cand_buf ||
      !s->lp_buf || !s->mask)
    return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  memcpy(s->toks, prompt, n_prompt * sizeof *prompt);
  s->n_toks = s->n_prompt = n_prompt;
  const dk_pipeline *p = run->p;
  int rc = dk_chain_init(&s->chain, p, run->seed, 1000 * (index + 1), &run->vocab, err);
  if (rc) return rc;
  if (run->constraint) {
    /* Forking shares the compiled grammar: compilation happens once per run. */
    const struct dk_constraint_iface *ci =
        (const struct dk_constraint_iface *)(const void *)run->constraint->comp->hdr;
    rc = dk_instance_dup(run->constraint, ci->fork, "fork", &s->constraint, err);
    if (rc) return rc;
    s->constraint_ref.iface = ci;
    s->constraint_ref.inst = s->constraint->inst;
  }
  dk_model_proxy_init(&s->model_px, model_iface(run->model), run->model->inst, &run->info,
                      &s->meter);
  if (run->draft)
    dk_model_proxy_init(&s->draft_px, model_iface(run->draft), run->draft->inst,
                        &run->draft_info, &s->draft_meter);
  if (run->n_drafters) {
    s->drafter_px = calloc(run->n_drafters, sizeof *s->drafter_px);
    if (!s->drafter_px) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < run->n_drafters; i++) {
      const dk_instance *in = run->drafters[i];
      const struct dk_drafter_iface *di = (const struct dk_drafter_iface *)(const void *)in->comp->hdr;
      dk_drafter_proxy_init(&s->drafter_px[i], di, in->inst, in->comp->hdr->name, run->info.n_vocab);
      if (di->reset) di->reset(in->inst);
    }
    if (run->n_drafters > 1) dk_drafter_merge_init(&s->drafter_merge, s->drafter_px, run->n_drafters);
  }
  if (run->n_scorers) {
    s->scorer_px = calloc(run->n_scorers, sizeof *s->scorer_px);
    if (!s->scorer_px) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < run->n_scorers; i++)
      dk_scorer_proxy_init(&s->scorer_px[i],
                           (const struct dk_scorer_iface *)(const void *)run->scorers[i]->comp->hdr,
                           run->scorers[i]->inst, run->scorers[i]->comp->hdr->name);
  }
  return DK_OK;
}

static int tokenize_prompt(dk_run *run, const char *text, dk_token **out, size_t *n,
                           dk_error *err) {
  const struct dk_model_iface *mi = model_iface(run->model);
  const char *ab = dk_gen_string(run->p, "add_bos");
  int add_bos = strcmp(ab, "auto") == 0 ? run->info.add_bos : strcmp(ab, "true") == 0;
  uint32_t flags = (add_bos ? DK_TOKENIZE_ADD_SPECIAL : 0) |
                   (run->opts.parse_special ? DK_TOKENIZE_PARSE_SPECIAL : 0);
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
  if (rc == DK_OK && got > cap)
    rc = dk_error_set(err, DK_ERR_INTERNAL, "tokenize wrote %zu tokens into room for %zu", got, cap);
  for (size_t i = 0; rc == DK_OK && i < got; i++)
    if ((*out)[i] < 0 || (*out)[i] >= run->info.n_vocab)
      rc = dk_error_set(err, DK_ERR_INTERNAL, "tokenize gave token %d, outside the vocabulary",
                        (*out)[i]);
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

static int cancelled(const dk_run *run) {
  return run->opts.should_abort && run->opts.should_abort(run->opts.user);
}

/* The decoder's step loop.  A step that commits nothing must have run a
 * model (a search between commits), and only so many in a row: a buggy
 * decoder cannot spin forever. */
static int step_loop(dk_session *s, const dk_decoder_iface *di, void *dec, dk_error *err) {
  uint64_t idle = 0, idle_max = 4 * ((uint64_t)(s->max_tokens > 0 ? s->max_tokens : 0) + 64);
  int rc = DK_OK;
  while (rc == DK_OK) {
    if (cancelled(s->run)) return dk_session_finish(s, "cancelled");
    size_t before = s->n_generated;
    uint64_t passes = s->meter.forward_passes + s->draft_meter.forward_passes;
    rc = dk_plugin_status(di->step(dec, s, err), 1, err, "step");
    if (rc == DK_OK && s->lost_metric) rc = dk_error_set(err, DK_ERR_NOMEM, "out of memory for a metric");
    if (rc == DK_OK && s->out->stop_reason) rc = DK_DONE;
    if (rc != DK_OK || s->n_generated != before) {
      idle = 0;
      continue;
    }
    if (s->meter.forward_passes + s->draft_meter.forward_passes == passes)
      rc = dk_error_set(err, DK_ERR_INTERNAL, "step neither committed a token nor evaluated a model");
    else if (++idle > idle_max)
      rc = dk_error_set(err, DK_ERR_INTERNAL, "%llu steps in a row committed nothing",
                        (unsigned long long)idle);
  }
  if (rc == DK_ERR_CANCELLED) return dk_session_finish(s, "cancelled");
  return rc;
}

static int run_completion(dk_run *run, size_t index, dk_seq seq, const dk_token *prompt,
                          size_t n_prompt, const float *logits, dk_completion *c, dk_error *err) {
  dk_session s;
  double t0 = dk_now();
  int rc = session_init(&s, run, index, prompt, n_prompt, logits, c, err);
  s.seq = seq;
  const dk_decoder_iface *di = (const dk_decoder_iface *)(const void *)run->decoder->comp->hdr;
  void *dec = run->decoder->inst;
  const dk_drafter_ref *dr = rc ? NULL : dk_session_drafter(&s);
  if (!rc && s.max_tokens == 0) {
    dk_session_finish(&s, "length");
  } else if (!rc) {
    /* end runs only for a begin that succeeded (or that there was none). */
    int dr_begun = 0, dec_begun = 0;
    if (dr && dr->iface->begin) rc = dr->iface->begin(dr->inst, &s, err);
    dr_begun = rc == DK_OK;
    if (rc) {
      dk_error_ensure(err, rc, "begin");
      dk_block_error(run->p, run->p->drafter, err);
    }
    if (!rc && di->begin) rc = dk_plugin_status(di->begin(dec, &s, err), 0, err, "begin");
    dec_begun = rc == DK_OK;
    if (!rc) rc = step_loop(&s, di, dec, err);
    if (dec_begun && di->end) di->end(dec, &s);
    if (dr_begun && dr && dr->iface->end) dr->iface->end(dr->inst, &s);
    if (rc == DK_DONE) {
      if (!c->stop_reason) dk_session_finish(&s, "done"); /* the decoder ended it, no stop fired */
      rc = DK_OK;
    } else if (rc < 0 && dr_begun) {
      dk_error_ensure(err, rc, "step");
      /* A sampler's or the drafter's error already says where its block is. */
      if (strncmp(err->msg, run->p->file, strlen(run->p->file)) != 0) {
        dk_error_prefix(err, "decoder '%s': ", run->decoder->comp->hdr->name);
        dk_block_error(run->p, run->p->decoder, err);
      }
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
  if (!c->text) {
    c->text = calloc(1, 1);
    if (!c->text && rc == DK_OK) rc = dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  }
  if (rc == DK_OK && s.lost_metric) rc = dk_error_set(err, DK_ERR_NOMEM, "out of memory for a metric");
  session_free(&s);
  return rc;
}

/* The abort callback reaches the models only through the host. */
static void set_model_abort(dk_run *run, int on) {
  if (!run->opts.should_abort) return;
  dk_instance *models[2] = {run->model, run->draft};
  const dk_model_info *infos[2] = {&run->info, &run->draft_info};
  for (int i = 0; i < 2; i++)
    if (models[i] && (infos[i]->caps & DK_MODEL_CAP_ABORT))
      model_iface(models[i])->set_abort(models[i]->inst, on ? run->opts.should_abort : NULL,
                                        on ? run->opts.user : NULL);
}

void dk_run_set_prompt(dk_run *run, const char *prompt) { run->opts.prompt = prompt; }

int dk_run_generate(dk_run *run, dk_result **out, dk_error *err) {
  double t_start = dk_now();
  dk_result *r = calloc(1, sizeof *r);
  if (!r) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  *out = r;
  if (dk_pipeline_fingerprint(run->p, r->fingerprint))
    return dk_error_set(err, DK_ERR_NOMEM, "out of memory for the pipeline's fingerprint");
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
  set_model_abort(run, 1);
  double t0 = dk_now();
  rc = dk_plugin_status(mi->seq_new(m, &seq0, err), 0, err, "seq_new");
  if (rc) {
    free(logits);
    set_model_abort(run, 0);
    return rc;
  }
  /* A decoder that evaluates the prompt itself gets empty sequences. */
  if (!run->no_prefill)
    rc = dk_plugin_status(mi->eval(m, seq0, r->prompt_tokens, r->n_prompt, logits, 0, err), 0, err,
                          "eval");
  r->t_prompt = dk_now() - t0;
  for (size_t i = 0; !rc && i < n; i++) {
    dk_seq seq = seq0;
    /* Completions after the first share the prompt's KV blocks. */
    if (i + 1 < n) {
      if (mi->fork && (run->info.caps & DK_MODEL_CAP_FORK)) {
        rc = dk_plugin_status(mi->fork(m, seq0, &seq, err), 0, err, "fork");
      } else {
        rc = dk_plugin_status(mi->seq_new(m, &seq, err), 0, err, "seq_new");
        if (!rc && !run->no_prefill)
          rc = dk_plugin_status(mi->eval(m, seq, r->prompt_tokens, r->n_prompt, NULL, 0, err), 0,
                                err, "eval");
      }
    }
    if (!rc)
      rc = run_completion(run, i, seq, r->prompt_tokens, r->n_prompt,
                          run->no_prefill ? NULL : logits, &r->c[i], err);
    if (seq != seq0) mi->seq_free(m, seq);
  }
  mi->seq_free(m, seq0);
  set_model_abort(run, 0);
  free(logits);
  if (rc == DK_ERR_CANCELLED) {
    /* Cancelled during the prompt: every completion reports it, empty. */
    for (size_t i = 0; i < n; i++)
      if (!r->c[i].stop_reason) r->c[i].stop_reason = "cancelled";
    rc = DK_OK;
  }
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
    for (size_t k = 0; k < c->n_results; k++) {
      free(c->results[k].tokens);
      free(c->results[k].text);
    }
    free(c->results);
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
