/* cmd_plugins.c -- `decokit plugins`: list the plugins found, show a schema, emit man text. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static void plugins_usage(FILE *f) {
  fputs("Usage: decokit plugins [list] [OPTIONS]\n"
        "       decokit plugins info NAME [--kind KIND] [--man]\n"
        "       decokit plugins man\n"
        "\n"
        "list   every plugin along the search path: kind, name, version, summary\n"
        "info   one plugin's description and parameter schema (--man: as mdoc)\n"
        "man    the parameter reference of every plugin, as mdoc for decokit-plugins(7)\n"
        "\n"
        "Options:\n"
        "  --plugin-path DIRS    search these folders first\n"
        "  -v, --verbose         also print each plugin's file\n"
        "  -h, --help            show this help\n",
        f);
}

static const char *spec_default(const dk_spec *s) {
  if (s->flags & DK_PARAM_REQUIRED) return "(required)";
  if (!s->def) return "(none)";
  return *s->def ? s->def : "\"\"";
}

/* The header's DK_CAP_* bits by name; kind-specific bits only for their kinds. */
static void print_caps(const dk_component *c) {
  uint32_t caps = c->hdr->caps, named = DK_CAP_NO_ALLOC | DK_CAP_INSTANCE_MT;
  printf("  capabilities:");
  if (!caps) printf(" none");
  if (caps & DK_CAP_NO_ALLOC) printf(" no_alloc");
  if (caps & DK_CAP_INSTANCE_MT) printf(" instance_mt");
  if (c->kind == DK_KIND_DECODER || c->kind == DK_KIND_SCORER) {
    named |= DK_CAP_NEEDS_HIDDEN;
    if (caps & DK_CAP_NEEDS_HIDDEN) printf(" needs_hidden");
  }
  if (c->kind == DK_KIND_DECODER) {
    named |= DK_CAP_DECODER_NO_PREFILL | DK_CAP_DECODER_USES_DRAFTER |
             DK_CAP_DECODER_USES_DRAFT_MODEL | DK_CAP_DECODER_USES_SCORERS;
    if (caps & DK_CAP_DECODER_NO_PREFILL) printf(" no_prefill");
    if (caps & DK_CAP_DECODER_USES_DRAFTER) printf(" uses_drafter");
    if (caps & DK_CAP_DECODER_USES_DRAFT_MODEL) printf(" uses_draft_model");
    if (caps & DK_CAP_DECODER_USES_SCORERS) printf(" uses_scorers");
    named |= DK_CAP_DECODER_NEEDS_SCORERS;
    if (caps & DK_CAP_DECODER_NEEDS_SCORERS) printf(" needs_scorers");
  }
  if (c->kind == DK_KIND_DRAFTER) {
    named |= DK_CAP_DRAFTER_NEEDS_DRAFT_MODEL;
    if (caps & DK_CAP_DRAFTER_NEEDS_DRAFT_MODEL) printf(" needs_draft_model");
  }
  if (c->kind == DK_KIND_SCORER) {
    named |= DK_CAP_SCORER_USES_DRAFT_MODEL;
    if (caps & DK_CAP_SCORER_USES_DRAFT_MODEL) printf(" uses_draft_model");
  }
  if (caps & ~named) printf(" 0x%x", (unsigned)(caps & ~named));
  putchar('\n');
}

static void print_info(const dk_component *c) {
  printf("%s %s %s\n", dk_kind_name(c->kind), c->hdr->name, c->hdr->version ? c->hdr->version : "");
  printf("  summary: %s\n", c->hdr->summary ? c->hdr->summary : "");
  printf("  file:    %s\n", c->lib->path);
  printf("  library: %s %s (ABI %u.%u)\n", c->lib->desc.name,
         c->lib->desc.version ? c->lib->desc.version : "", c->lib->desc.abi_major,
         c->lib->desc.abi_minor);
  print_caps(c);
  if (!c->n_specs) {
    printf("  parameters: none\n");
    return;
  }
  printf("  parameters:\n");
  for (size_t i = 0; i < c->n_specs; i++) {
    const dk_spec *s = &c->specs[i];
    printf("    %-16s %-8s default %s", s->name,
           s->type == DK_PARAM_INT      ? "integer"
           : s->type == DK_PARAM_DOUBLE ? "number"
           : s->type == DK_PARAM_BOOL   ? "boolean"
           : s->type == DK_PARAM_PATH   ? "path"
           : s->type == DK_PARAM_LIST   ? "list"
                                        : "string",
           spec_default(s));
    if (s->flags & DK_PARAM_MIN) printf(", min %.15g", s->min);
    if (s->flags & DK_PARAM_MAX) printf(", max %.15g", s->max);
    printf("\n      %s\n", s->doc ? s->doc : "");
  }
}

/* mdoc has no escaping for a leading dot or apostrophe, and backslashes
 * must be doubled. */
static void man_text(const char *s) {
  if (!s) return;
  if (*s == '.' || *s == '\'') fputs("\\&", stdout);
  for (; *s; s++) {
    if (*s == '\\')
      fputs("\\e", stdout);
    else
      putchar(*s);
  }
}

