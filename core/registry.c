/* registry.c -- the plugin search path, name lookup, duplicate detection and listings. */
#include "loader.h"

#include "error.h"
#include "log.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct dk_registry {
  char **dirs;
  size_t n_dirs;
  dk_library **libs;
  size_t n_libs;
  char *path_str;
};

dk_registry *dk_registry_new(void) { return calloc(1, sizeof(dk_registry)); }

void dk_registry_free(dk_registry *reg) {
  if (!reg) return;
  for (size_t i = reg->n_libs; i-- > 0;) dk_library_close(reg->libs[i]);
  for (size_t i = 0; i < reg->n_dirs; i++) free(reg->dirs[i]);
  free(reg->libs);
  free(reg->dirs);
  free(reg->path_str);
  free(reg);
}

int dk_registry_add_path(dk_registry *reg, const char *dirs) {
  if (!dirs) return DK_OK;
  const char *p = dirs;
  while (*p) {
    const char *e = strchr(p, ':');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n) {
      char **nd = realloc(reg->dirs, (reg->n_dirs + 1) * sizeof *nd);
      if (!nd) return DK_ERR_NOMEM;
      reg->dirs = nd;
      if (!(reg->dirs[reg->n_dirs] = dk_strndup(p, n))) return DK_ERR_NOMEM;
      reg->n_dirs++;
    }
    p += n;
    if (*p == ':') p++;
  }
  free(reg->path_str);
  reg->path_str = NULL;
  return DK_OK;
}

int dk_registry_standard_paths(dk_registry *reg, const char *cli_path, const char *pipeline_path,
                               const char *build_dir) {
  int rc = dk_registry_add_path(reg, cli_path);
  const char *env = getenv("DECOKIT_PLUGIN_PATH");
  if (!rc) rc = dk_registry_add_path(reg, env);
  if (!rc) rc = dk_registry_add_path(reg, pipeline_path);
  /* Like LV2_PATH: the environment variable replaces the defaults. */
  if (!rc && !(env && *env)) rc = dk_registry_add_path(reg, build_dir);
  if (!rc && !(env && *env)) rc = dk_registry_add_path(reg, PLUGINDIR);
  return rc;
}

/* For messages: never a partial path; a fixed text when memory ran out. */
const char *dk_registry_path_string(const dk_registry *reg) {
  dk_registry *r = (dk_registry *)reg;
  if (!r->path_str) {
    size_t len = 0, cap = 0;
    for (size_t i = 0; i < r->n_dirs; i++) {
      if (i) dk_buf_append(&r->path_str, &len, &cap, ":", 1);
      dk_buf_append(&r->path_str, &len, &cap, r->dirs[i], strlen(r->dirs[i]));
    }
    if (cap == DK_BUF_FAILED) return "(the search path: out of memory)";
    if (!r->path_str) r->path_str = dk_strdup("");
    if (!r->path_str) return "";
  }
  return r->path_str;
}

static dk_library *loaded(const dk_registry *reg, const char *path) {
  for (size_t i = 0; i < reg->n_libs; i++)
    if (strcmp(reg->libs[i]->path, path) == 0) return reg->libs[i];
  return NULL;
}

/* Load a library (once) and register it, refusing components whose
 * (kind, name) another file already provides. */
static int load(dk_registry *reg, const char *path, dk_library **out, dk_error *err) {
  if ((*out = loaded(reg, path))) return DK_OK;
  dk_library *lib;
  int rc = dk_library_open(path, &lib, err);
  if (rc) return rc;
  for (size_t i = 0; i < lib->n_comps; i++)
    for (size_t j = 0; j < reg->n_libs; j++)
      for (size_t k = 0; k < reg->libs[j]->n_comps; k++) {
        const dk_component *a = &lib->comps[i], *b = &reg->libs[j]->comps[k];
        if (a->kind == b->kind && strcmp(a->hdr->name, b->hdr->name) == 0) {
          dk_error_set(err, DK_ERR_INVALID, "duplicate %s plugin '%s': %s and %s",
                       dk_kind_name(a->kind), a->hdr->name, reg->libs[j]->path, path);
          dk_library_close(lib);
          return DK_ERR_INVALID;
        }
      }
  dk_library **nl = realloc(reg->libs, (reg->n_libs + 1) * sizeof *nl);
  if (!nl) {
    dk_library_close(lib);
    return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  }
  reg->libs = nl;
  reg->libs[reg->n_libs++] = lib;
  *out = lib;
  return DK_OK;
}

static const dk_component *component_in(const dk_library *lib, uint32_t kind, const char *name) {
  for (size_t i = 0; i < lib->n_comps; i++)
    if (lib->comps[i].kind == kind && (!name || strcmp(lib->comps[i].hdr->name, name) == 0))
      return &lib->comps[i];
  return NULL;
}

