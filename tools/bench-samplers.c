/* bench-samplers.c -- time per token of llama.cpp's default sampler chain on random logits (32k and 128k vocabularies). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */

#include <decokit/plugin.h>

#include "error.h"
#include "instance.h"
#include "loader.h"
#include "params.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef BENCH_PLUGIN_DIR
#define BENCH_PLUGIN_DIR "plugins/.libs"
#endif

typedef struct stage {
  const char *name;
  const char *kv[9]; /* key, value, ..., NULL */
} stage;

/* llama.cpp's default chain with its default values */
static const stage DEFAULT_CHAIN[] = {
    {"penalties", {"last_n", "64", "repeat", "1.0", "freq", "0.0", "present", "0.0", NULL}},
    {"top_k", {"k", "40", NULL}},
    {"typical", {"p", "1.0", NULL}},
    {"top_p", {"p", "0.95", NULL}},
    {"min_p", {"p", "0.05", NULL}},
    {"temperature", {"t", "0.8", NULL}},
    {"dist", {NULL}},
};
/* the same with the penalties switched on, so their cost shows */
static const stage PENALISED_CHAIN[] = {
    {"penalties", {"last_n", "64", "repeat", "1.1", "freq", "0.1", "present", "0.1", NULL}},
    {"top_k", {"k", "40", NULL}},
    {"typical", {"p", "1.0", NULL}},
    {"top_p", {"p", "0.95", NULL}},
    {"min_p", {"p", "0.05", NULL}},
    {"temperature", {"t", "0.8", NULL}},
    {"dist", {NULL}},
};
/* no top-k in front: top-p, min-p and temperature see the whole vocabulary */
static const stage WIDE_CHAIN[] = {
    {"top_p", {"p", "0.95", NULL}},
    {"min_p", {"p", "0.05", NULL}},
    {"temperature", {"t", "0.8", NULL}},
    {"dist", {NULL}},
};

enum { MAX_STAGES = 8 };

typedef struct chain {
  size_t n;
  dk_instance *in[MAX_STAGES];
  dk_config cfg[MAX_STAGES];
  const dk_sampler_iface *f[MAX_STAGES];
} chain;

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int chain_build(dk_registry *reg, const stage *st, size_t n, chain *c, dk_error *err) {
  memset(c, 0, sizeof *c);
  for (size_t i = 0; i < n; i++) {
    const dk_component *comp;
    int rc = dk_registry_find(reg, DK_KIND_SAMPLER, st[i].name, &comp, err);
    if (!rc) rc = dk_config_init(&c->cfg[i], comp->hdr, err);
    for (size_t k = 0; !rc && st[i].kv[k]; k += 2) rc = dk_config_set(&c->cfg[i], st[i].kv[k], st[i].kv[k + 1], err);
    if (!rc) rc = dk_config_finish(&c->cfg[i], NULL, err);
    if (!rc) rc = dk_instance_create(comp, &c->cfg[i], 42 + i, 0, NULL, 1, &c->in[i], err);
    if (rc) return rc;
    c->f[i] = (const dk_sampler_iface *)comp->hdr;
    c->n = i + 1;
  }
  return DK_OK;
}

static void chain_free(chain *c) {
  for (size_t i = 0; i < c->n; i++) {
    dk_instance_destroy(c->in[i]);
    dk_config_free(&c->cfg[i]);
  }
}

/* Approximately normal logits (sum of four uniforms), sd about 2.3, like a
 * small model's output row. */
static void random_logits(float *l, size_t n, uint64_t *x) {
  for (size_t i = 0; i < n; i++) {
    double s = 0;
    for (int k = 0; k < 4; k++) {
      *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
      s += (double)(*x >> 11) / 9007199254740992.0;
    }
    l[i] = (float)((s - 2.0) * 4.0);
  }
}

