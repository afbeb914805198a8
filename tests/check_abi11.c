/* check_abi11.c -- every ABI 1.1 service proved by a fixture decoder on the hash LM, and every host check by a hostile fixture. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "harness.h"
#include "loader.h"
#include "params.h"
#include "pipeline.h"
#include "session.h"

static dk_registry *reg;
static dk_error err;

/* Fixture libraries hold several components, so they are loaded by path
 * first; pipelines then find the components by name. */
static void setup(void) {
  reg = dkh_registry();
  dk_error_clear(&err);
  static const char *const libs[][2] = {{"abi11", "trio"}, {"hostile", "hostile"}, {"probe", "probe_spec"}};
  for (size_t i = 0; i < 3; i++) {
    char path[4096];
    const dk_component *c;
    snprintf(path, sizeof path, "%s/%s.so", getenv("DECOKIT_FIXTURE_DIR"), libs[i][0]);
    ck_assert_msg(dk_registry_find(reg, DK_KIND_DECODER, path, &c, &err) == DK_OK, "%s", err.msg);
  }
}

static void teardown(void) { dk_registry_free(reg); }

typedef struct abort_after {
  int calls, limit;
} abort_after;

static int abort_cb(void *user) {
  abort_after *a = user;
  return ++a->calls >= a->limit;
}

/* Run YAML; *rc gets dk_run_new's or dk_run_generate's status, err the message. */
static dk_result *run_opts(const char *yaml, const char *prompt, dk_run_opts opts, int *rc) {
  return dkh_run_yaml(reg, yaml, ".", prompt, &opts, rc, &err);
}

/* A run of `yaml` for using its model directly; free with close_run. */
typedef struct open_run {
  dk_pipeline *p;
  dk_run *run;
  const dk_model_ref *m;
} open_run;

static open_run open_model(const char *yaml) {
  open_run o;
  ck_assert_int_eq(dk_pipeline_parse(yaml, strlen(yaml), "m.yaml", ".", &o.p, &err), DK_OK);
  ck_assert_int_eq(dk_pipeline_resolve(o.p, reg, NULL, &err), DK_OK);
  ck_assert_int_eq(dk_run_new(o.p, &(dk_run_opts){.logprobs = -1}, &o.run, &err), DK_OK);
  o.m = dk_run_model(o.run);
  return o;
}

static void close_run(open_run *o) {
  dk_run_free(o->run);
  dk_pipeline_free(o->p);
}

static dk_result *run_ok(const char *yaml, const char *prompt) {
  int rc;
  dk_result *r = run_opts(yaml, prompt, (dk_run_opts){.logprobs = -1}, &rc);
  ck_assert_msg(rc == DK_OK, "%s", err.msg);
  return r;
}

/* The run fails, and the message says `want`. */
static void run_fails(const char *yaml, const char *want) {
  int rc;
  dk_result *r = run_opts(yaml, "the cat", (dk_run_opts){.logprobs = -1}, &rc);
  ck_assert_msg(rc < 0, "expected an error with '%s'", want);
  ck_assert_msg(strstr(err.msg, want) != NULL, "'%s' not in: %s", want, err.msg);
  dk_result_free(r);
}

#define HEAD "decokit: 1\nmodel: { plugin: hashlm }\n"
#define CHAIN                                                                                  \
  "samplers:\n  - { plugin: penalties, repeat: 1.3, last_n: 16 }\n  - { plugin: temperature, " \
  "t: 0.7 }\n  - { plugin: top_k, k: 8 }\n  - { plugin: greedy }\n"

static void same_tokens(const dk_completion *a, const dk_completion *b) {
  ck_assert_uint_eq(a->n_tokens, b->n_tokens);
  for (size_t i = 0; i < a->n_tokens; i++) ck_assert_int_eq(a->tokens[i], b->tokens[i]);
  ck_assert_str_eq(a->stop_reason, b->stop_reason);
}

/* Three tokens per commit_ex, numbers handed over: the same tokens and the
 * same raw and processed logprobs (and alternatives) as one token a step. */
