/* cmd_grammar.c -- `decokit grammar`: check texts against a grammar, schema or regex, print its GBNF */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#include "grammar.h"

static void grammar_usage(FILE *f) {
  fputs("Usage: decokit grammar check -g FILE (--gbnf|--schema|--regex) [OPTIONS] [--] [TEXT | -]\n"
        "       decokit grammar gbnf -g FILE (--gbnf|--schema|--regex) [OPTIONS]\n"
        "\n"
        "check  say whether TEXT (or standard input, given - or nothing) is in the\n"
        "       language, and if not, where it leaves it and what could come there\n"
        "gbnf   print the GBNF grammar the file compiles to\n"
        "\n"
        "Options:\n"
        "  -g, --grammar FILE    the grammar: GBNF text, a JSON Schema, or a regular\n"
        "                        expression (the file's text without its final newline)\n"
        "  --gbnf, --schema, --regex\n"
        "                        what FILE holds (default: by its extension, .gbnf,\n"
        "                        .json or anything else as GBNF)\n"
        "  --strict              schema: refuse unknown keywords and formats\n"
        "  --properties-order O  schema: declared (default) or any\n"
        "  --whitespace W        schema: flexible (default) or none\n"
        "  -q, --quiet           check: print nothing, only the exit status\n"
        "  -h, --help            show this help\n"
        "\n"
        "Exit status: 0 in the language (or printed), 1 not in it, 2 usage, 3 the\n"
        "grammar is invalid.\n",
        f);
}

enum { G_AUTO, G_GBNF, G_SCHEMA, G_REGEX };

/* A file's bytes, or NULL after printing why. */
static char *read_all(const char *path, size_t *len) {
  FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
  if (!f) {
    dk_cli_error("grammar: cannot open '%s'", path);
    return NULL;
  }
  char *buf = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (n + 4096 + 1 > cap) {
      cap = cap ? cap * 2 : 8192;
      char *nb = cap <= (size_t)DKG_MAX_TEXT * 2 ? realloc(buf, cap) : NULL;
      if (!nb) {
        free(buf);
        if (f != stdin) fclose(f);
        dk_cli_error("grammar: '%s' is too large", path);
        return NULL;
      }
      buf = nb;
    }
    size_t k = fread(buf + n, 1, 4096, f);
    n += k;
    if (k < 4096) break;
  }
  int bad = ferror(f);
  if (f != stdin) fclose(f);
  if (bad) {
    free(buf);
    dk_cli_error("grammar: cannot read '%s'", path);
    return NULL;
  }
  buf[n] = 0;
  *len = n;
  return buf;
}

/* The GBNF of the grammar file, or NULL after printing the error. */
static char *to_gbnf(const char *path, int kind, const dkg_schema_opts *so) {
  size_t len;
  char *text = read_all(path, &len);
  if (!text) return NULL;
  if (kind == G_AUTO) {
    size_t pl = strlen(path);
    kind = pl > 5 && !strcmp(path + pl - 5, ".json") ? G_SCHEMA : G_GBNF;
  }
  char err[512];
  char *g = NULL;
  if (kind == G_GBNF) return text;
  if (kind == G_SCHEMA) {
    g = dkg_json_schema_to_gbnf_opts(text, len, so, err, sizeof err);
  } else {
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r')) text[--len] = 0;
    g = dkg_regex_to_gbnf(text, err, sizeof err);
  }
  free(text);
  if (!g) dk_cli_error("grammar: %s: %s", path, err);
  return g;
}

/* Where in the text offset at lies, as 1-based line and column (in characters). */
static void locate(const char *s, size_t at, size_t *line, size_t *col) {
  *line = 1;
  *col = 1;
  for (size_t i = 0; i < at; i++) {
    if (s[i] == '\n') {
      ++*line;
      *col = 1;
    } else if (((unsigned char)s[i] & 0xC0) != 0x80) {
      ++*col;
    }
  }
}

static void print_byte(unsigned b) {
  if (b >= 0x21 && b < 0x7F && b != '\'') printf("'%c'", (char)b);
  else printf("0x%02X", b);
}

/* The bytes that could have come at the failure, as ranges. */
static void print_expected(const uint8_t *allowed, int can_end) {
  int any = 0;
  for (unsigned b = 0; b < 256; b++) {
    if (!allowed[b]) continue;
    unsigned e = b;
    while (e + 1 < 256 && allowed[e + 1]) e++;
    printf("%s", any++ ? ", " : "");
    print_byte(b);
    if (e > b) {
      printf("..");
      print_byte(e);
    }
    b = e;
  }
  if (can_end) printf("%sthe end of the text", any ? ", or " : "");
  if (!any && !can_end) printf("nothing");
}

