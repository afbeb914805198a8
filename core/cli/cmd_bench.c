/* cmd_bench.c -- `decokit bench`: run pipelines on the same prompts and compare their speed. */
#include "cli.h"

#include "candidates.h"
#include "chain.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void bench_usage(FILE *f) {
  fputs("Usage: decokit bench [OPTIONS] [PIPELINE...]\n"
        "\n"
        "Run each pipeline (default: the all-defaults pipeline) on the same prompts and\n"
        "print one line per pipeline: prompt tokens/s, generated tokens/s, forward\n"
        "passes per generated token, time per token in samplers and constraint, and\n"
        "the mean constraint mask time.  Numbers are medians over --repeat runs.\n"
        "\n"
        "Options:\n"
        "With --chain, time only each pipeline's sampler chain on random logits at the\n"
        "--vocab sizes (default 32000 and 128000): microseconds per token, mean and\n"
        "median over --tokens tokens; no model is run.\n"
        "\n"
        "  -p, --prompt TEXT     a prompt (repeatable; default: each pipeline's own)\n"
        "  -r, --repeat N        runs per pipeline and prompt (default 3)\n"
        "  --chain               time the sampler chain alone\n"
        "  --vocab N             vocabulary size for --chain (repeatable)\n"
        "  --tokens N            tokens per vocabulary size for --chain (default 2000)\n"
        "  --set SECTION.KEY=V   override a value in every pipeline\n"
        "  --plugin-path DIRS    search these folders for plugins first\n"
        "  -h, --help            show this help\n",
        f);
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, size_t n) {
  qsort(v, n, sizeof *v, cmp_d);
  return n ? (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2) : 0;
}

typedef struct bench_row {
  double pp_tps, tg_tps, passes_per_tok, sample_us, constraint_us, mask_us;
} bench_row;

static int bench_one(dk_cli_common *c, const char *const *prompts, size_t n_prompts, int repeat,
                     bench_row *row) {
  dk_registry *reg;
  dk_pipeline *p;
  int st = dk_cli_load_pipeline(c, &reg, &p);
  if (st) return st;
  dk_error err;
  dk_error_clear(&err);
  size_t runs = (n_prompts ? n_prompts : 1) * (size_t)repeat;
  double *v[6];
  for (int k = 0; k < 6; k++) v[k] = calloc(runs, sizeof(double));
  size_t done = 0;
  for (size_t pi = 0; pi < (n_prompts ? n_prompts : 1) && !st; pi++)
    for (int r = 0; r < repeat && !st; r++) {
      dk_run_opts opts = {.prompt = n_prompts ? prompts[pi] : NULL, .logprobs = -1};
      dk_run *run = NULL;
      dk_result *res = NULL;
      if (dk_run_new(p, &opts, &run, &err) || dk_run_generate(run, &res, &err)) {
        dk_cli_error("%s: %s", c->pipeline ? c->pipeline : "(default)", err.msg);
        st = DK_EXIT_RUNTIME;
      } else {
        const dk_completion *cp = &res->c[0];
        double n = cp->n_tokens ? (double)cp->n_tokens : 1;
        double mask = 0;
        for (size_t i = 0; i < cp->n_mask; i++) mask += cp->mask_us[i];
        v[0][done] = res->t_prompt > 0 ? (double)res->n_prompt / res->t_prompt : 0;
        v[1][done] = cp->t_total > 0 ? (double)cp->n_tokens / cp->t_total : 0;
        v[2][done] = (double)cp->forward_passes / n;
        v[3][done] = cp->t_sample * 1e6 / n;
        v[4][done] = cp->t_constraint * 1e6 / n;
        v[5][done] = cp->n_mask ? mask / (double)cp->n_mask : 0;
        done++;
        fprintf(stderr, "\rdecokit: bench: %s: run %zu/%zu", c->pipeline ? c->pipeline : "(default)",
                done, runs);
      }
      dk_result_free(res);
      dk_run_free(run);
    }
  fputc('\n', stderr);
  if (!st) {
    double *out[6] = {&row->pp_tps, &row->tg_tps, &row->passes_per_tok, &row->sample_us,
                      &row->constraint_us, &row->mask_us};
    for (int k = 0; k < 6; k++) *out[k] = median(v[k], done);
  }
  for (int k = 0; k < 6; k++) free(v[k]);
  dk_pipeline_free(p);
  dk_registry_free(reg);
  return st;
}