START_TEST(test_commit_carries_logprobs) {
  /* With the constraint, EOS ends the text once the grammar allows it. */
  static const char *cons[] = {"", "constraint: { plugin: regex, pattern: '[a-h ]{12,40}' }\n"};
  static const char *eos[] = {", ignore_eos: true", ""};
  for (size_t k = 0; k < 2; k++) {
    char one[1024], three[1024];
    snprintf(one, sizeof one, HEAD CHAIN "%sgenerate: { max_tokens: 23, logprobs: 3%s }\n", cons[k],
             eos[k]);
    snprintf(three, sizeof three,
             HEAD CHAIN "%sdecoder: { plugin: trio }\ngenerate: { max_tokens: 23, logprobs: 3%s }\n",
             cons[k], eos[k]);
    dk_result *a = run_ok(one, "the cat sat");
    dk_result *b = run_ok(three, "the cat sat");
    same_tokens(&a->c[0], &b->c[0]);
    ck_assert_uint_ge(a->c[0].n_tokens, (k ? 3 : 23));
    for (size_t i = 0; i < a->c[0].n_tokens; i++) {
      const dk_token_record *x = &a->c[0].recs[i], *y = &b->c[0].recs[i];
      ck_assert(x->has_raw && x->has_proc && y->has_raw && y->has_proc);
      ck_assert_msg(fabsf(x->raw_lp - y->raw_lp) < 1e-5f, "token %zu raw %g vs %g", i, x->raw_lp, y->raw_lp);
      ck_assert_msg(fabsf(x->proc_lp - y->proc_lp) < 1e-5f, "token %zu processed %g vs %g", i,
                    x->proc_lp, y->proc_lp);
      ck_assert_ptr_nonnull(y->raw_top);
      for (size_t t = 0; t < 3; t++) ck_assert_int_eq(x->raw_top[t].id, y->raw_top[t].id);
    }
    dk_result_free(a);
    dk_result_free(b);
  }
}
END_TEST

/* Sampling in a fresh branch every step: the random streams continue
 * across commits, so the draws are exactly those of one-token decoding. */
START_TEST(test_branch_random_streams_continue) {
  const char *chain = "samplers:\n  - { plugin: temperature, t: 3.0 }\n  - { plugin: dist }\n";
  char one[512], three[512];
  snprintf(one, sizeof one, HEAD "%sgenerate: { max_tokens: 30, ignore_eos: true, seed: 5 }\n", chain);
  snprintf(three, sizeof three,
           HEAD "%sdecoder: { plugin: trio }\ngenerate: { max_tokens: 30, ignore_eos: true, seed: 5 }\n", chain);
  dk_result *a = run_ok(one, "the cat");
  dk_result *b = run_ok(three, "the cat");
  same_tokens(&a->c[0], &b->c[0]);
  dk_result_free(a);
  dk_result_free(b);
}
END_TEST

/* A 1.0 decoder that commits drafts without sampling them gets no numbers
 * for them, and never another context's numbers. */
START_TEST(test_legacy_commit_never_guesses) {
  static const char *prompts[] = {"the the the the", "1 2 1 2 1 2", "aaaa", "abcabcabc"};
  size_t with = 0, without = 0;
  for (size_t k = 0; k < 4; k++) {
    dk_result *a = run_ok(HEAD "generate: { max_tokens: 80, ignore_eos: true }\n", prompts[k]);
    dk_result *b = run_ok(HEAD "decoder: { plugin: probe_spec }\ndrafter: { plugin: echo, k: 4 }\n"
                               "generate: { max_tokens: 80, ignore_eos: true }\n", prompts[k]);
    same_tokens(&a->c[0], &b->c[0]);
    for (size_t i = 0; i < b->c[0].n_tokens; i++) {
      const dk_token_record *x = &a->c[0].recs[i], *y = &b->c[0].recs[i];
      if (!y->has_raw) {
        without++;
        continue;
      }
      with++;
      ck_assert_msg(fabsf(x->raw_lp - y->raw_lp) < 1e-6f, "token %zu got another context's logprob", i);
    }
    dk_result_free(a);
    dk_result_free(b);
  }
  ck_assert_uint_gt(with, 0);
  ck_assert_uint_gt(without, 0); /* drafts were committed several at a time */
}
END_TEST

