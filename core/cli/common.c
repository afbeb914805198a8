/* common.c -- options, pipeline loading and path discovery shared by the CLI's commands. */
#include "cli.h"

#include "log.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void dk_cli_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("decokit: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* Returned for an option at the end of the command line, whose error is
 * already printed, so dk_cli_nonempty does not print a second one. */
static const char missing_value[] = "";

const char *dk_cli_value(const char *opt, int argc, char **argv, int *i) {
  size_t ol = strlen(opt);
  const char *a = argv[*i];
  if (strncmp(a, opt, ol) != 0) return NULL;
  if (a[ol] == '=') return a + ol + 1;
  if (a[ol] != '\0') return NULL;
  if (*i + 1 >= argc) {
    dk_cli_error("option %s needs a value", opt);
    return missing_value;
  }
  return argv[++*i];
}

int dk_cli_nonempty(const char *opt, const char *v) {
  if (*v) return 1;
  if (v != missing_value) dk_cli_error("option %s needs a non-empty value", opt);
  return 0;
}

static int is_dir(const char *p);
static const char *build_plugin_dir(void);

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
}

void dk_cli_catch_sigint(struct sigaction *old) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sa.sa_flags = (int)SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  interrupted = 0;
  sigaction(SIGINT, &sa, old);
}

int dk_cli_should_abort(void *user) {
  (void)user;
  return interrupted != 0;
}

int dk_cli_interrupted(void) { return interrupted != 0; }

int dk_cli_generate_opt(dk_cli_common *c, int argc, char **argv, int *i) {
  const char *v;
  int slot;
  if ((v = dk_cli_value("--max-tokens", argc, argv, i)) || (v = dk_cli_value("-n", argc, argv, i)))
    slot = 0;
  else if ((v = dk_cli_value("--seed", argc, argv, i)))
    slot = 1;
  else if ((v = dk_cli_value("--threads", argc, argv, i)) || (v = dk_cli_value("-t", argc, argv, i)))
    slot = 2;
  else
    return DK_CLI_MINE;
  if (c->n_sets == sizeof c->sets / sizeof *c->sets) {
    dk_cli_error("too many --set options");
    return DK_EXIT_USAGE;
  }
  char *buf = c->gen_buf[slot];
  size_t cap = sizeof c->gen_buf[slot];
  if (slot == 0)
    snprintf(buf, cap, "generate.max_tokens=%s", v);
  else if (slot == 1 && strcmp(v, "-1") == 0)
    snprintf(buf, cap, "generate.seed=%lld", dk_cli_random_seed());
  else if (slot == 1)
    snprintf(buf, cap, "generate.seed=%s", v);
  else
    snprintf(buf, cap, "generate.threads=%s", v);
  c->sets[c->n_sets++] = buf;
  return DK_CLI_NEXT;
}

int dk_cli_pipeline_arg(dk_cli_common *c, const char *cmd, const char *a) {
  if (a[0] == '-' && a[1]) {
    dk_cli_error("%s: unknown option '%s' (try decokit %s --help)", cmd, a, cmd);
    return DK_EXIT_USAGE;
  }
  if (c->pipeline) {
    dk_cli_error("%s: more than one pipeline given ('%s' and '%s')", cmd, c->pipeline, a);
    return DK_EXIT_USAGE;
  }
  c->pipeline = a;
  return DK_CLI_NEXT;
}

int dk_cli_common_opt(dk_cli_common *c, int argc, char **argv, int *i, void (*usage)(FILE *)) {
  const char *v;
  if (strcmp(argv[*i], "-h") == 0 || strcmp(argv[*i], "--help") == 0) {
    usage(stdout);
    return DK_EXIT_OK;
  }
  if ((v = dk_cli_value("--plugin-path", argc, argv, i))) {
    if (!dk_cli_nonempty("--plugin-path", v)) return DK_EXIT_USAGE;
    /* A mistyped folder would only show up later as "no plugin named". */
    for (const char *f = v; *f;) {
      size_t n = strcspn(f, ":");
      char dir[PATH_MAX];
      if (n && n < sizeof dir) {
        memcpy(dir, f, n);
        dir[n] = 0;
        if (!is_dir(dir)) {
          dk_cli_error("--plugin-path: '%s' is not a folder", dir);
          return DK_EXIT_USAGE;
        }
      }
      f += n + (f[n] == ':');
    }
    c->plugin_path = v;
    return DK_CLI_NEXT;
  }
  if ((v = dk_cli_value("--set", argc, argv, i))) {
    if (!dk_cli_nonempty("--set", v)) return DK_EXIT_USAGE;
    if (c->n_sets == sizeof c->sets / sizeof *c->sets) {
      dk_cli_error("too many --set options");
      return DK_EXIT_USAGE;
    }
    c->sets[c->n_sets++] = v;
    return DK_CLI_NEXT;
  }
  return DK_CLI_MINE;
}