static void print_man(const dk_component *c) {
  printf(".Ss %s (%s)\n", c->hdr->name, dk_kind_name(c->kind));
  man_text(c->hdr->summary);
  printf(".\n");
  if (!c->n_specs) {
    printf(".Pp\nNo parameters.\n");
    return;
  }
  printf(".Bl -tag -width Ds\n");
  for (size_t i = 0; i < c->n_specs; i++) {
    const dk_spec *s = &c->specs[i];
    printf(".It Cm %s Ar %s\n", s->name, dk_param_type_name(s->type));
    man_text(s->doc);
    printf("\n.No Default: ");
    man_text(spec_default(s));
    if (s->flags & DK_PARAM_MIN) printf(", minimum %.15g", s->min);
    if (s->flags & DK_PARAM_MAX) printf(", maximum %.15g", s->max);
    printf(".\n");
  }
  printf(".El\n");
}

static int by_kind_name(const void *a, const void *b) {
  const dk_component *x = *(const dk_component *const *)a, *y = *(const dk_component *const *)b;
  if (x->kind != y->kind) return (int)x->kind - (int)y->kind;
  return strcmp(x->hdr->name, y->hdr->name);
}

int dk_cmd_plugins(int argc, char **argv) {
  dk_cli_common c = {0};
  const char *sub = "list", *name = NULL, *kind = NULL;
  int verbose = 0, man = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v;
    int r = dk_cli_common_opt(&c, argc, argv, &i, plugins_usage);
    if (r == DK_CLI_NEXT) continue;
    if (r != DK_CLI_MINE) return r;
    if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
      verbose = 1;
    } else if (strcmp(a, "--man") == 0) {
      man = 1;
    } else if ((v = dk_cli_value("--kind", argc, argv, &i))) {
      kind = v;
      if (!dk_kind_from_name(v)) {
        dk_cli_error("plugins: unknown kind '%s' (model, decoder, drafter, constraint, sampler, "
                     "scorer)", v);
        return DK_EXIT_USAGE;
      }
    } else if (a[0] == '-') {
      dk_cli_error("plugins: unknown option '%s' (try decokit plugins --help)", a);
      return DK_EXIT_USAGE;
    } else if (i == 1 && (strcmp(a, "list") == 0 || strcmp(a, "info") == 0 || strcmp(a, "man") == 0)) {
      sub = a;
    } else if (!name && strcmp(sub, "info") == 0) {
      name = a;
    } else {
      dk_cli_error("plugins: unexpected argument '%s'", a);
      return DK_EXIT_USAGE;
    }
  }
  if (strcmp(sub, "info") == 0 && !name) {
    dk_cli_error("plugins info: which plugin? (decokit plugins info NAME)");
    return DK_EXIT_USAGE;
  }
  dk_registry *reg = dk_cli_registry(c.plugin_path, NULL);
  if (!reg) return DK_EXIT_RUNTIME;
  char *problems = NULL;
  if (dk_registry_scan(reg, &problems)) {
    dk_cli_error("plugins: out of memory while scanning the plugin folders");
    dk_registry_free(reg);
    free(problems);
    return DK_EXIT_RUNTIME;
  }
  size_t n = dk_registry_count(reg);
  const dk_component **all = calloc(n ? n : 1, sizeof *all);
  if (!all) {
    dk_registry_free(reg);
    free(problems);
    return DK_EXIT_RUNTIME;
  }
  for (size_t i = 0; i < n; i++) all[i] = dk_registry_component(reg, i);
  qsort(all, n, sizeof *all, by_kind_name);
  int status = DK_EXIT_OK;
  /* A duplicate makes every pipeline naming it fail: an error, not a warning. */
  for (const char *ln = problems; ln && *ln;) {
    const char *nl = strchr(ln, '\n');
    int len = nl ? (int)(nl - ln) : (int)strlen(ln);
    fprintf(stderr, "decokit: %s: %.*s\n",
            strncmp(ln, "duplicate ", 10) == 0 ? "error" : "warning", len, ln);
    ln += len + (nl ? 1 : 0);
  }
  if (strcmp(sub, "list") == 0) {
    if (!n) fprintf(stderr, "decokit: no plugins found (searched: %s)\n", dk_registry_path_string(reg));
    for (size_t i = 0; i < n; i++) {
      printf("%-10s %-16s %-7s %s\n", dk_kind_name(all[i]->kind), all[i]->hdr->name,
             all[i]->hdr->version ? all[i]->hdr->version : "", all[i]->hdr->summary ? all[i]->hdr->summary : "");
      if (verbose) printf("%-10s %s\n", "", all[i]->lib->path);
    }
  } else if (strcmp(sub, "man") == 0) {
    for (size_t i = 0; i < n; i++) print_man(all[i]);
  } else {
    size_t found = 0;
    for (size_t i = 0; i < n; i++) {
      if (strcmp(all[i]->hdr->name, name) != 0) continue;
      if (kind && all[i]->kind != (uint32_t)dk_kind_from_name(kind)) continue;
      if (found++) putchar('\n');
      if (man)
        print_man(all[i]);
      else
        print_info(all[i]);
    }
    if (!found) {
      dk_cli_error("plugins info: no plugin named '%s'%s%s (searched: %s)", name,
                   kind ? " of kind " : "", kind ? kind : "", dk_registry_path_string(reg));
      status = DK_EXIT_PIPELINE;
    }
  }
  free(all);
  free(problems);
  dk_registry_free(reg);
  return status;
}