/* Stop strings decided through would_stop inside the trio decoder agree
 * with the host's own stop handling. */
START_TEST(test_would_stop_agrees_with_commit) {
  dk_result *base = run_ok(HEAD "generate: { max_tokens: 40, ignore_eos: true }\n", "Once");
  const dk_completion *c = &base->c[0];
  ck_assert_uint_ge(c->text_len, 10);
  char stop[3] = {c->text[c->text_len / 2], c->text[c->text_len / 2 + 1], 0};
  ck_assert(stop[0] != '\'' && stop[1] != '\'');
  char y1[512], y3[512];
  snprintf(y1, sizeof y1, HEAD "generate: { max_tokens: 40, ignore_eos: true, stop: ['%s'] }\n", stop);
  snprintf(y3, sizeof y3,
           HEAD "decoder: { plugin: trio }\ngenerate: { max_tokens: 40, ignore_eos: true, stop: ['%s'] }\n",
           stop);
  dk_result *a = run_ok(y1, "Once");
  dk_result *b = run_ok(y3, "Once");
  ck_assert_str_eq(a->c[0].stop_reason, "stop");
  same_tokens(&a->c[0], &b->c[0]);
  ck_assert_str_eq(a->c[0].text, b->c[0].text);
  dk_result_free(base);
  dk_result_free(a);
  dk_result_free(b);
}
END_TEST

/* Beams on branches: ranked results, per-beam constraint state, one ragged
 * call per step, and width 1 is greedy. */
START_TEST(test_beam_on_branches) {
  dk_result *g = run_ok(HEAD "samplers: [ { plugin: top_k, k: 8 } ]\ngenerate: { max_tokens: 12 }\n", "the cat");
  dk_result *w1 = run_ok(HEAD "samplers: [ { plugin: top_k, k: 8 } ]\ndecoder: { plugin: beam_fx, width: 1 }\n"
                              "generate: { max_tokens: 12 }\n", "the cat");
  /* The sampler chain ends in a draw for `sample`; compare with plain argmax. */
  dk_result *ga = run_ok(HEAD "generate: { max_tokens: 12 }\n", "the cat");
  same_tokens(&ga->c[0], &w1->c[0]);
  ck_assert_uint_eq(w1->c[0].n_results, 1);
  dk_result_free(g);
  dk_result_free(ga);
  dk_result_free(w1);

  dk_result *b = run_ok(HEAD "constraint: { plugin: regex, pattern: '[a-h ]+' }\n"
                             "decoder: { plugin: beam_fx, width: 3 }\ngenerate: { max_tokens: 10 }\n",
                        "the cat");
  const dk_completion *c = &b->c[0];
  ck_assert_uint_eq(c->n_results, 3);
  for (size_t i = 0; i < c->n_results; i++) {
    const dk_hypothesis *h = &c->results[i];
    if (i) ck_assert(h->score <= c->results[i - 1].score);
    ck_assert_uint_eq(h->n_tokens, 10);
    for (size_t k = 0; k < h->text_len; k++)
      ck_assert_msg((h->text[k] >= 'a' && h->text[k] <= 'h') || h->text[k] == ' ',
                    "result %zu breaks its constraint: '%s'", i, h->text);
  }
  ck_assert_str_eq(c->text, c->results[0].text);
  /* One batched call per beam step after the first. */
  ck_assert_uint_eq(c->forward_passes, 9);
  double sum = 0;
  for (size_t i = 0; i < c->n_tokens; i++) {
    ck_assert(c->recs[i].has_raw && c->recs[i].has_proc);
    sum += c->recs[i].proc_lp;
  }
  ck_assert_msg(fabs(sum - c->results[0].score) < 1e-4, "%g vs %g", sum, c->results[0].score);
  dk_result_free(b);
}
END_TEST