static int is_file(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int dk_registry_find(dk_registry *reg, uint32_t kind, const char *name, const dk_component **out,
                     dk_error *err) {
  *out = NULL;
  /* Already registered under that name (from any file)? */
  if (!strchr(name, '/'))
    for (size_t j = 0; j < reg->n_libs; j++)
      if ((*out = component_in(reg->libs[j], kind, name))) return DK_OK;
  dk_library *lib = NULL;
  if (strchr(name, '/')) {
    if (!is_file(name))
      return dk_error_set(err, DK_ERR_IO, "plugin file '%s' does not exist", name);
    int rc = load(reg, name, &lib, err);
    if (rc) return rc;
    if (!(*out = component_in(lib, kind, NULL)))
      return dk_error_set(err, DK_ERR_INVALID, "%s provides no %s component", name,
                          dk_kind_name(kind));
    return DK_OK;
  }
  for (size_t i = 0; i < reg->n_dirs; i++) {
    size_t n = strlen(reg->dirs[i]) + strlen(name) + 5;
    char *p = malloc(n);
    if (!p) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
    snprintf(p, n, "%s/%s.so", reg->dirs[i], name);
    dk_trace("plugin: looking for %s '%s' at %s", dk_kind_name(kind), name, p);
    if (!is_file(p)) {
      free(p);
      continue;
    }
    int rc = load(reg, p, &lib, err);
    free(p);
    if (rc) return rc;
    if ((*out = component_in(lib, kind, name))) return DK_OK;
    for (size_t k = 0; k < lib->n_comps; k++)
      if (strcmp(lib->comps[k].hdr->name, name) == 0)
        return dk_error_set(err, DK_ERR_INVALID, "plugin '%s' is a %s, not a %s (%s)", name,
                            dk_kind_name(lib->comps[k].kind), dk_kind_name(kind), lib->path);
  }
  return dk_error_set(err, DK_ERR_INVALID, "no %s plugin named '%s' (searched: %s)",
                      dk_kind_name(kind), name, dk_registry_path_string(reg));
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int dk_registry_scan(dk_registry *reg, char **problems) {
  size_t plen = 0, pcap = 0;
  int rc = DK_OK;
  *problems = NULL;
  for (size_t i = 0; i < reg->n_dirs && rc == DK_OK; i++) {
    DIR *d = opendir(reg->dirs[i]);
    if (!d) continue;
    char **names = NULL;
    size_t nn = 0;
    struct dirent *de;
    /* A listing with files silently missing would mislead: out of memory
     * ends the scan with DK_ERR_NOMEM instead. */
    while (rc == DK_OK && (de = readdir(d))) {
      size_t l = strlen(de->d_name);
      if (l < 4 || strcmp(de->d_name + l - 3, ".so") != 0) continue;
      char **t = realloc(names, (nn + 1) * sizeof *t);
      char *nm = t ? dk_strdup(de->d_name) : NULL;
      if (t) names = t;
      if (!nm) rc = DK_ERR_NOMEM;
      else names[nn++] = nm;
    }
    closedir(d);
    if (rc == DK_OK) qsort(names, nn, sizeof *names, cmp_str); /* stable listing order */
    for (size_t k = 0; k < nn; k++) {
      size_t n = strlen(reg->dirs[i]) + strlen(names[k]) + 2;
      char *p = rc == DK_OK ? malloc(n) : NULL;
      if (rc == DK_OK && !p) rc = DK_ERR_NOMEM;
      if (p) {
        snprintf(p, n, "%s/%s", reg->dirs[i], names[k]);
        dk_library *lib;
        dk_error e;
        dk_error_clear(&e);
        if (load(reg, p, &lib, &e)) {
          if (e.code == DK_ERR_NOMEM) rc = DK_ERR_NOMEM;
          dk_buf_append(problems, &plen, &pcap, e.msg, strlen(e.msg));
          dk_buf_append(problems, &plen, &pcap, "\n", 1);
        }
        free(p);
      }
      free(names[k]);
    }
    free(names);
  }
  if (pcap == DK_BUF_FAILED) rc = DK_ERR_NOMEM;
  return rc;
}

size_t dk_registry_count(const dk_registry *reg) {
  size_t n = 0;
  for (size_t i = 0; i < reg->n_libs; i++) n += reg->libs[i]->n_comps;
  return n;
}

const dk_component *dk_registry_component(const dk_registry *reg, size_t idx) {
  for (size_t i = 0; i < reg->n_libs; i++) {
    if (idx < reg->libs[i]->n_comps) return &reg->libs[i]->comps[idx];
    idx -= reg->libs[i]->n_comps;
  }
  return NULL;
}
