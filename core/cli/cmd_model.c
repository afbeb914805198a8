/* cmd_model.c -- model-only commands: `decokit model info`, `tokenize` and `perplexity`. */
#include "cli.h"

#include "textfile.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Far beyond any evaluation corpus; a larger input is a mistake (or /dev/zero). */
#define PERPLEXITY_MAX_BYTES (256u << 20)

/* Options shared by model commands (-m, --pipeline and the common ones);
 * same return protocol as dk_cli_common_opt. */
static int model_opt(dk_cli_common *c, char *set_buf, size_t set_len, int argc, char **argv,
                     int *i, void (*usage)(FILE *)) {
  const char *v;
  int r = dk_cli_common_opt(c, argc, argv, i, usage);
  if (r != DK_CLI_MINE) return r;
  if ((v = dk_cli_value("--model", argc, argv, i)) || (v = dk_cli_value("-m", argc, argv, i))) {
    if (!dk_cli_nonempty("--model", v)) return DK_EXIT_USAGE;
    if (c->n_sets == sizeof c->sets / sizeof *c->sets) {
      dk_cli_error("too many --set options");
      return DK_EXIT_USAGE;
    }
    snprintf(set_buf, set_len, "model.path=%s", v);
    c->sets[c->n_sets++] = set_buf;
    return DK_CLI_NEXT;
  }
  if ((v = dk_cli_value("--pipeline", argc, argv, i))) {
    if (!dk_cli_nonempty("--pipeline", v)) return DK_EXIT_USAGE;
    c->pipeline = v;
    return DK_CLI_NEXT;
  }
  return DK_CLI_MINE;
}

static int open_model(dk_cli_common *c, dk_registry **reg, dk_pipeline **p, dk_run **run) {
  int st = dk_cli_load_pipeline(c, reg, p);
  if (st) return st;
  dk_error err;
  dk_error_clear(&err);
  dk_run_opts opts = {.logprobs = -1, .model_only = 1};
  if (dk_run_new(*p, &opts, run, &err)) {
    dk_cli_error("%s", err.msg);
    dk_pipeline_free(*p);
    dk_registry_free(*reg);
    return DK_EXIT_PIPELINE;
  }
  return DK_EXIT_OK;
}

static void close_model(dk_registry *reg, dk_pipeline *p, dk_run *run) {
  dk_run_free(run);
  dk_pipeline_free(p);
  dk_registry_free(reg);
}

/* Tokenize text with the model's tokenizer into a fresh array. */
static int tokenize_all(const dk_model_ref *m, const char *text, size_t len, uint32_t flags,
                        dk_token **out, size_t *n, dk_error *err) {
  size_t cap = len + 8;
  *out = malloc(cap * sizeof **out);
  if (!*out) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  int rc = m->iface->tokenize(m->inst, text, len, flags, *out, cap, n, err);
  if (rc == DK_ERR_RANGE && *n > cap) {
    dk_token *t = realloc(*out, *n * sizeof *t);
    if (!t) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
    *out = t;
    rc = m->iface->tokenize(m->inst, text, len, flags, *out, *n, n, err);
  }
  if (rc) dk_error_ensure(err, rc, "tokenize");
  return rc;
}

static void tokenize_usage(FILE *f) {
  fputs("Usage: decokit tokenize [OPTIONS] TEXT|-\n"
        "\n"
        "Print the model's tokens for TEXT ('-' reads stdin): one line per token with\n"
        "its id and piece, or only the ids with --ids.\n"
        "\n"
        "Options:\n"
        "  -m, --model FILE      the GGUF model (default: the bundled model); only its\n"
        "                        tokenizer is loaded, so any architecture and\n"
        "                        vocabulary-only files work\n"
        "  --pipeline FILE       take the model from this pipeline\n"
        "  --ids                 print only the ids, space-separated, on one line\n"
        "  --no-bos              do not add the BOS token\n"
        "  --special             match special-token texts such as </s> in TEXT\n"
        "  --plugin-path DIRS    search these folders for plugins first\n"
        "  -h, --help            show this help\n",
        f);
}

