/* bench-grammar.c -- mask time per token and compile time of the constraint engine on a 32k vocabulary */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../plugins/constraints/grammar.h"
#include "../plugins/constraints/test_vocab.h"

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Thread CPU time: a mask the scheduler interrupted on a loaded machine counts only
 * its own work, where the wall clock also counts the other processes' turns. */
static double cpu_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static uint64_t rng(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef struct bcase {
  const char *name;
  const char *kind;   /* gbnf, schema, regex, choice */
  const char *text;
} bcase;

static const char *choice_opts[] = {"positive", "negative", "neutral", "mixed",
                                    "not applicable"};

static char *to_gbnf(const bcase *c, char *err, size_t errlen) {
  if (!strcmp(c->kind, "gbnf")) {
    size_t n = strlen(c->text) + 1;
    char *s = malloc(n);
    if (s) memcpy(s, c->text, n);
    return s;
  }
  if (!strcmp(c->kind, "regex")) return dkg_regex_to_gbnf(c->text, err, errlen);
  if (!strcmp(c->kind, "choice"))
    return dkg_choice_to_gbnf(choice_opts, sizeof choice_opts / sizeof *choice_opts, err, errlen);
  return dkg_json_schema_to_gbnf(c->text, strlen(c->text), DKG_WS_FLEXIBLE, err, errlen);
}

static int run_case(const bcase *c, dkg_vocab *v, int walks, int max_steps, uint64_t seed) {
  char err[512];
  double t0 = now_us();
  char *src = to_gbnf(c, err, sizeof err);
  if (!src) {
    fprintf(stderr, "%s: %s\n", c->name, err);
    return 1;
  }
  dkg_grammar *g;
  if (dkg_grammar_parse(src, strlen(src), &g, err, sizeof err)) {
    fprintf(stderr, "%s: %s\n", c->name, err);
    free(src);
    return 1;
  }
  dkg_engine *e = dkg_engine_new(g, v, err, sizeof err);
  double t_compile = now_us() - t0;
  if (e && getenv("BENCH_CONTEXT_DEPTH"))
    dkg_engine_set_context_depth(e, (uint32_t)atoi(getenv("BENCH_CONTEXT_DEPTH")));
  free(src);
  dkg_grammar_free(g);
  if (!e) {
    fprintf(stderr, "%s: %s\n", c->name, err);
    return 1;
  }
  int32_t n_vocab = dkg_vocab_size(v), eos = dkg_vocab_eos(v);
  size_t words = ((size_t)n_vocab + 31) / 32;
  uint32_t *bits = malloc(words * sizeof *bits);
  int32_t *allowed = malloc((size_t)n_vocab * sizeof *allowed);
  size_t cap = (size_t)walks * (size_t)max_steps, nt = 0;
  double *times = malloc(cap * sizeof *times), *ctimes = malloc(cap * sizeof *ctimes);
  double t_first = 0;
  int completed = 0;
  uint64_t s = seed;
  for (int w = 0; w < walks; w++) {
    dkg_matcher *m = dkg_matcher_new(e);
    for (int step = 0; step < max_steps; step++) {
      double ca = cpu_us(), a = now_us();
      dkg_matcher_mask(m, bits);
      double dt = now_us() - a;
      ctimes[nt] = cpu_us() - ca;
      if (w == 0 && step == 0) t_first = dt;
      times[nt++] = dt;
      int32_t na = 0;
      for (int32_t t = 0; t < n_vocab; t++)
        if (bits[t >> 5] >> (t & 31) & 1u) allowed[na++] = t;
      if (!na) break;
      int32_t tok = allowed[rng(&s) % (uint64_t)na];
      if (dkg_matcher_is_complete(m) && (rng(&s) % 4 == 0)) tok = eos;
      if (dkg_matcher_advance(m, tok)) {
        fprintf(stderr, "%s: advance refused an allowed token\n", c->name);
        return 1;
      }
      if (tok == eos) {
        completed++;
        break;
      }
    }
    dkg_matcher_free(m);
  }
  double sum = 0;
  for (size_t i = 0; i < nt; i++) sum += times[i];
  qsort(times, nt, sizeof *times, cmp_d);
  qsort(ctimes, nt, sizeof *ctimes, cmp_d);
  dkg_engine_stats st;
  dkg_engine_get_stats(e, &st);
  printf("%-12s compile %8.1f us  first mask %8.1f us  masks %6zu  avg %7.2f us  p50 %6.2f us  "
         "p99 %8.1f us  cpu p50 %6.2f us  cpu p99 %8.1f us  walks done %d/%d  states %llu  "
         "trie walks %llu  cd checks %llu\n",
         c->name, t_compile, t_first, nt, sum / (double)nt, times[nt / 2],
         times[(size_t)((double)nt * 0.99)], ctimes[nt / 2], ctimes[(size_t)((double)nt * 0.99)],
         completed, walks,
         (unsigned long long)st.n_states, (unsigned long long)st.ctx_walks,
         (unsigned long long)st.cd_checks);
  free(times);
  free(ctimes);
  free(bits);
  free(allowed);
  dkg_engine_release(e);
  return 0;
}

int main(int argc, char **argv) {
  char path[4096], err[512];
  int walks = argc > 1 ? atoi(argv[1]) : 50;
  int max_steps = argc > 2 ? atoi(argv[2]) : 200;
  const char *srcdir = getenv("DECOKIT_SRCDIR");
  snprintf(path, sizeof path, "%s/llama-2-tiny-random.gguf", tvocab_models_dir());
  tvocab *tv = tvocab_load_gguf(path, err, sizeof err);
  if (!tv) {
    fprintf(stderr, "%s; using a synthetic 32k vocabulary\n", err);
    tv = tvocab_synthetic(32000, 1);
  }
  dkg_vocab *v = dkg_vocab_new((const char *const *)tv->piece, tv->len, tv->n, tv->eos,
                               tv->special, err, sizeof err);
  if (!v) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  snprintf(path, sizeof path, "%s/config/json.gbnf", srcdir ? srcdir : ".");
  char *json_gbnf = tvocab_slurp(path);
  if (!json_gbnf) {
    fprintf(stderr, "%s: cannot read (set DECOKIT_SRCDIR)\n", path);
    return 1;
  }
  const bcase cases[] = {
      {"json.gbnf", "gbnf", json_gbnf},
      {"schema-flat", "schema",
       "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":40},"
       "\"age\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":150},"
       "\"email\":{\"type\":\"string\",\"format\":\"email\"},"
       "\"active\":{\"type\":\"boolean\"}},\"required\":[\"name\",\"age\"]}"},
      {"schema-nest", "schema",
       "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\",\"format\":\"uuid\"},"
       "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"maxItems\":5},"
       "\"owner\":{\"$ref\":\"#/$defs/person\"},"
       "\"items\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
       "\"sku\":{\"type\":\"string\",\"pattern\":\"^[A-Z]{3}-[0-9]{4}$\"},"
       "\"qty\":{\"type\":\"integer\",\"minimum\":1}},\"required\":[\"sku\",\"qty\"]}}},"
       "\"required\":[\"id\",\"owner\",\"items\"],"
       "\"$defs\":{\"person\":{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},"
       "\"born\":{\"type\":\"string\",\"format\":\"date\"}},\"required\":[\"name\"]}}}"},
      {"regex", "regex", "(\\+1 )?\\(?[0-9]{3}\\)?[ -][0-9]{3}-[0-9]{4}|[a-z]+@[a-z]+\\.(com|org)"},
      {"choice", "choice", NULL},
      /* bounded repeats: counters, not copies */
      {"repeat-3000", "gbnf", "root ::= [a-z ]{0,3000} \".\"\n"},
      {"maxlen-3000", "schema", "{\"type\":\"string\",\"maxLength\":3000}"},
      {"nested-rep", "gbnf", "root ::= ((([^x]*){0,99}){0,99}){0,99} \"x\"\n"},
  };
  int rc = 0;
  printf("vocabulary: %d tokens; %d walks of at most %d tokens per case\n", tv->n, walks,
         max_steps);
  const char *only = argc > 3 ? argv[3] : NULL;   /* one case by name, for profiling */
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    if (!only || !strcmp(only, cases[i].name)) rc |= run_case(&cases[i], v, walks, max_steps, 42 + i);
  free(json_gbnf);
  dkg_vocab_free(v);
  tvocab_free(tv);
  return rc;
}