/* Normal(0, 2) logits: a spread like a small model's, with a long tail. */
static void random_row(dk_rng *rng, float *row, size_t n) {
  for (size_t i = 0; i < n; i += 2) {
    double u1 = dk_rng_uniform(rng) + 1e-12, u2 = dk_rng_uniform(rng);
    double r = sqrt(-2 * log(u1)) * 2.0;
    row[i] = (float)(r * cos(6.283185307179586 * u2));
    if (i + 1 < n) row[i + 1] = (float)(r * sin(6.283185307179586 * u2));
  }
}

static int bench_chain(dk_cli_common *c, const long *vocabs, size_t n_vocabs, long tokens) {
  dk_registry *reg;
  dk_pipeline *p;
  int st = dk_cli_load_pipeline(c, &reg, &p);
  if (st) return st;
  enum { ROWS = 8, HIST = 64 };
  for (size_t vi = 0; vi < n_vocabs && !st; vi++) {
    size_t nv = (size_t)vocabs[vi];
    /* A vocabulary of empty pieces: enough for every sampler's bookkeeping. */
    const char **pieces = calloc(nv, sizeof *pieces);
    uint32_t *lens = calloc(nv, sizeof *lens);
    uint8_t *attr = calloc(nv, 1);
    float *rows = malloc(ROWS * nv * sizeof *rows);
    dk_token_data *buf = malloc(nv * sizeof *buf);
    dk_token *hist = malloc((HIST + (size_t)tokens) * sizeof *hist);
    double *us = malloc((size_t)tokens * sizeof *us);
    dk_error err;
    dk_error_clear(&err);
    dk_chain chain = {0};
    if (!pieces || !lens || !attr || !rows || !buf || !hist || !us) {
      dk_cli_error("bench: out of memory");
      st = DK_EXIT_RUNTIME;
      goto next;
    }
    for (size_t i = 0; i < nv; i++) pieces[i] = "";
    dk_vocab v = {sizeof v, (int32_t)nv, 1, 2, -1, pieces, lens, attr};
    dk_rng rng;
    dk_rng_seed(&rng, 1, 0);
    for (size_t r = 0; r < ROWS; r++) random_row(&rng, rows + r * nv, nv);
    for (size_t i = 0; i < HIST; i++) hist[i] = (dk_token)(dk_rng_u64(&rng) % nv);
    if (dk_chain_init(&chain, p, 1, 0, &v, &err)) {
      dk_cli_error("%s", err.msg);
      st = DK_EXIT_PIPELINE;
      goto next;
    }
    size_t n_hist = HIST;
    double sum = 0;
    for (long t = 0; t < tokens && !st; t++) {
      dk_candidates cand = {buf, nv, -1, 0};
      dk_cand_from_logits(&cand, rows + (size_t)(t % ROWS) * nv, nv);
      dk_sample_ctx ctx = {sizeof ctx, hist, n_hist, HIST};
      double t0 = dk_now();
      if (dk_chain_apply(&chain, &ctx, &cand, &err)) {
        dk_cli_error("%s", err.msg);
        st = DK_EXIT_RUNTIME;
        break;
      }
      dk_token tok = dk_chain_choose(&chain, &cand, &rng);
      dk_chain_accept(&chain, tok);
      us[t] = (dk_now() - t0) * 1e6;
      sum += us[t];
      hist[n_hist++] = tok;
    }
    if (!st)
      printf("%-28s %8zu %12.2f %12.2f\n", c->pipeline ? c->pipeline : "(default)", nv,
             sum / (double)tokens, median(us, (size_t)tokens));
    fflush(stdout);
  next:
    dk_chain_free(&chain);
    free(pieces);
    free(lens);
    free(attr);
    free(rows);
    free(buf);
    free(hist);
    free(us);
  }
  dk_pipeline_free(p);
  dk_registry_free(reg);
  return st;
}

