/* cmd_bench.c -- `decokit bench`: run pipelines on the same prompts and compare their speed. */
#include "cli.h"

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
        "  -p, --prompt TEXT     a prompt (repeatable; default: each pipeline's own)\n"
        "  -r, --repeat N        runs per pipeline and prompt (default 3)\n"
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

int dk_cmd_bench(int argc, char **argv) {
  dk_cli_common c = {0};
  const char *prompts[64], *pipes[64];
  size_t n_prompts = 0, n_pipes = 0;
  int repeat = 3;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v;
    int r = dk_cli_common_opt(&c, argc, argv, &i);
    if (r < 0) return DK_EXIT_USAGE;
    if (r > 0) continue;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      bench_usage(stdout);
      return DK_EXIT_OK;
    } else if ((v = dk_cli_value("--prompt", argc, argv, &i)) || (v = dk_cli_value("-p", argc, argv, &i))) {
      if (n_prompts < 64) prompts[n_prompts++] = v;
    } else if ((v = dk_cli_value("--repeat", argc, argv, &i)) || (v = dk_cli_value("-r", argc, argv, &i))) {
      repeat = atoi(v);
      if (repeat < 1 || repeat > 1000) {
        dk_cli_error("bench: --repeat needs 1..1000, got '%s'", v);
        return DK_EXIT_USAGE;
      }
    } else if (a[0] == '-') {
      dk_cli_error("bench: unknown option '%s' (try decokit bench --help)", a);
      return DK_EXIT_USAGE;
    } else if (n_pipes < 64) {
      pipes[n_pipes++] = a;
    }
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