static int check_text(const char *gbnf, const char *text, size_t n, int quiet) {
  char err[512];
  dkg_checker *k = dkg_checker_new(gbnf, strlen(gbnf), err, sizeof err);
  if (!k) {
    dk_cli_error("grammar: %s", err);
    return DK_EXIT_PIPELINE;
  }
  size_t at;
  int r = dkg_checker_run(k, text, n, &at);
  if (r < 0) {
    dkg_checker_free(k);
    dk_cli_error("grammar: the check failed (out of memory, or the grammar is too ambiguous)");
    return DK_EXIT_RUNTIME;
  }
  if (r == 1) {
    if (!quiet) printf("ok: in the language (%zu bytes)\n", n);
    dkg_checker_free(k);
    return DK_EXIT_OK;
  }
  if (!quiet) {
    size_t line, col;
    locate(text, at, &line, &col);
    uint8_t allowed[256];
    int can_end = 0;
    dkg_checker_next(k, text, at, allowed, &can_end);
    if (at == n)
      printf("no: the text ends too early at byte %zu (line %zu, column %zu); expected ", at, line,
             col);
    else
      printf("no: byte %zu (line %zu, column %zu) is ", at, line, col), print_byte(
          (unsigned char)text[at]), printf(", expected ");
    print_expected(allowed, at == n ? 0 : can_end);
    printf("\n");
  }
  dkg_checker_free(k);
  return DK_EXIT_RUNTIME;
}

int dk_cmd_grammar(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
    grammar_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? DK_EXIT_USAGE : DK_EXIT_OK;
  }
  const char *sub = argv[1];
  if (strcmp(sub, "check") && strcmp(sub, "gbnf")) {
    dk_cli_error("grammar: unknown subcommand '%s' (check or gbnf)", sub);
    return DK_EXIT_USAGE;
  }
  const char *file = NULL, *text = NULL, *v;
  int kind = G_AUTO, quiet = 0;
  dkg_schema_opts so = {.ws = DKG_WS_FLEXIBLE};
  int opts_done = 0;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (opts_done || (a[0] != '-' || !a[1])) {
      if (text || strcmp(sub, "check")) {
        dk_cli_error("grammar: unexpected argument '%s'", a);
        return DK_EXIT_USAGE;
      }
      text = a;
    } else if (!strcmp(a, "--")) {
      opts_done = 1;
    } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      grammar_usage(stdout);
      return DK_EXIT_OK;
    } else if (!strcmp(a, "-g") && i + 1 < argc) {
      file = argv[++i];
    } else if ((v = dk_cli_value("--grammar", argc, argv, &i))) {
      file = v;
    } else if (!strcmp(a, "--gbnf")) {
      kind = G_GBNF;
    } else if (!strcmp(a, "--schema")) {
      kind = G_SCHEMA;
    } else if (!strcmp(a, "--regex")) {
      kind = G_REGEX;
    } else if (!strcmp(a, "--strict")) {
      so.strict = 1;
    } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
      quiet = 1;
    } else if ((v = dk_cli_value("--properties-order", argc, argv, &i))) {
      if (strcmp(v, "declared") && strcmp(v, "any")) {
        dk_cli_error("grammar: --properties-order must be declared or any, not '%s'", v);
        return DK_EXIT_USAGE;
      }
      so.any_order = !strcmp(v, "any");
    } else if ((v = dk_cli_value("--whitespace", argc, argv, &i))) {
      if (strcmp(v, "flexible") && strcmp(v, "none")) {
        dk_cli_error("grammar: --whitespace must be flexible or none, not '%s'", v);
        return DK_EXIT_USAGE;
      }
      so.ws = strcmp(v, "none") ? DKG_WS_FLEXIBLE : DKG_WS_NONE;
    } else {
      dk_cli_error("grammar: unknown option '%s' (try decokit grammar --help)", a);
      return DK_EXIT_USAGE;
    }
  }
  if (!file) {
    dk_cli_error("grammar: give the grammar with -g FILE");
    return DK_EXIT_USAGE;
  }
  char *gbnf = to_gbnf(file, kind, &so);
  if (!gbnf) return DK_EXIT_PIPELINE;
  int st;
  if (!strcmp(sub, "gbnf")) {
    char err[512];
    dkg_grammar *g;
    if (dkg_grammar_parse(gbnf, strlen(gbnf), &g, err, sizeof err)) {
      dk_cli_error("grammar: %s:%s", file, err);
      st = DK_EXIT_PIPELINE;
    } else {
      dkg_grammar_free(g);
      fputs(gbnf, stdout);
      st = DK_EXIT_OK;
    }
  } else if (!text || !strcmp(text, "-")) {
    size_t n;
    char *in = read_all("-", &n);
    st = in ? check_text(gbnf, in, n, quiet) : DK_EXIT_USAGE;
    free(in);
  } else {
    st = check_text(gbnf, text, strlen(text), quiet);
  }
  free(gbnf);
  return st;
}