static const struct {
  const char *opt, *plugin, *key;
  int integer;
} shortcuts[DK_N_SHORT] = {
    [DK_SHORT_PENALTY] = {"--repeat-penalty", "penalties", "repeat", 0},
    [DK_SHORT_TOP_K] = {"--top-k", "top_k", "k", 1},
    [DK_SHORT_TOP_P] = {"--top-p", "top_p", "p", 0},
    [DK_SHORT_MIN_P] = {"--min-p", "min_p", "p", 0},
    [DK_SHORT_TEMP] = {"--temp", "temperature", "t", 0},
};

/* A shortcut's value must be a plain number, so that a typo is named by
 * its option here rather than by the sampler block it turned into. */
static int is_number(const char *v, int integer) {
  char *end;
  errno = 0;
  if (integer == 1)
    (void)strtol(v, &end, 10);
  else
    (void)strtod(v, &end);
  return *v && !*end && errno == 0 && !strchr(v, 'n') && !strchr(v, 'N') && !strchr(v, 'x') &&
         !strchr(v, 'X');
}

int dk_cli_sampling_opt(dk_cli_common *c, int argc, char **argv, int *i) {
  const char *v;
  if ((v = dk_cli_value("--sampler", argc, argv, i))) {
    if (!dk_cli_nonempty("--sampler", v)) return DK_EXIT_USAGE;
    if (c->n_sets == sizeof c->sets / sizeof *c->sets) {
      dk_cli_error("too many --set and --sampler options");
      return DK_EXIT_USAGE;
    }
    c->is_sampler[c->n_sets] = 1;
    c->sets[c->n_sets++] = v;
    return DK_CLI_NEXT;
  }
  if ((v = dk_cli_value("--stop", argc, argv, i))) {
    if (!dk_cli_nonempty("--stop", v)) return DK_EXIT_USAGE;
    if (c->n_stops == sizeof c->stops / sizeof *c->stops) {
      dk_cli_error("too many --stop options (at most %zu)", sizeof c->stops / sizeof *c->stops);
      return DK_EXIT_USAGE;
    }
    c->stops[c->n_stops++] = v;
    return DK_CLI_NEXT;
  }
  for (int k = 0; k < DK_N_SHORT; k++) {
    if (!(v = dk_cli_value(shortcuts[k].opt, argc, argv, i))) continue;
    if (!dk_cli_nonempty(shortcuts[k].opt, v)) return DK_EXIT_USAGE;
    if (!is_number(v, shortcuts[k].integer)) {
      dk_cli_error("option %s: expected %s, got '%s'", shortcuts[k].opt,
                   shortcuts[k].integer == 1 ? "a whole number" : "a number", v);
      return DK_EXIT_USAGE;
    }
    c->shortcut[k] = v;
    return DK_CLI_NEXT;
  }
  return DK_CLI_MINE;
}

long long dk_cli_random_seed(void) {
  unsigned int v = 0;
  FILE *f = fopen("/dev/urandom", "rb");
  if (!f || fread(&v, sizeof v, 1, f) != 1) v = (unsigned int)time(NULL) ^ ((unsigned int)getpid() << 16);
  if (f) fclose(f);
  return (long long)(v & 0x7fffffffu);
}