/* Rejection sampling with the drafter's q reproduces the target's
 * processed distribution (chi-square over 20,000 first tokens). */
START_TEST(test_stochastic_verification_is_exact) {
  const size_t per = 1000, runs = 20, n = per * runs;
  dk_result *rs[20];
  for (size_t k = 0; k < runs; k++) {
    char y[512];
    snprintf(y, sizeof y,
             HEAD "samplers:\n  - { plugin: temperature, t: 0.5 }\n  - { plugin: top_k, k: 16 }\n"
                  "decoder: { plugin: verify_fx }\ndrafter: { plugin: qdraft, k: 3 }\n"
                  "generate: { max_tokens: 1, n: %zu, seed: %zu }\n",
             per, 7 + k);
    rs[k] = run_ok(y, "the cat");
  }
  dk_result *r = rs[0];
  /* The target's processed distribution at the prompt, computed here. */
  open_run o = open_model(HEAD);
  const dk_model_ref *m = o.m;
  dk_seq s;
  float lg[128];
  ck_assert_int_eq(m->iface->seq_new(m->inst, &s, &err), DK_OK);
  ck_assert_int_eq(m->iface->eval(m->inst, s, r->prompt_tokens, r->n_prompt, lg, 0, &err), DK_OK);
  m->iface->seq_free(m->inst, s);
  close_run(&o);
  int order[128];
  for (int i = 0; i < 128; i++) order[i] = i;
  for (int i = 0; i < 128; i++) /* top 16 by logit, ties to the lower id */
    for (int j = i + 1; j < 128; j++)
      if (lg[order[j]] > lg[order[i]] || (lg[order[j]] == lg[order[i]] && order[j] < order[i])) {
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
      }
  double prob[16], z = 0;
  for (int i = 0; i < 16; i++) z += prob[i] = exp((lg[order[i]] - lg[order[0]]) / 0.5);
  size_t count[128] = {0}, drafted = 0, accepted = 0;
  for (size_t i = 0; i < n; i++) {
    const dk_completion *c = &rs[i / per]->c[i % per];
    ck_assert_uint_le(c->n_tokens, 1);
    count[c->n_tokens ? c->tokens[0] : 1]++; /* none: EOS (id 1) was drawn */
    for (size_t k = 0; k < c->n_metrics; k++) {
      if (!strcmp(c->metrics[k].name, "drafted")) drafted += (size_t)c->metrics[k].value;
      if (!strcmp(c->metrics[k].name, "accepted")) accepted += (size_t)c->metrics[k].value;
    }
  }
  double chi2 = 0;
  size_t inside = 0;
  for (int i = 0; i < 16; i++) {
    double e = (double)n * prob[i] / z;
    chi2 += (count[order[i]] - e) * (count[order[i]] - e) / e;
    inside += count[order[i]];
  }
  ck_assert_uint_eq(inside, n); /* nothing outside the top 16 */
  ck_assert_msg(chi2 < 37.70, "chi-square %g over 15 degrees of freedom (p < 0.001)", chi2);
  ck_assert_uint_eq(drafted, 3 * n);
  ck_assert_uint_gt(accepted, n / 50);     /* both paths ran: some drafts accepted, */
  ck_assert_uint_lt(accepted, n * 9 / 10); /* most rejected */
  for (size_t k = 0; k < runs; k++) dk_result_free(rs[k]);
}
END_TEST

/* The host calls a drafter's begin and end once per completion; the
 * verifier's feedback covers every verified row. */
START_TEST(test_drafter_lifecycle_and_feedback) {
  dk_result *r = run_ok(HEAD "decoder: { plugin: verify_fx }\ndrafter: { plugin: qdraft, k: 4 }\n"
                             "generate: { max_tokens: 40, n: 3, ignore_eos: true }\n", "the cat");
  for (size_t i = 0; i < 3; i++) {
    const dk_completion *c = &r->c[i];
    ck_assert(dkh_metric(c, "drafter_begin") == 1 && dkh_metric(c, "drafter_end") == 1);
    ck_assert(dkh_metric(c, "observed_malformed") < 0);
    ck_assert_msg(dkh_metric(c, "observed") == dkh_metric(c, "accepted") + dkh_metric(c, "verify_steps"),
                  "observed %g, accepted %g, steps %g", dkh_metric(c, "observed"), dkh_metric(c, "accepted"),
                  dkh_metric(c, "verify_steps"));
  }
  dk_result_free(r);
}
END_TEST

