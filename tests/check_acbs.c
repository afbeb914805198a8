/* check_acbs.c -- attribute-conditional beam search, the exact length search (METHODS 3) and the model scorers (classifier, lm: score_batch and score_next). */
#define _POSIX_C_SOURCE 200809L /* truncate */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "harness.h"
#include "loader.h"
#include "pipeline.h"
#include "session.h"
#include "session_impl.h" /* a session holding just the run's models, for the scorers */

static dk_registry *reg;
static dk_error err;
static char model_block[2048]; /* "decokit: 1\nmodel: ...\n" for the bundled target */
static char draft_block[1024]; /* "draft: ...\n", the bundled draft, for the lm scorer */
static char head_path[1024];   /* the shipped classifier head */

static void setup(void) {
  reg = dkh_registry();
  dk_error_clear(&err);
  const char *src = getenv("DECOKIT_SRCDIR");
  ck_assert_msg(src != NULL, "run through make check");
  snprintf(model_block, sizeof model_block,
           "decokit: 1\nmodel: { plugin: llama, path: %s/models/decokit-tiny.gguf }\n", src);
  snprintf(draft_block, sizeof draft_block,
           "draft: { plugin: llama, path: %s/models/decokit-tiny-draft.gguf }\n", src);
  snprintf(head_path, sizeof head_path, "%s/models/decokit-tiny-attr-lord-god.bin", src);
}

static void teardown(void) { dk_registry_free(reg); }

/* Parse, resolve and instantiate a pipeline (NULL with err set on failure). */
static dk_run *new_run(const char *yaml, const char *prompt, dk_pipeline **p) {
  static dk_run_opts opts;
  opts = (dk_run_opts){.prompt = prompt, .record_logprobs = 1, .logprobs = -1};
  dk_run *run = NULL;
  *p = NULL;
  if (dk_pipeline_parse(yaml, strlen(yaml), "t.yaml", ".", p, &err)) return NULL;
  if (dk_pipeline_resolve(*p, reg, NULL, &err) || dk_run_new(*p, &opts, &run, &err)) {
    dk_run_free(run);
    dk_pipeline_free(*p);
    *p = NULL;
    return NULL;
  }
  return run;
}

static dk_result *try_yaml(const char *yaml, const char *prompt) {
  int rc;
  dk_result *r = dkh_run_yaml(reg, yaml, ".", prompt, &(dk_run_opts){.logprobs = -1}, &rc, &err);
  if (rc != DK_OK) {
    dk_result_free(r);
    r = NULL;
  }
  return r;
}

static dk_result *run_yaml(const char *yaml, const char *prompt) {
  dk_result *r = try_yaml(yaml, prompt);
  ck_assert_msg(r != NULL, "%s", err.msg);
  return r;
}

/* The bundled target with the given decoder and scorer lines. */
static dk_result *bundled(const char *rest, const char *prompt) {
  char y[8192];
  snprintf(y, sizeof y, "%s%s", model_block, rest);
  return run_yaml(y, prompt);
}

static const char *const prompts[] = {"It is a truth universally acknowledged",
                                      "In the beginning", "She walked into the garden and"};
#define N_PROMPTS (sizeof prompts / sizeof *prompts)

/* Write a head over n_embd hidden values: weights w (all equal), bias b. */
static void write_head(const char *path, unsigned n_embd, float w, float b) {
  FILE *f = fopen(path, "wb");
  ck_assert(f != NULL);
  const char magic[8] = {'D', 'K', 'C', 'L', 'S', 0, 0, 1};
  fwrite(magic, 1, 8, f);
  uint32_t hdr[2] = {n_embd, 1};
  fwrite(hdr, 4, 2, f);
  for (unsigned i = 0; i < n_embd; i++) fwrite(&w, 4, 1, f);
  fwrite(&b, 4, 1, f);
  int32_t bos = 1;
  fwrite(&bos, 4, 1, f);
  fwrite(&b, 4, 1, f);
  fclose(f);
}

/* The shipped head: weights, bias, check sequence and its logit. */
typedef struct head {
  uint32_t n_embd, n_probe;
  float w[1024], b, logit;
  dk_token probe[4096];
} head;