static int bench(dk_registry *reg, const char *label, const stage *st, size_t n_st, size_t n_vocab,
                 int tokens) {
  dk_error err;
  dk_error_clear(&err);
  chain c;
  if (chain_build(reg, st, n_st, &c, &err)) {
    fprintf(stderr, "bench-samplers: %s\n", err.msg);
    chain_free(&c);
    return 1;
  }
  const int n_rows = 16;
  float *rows = malloc(sizeof(float) * n_vocab * (size_t)n_rows);
  dk_token_data *data = malloc(sizeof *data * n_vocab);
  dk_token *hist = malloc(sizeof *hist * (size_t)(64 + tokens));
  double *per = malloc(sizeof *per * (size_t)tokens);
  if (!rows || !data || !hist || !per) {
    fprintf(stderr, "bench-samplers: out of memory\n");
    free(rows), free(data), free(hist), free(per);
    chain_free(&c);
    return 1;
  }
  uint64_t x = 0x2545F4914F6CDD1Dull;
  for (int r = 0; r < n_rows; r++) random_logits(rows + (size_t)r * n_vocab, n_vocab, &x);
  for (int i = 0; i < 64; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    hist[i] = (dk_token)(x % n_vocab);
  }
  size_t n_hist = 64;
  double t_fill = 0, t_chain = 0;
  long kept = 0;
  int done = 0;
  for (int t = 0; t < tokens; t++) {
    const float *row = rows + (size_t)(t % n_rows) * n_vocab;
    double t0 = now_us();
    for (size_t i = 0; i < n_vocab; i++) {
      data[i].id = (dk_token)i;
      data[i].logit = row[i];
      data[i].p = 0;
    }
    dk_candidates cand = {data, n_vocab, -1, 0};
    dk_sample_ctx ctx = {sizeof ctx, hist, n_hist, 64};
    double t1 = now_us();
    for (size_t s = 0; s < c.n; s++)
      if (c.f[s]->apply(c.in[s]->inst, &ctx, &cand, &err)) {
        fprintf(stderr, "bench-samplers: %s: %s\n", c.f[s]->hdr.name, err.msg);
        t = tokens;
        break;
      }
    if (cand.selected < 0) break;
    dk_token tok = cand.data[cand.selected].id;
    for (size_t s = 0; s < c.n; s++)
      if (c.f[s]->accept) c.f[s]->accept(c.in[s]->inst, tok);
    double t2 = now_us();
    kept += (long)cand.n;
    hist[n_hist++] = tok;
    t_fill += t1 - t0;
    t_chain += t2 - t1;
    per[done++] = t2 - t1;
  }
  if (done == 0) done = 1, per[0] = 0;
  /* the median resists other processes sharing the cores better than the mean */
  qsort(per, (size_t)done, sizeof *per, cmp_double);
  printf("%-36s vocab %6zu: chain median %8.2f us/token, mean %8.2f  (filling the array %7.2f us; %.1f candidates reach the selector)\n",
         label, n_vocab, per[done / 2], t_chain / done, t_fill / done, (double)kept / done);
  free(rows), free(data), free(hist), free(per);
  chain_free(&c);
  return 0;
}

int main(int argc, char **argv) {
  int tokens = argc > 1 ? atoi(argv[1]) : 500;
  if (tokens <= 0) {
    fprintf(stderr, "usage: bench-samplers [tokens]\n");
    return 2;
  }
  const char *path = getenv("DECOKIT_PLUGIN_PATH");
  dk_registry *reg = dk_registry_new();
  if (reg == NULL) return 1;
  dk_registry_add_path(reg, path && *path ? path : BENCH_PLUGIN_DIR);
  static const size_t vocabs[] = {32000, 128256};
  int rc = 0;
  printf("sampler chain time per token, %d tokens, random logits (not a timed assertion)\n", tokens);
  for (size_t v = 0; v < 2 && !rc; v++) {
    rc |= bench(reg, "llama.cpp default chain", DEFAULT_CHAIN, 7, vocabs[v], tokens);
    rc |= bench(reg, "default chain, penalties on", PENALISED_CHAIN, 7, vocabs[v], tokens);
    rc |= bench(reg, "top_p, min_p, temp, dist (no top_k)", WIDE_CHAIN, 4, vocabs[v], tokens);
  }
  dk_registry_free(reg);
  return rc;
}