/* Scorers' next-token form shapes the beam; the batch form rates it. */
START_TEST(test_scorer_batch_and_next) {
  dk_result *r = run_ok(HEAD "decoder: { plugin: beam_fx, width: 2 }\n"
                             "scorers: [ { plugin: prefer, token: 50, bonus: 100 } ]\n"
                             "generate: { max_tokens: 6 }\n", "the cat");
  const dk_completion *c = &r->c[0];
  ck_assert_uint_eq(c->n_tokens, 6);
  for (size_t i = 0; i < 6; i++) ck_assert_int_eq(c->tokens[i], 50);
  ck_assert(dkh_metric(c, "batch_score_best") == 600);
  dk_result_free(r);
}
END_TEST

/* Weights shared across instances: same logits, independent sequences,
 * destroyed in either order. */
START_TEST(test_clone_shared) {
  const dk_component *c;
  ck_assert_int_eq(dk_registry_find(reg, DK_KIND_MODEL, "hashlm", &c, &err), DK_OK);
  const struct dk_model_iface *mi = &c->copy.model;
  dk_config cfg;
  dk_config_init(&cfg, c->hdr, &err);
  dk_config_finish(&cfg, NULL, &err);
  dk_create_info ci = {sizeof ci, &cfg, NULL, 0, NULL, 1};
  void *a, *b;
  ck_assert_int_eq(mi->create((const dk_host *)c->lib->host, &ci, &a, &err), DK_OK);
  ck_assert_int_eq(mi->clone_shared(a, &b, &err), DK_OK);
  dk_seq sa, sb;
  dk_token t[3] = {40, 41, 42};
  float la[128], lb[128];
  ck_assert_int_eq(mi->seq_new(a, &sa, &err), DK_OK);
  ck_assert_int_eq(mi->seq_new(b, &sb, &err), DK_OK);
  ck_assert_int_eq(mi->eval(a, sa, t, 3, la, 0, &err), DK_OK);
  ck_assert_int_eq(mi->eval(b, sb, t, 2, NULL, 0, &err), DK_OK);
  ck_assert_uint_eq(mi->seq_len(a, sa), 3);
  ck_assert_uint_eq(mi->seq_len(b, sb), 2);
  /* A fork answers hidden() with its source's rows. */
  dk_seq fa;
  float ha[2 * 8], hf[2 * 8];
  ck_assert_int_eq(mi->hidden(a, sa, 2, ha, &err), DK_OK);
  ck_assert_int_eq(mi->fork(a, sa, &fa, &err), DK_OK);
  ck_assert_int_eq(mi->hidden(a, fa, 2, hf, &err), DK_OK);
  ck_assert(memcmp(ha, hf, sizeof ha) == 0);
  mi->destroy(a);
  ck_assert_int_eq(mi->eval(b, sb, t + 2, 1, lb, 0, &err), DK_OK);
  ck_assert(memcmp(la, lb, sizeof la) == 0);
  mi->destroy(b);
  dk_config_free(&cfg);
}
END_TEST

/* A diffusion-style decoder on a non-causal model: no prefill, masked
 * evaluation on a cached prefix, steps that commit nothing. */