int dk_cmd_tokenize(int argc, char **argv) {
  dk_cli_common c = {0};
  char set_buf[4096];
  const char *text = NULL;
  int ids_only = 0, no_bos = 0, special = 0;
  for (int i = 1; i < argc; i++) {
    int r = model_opt(&c, set_buf, sizeof set_buf, argc, argv, &i, tokenize_usage);
    if (r == DK_CLI_NEXT) continue;
    if (r != DK_CLI_MINE) return r;
    const char *a = argv[i];
    if (strcmp(a, "--ids") == 0) {
      ids_only = 1;
    } else if (strcmp(a, "--no-bos") == 0) {
      no_bos = 1;
    } else if (strcmp(a, "--special") == 0) {
      special = 1;
    } else if ((a[0] == '-' && a[1]) || text) {
      dk_cli_error("tokenize: unexpected argument '%s' (try decokit tokenize --help)", a);
      return DK_EXIT_USAGE;
    } else {
      text = a;
    }
  }
  if (!text) {
    dk_cli_error("tokenize: no text given (decokit tokenize TEXT, or - for stdin)");
    return DK_EXIT_USAGE;
  }
  char *owned = NULL;
  if (strcmp(text, "-") == 0) {
    owned = dk_cli_slurp(stdin);
    if (!owned) {
      dk_cli_error("tokenize: could not read standard input (read error or out of memory)");
      return DK_EXIT_RUNTIME;
    }
    text = owned;
  }
  /* a file given with -m is only asked for its tokenizer: any architecture, and
   * vocabulary files without tensors, work */
  int given = 0;
  for (size_t k = 0; k < c.n_sets; k++) given |= c.sets[k] == set_buf;
  if (given && !c.pipeline && c.n_sets < sizeof c.sets / sizeof *c.sets)
    c.sets[c.n_sets++] = "model.vocab_only=true";
  dk_registry *reg;
  dk_pipeline *p;
  dk_run *run;
  int st = open_model(&c, &reg, &p, &run);
  if (st) {
    free(owned);
    return st;
  }
  const dk_model_ref *m = dk_run_model(run);
  const dk_vocab *v = dk_run_vocab(run);
  dk_error err;
  dk_error_clear(&err);
  dk_token *toks = NULL;
  size_t n = 0;
  uint32_t flags = (no_bos ? 0 : DK_TOKENIZE_ADD_SPECIAL) | (special ? DK_TOKENIZE_PARSE_SPECIAL : 0);
  if (tokenize_all(m, text, strlen(text), flags, &toks, &n, &err)) {
    dk_cli_error("%s", err.msg);
    st = DK_EXIT_RUNTIME;
  } else if (ids_only) {
    for (size_t i = 0; i < n; i++) printf("%s%d", i ? " " : "", toks[i]);
    putchar('\n');
  } else {
    for (size_t i = 0; i < n; i++) {
      printf("%6d  '", toks[i]);
      const unsigned char *pc = (const unsigned char *)v->piece[toks[i]];
      for (uint32_t k = 0, len = v->piece_len[toks[i]]; k < len;) {
        unsigned char ch = pc[k];
        size_t l = dk_utf8_seq(pc + k, len - k);
        if (ch == '\n') fputs("\\n", stdout);
        else if (ch == '\\' || ch == '\'') printf("\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f || !l) printf("\\x%02x", ch); /* a byte of a split character */
        else fwrite(pc + k, 1, l, stdout);
        k += l ? (uint32_t)l : 1;
      }
      puts("'");
    }
  }
  free(toks);
  free(owned);
  close_model(reg, p, run);
  return st;
}

static void perplexity_usage(FILE *f) {
  fputs("Usage: decokit perplexity [OPTIONS] FILE\n"
        "\n"
        "The model's perplexity on a text file: the file is tokenized with BOS at its\n"
        "start and cut into windows of the context length without overlap; every\n"
        "token after a window's first is predicted from the window so far.  Prints\n"
        "the tokens scored, the mean negative log-likelihood (nats/token) and the\n"
        "perplexity.\n"
        "\n"
        "Options:\n"
        "  -m, --model FILE      the GGUF model (default: the bundled model)\n"
        "  --pipeline FILE       take the model from this pipeline\n"
        "  -c, --ctx N           window length (default: the model's context)\n"
        "  --plugin-path DIRS    search these folders for plugins first\n"
        "  -h, --help            show this help\n",
        f);
}

/* Evaluate one window from position 0 in a fresh sequence, all logits. */
static int eval_window(const dk_model_ref *m, const dk_token *toks, size_t len, float *logits,
                       dk_error *err) {
  dk_seq seq;
  int rc = m->iface->seq_new(m->inst, &seq, err);
  if (rc) return rc;
  rc = m->iface->eval(m->inst, seq, toks, len, logits, DK_EVAL_ALL_LOGITS, err);
  m->iface->seq_free(m->inst, seq);
  return rc;
}

static size_t argmax(const float *row, int n) {
  size_t best = 0;
  for (int k = 1; k < n; k++)
    if (row[k] > row[best]) best = (size_t)k;
  return best;
}

int dk_cmd_perplexity(int argc, char **argv) {
  dk_cli_common c = {0};
  char set_buf[4096];
  const char *file = NULL;
  long ctx = 0;
  char draft_set[2][4096];
  for (int i = 1; i < argc; i++) {
    int r = model_opt(&c, set_buf, sizeof set_buf, argc, argv, &i, perplexity_usage);
    if (r == DK_CLI_NEXT) continue;
    if (r != DK_CLI_MINE) return r;
    const char *a = argv[i], *v;
    if ((v = dk_cli_value("--ctx", argc, argv, &i)) || (v = dk_cli_value("-c", argc, argv, &i))) {
      char *end;
      ctx = strtol(v, &end, 10);
      if (!*v || *end || ctx < 2) {
        dk_cli_error("perplexity: --ctx needs a whole number >= 2, got '%s'", v);
        return DK_EXIT_USAGE;
      }
    } else if ((v = dk_cli_value("--draft", argc, argv, &i))) {
      if (!dk_cli_nonempty("--draft", v)) return DK_EXIT_USAGE;
      if (c.n_sets + 2 > sizeof c.sets / sizeof *c.sets) {
        dk_cli_error("too many --set options");
        return DK_EXIT_USAGE;
      }
      snprintf(draft_set[0], sizeof draft_set[0], "draft.plugin=llama");
      snprintf(draft_set[1], sizeof draft_set[1], "draft.path=%s", v);
      c.sets[c.n_sets++] = draft_set[0];
      c.sets[c.n_sets++] = draft_set[1];
      c.reads_draft = 1;
    } else if ((a[0] == '-' && a[1]) || file) {
      dk_cli_error("perplexity: unexpected argument '%s' (try decokit perplexity --help)", a);
      return DK_EXIT_USAGE;
    } else {
      file = a;
    }
  }
  if (!file) {
    dk_cli_error("perplexity: which text file? (decokit perplexity FILE)");
    return DK_EXIT_USAGE;
  }
  char *text;
  size_t text_len;
  dk_error ferr;
  dk_error_clear(&ferr);
  if (dk_textfile_read(file, "text file", PERPLEXITY_MAX_BYTES, &text, &text_len, &ferr)) {
    dk_cli_error("perplexity: %s", ferr.msg);
    return DK_EXIT_USAGE;
  }
  dk_registry *reg;
  dk_pipeline *p;
  dk_run *run;
  int st = open_model(&c, &reg, &p, &run);
  if (st) {
    free(text);
    return st;
  }
  const dk_model_ref *m = dk_run_model(run);
  int nv = m->info->n_vocab;
  size_t win = ctx > 0 ? (size_t)ctx : (size_t)(m->info->n_ctx > 0 ? m->info->n_ctx : 512);
  dk_error err;
  dk_error_clear(&err);
  dk_token *toks = NULL;
  size_t n = 0;
  const dk_model_ref *d = dk_run_draft_model(run);
  float *logits = malloc(win * (size_t)nv * sizeof *logits);
  float *dlogits = d ? malloc(win * (size_t)nv * sizeof *dlogits) : NULL;
  int rc = logits && (!d || dlogits)
               ? tokenize_all(m, text, strlen(text), DK_TOKENIZE_ADD_SPECIAL, &toks, &n, &err)
               : dk_error_set(&err, DK_ERR_NOMEM, "out of memory");
  double nll = 0;
  size_t scored = 0, agree = 0;
  double t0 = dk_now();
  /* A log file or pipe gets whole lines, not carriage-return redraws. */
  int tty = isatty(fileno(stderr));
  for (size_t start = 0; !rc && start + 1 < n; start += win) {
    size_t len = n - start < win ? n - start : win;
    rc = eval_window(m, toks + start, len, logits, &err);
    if (!rc && d) rc = eval_window(d, toks + start, len, dlogits, &err);
    for (size_t i = 0; !rc && i + 1 < len; i++) {
      const float *row = logits + i * (size_t)nv;
      size_t best = argmax(row, nv);
      double sum = 0;
      for (int k = 0; k < nv; k++) sum += exp((double)row[k] - row[best]);
      nll += row[best] + log(sum) - row[toks[start + i + 1]];
      if (d) agree += argmax(dlogits + i * (size_t)nv, nv) == best;
      scored++;
    }
    fprintf(stderr, "%sdecokit: perplexity: %zu/%zu tokens%s", tty ? "\r" : "", start + len, n,
            tty ? "" : "\n");
  }
  if (n > 1 && tty) fputc('\n', stderr);
  if (rc) {
    dk_error_ensure(&err, rc, "evaluation");
    dk_cli_error("%s", err.msg);
    st = DK_EXIT_RUNTIME;
  } else if (!scored) {
    dk_cli_error("perplexity: '%s' has fewer than two tokens", file);
    st = DK_EXIT_RUNTIME;
  } else {
    double mean = nll / (double)scored;
    printf("tokens %zu\nwindow %zu\nnll %.6f\nperplexity %.4f\nbytes %zu\nbits_per_byte %.4f\n"
           "seconds %.2f\n",
           scored, win, mean, exp(mean), strlen(text), nll / log(2.0) / (double)strlen(text),
           dk_now() - t0);
    if (d) printf("draft_agreement %.4f\n", (double)agree / (double)scored);
  }
  free(dlogits);
  free(logits);
  free(toks);
  free(text);
  close_model(reg, p, run);
  return st;
}

/* The capability names, in bit order, as `model info` prints them. */
static void print_capabilities(const dk_model_info *info) {
  static const char *const names[] = {"batch",      "tree",       "fork",  "truncate",
                                      "masked",     "hidden",     "ragged", "head",
                                      "masked_seq", "dual_cache", "block_causal", "abort",
                                      "share",      "masked_batch"};
  size_t n = sizeof names / sizeof names[0];
  uint32_t caps = info->caps;
  fputs("capabilities:", stdout);
  if (!caps) fputs(" none", stdout);
  for (size_t i = 0; i < n; i++)
    if (caps & (1u << i)) printf(" %s", names[i]);
  /* A bit this host has no name for is still shown, not dropped. */
  if (caps >> n) printf(" 0x%x", (unsigned)(caps >> n << n));
  putchar('\n');
  printf("attention: %s\n", info->attention == DK_ATTN_BIDIRECTIONAL ? "bidirectional" : "causal");
  printf("logit_shift: %d\n", (int)info->logit_shift);
}

static void model_usage(FILE *f) {
  fputs("Usage: decokit model info [OPTIONS] FILE\n"
        "\n"
        "Describe a model file as the model plugin sees it: architecture, sizes, the\n"
        "type of every tensor, vocabulary, special tokens and the memory needed,\n"
        "then the capabilities, attention and logit shift the model reports to the\n"
        "host.\n"
        "\n"
        "Options:\n"
        "  --set model.plugin=NAME  use another model plugin (default: llama)\n"
        "  --plugin-path DIRS       search these folders for plugins first\n"
        "  -h, --help               show this help\n",
        f);
}

int dk_cmd_model(int argc, char **argv) {
  dk_cli_common c = {0};
  char set_buf[4096];
  const char *sub = NULL, *file = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int r = dk_cli_common_opt(&c, argc, argv, &i, model_usage);
    if (r == DK_CLI_NEXT) continue;
    if (r != DK_CLI_MINE) return r;
    if (!sub && strcmp(a, "info") == 0) {
      sub = a;
    } else if (sub && !file && a[0] != '-') {
      file = a;
    } else {
      dk_cli_error("model: unexpected argument '%s' (try decokit model --help)", a);
      return DK_EXIT_USAGE;
    }
  }
  if (!sub || !file) {
    dk_cli_error("model: expected 'decokit model info FILE'");
    return DK_EXIT_USAGE;
  }
  snprintf(set_buf, sizeof set_buf, "model.path=%s", file);
  if (c.n_sets >= sizeof c.sets / sizeof *c.sets) {
    dk_cli_error("model: too many --set options");
    return DK_EXIT_USAGE;
  }
  c.sets[c.n_sets++] = set_buf;
  dk_registry *reg;
  dk_pipeline *p;
  dk_run *run;
  int st = open_model(&c, &reg, &p, &run);
  if (st) return st;
  const dk_model_ref *m = dk_run_model(run);
  dk_error err;
  dk_error_clear(&err);
  if (!m->iface->describe) {
    dk_cli_error("model: the '%s' plugin cannot describe its models", p->model->comp->hdr->name);
    close_model(reg, p, run);
    return DK_EXIT_RUNTIME;
  }
  size_t n = 0, cap = 1 << 16;
  char *buf = malloc(cap);
  int rc = buf ? m->iface->describe(m->inst, buf, cap, &n, &err) : DK_ERR_NOMEM;
  if (rc == DK_ERR_RANGE && n > cap) {
    char *t = realloc(buf, n);
    rc = t ? m->iface->describe(m->inst, (buf = t), n, &n, &err) : DK_ERR_NOMEM;
  }
  if (rc) {
    dk_error_ensure(&err, rc, "describe");
    dk_cli_error("%s", err.msg);
    st = DK_EXIT_RUNTIME;
  } else {
    fwrite(buf, 1, n, stdout);
    if (n && buf[n - 1] != '\n') putchar('\n');
    print_capabilities(dk_run_model_info(run)); /* the model's own caps, host-only ones too */
  }
  free(buf);
  close_model(reg, p, run);
  return st;
}