static int is_file(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The folder holding the running executable, or "" when unknown. */
static const char *exe_dir(void) {
  static char dir[PATH_MAX];
  if (!dir[0]) {
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    if (n <= 0) return "";
    dir[n] = '\0';
    char *s = strrchr(dir, '/');
    if (s) *s = '\0';
  }
  return dir;
}

/* When run from a build tree (core/decokit or libtool's core/.libs/), the
 * top of that tree; NULL for an installed binary. */
static const char *build_top(void) {
  static char top[PATH_MAX];
  static int done;
  if (!done) {
    done = 1;
    const char *d = exe_dir();
    size_t n = strlen(d);
    const char *suffixes[] = {"/core/.libs", "/core"};
    for (size_t i = 0; i < 2; i++) {
      size_t sl = strlen(suffixes[i]);
      if (n > sl && strcmp(d + n - sl, suffixes[i]) == 0 && n - sl < sizeof top) {
        memcpy(top, d, n - sl);
        top[n - sl] = '\0';
        break;
      }
    }
  }
  return top[0] ? top : NULL;
}

const char *dk_cli_default_model(void) {
  static char path[PATH_MAX];
  const char *env = getenv("DECOKIT_MODEL");
  if (env && *env) return env;
  const char *top = build_top();
  if (top) {
    /* A build tree: the source tree's models/ (srcdir may differ: try the
     * configured one first). */
    snprintf(path, sizeof path, "%s/models/decokit-tiny.gguf", top);
    if (is_file(path)) return path;
    const char *src = getenv("DECOKIT_SRCDIR");
    if (src) {
      snprintf(path, sizeof path, "%s/models/decokit-tiny.gguf", src);
      if (is_file(path)) return path;
    }
#ifdef ABS_TOP_SRCDIR
    snprintf(path, sizeof path, "%s/models/decokit-tiny.gguf", ABS_TOP_SRCDIR);
    if (is_file(path)) return path;
#endif
  }
  snprintf(path, sizeof path, "%s/models/decokit-tiny.gguf", PKGDATADIR);
  return is_file(path) ? path : NULL;
}

dk_registry *dk_cli_registry(const char *cli_path, const char *pipeline_path) {
  dk_registry *reg = dk_registry_new();
  if (!reg) return NULL;
  if (dk_registry_standard_paths(reg, cli_path, pipeline_path, build_plugin_dir())) {
    dk_registry_free(reg);
    return NULL;
  }
  return reg;
}

char *dk_cli_slurp(FILE *f) {
  char *buf = NULL;
  size_t len = 0, cap = 0;
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    if (dk_buf_append(&buf, &len, &cap, chunk, n)) return NULL; /* never a cut text */
  if (ferror(f)) {
    free(buf);
    return NULL;
  }
  return buf ? buf : dk_strdup("");
}

/* The folder of this build tree's plugins, or NULL for an installed binary. */
static const char *build_plugin_dir(void) {
  static char p[PATH_MAX];
  const char *top = build_top();
  return top && (size_t)snprintf(p, sizeof p, "%s/plugins/.libs", top) < sizeof p && is_dir(p) ? p
                                                                                            : NULL;
}

/* A failed edit of the pipeline, named by the option it came from. */
static int edit_failed(const char *opt, const decokit_error *err) {
  if (err->code == DECOKIT_ERR_NOMEM || !opt)
    dk_cli_error("%s", err->message);
  else
    dk_cli_error("%s: %s", opt, err->message);
  return dk_cli_exit_status(err->code);
}

int dk_cli_open_pipeline(const dk_cli_common *c, decokit_pipeline **out) {
  decokit_error err = {.struct_size = sizeof err};
  decokit_load_opts o = {.struct_size = sizeof o, .plugin_path = c->plugin_path,
                         .bundled_plugin_dir = build_plugin_dir(),
                         .default_model = dk_cli_default_model(), .defer_resolve = 1};
  decokit_pipeline *p = NULL;
  *out = NULL;
  if (decokit_pipeline_load(c->pipeline, &o, &p, &err)) return edit_failed(NULL, &err);
  for (size_t i = 0; i < c->n_sets; i++) {
    if (!c->is_sampler[i]) {
      if (decokit_pipeline_set(p, c->sets[i], &err)) goto fail;
      continue;
    }
    /* --sampler SPEC is --set samplers.+=SPEC. */
    char *a = NULL;
    size_t len = 0, cap = 0;
    dk_buf_append(&a, &len, &cap, "samplers.+=", 11);
    dk_buf_append(&a, &len, &cap, c->sets[i], strlen(c->sets[i]));
    int rc = cap == DK_BUF_FAILED ? dk_api_fail(&err, DECOKIT_ERR_NOMEM, "out of memory")
                                  : decokit_pipeline_set(p, a, &err);
    free(a);
    if (rc) {
      decokit_pipeline_free(p);
      return edit_failed("--sampler", &err);
    }
  }
  for (int k = 0; k < DK_N_SHORT; k++)
    if (c->shortcut[k] &&
        decokit_pipeline_set_sampler(p, shortcuts[k].plugin, shortcuts[k].key, c->shortcut[k], &err))
      goto fail;
  if (c->n_stops && decokit_pipeline_set_stops(p, c->stops, c->n_stops, &err)) {
    decokit_pipeline_free(p);
    return edit_failed("--stop", &err);
  }
  dk_api_pipeline_reads_draft(p, c->reads_draft);
  if (decokit_pipeline_resolve(p, &err)) goto fail;
  *out = p;
  return DK_EXIT_OK;
fail:
  decokit_pipeline_free(p);
  return edit_failed(NULL, &err);
}

int dk_cli_load_pipeline(const dk_cli_common *c, dk_registry **reg, dk_pipeline **p) {
  decokit_pipeline *dp;
  *reg = NULL;
  *p = NULL;
  int st = dk_cli_open_pipeline(c, &dp);
  if (!st) dk_api_pipeline_take(dp, reg, p);
  return st;
}

/* Everything found before generation starts is the pipeline's class (3),
 * whichever plugin found it: a missing model file and a missing schema
 * file are the same kind of mistake.  Running out of memory is not the
 * pipeline's fault (1). */
int dk_cli_exit_status(int rc) {
  if (rc == DK_OK) return DK_EXIT_OK;
  return rc == DK_ERR_NOMEM ? DK_EXIT_RUNTIME : DK_EXIT_PIPELINE;
}