START_TEST(test_masked_decoder) {
  run_fails("decokit: 1\nmodel: { plugin: hashlm, causal: false }\n", "is not causal");
  dk_result *r = run_ok("decokit: 1\nmodel: { plugin: hashlm, causal: false }\n"
                        "decoder: { plugin: unmask_fx, block: 4 }\ngenerate: { max_tokens: 10 }\n",
                        "the cat");
  const dk_completion *c = &r->c[0];
  ck_assert_uint_eq(c->n_tokens, 10);
  ck_assert_str_eq(c->stop_reason, "length");
  /* The same schedule replayed with stateless whole-sequence evaluation. */
  open_run o = open_model("decokit: 1\nmodel: { plugin: hashlm, causal: false }\ndecoder: { plugin: unmask_fx }\n");
  const dk_model_ref *m = o.m;
  dk_token seq[64];
  size_t np = r->n_prompt, len = np;
  memcpy(seq, r->prompt_tokens, np * sizeof *seq);
  static float lg[64 * 128];
  while (len < np + 10) {
    size_t blk = np + 10 - len < 4 ? np + 10 - len : 4;
    for (size_t i = 0; i < blk; i++) seq[len + i] = m->info->mask;
    for (size_t f = 0; f < blk; f++) {
      ck_assert_int_eq(m->iface->eval_masked(m->inst, seq, len + blk, lg, &err), DK_OK);
      float best = -INFINITY;
      size_t bi = 0;
      dk_token bt = 0;
      for (size_t i = len; i < len + blk; i++)
        for (int v = 0; seq[i] == m->info->mask && v < 128; v++)
          if (lg[i * 128 + v] > best) best = lg[i * 128 + v], bi = i, bt = v;
      seq[bi] = bt;
    }
    len += blk;
  }
  for (size_t i = 0; i < 10; i++) ck_assert_int_eq(c->tokens[i], seq[np + i]);
  /* Steps without commits ran the model: more passes than commits. */
  ck_assert_uint_gt(c->forward_passes, 3);
  ck_assert(!c->recs[0].has_raw); /* the decoder gave no numbers */
  close_run(&o);
  dk_result_free(r);
}
END_TEST

/* Model ops through the decoder's view: ragged atomicity, id subsets and
 * cached masked evaluation equal to full recomputation. */