static void read_head(head *hd) {
  FILE *f = fopen(head_path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", head_path);
  char magic[8];
  ck_assert(fread(magic, 1, 8, f) == 8);
  ck_assert(fread(&hd->n_embd, 4, 1, f) == 1 && fread(&hd->n_probe, 4, 1, f) == 1);
  ck_assert(hd->n_embd <= 1024 && hd->n_probe <= 4096);
  ck_assert(fread(hd->w, 4, hd->n_embd, f) == hd->n_embd);
  ck_assert(fread(&hd->b, 4, 1, f) == 1);
  ck_assert(fread(hd->probe, 4, hd->n_probe, f) == hd->n_probe);
  ck_assert(fread(&hd->logit, 4, 1, f) == 1);
  fclose(f);
}

/* The model's last hidden row after toks, by a plain eval on a new sequence. */
static void hidden_after(const dk_model_ref *m, const dk_token *toks, size_t n, float *out) {
  dk_seq seq;
  ck_assert_int_eq(m->iface->seq_new(m->inst, &seq, &err), DK_OK);
  ck_assert_int_eq(m->iface->eval(m->inst, seq, toks, n, NULL, 0, &err), DK_OK);
  ck_assert_int_eq(m->iface->hidden(m->inst, seq, 1, out, &err), DK_OK);
  m->iface->seq_free(m->inst, seq);
}

static double head_logit(const head *hd, const float *h) {
  double z = hd->b;
  for (uint32_t i = 0; i < hd->n_embd; i++) z += (double)hd->w[i] * h[i];
  return z;
}

static double log_sigmoid(double z) { return z >= 0 ? -log1p(exp(-z)) : z - log1p(exp(z)); }

/* The completion's prompt followed by result 0's tokens, without a final
 * EOS (id 2 in the bundled model) when drop_eos. */
static size_t full_tokens(const dk_result *r, dk_token *out, size_t cap, int drop_eos) {
  const dk_hypothesis *hy = &r->c[0].results[0];
  ck_assert(r->n_prompt + hy->n_tokens <= cap);
  memcpy(out, r->prompt_tokens, r->n_prompt * sizeof *out);
  memcpy(out + r->n_prompt, hy->tokens, hy->n_tokens * sizeof *out);
  size_t n = r->n_prompt + hy->n_tokens;
  if (drop_eos && n > r->n_prompt && out[n - 1] == 2) n--;
  return n;
}

static double sum_proc(const dk_completion *c) {
  double s = 0;
  for (size_t i = 0; i < c->n_tokens; i++) {
    ck_assert(c->recs[i].has_proc);
    s += c->recs[i].proc_lp;
  }
  return s;
}

/* METHODS 3, test 1: with a constant attribute ACBS is beam search: the
 * same hypotheses, and scores shifted by the constant. */
START_TEST(test_constant_attribute_is_beam) {
  const char *hp = "check_acbs-constant-head.bin"; /* in the build folder */
  write_head(hp, 128, 0.0f, 1.5f);
  const double shift = log_sigmoid(1.5);
  for (size_t k = 0; k < N_PROMPTS; k++) {
    dk_result *b = bundled("decoder: { plugin: beam, width: 4, num_return: 4 }\n"
                           "generate: { max_tokens: 16 }\n", prompts[k]);
    dk_result *z = bundled("decoder: { plugin: acbs, width: 4, top_k: 8, num_return: 4 }\n"
                           "scorers: [ { plugin: length } ]\ngenerate: { max_tokens: 16 }\n", prompts[k]);
    char y[2048];
    snprintf(y, sizeof y, "decoder: { plugin: acbs, width: 4, top_k: 8, num_return: 4 }\n"
                          "scorers: [ { plugin: classifier, file: '%s' } ]\ngenerate: { max_tokens: 16 }\n", hp);
    dk_result *c = bundled(y, prompts[k]);
    snprintf(y, sizeof y, "decoder: { plugin: acbs, width: 4, top_k: 8, num_return: 4 }\n"
                          "scorers: [ { plugin: classifier, file: '%s', negate: true } ]\n"
                          "generate: { max_tokens: 16 }\n", hp);
    dk_result *neg = bundled(y, prompts[k]);
    ck_assert_uint_eq(neg->c[0].n_results, 4);
    ck_assert_uint_eq(b->c[0].n_results, 4);
    ck_assert_uint_eq(z->c[0].n_results, 4);
    ck_assert_uint_eq(c->c[0].n_results, 4);
    for (size_t i = 0; i < 4; i++) {
      const dk_hypothesis *hb = &b->c[0].results[i], *hz = &z->c[0].results[i], *hc = &c->c[0].results[i];
      ck_assert_uint_eq(hb->n_tokens, hz->n_tokens);
      ck_assert_uint_eq(hb->n_tokens, hc->n_tokens);
      ck_assert(memcmp(hb->tokens, hz->tokens, hb->n_tokens * sizeof *hb->tokens) == 0);
      ck_assert(memcmp(hb->tokens, hc->tokens, hb->n_tokens * sizeof *hb->tokens) == 0);
      ck_assert_double_eq(hb->score, hz->score);
      ck_assert_msg(fabs(hc->score - (hb->score + shift)) < 1e-9, "%s result %zu: %.9f against %.9f",
                    prompts[k], i, hc->score, hb->score + shift);
      /* negate: log(1 - sigmoid(1.5)) = log sigmoid(-1.5) */
      ck_assert(memcmp(hb->tokens, neg->c[0].results[i].tokens, hb->n_tokens * sizeof *hb->tokens) == 0);
      ck_assert(fabs(neg->c[0].results[i].score - (hb->score + log_sigmoid(-1.5))) < 1e-9);
    }
    dk_result_free(neg);
    dk_result_free(b);
    dk_result_free(z);
    dk_result_free(c);
  }
  remove(hp);
}
END_TEST

/* The features the head was trained on (tools/train's numpy forward) are
 * the ones decokit's llama plugin gives: the head's logit on its check
 * sequence agrees. */
START_TEST(test_features_match_training) {
  static head hd;
  read_head(&hd);
  ck_assert_uint_eq(hd.n_embd, 128);
  dk_pipeline *p;
  dk_run *run = new_run(model_block, "x", &p);
  ck_assert_msg(run != NULL, "%s", err.msg);
  float h[128];
  hidden_after(dk_run_model(run), hd.probe, hd.n_probe, h);
  double z = head_logit(&hd, h);
  ck_assert_msg(fabs(z - hd.logit) < 1e-3, "logit %.6f here, %.6f in training", z, hd.logit);
  dk_run_free(run);
  dk_pipeline_free(p);
}
END_TEST

/* A finished hypothesis scores its log-probability plus the classifier's
 * log sigmoid(w.h + b) on its text's last hidden row (width 1, top_k 1: the
 * greedy text, its attribute computed step by step through the cache). */
START_TEST(test_classifier_scores_the_text) {
  static head hd;
  read_head(&hd);
  for (size_t k = 0; k < N_PROMPTS; k++) {
    char y[4096];
    snprintf(y, sizeof y, "%sdecoder: { plugin: acbs, width: 1, top_k: 1, length_penalty: 0 }\n"
                          "scorers: [ { plugin: classifier, file: '%s' } ]\ngenerate: { max_tokens: 20 }\n",
             model_block, head_path);
    dk_pipeline *p;
    dk_run *run = new_run(y, prompts[k], &p);
    ck_assert_msg(run != NULL, "%s", err.msg);
    dk_result *r = NULL;
    ck_assert_msg(dk_run_generate(run, &r, &err) == DK_OK, "%s", err.msg);
    dk_token toks[512];
    size_t n = full_tokens(r, toks, 512, 1);
    float h[128];
    hidden_after(dk_run_model(run), toks, n, h);
    double want = sum_proc(&r->c[0]) + log_sigmoid(head_logit(&hd, h));
    ck_assert_msg(fabs(r->c[0].results[0].score - want) < 1e-3, "%s: score %.6f, want %.6f", prompts[k],
                  r->c[0].results[0].score, want);
    dk_result_free(r);
    dk_run_free(run);
    dk_pipeline_free(p);
  }
}
END_TEST

/* The draft's log-likelihood of the generated tokens, by one plain eval. */
static double draft_loglik(const dk_model_ref *m, const dk_token *toks, size_t n, size_t n_prompt) {
  int nv = m->info->n_vocab;
  float *logits = malloc((size_t)n * (size_t)nv * sizeof *logits);
  ck_assert(logits != NULL);
  dk_seq seq;
  ck_assert_int_eq(m->iface->seq_new(m->inst, &seq, &err), DK_OK);
  ck_assert_int_eq(m->iface->eval(m->inst, seq, toks, n, logits, DK_EVAL_ALL_LOGITS, &err), DK_OK);
  m->iface->seq_free(m->inst, seq);
  double s = 0;
  for (size_t p = n_prompt; p < n; p++) {
    const float *row = logits + (p - 1) * (size_t)nv;
    double mx = -INFINITY, z = 0;
    for (int v = 0; v < nv; v++) mx = row[v] > mx ? row[v] : mx;
    for (int v = 0; v < nv; v++) z += exp(row[v] - mx);
    s += row[toks[p]] - (mx + log(z));
  }
  free(logits);
  return s;
}

START_TEST(test_lm_scores_under_the_draft) {
  for (int norm = 0; norm < 2; norm++)
    for (size_t k = 0; k < N_PROMPTS; k++) {
      char y[4096];
      snprintf(y, sizeof y, "%s%sdecoder: { plugin: acbs, width: 1, top_k: 1, length_penalty: 0 }\n"
                            "scorers: [ { plugin: lm, normalize: %s } ]\ngenerate: { max_tokens: 20 }\n",
               model_block, draft_block, norm ? "true" : "false");
      dk_pipeline *p;
      dk_run *run = new_run(y, prompts[k], &p);
      ck_assert_msg(run != NULL, "%s", err.msg);
      dk_result *r = NULL;
      ck_assert_msg(dk_run_generate(run, &r, &err) == DK_OK, "%s", err.msg);
      dk_token toks[512];
      size_t n = full_tokens(r, toks, 512, 0);
      double ll = draft_loglik(dk_run_draft_model(run), toks, n, r->n_prompt);
      if (norm) ll /= (double)(n - r->n_prompt);
      double want = sum_proc(&r->c[0]) + ll;
      ck_assert_msg(fabs(r->c[0].results[0].score - want) < 1e-3, "%s: score %.6f, want %.6f",
                    prompts[k], r->c[0].results[0].score, want);
      dk_result_free(r);
      dk_run_free(run);
      dk_pipeline_free(p);
    }
}
END_TEST

/* score_next of the model scorers against score_batch on the same inputs
 * and against a plain evaluation.  The scorers only ask a session for its
 * models, so one made from the run's is enough to call them directly. */
static void scorer_session(dk_run *run, dk_session *s) {
  memset(s, 0, sizeof *s);
  s->run = run;
  s->model_px.ref = *dk_run_model(run);
  if (dk_run_draft_model(run)) s->draft_px.ref = *dk_run_draft_model(run);
}

/* Contexts: the prompt plus the first k tokens beam search generates. */
static size_t next_context(const char *prompt, size_t k, dk_token *out, size_t *n_prompt) {
  dk_result *r = bundled("decoder: { plugin: beam, width: 2 }\ngenerate: { max_tokens: 8 }\n", prompt);
  size_t n = full_tokens(r, out, 512, 0);
  *n_prompt = r->n_prompt;
  if (n > r->n_prompt + k) n = r->n_prompt + k;
  dk_result_free(r);
  return n;
}

#define N_CANDS 40

/* Candidates: EOS, then every 97th id. */
static void next_cands(dk_token *c, int n_vocab) {
  c[0] = 2;
  for (size_t i = 1; i < N_CANDS; i++) c[i] = (dk_token)((i * 97) % (size_t)n_vocab);
}

/* Both orders: score_next on a cold cache then score_batch (which finds the
 * context cached, so the sums agree bit for bit), and score_batch on a cold
 * cache then score_next (the context evaluated in another batch shape). */
static void next_against_batch(const dk_scorer_ref *sc, dk_session *s, const dk_token *ctx, size_t n,
                               size_t n_prompt, const dk_token *cands, double *next) {
  static dk_token ext[N_CANDS][520];
  const dk_token *hyps[N_CANDS];
  size_t lens[N_CANDS];
  for (size_t i = 0; i < N_CANDS; i++) {
    memcpy(ext[i], ctx, n * sizeof *ctx);
    ext[i][n] = cands[i];
    hyps[i] = ext[i];
    lens[i] = n + 1;
  }
  double batch[N_CANDS], next2[N_CANDS];
  dk_session other;
  memcpy(&other, s, sizeof other); /* another session: the cache starts cold */
  ck_assert_msg(sc->iface->score_next(sc->inst, s, ctx, n, n_prompt, cands, N_CANDS, next, &err) == DK_OK,
                "%s", err.msg);
  ck_assert_msg(sc->iface->score_batch(sc->inst, s, hyps, lens, N_CANDS, n_prompt, batch, &err) == DK_OK,
                "%s", err.msg);
  for (size_t i = 0; i < N_CANDS; i++)
    ck_assert_msg(next[i] == batch[i], "candidate %d: next %.12f, batch %.12f", (int)cands[i], next[i], batch[i]);
  ck_assert_int_eq(sc->iface->score_batch(sc->inst, &other, hyps, lens, N_CANDS, n_prompt, batch, &err), DK_OK);
  ck_assert_int_eq(sc->iface->score_next(sc->inst, &other, ctx, n, n_prompt, cands, N_CANDS, next2, &err), DK_OK);
  for (size_t i = 0; i < N_CANDS; i++) {
    ck_assert_msg(fabs(next2[i] - batch[i]) < 1e-6, "candidate %d: next %.9f, batch %.9f", (int)cands[i],
                  next2[i], batch[i]);
    ck_assert(fabs(next2[i] - next[i]) < 1e-6);
  }
}

START_TEST(test_lm_score_next) {
  for (int norm = 0; norm < 2; norm++)
    for (int target = 0; target < 2; target++) {
      char y[4096];
      snprintf(y, sizeof y, "%s%sdecoder: { plugin: acbs }\nscorers: [ { plugin: lm, model: %s, normalize: %s } ]\n",
               model_block, draft_block, target ? "target" : "draft", norm ? "true" : "false");
      dk_pipeline *p;
      dk_run *run = new_run(y, "x", &p);
      ck_assert_msg(run != NULL, "%s", err.msg);
      const dk_model_ref *judge = target ? dk_run_model(run) : dk_run_draft_model(run);
      dk_session s;
      scorer_session(run, &s);
      dk_scorer_ref ref = {0};
      ref.iface = (const struct dk_scorer_iface *)(const void *)run->scorers[0]->comp->hdr;
      ref.inst = run->scorers[0]->inst;
      dk_token cands[N_CANDS];
      next_cands(cands, judge->info->n_vocab);
      for (size_t k = 0; k < N_PROMPTS; k++)
        for (size_t gen = 0; gen <= 4; gen += 4) {
          dk_token ctx[520];
          size_t n_prompt, n = next_context(prompts[k], gen, ctx, &n_prompt);
          double next[N_CANDS];
          next_against_batch(&ref, &s, ctx, n, n_prompt, cands, next);
          for (size_t i = 0; i < N_CANDS; i += 13) { /* a few by a plain evaluation */
            ctx[n] = cands[i];
            double want = draft_loglik(judge, ctx, n + 1, n_prompt);
            if (norm) want /= (double)(n + 1 - n_prompt);
            ck_assert_msg(fabs(next[i] - want) < 1e-3, "%s + %zu, candidate %d: %.6f, want %.6f",
                          prompts[k], gen, (int)cands[i], next[i], want);
          }
        }
      dk_token bad = 1 << 30, ctx[1] = {1};
      double out;
      ck_assert_int_ne(ref.iface->score_next(ref.inst, &s, ctx, 1, 1, &bad, 1, &out, &err), DK_OK);
      ck_assert(strstr(err.msg, "vocabulary") != NULL);
      dk_run_free(run);
      dk_pipeline_free(p);
    }
}
END_TEST

START_TEST(test_classifier_score_next) {
  static head hd;
  read_head(&hd);
  char y[4096];
  snprintf(y, sizeof y, "%sdecoder: { plugin: acbs }\nscorers: [ { plugin: classifier, file: '%s' } ]\n",
           model_block, head_path);
  dk_pipeline *p;
  dk_run *run = new_run(y, "x", &p);
  ck_assert_msg(run != NULL, "%s", err.msg);
  dk_session s;
  scorer_session(run, &s);
  dk_scorer_ref ref = {0};
  ref.iface = (const struct dk_scorer_iface *)(const void *)run->scorers[0]->comp->hdr;
  ref.inst = run->scorers[0]->inst;
  dk_token cands[N_CANDS];
  next_cands(cands, dk_run_model(run)->info->n_vocab);
  for (size_t k = 0; k < N_PROMPTS; k++)
    for (size_t gen = 0; gen <= 4; gen += 4) {
      dk_token ctx[520];
      size_t n_prompt, n = next_context(prompts[k], gen, ctx, &n_prompt);
      double next[N_CANDS];
      next_against_batch(&ref, &s, ctx, n, n_prompt, cands, next);
      float h[128];
      hidden_after(dk_run_model(run), ctx, n, h); /* EOS (candidate 0) is judged on the text before it */
      ck_assert_msg(fabs(next[0] - log_sigmoid(head_logit(&hd, h))) < 1e-3, "%s + %zu: EOS", prompts[k], gen);
      for (size_t i = 1; i < N_CANDS; i += 13) {
        ctx[n] = cands[i];
        hidden_after(dk_run_model(run), ctx, n + 1, h);
        double want = log_sigmoid(head_logit(&hd, h));
        ck_assert_msg(fabs(next[i] - want) < 1e-3, "%s + %zu, candidate %d: %.6f, want %.6f", prompts[k],
                      gen, (int)cands[i], next[i], want);
      }
    }
  dk_token bad = -1, ctx[1] = {1};
  double out;
  ck_assert_int_ne(ref.iface->score_next(ref.inst, &s, ctx, 1, 1, &bad, 1, &out, &err), DK_OK);
  ck_assert(strstr(err.msg, "vocabulary") != NULL);
  dk_run_free(run);
  dk_pipeline_free(p);
}
END_TEST

/* The shipped classifier steers: ACBS's texts mention Lord or God on more
 * of these prompts than beam's. */
static int mentions(const char *t) { return strstr(t, " Lord") || strstr(t, " God"); }

START_TEST(test_attribute_steers) {
  static const char *const ps[] = {"It is a truth universally acknowledged", "She walked into the garden and",
                                   "Mr. Darcy said that", "The morning was fine and", "And the people"};
  int hit_beam = 0, hit_acbs = 0;
  for (size_t k = 0; k < 5; k++) {
    char y[4096];
    dk_result *b = bundled("decoder: { plugin: beam, width: 4 }\ngenerate: { max_tokens: 32 }\n", ps[k]);
    snprintf(y, sizeof y, "decoder: { plugin: acbs, width: 4, top_k: 8, weights: ['3'] }\n"
                          "scorers: [ { plugin: classifier, file: '%s' } ]\ngenerate: { max_tokens: 32 }\n", head_path);
    dk_result *a = bundled(y, ps[k]);
    hit_beam += mentions(b->c[0].text);
    hit_acbs += mentions(a->c[0].text);
    dk_result_free(b);
    dk_result_free(a);
  }
  ck_assert_msg(hit_acbs > hit_beam, "acbs %d, beam %d", hit_acbs, hit_beam);
}
END_TEST

/* METHODS 3, test 2, on table 1 of the table model (a, b, EOS; uniform past
 * the listed prefixes): with the exact length classifier and a beam wide
 * enough for every prefix, ACBS returns the true argmax over |y| = L of
 * p(y | x), found here by enumeration; with one beam it still returns a
 * text of length exactly L. */
#define TABLE1 "decokit: 1\nmodel: { plugin: tablelm, table: 1 }\n"

/* log p of generated tokens g[0..n) after the one-token prompt, by the model. */
static double table_logp(const dk_model_ref *m, const dk_token *g, size_t n) {
  dk_token toks[16] = {0}; /* "p": the prompt */
  memcpy(toks + 1, g, n * sizeof *g);
  float logits[16 * 4];
  dk_seq seq;
  ck_assert_int_eq(m->iface->seq_new(m->inst, &seq, &err), DK_OK);
  ck_assert_int_eq(m->iface->eval(m->inst, seq, toks, n + 1, logits, DK_EVAL_ALL_LOGITS, &err), DK_OK);
  m->iface->seq_free(m->inst, seq);
  double s = 0;
  for (size_t i = 0; i < n; i++) s += logits[i * 4 + (size_t)g[i]]; /* rows are log-probabilities */
  return s;
}

START_TEST(test_exact_length_classifier) {
  dk_pipeline *p;
  dk_run *run = new_run(TABLE1, "x", &p);
  ck_assert_msg(run != NULL, "%s", err.msg);
  const dk_model_ref *m = dk_run_model(run);
  for (size_t L = 1; L <= 4; L++) {
    /* The conditional mode: every a/b string of length L, then EOS (3). */
    double best = -INFINITY;
    for (unsigned bits = 0; bits < (1u << L); bits++) {
      dk_token g[8];
      for (size_t i = 0; i < L; i++) g[i] = (bits >> i) & 1 ? 2 : 1;
      g[L] = 3;
      double lp = table_logp(m, g, L + 1);
      best = lp > best ? lp : best;
    }
    for (int wide = 0; wide < 2; wide++) {
      char y[512];
      snprintf(y, sizeof y, TABLE1 "decoder: { plugin: acbs, width: %d, top_k: 3, length_penalty: 0 }\n"
                            "scorers: [ { plugin: length_oracle, length: %zu } ]\ngenerate: { max_tokens: 8 }\n",
               wide ? 8 : 1, L);
      dk_result *r = run_yaml(y, "x");
      const dk_hypothesis *h = &r->c[0].results[0];
      ck_assert_msg(h->n_tokens == L + 1 && h->tokens[L] == 3, "L %zu width %d: %zu tokens", L,
                    wide ? 8 : 1, h->n_tokens);
      double lp = table_logp(m, h->tokens, h->n_tokens);
      if (wide)
        ck_assert_msg(fabs(lp - best) < 1e-6, "L %zu: log p %.6f, the conditional mode has %.6f", L, lp, best);
      ck_assert_msg(fabs(h->score - lp) < 1e-5, "L %zu: score %.6f, log p %.6f", L, h->score, lp);
      dk_result_free(r);
    }
  }
  dk_run_free(run);
  dk_pipeline_free(p);
}
END_TEST

/* METHODS 3, test 3: the exact branch-and-bound search (exact_length)
 * finds the best text of length L that enumerating every text finds, on
 * three tables (the third with a designed cycle), with the EOS after the L
 * tokens and with EOS ignored (then any of a, b, E at every place). */
static double brute_best(const dk_model_ref *m, size_t L, int with_eos) {
  size_t base = with_eos ? 2 : 3, count = 1;
  for (size_t i = 0; i < L; i++) count *= base;
  double best = -INFINITY;
  for (size_t k = 0; k < count; k++) {
    dk_token g[16];
    size_t x = k;
    for (size_t i = 0; i < L; i++, x /= base) g[i] = (dk_token)(1 + x % base);
    if (with_eos) g[L] = 3;
    double lp = table_logp(m, g, L + (with_eos ? 1 : 0));
    best = lp > best ? lp : best;
  }
  return best;
}

START_TEST(test_exact_search_is_brute_force) {
  for (int table = 1; table <= 3; table++) {
    char model[128];
    snprintf(model, sizeof model, "decokit: 1\nmodel: { plugin: tablelm, table: %d }\n", table);
    dk_pipeline *p;
    dk_run *run = new_run(model, "x", &p);
    ck_assert_msg(run != NULL, "%s", err.msg);
    const dk_model_ref *m = dk_run_model(run);
    for (int with_eos = 0; with_eos < 2; with_eos++)
      for (size_t L = 1; L <= 6; L++) {
        char y[512];
        snprintf(y, sizeof y, "%sdecoder: { plugin: exact_length, length: %zu }\n"
                              "generate: { max_tokens: 8, ignore_eos: %s }\n",
                 model, L, with_eos ? "false" : "true");
        dk_result *r = run_yaml(y, "x");
        const dk_hypothesis *h = &r->c[0].results[0];
        size_t n = L + (with_eos ? 1 : 0);
        ck_assert_uint_eq(r->c[0].n_results, 1);
        ck_assert_uint_eq(h->n_tokens, n);
        for (size_t i = 0; i < L && with_eos; i++) ck_assert_int_ne(h->tokens[i], 3);
        if (with_eos) ck_assert_int_eq(h->tokens[L], 3);
        double lp = table_logp(m, h->tokens, n), best = brute_best(m, L, with_eos);
        ck_assert_msg(fabs(lp - best) < 1e-6, "table %d L %zu eos %d: log p %.9f, the best is %.9f", table, L,
                      with_eos, lp, best);
        ck_assert_msg(fabs(h->score - lp) < 1e-5, "score %.9f, log p %.9f", h->score, lp);
        /* the committed text is the result (the EOS ends it and is not kept),
         * with its log-probabilities */
        ck_assert_uint_eq(r->c[0].n_tokens, L);
        if (!with_eos) ck_assert(fabs(sum_proc(&r->c[0]) - h->score) < 1e-5);
        dk_result_free(r);
      }
    dk_run_free(run);
    dk_pipeline_free(p);
  }
}
END_TEST

static void expect_error(const char *yaml, const char *needle) {
  dk_error_clear(&err);
  dk_result *r = try_yaml(yaml, "x");
  ck_assert_msg(r == NULL, "'%s' was accepted", yaml);
  ck_assert_msg(strstr(err.msg, needle) != NULL, "error '%s' does not name '%s'", err.msg, needle);
}

#define HASH "decokit: 1\nmodel: { plugin: hashlm }\n"

START_TEST(test_bad_input) {
  char y[4096];
  expect_error(HASH "decoder: { plugin: acbs, width: 0 }\n", "width");
  expect_error(HASH "decoder: { plugin: acbs }\n", "scorers");
  expect_error(HASH "decoder: { plugin: acbs, weights: ['1', '2'] }\nscorers: [ { plugin: length } ]\n",
               "weights");
  expect_error(HASH "decoder: { plugin: acbs, weights: [heavy] }\nscorers: [ { plugin: length } ]\n",
               "weights");
  expect_error(HASH "decoder: { plugin: acbs, width: 2, num_return: 3 }\nscorers: [ { plugin: length } ]\n",
               "num_return");
  expect_error(HASH "decoder: { plugin: acbs }\nscorers: [ { plugin: classifier } ]\n", "file");
  expect_error(HASH "decoder: { plugin: acbs }\nscorers: [ { plugin: classifier, file: /nonexistent/head.bin } ]\n",
               "file");
  /* A head over 128 values on a model with other hidden states. */
  snprintf(y, sizeof y, HASH "decoder: { plugin: acbs }\nscorers: [ { plugin: classifier, file: '%s' } ]\n",
           head_path);
  expect_error(y, "file");
  /* A model without hidden states (a head its small vocabulary accepts). */
  const char *small = "check_acbs-small-head.bin";
  write_head(small, 4, 1.0f, 0.0f);
  snprintf(y, sizeof y, "decokit: 1\nmodel: { plugin: tablelm, hidden: false }\ndecoder: { plugin: acbs }\n"
                        "scorers: [ { plugin: classifier, file: '%s' } ]\n", small);
  expect_error(y, "hidden states");
  remove(small);
  /* Not a head file: the model is no classifier. */
  snprintf(y, sizeof y, HASH "decoder: { plugin: acbs }\nscorers: [ { plugin: classifier, file: '%s/models/decokit-tiny.gguf' } ]\n",
           getenv("DECOKIT_SRCDIR"));
  expect_error(y, "file");
  /* A head cut short, and one with a NaN weight. */
  static const char *const broken[] = {"check_acbs-short-head.bin", "check_acbs-nan-head.bin"};
  write_head(broken[0], 4, 1.0f, 0.0f);
  ck_assert_int_eq(truncate(broken[0], 8 + 8 + 4 * 3), 0);
  write_head(broken[1], 4, NAN, 0.0f);
  for (size_t i = 0; i < 2; i++) {
    snprintf(y, sizeof y, HASH "decoder: { plugin: acbs }\nscorers: [ { plugin: classifier, file: '%s' } ]\n",
             broken[i]);
    expect_error(y, "truncated, too long or holds a bad value");
    remove(broken[i]);
  }
  /* A scorer that answers NaN stops the search (the host's check). */
  expect_error(TABLE1 "decoder: { plugin: acbs }\nscorers: [ { plugin: length_oracle, broken: true } ]\n",
               "is NaN");
  expect_error(HASH "decoder: { plugin: deal }\nscorers: [ { plugin: lm } ]\n", "draft");
  expect_error(HASH "decoder: { plugin: exact_length, length: 0 }\n", "length");
  expect_error(HASH "decoder: { plugin: exact_length, length: 8 }\ngenerate: { max_tokens: 8 }\n", "length");
  expect_error(HASH "decoder: { plugin: exact_length, length: 6, max_nodes: 5 }\ngenerate: { max_tokens: 8 }\n",
               "max_nodes");
  expect_error(HASH "decoder: { plugin: deal }\nscorers: [ { plugin: lm, model: other } ]\n", "model");
}
END_TEST

int main(void) {
  Suite *s = suite_create("acbs");
  TCase *tc = tcase_create("acbs");
  tcase_set_timeout(tc, 600);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_constant_attribute_is_beam);
  tcase_add_test(tc, test_features_match_training);
  tcase_add_test(tc, test_classifier_scores_the_text);
  tcase_add_test(tc, test_lm_scores_under_the_draft);
  tcase_add_test(tc, test_lm_score_next);
  tcase_add_test(tc, test_classifier_score_next);
  tcase_add_test(tc, test_attribute_steers);
  tcase_add_test(tc, test_exact_length_classifier);
  tcase_add_test(tc, test_exact_search_is_brute_force);
  tcase_add_test(tc, test_bad_input);
  suite_add_tcase(s, tc);
  return dkh_run(s);
}