int dk_cmd_bench(int argc, char **argv) {
  dk_cli_common c = {0};
  const char *prompts[64], *pipes[64];
  size_t n_prompts = 0, n_pipes = 0, n_vocabs = 0;
  int repeat = 3, chain = 0;
  long vocabs[16], tokens = 2000;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v;
    int r = dk_cli_common_opt(&c, argc, argv, &i, bench_usage);
    if (r == DK_CLI_NEXT) continue;
    if (r != DK_CLI_MINE) return r;
    if ((v = dk_cli_value("--prompt", argc, argv, &i)) || (v = dk_cli_value("-p", argc, argv, &i))) {
      if (n_prompts < 64) prompts[n_prompts++] = v;
    } else if ((v = dk_cli_value("--repeat", argc, argv, &i)) || (v = dk_cli_value("-r", argc, argv, &i))) {
      repeat = atoi(v);
      if (repeat < 1 || repeat > 1000) {
        dk_cli_error("bench: --repeat needs 1..1000, got '%s'", v);
        return DK_EXIT_USAGE;
      }
    } else if (strcmp(a, "--chain") == 0) {
      chain = 1;
    } else if ((v = dk_cli_value("--vocab", argc, argv, &i)) || (v = dk_cli_value("--tokens", argc, argv, &i))) {
      char *end;
      long x = strtol(v, &end, 10);
      int is_vocab = strncmp(a, "--vocab", 7) == 0;
      if (!*v || *end || x < 2 || x > (is_vocab ? 1L << 24 : 1000000L)) {
        dk_cli_error("bench: %s needs a whole number, got '%s'", is_vocab ? "--vocab" : "--tokens", v);
        return DK_EXIT_USAGE;
      }
      if (!is_vocab)
        tokens = x;
      else if (n_vocabs < 16)
        vocabs[n_vocabs++] = x;
    } else if (a[0] == '-') {
      dk_cli_error("bench: unknown option '%s' (try decokit bench --help)", a);
      return DK_EXIT_USAGE;
    } else if (n_pipes < 64) {
      pipes[n_pipes++] = a;
    }
  }
  if (chain) {
    if (!n_vocabs) {
      vocabs[n_vocabs++] = 32000;
      vocabs[n_vocabs++] = 128000;
    }
    printf("%-28s %8s %12s %12s\n", "pipeline", "vocab", "chain us/tok", "median us");
    int status = DK_EXIT_OK;
    for (size_t i = 0; i < (n_pipes ? n_pipes : 1); i++) {
      c.pipeline = n_pipes ? pipes[i] : NULL;
      int st = bench_chain(&c, vocabs, n_vocabs, tokens);
      if (st) status = st;
    }
    return status;
  }
  printf("%-28s %10s %10s %8s %10s %10s %9s\n", "pipeline", "pp tok/s", "tg tok/s", "fwd/tok",
         "smp us/tok", "cns us/tok", "mask us");
  int status = DK_EXIT_OK;
  for (size_t i = 0; i < (n_pipes ? n_pipes : 1); i++) {
    c.pipeline = n_pipes ? pipes[i] : NULL;
    bench_row row;
    int st = bench_one(&c, prompts, n_prompts, repeat, &row);
    if (st) {
      status = st;
      continue;
    }
    printf("%-28s %10.1f %10.1f %8.3f %10.2f %10.2f %9.2f\n", c.pipeline ? c.pipeline : "(default)",
           row.pp_tps, row.tg_tps, row.passes_per_tok, row.sample_us, row.constraint_us, row.mask_us);
    fflush(stdout);
  }
  return status;
}