START_TEST(test_model_ops_through_the_proxy) {
  open_run o = open_model(HEAD);
  const dk_model_ref *m = o.m;
  const struct dk_model_iface *mi = m->iface;
  ck_assert_ptr_null(mi->set_abort);   /* the host's, not the decoder's */
  ck_assert_ptr_null(mi->clone_shared);
  ck_assert(!(m->info->caps & (DK_MODEL_CAP_ABORT | DK_MODEL_CAP_SHARE))); /* and so are their bits */
  ck_assert(dk_run_model_info(o.run)->caps & DK_MODEL_CAP_ABORT);
  dk_model_info seen = {.struct_size = sizeof seen};
  ck_assert_int_eq(mi->info(m->inst, &seen), DK_OK);
  ck_assert_uint_eq(seen.caps, m->info->caps);
  dk_seq a, b;
  ck_assert_int_eq(mi->seq_new(m->inst, &a, &err), DK_OK);
  ck_assert_int_eq(mi->seq_new(m->inst, &b, &err), DK_OK);
  dk_token ta[3] = {10, 11, 12}, tb[2] = {20, 21};
  ck_assert_int_eq(mi->eval(m->inst, a, ta, 3, NULL, 0, &err), DK_OK);
  /* A bad token in the second sequence: neither changes. */
  dk_seq seqs[2] = {a, b};
  size_t nt[2] = {1, 2};
  dk_token bad[3] = {13, 20, 999};
  float out[2 * 128];
  dk_batch batch = {sizeof batch, 2, seqs, nt, bad, NULL, out, NULL, NULL, 0};
  ck_assert_int_ne(mi->eval_ragged(m->inst, &batch, &err), DK_OK);
  ck_assert_uint_eq(mi->seq_len(m->inst, a), 3);
  ck_assert_uint_eq(mi->seq_len(m->inst, b), 0);
  /* A good batch equals evaluating each sequence alone; out_ids picks ids. */
  dk_token good[3] = {13, 20, 21};
  batch.tokens = good;
  ck_assert_int_eq(mi->eval_ragged(m->inst, &batch, &err), DK_OK);
  dk_seq a2, b2;
  float ref[128];
  ck_assert_int_eq(mi->seq_new(m->inst, &a2, &err), DK_OK);
  dk_token ta2[4] = {10, 11, 12, 13};
  ck_assert_int_eq(mi->eval(m->inst, a2, ta2, 4, ref, 0, &err), DK_OK);
  ck_assert(memcmp(out, ref, sizeof ref) == 0);
  ck_assert_int_eq(mi->seq_new(m->inst, &b2, &err), DK_OK);
  ck_assert_int_eq(mi->eval(m->inst, b2, tb, 2, ref, 0, &err), DK_OK);
  ck_assert(memcmp(out + 128, ref, sizeof ref) == 0);
  dk_token ids[2] = {7, 3};
  dk_token one = 22;
  size_t n1 = 1;
  float sub[2];
  dk_batch hb = {sizeof hb, 1, &b, &n1, &one, NULL, sub, NULL, ids, 2};
  ck_assert_int_eq(mi->eval_ragged(m->inst, &hb, &err), DK_OK);
  ck_assert_int_eq(mi->eval(m->inst, b2, &one, 1, ref, 0, &err), DK_OK);
  ck_assert(sub[0] == ref[7] && sub[1] == ref[3]);

  /* Masked: block-causal block by block equals the whole canvas at once. */
  dk_seq full, cached;
  ck_assert_int_eq(mi->seq_new(m->inst, &full, &err), DK_OK);
  ck_assert_int_eq(mi->seq_new(m->inst, &cached, &err), DK_OK);
  dk_token canvas[8] = {30, 31, 127, 33, 34, 127, 127, 37};
  static float whole[8 * 128], part[4 * 128];
  dk_masked_eval me = {.struct_size = sizeof me, .seq = full, .tokens = canvas, .n = 8,
                       .attention = DK_ATTN_BLOCK_CAUSAL, .block_len = 4, .logits = whole};
  ck_assert_int_eq(mi->eval_masked_seq(m->inst, &me, &err), DK_OK);
  me = (dk_masked_eval){.struct_size = sizeof me, .seq = cached, .tokens = canvas, .n = 4,
                        .attention = DK_ATTN_BLOCK_CAUSAL, .block_len = 4, .n_commit = 4};
  ck_assert_int_eq(mi->eval_masked_seq(m->inst, &me, &err), DK_OK);
  ck_assert_uint_eq(mi->seq_len(m->inst, cached), 4);
  me = (dk_masked_eval){.struct_size = sizeof me, .seq = cached, .tokens = canvas + 4, .n = 4,
                        .attention = DK_ATTN_BLOCK_CAUSAL, .block_len = 4, .logits = part,
                        .flags = DK_MASKED_STORE};
  ck_assert_int_eq(mi->eval_masked_seq(m->inst, &me, &err), DK_OK);
  ck_assert(memcmp(part, whole + 4 * 128, sizeof part) == 0);
  /* Dual cache: reusing the stored canvas with nothing changed equals the
   * full call on the active rows; row selection returns just those. */
  int32_t rows[2] = {1, 2};
  static float reused[2 * 128];
  me.flags = DK_MASKED_REUSE;
  me.active_begin = 1;
  me.active_end = 3;
  me.rows = rows;
  me.n_rows = 2;
  me.logits = reused;
  ck_assert_int_eq(mi->eval_masked_seq(m->inst, &me, &err), DK_OK);
  ck_assert(memcmp(reused, part + 128, sizeof reused) == 0);
  close_run(&o);
}
END_TEST

/* Abort: between steps, and from inside the model. */
START_TEST(test_cancellation) {
  int rc;
  abort_after ab = {0, 6};
  dk_result *r = run_opts(HEAD "generate: { max_tokens: 50, ignore_eos: true }\n", "the cat",
                          (dk_run_opts){.logprobs = -1, .should_abort = abort_cb, .user = &ab}, &rc);
  ck_assert_int_eq(rc, DK_OK);
  ck_assert_str_eq(r->c[0].stop_reason, "cancelled");
  ck_assert_uint_gt(r->c[0].n_tokens, 0); /* what was made is kept */
  ck_assert_uint_lt(r->c[0].n_tokens, 50);
  dk_result_free(r);
  ab = (abort_after){0, 40}; /* the model polls it per position in ragged batches */
  r = run_opts(HEAD "decoder: { plugin: beam_fx, width: 2 }\ngenerate: { max_tokens: 50 }\n", "the cat",
               (dk_run_opts){.logprobs = -1, .should_abort = abort_cb, .user = &ab}, &rc);
  ck_assert_int_eq(rc, DK_OK);
  ck_assert_str_eq(r->c[0].stop_reason, "cancelled");
  dk_result_free(r);
}
END_TEST

/* Each host check, proved by a plugin that breaks the rule. */
START_TEST(test_hostile_decoders) {
  dk_result *r = run_ok(HEAD "decoder: { plugin: hostile, mode: big_extra }\n"
                             "generate: { max_tokens: 2, ignore_eos: true }\n",
                        "the cat");
  ck_assert_uint_eq(r->c[0].n_tokens, 2);
  dk_result_free(r);
  run_fails(HEAD "decoder: { plugin: hostile, mode: bad_extra }\n", "is 100000, outside the vocabulary");
  run_fails(HEAD "decoder: { plugin: hostile, mode: bad_commit }\n", "commit: token 0 is -5, outside the vocabulary");
  run_fails(HEAD "decoder: { plugin: hostile, mode: positive }\n", "step returned status 42");
  /* A token the constraint refuses: the message names the constraint's block. */
  run_fails(HEAD "decoder: { plugin: hostile, mode: score }\nscorers: [ { plugin: length } ]\n"
                 "constraint: { plugin: choice, options: [zzzz] }\n",
            "t.yaml:5:13: constraint 'choice' refused token 5: ");
  run_fails(HEAD "decoder: { plugin: hostile, mode: idle }\n", "neither committed a token nor evaluated");
  run_fails(HEAD "decoder: { plugin: hostile, mode: spin }\ngenerate: { max_tokens: 3 }\n",
            "steps in a row committed nothing");
  run_fails(HEAD "decoder: { plugin: hostile, mode: stale }\n", "diverged from the committed text");
  run_fails(HEAD "decoder: { plugin: hostile, mode: score }\nscorers: [ { plugin: nan_scorer } ]\n",
            "scorer 'nan_scorer': score 0 is NaN");
  run_fails("decokit: 1\nmodel: { plugin: capless }\n",
            "reports capability bit 0x2 but has no eval_tree operation");
}
END_TEST

START_TEST(test_hostile_drafters) {
  static const char *cases[][2] = {
      {"over", "proposed 5 nodes for room for 4"},
      {"parent", "parent is not an earlier node"},
      {"token", "token outside the vocabulary"},
      {"qsum", "do not sum to 1"},
      {"qown", "the node's token has q = 0"},
      {"status", "propose_dist returned status 3"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char y[256];
    snprintf(y, sizeof y, HEAD "decoder: { plugin: hostile, mode: draft }\ndrafter: { plugin: bad_drafter, mode: %s }\n",
             cases[i][0]);
    run_fails(y, cases[i][1]);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("abi11");
  TCase *tc = tcase_create("abi11");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_commit_carries_logprobs);
  tcase_add_test(tc, test_branch_random_streams_continue);
  tcase_add_test(tc, test_legacy_commit_never_guesses);
  tcase_add_test(tc, test_would_stop_agrees_with_commit);
  tcase_add_test(tc, test_beam_on_branches);
  tcase_add_test(tc, test_stochastic_verification_is_exact);
  tcase_add_test(tc, test_drafter_lifecycle_and_feedback);
  tcase_add_test(tc, test_scorer_batch_and_next);
  tcase_add_test(tc, test_clone_shared);
  tcase_add_test(tc, test_masked_decoder);
  tcase_add_test(tc, test_model_ops_through_the_proxy);
  tcase_add_test(tc, test_cancellation);
  tcase_add_test(tc, test_hostile_decoders);
  tcase_add_test(tc, test_hostile_drafters);
  suite_add_tcase(s, tc);
  return dkh_run(s);
}
