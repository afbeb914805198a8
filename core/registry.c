/* registry.c -- the plugin search path, name lookup, duplicate detection and listings. */
#include "loader.h"

#include "error.h"
#include "log.h"
#include "suggest.h"

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

/* Two names for one file or folder (or the same text when neither exists). */
static int same_file(const char *a, const char *b) {
  struct stat sa, sb;
  if (stat(a, &sa) != 0 || stat(b, &sb) != 0) return strcmp(a, b) == 0;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

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
      char *d = dk_strndup(p, n);
      if (!d) return DK_ERR_NOMEM;
      /* One folder named twice (the build tree also given in the variable)
       * would otherwise offer every plugin in it twice: a duplicate. */
      int dup = 0;
      for (size_t i = 0; i < reg->n_dirs && !dup; i++) dup = same_file(reg->dirs[i], d);
      char **nd = dup ? NULL : realloc(reg->dirs, (reg->n_dirs + 1) * sizeof *nd);
      if (dup) {
        free(d);
      } else if (!nd) {
        free(d);
        return DK_ERR_NOMEM;
      } else {
        reg->dirs = nd;
        reg->dirs[reg->n_dirs++] = d;
      }
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
  if (!rc) rc = dk_registry_add_path(reg, getenv("DECOKIT_PLUGIN_PATH"));
  if (!rc) rc = dk_registry_add_path(reg, pipeline_path);
  /* The bundled plugins always come last, so extra folders add plugins
   * without hiding llama or sample.  An uninstalled binary uses its own
   * build's plugins instead of whatever an earlier install left behind. */
  if (!rc) rc = dk_registry_add_path(reg, build_dir ? build_dir : PLUGINDIR);
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
    if (strcmp(reg->libs[i]->path, path) == 0 || same_file(reg->libs[i]->path, path))
      return reg->libs[i];
  return NULL;
}

/* Load a library (once) and register it, refusing components whose
 * (kind, name) another file already provides. */
static int load_ex(dk_registry *reg, const char *path, dk_library **out, int *dup,
                   dk_error *err) {
  if (dup) *dup = 0;
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
          if (dup) *dup = 1;
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

static int load(dk_registry *reg, const char *path, dk_library **out, dk_error *err) {
  return load_ex(reg, path, out, NULL, err);
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

/* DIR/NAME+EXT, malloc'd. */
static char *dir_file(const char *dir, const char *name, const char *ext) {
  size_t n = strlen(dir) + strlen(name) + strlen(ext) + 2;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/%s%s", dir, name, ext);
  return p;
}

/* The closest known name of that kind: components already loaded and the
 * NAME.so files along the path (a file is a plugin's name by convention). */
static const char *suggest_name(const dk_registry *reg, uint32_t kind, const char *name,
                                char best[256]) {
  dk_suggester sg;
  dk_suggest_init(&sg, name);
  for (size_t j = 0; j < reg->n_libs; j++)
    for (size_t k = 0; k < reg->libs[j]->n_comps; k++)
      if (reg->libs[j]->comps[k].kind == kind) dk_suggest_add(&sg, reg->libs[j]->comps[k].hdr->name);
  const char *found = sg.best;
  if (found) snprintf(best, 256, "%s", found);
  for (size_t i = 0; i < reg->n_dirs; i++) {
    DIR *d = opendir(reg->dirs[i]);
    if (!d) continue;
    struct dirent *de;
    while ((de = readdir(d))) {
      size_t l = strlen(de->d_name);
      if (l < 4 || l >= 256 || strcmp(de->d_name + l - 3, ".so") != 0) continue;
      char stem[256];
      memcpy(stem, de->d_name, l - 3);
      stem[l - 3] = '\0';
      const char *before = sg.best;
      dk_suggest_add(&sg, stem);
      if (sg.best != before) {
        snprintf(best, 256, "%s", stem);
        sg.best = best;
        found = best;
      }
    }
    closedir(d);
  }
  return found;
}

/* One NAME.so along the path.  Before the component is found: load it and
 * take the component, or note what the file provides instead.  After: load
 * it only to find a duplicate (a broken file there is not this lookup's
 * problem). */
static int look_in(dk_registry *reg, uint32_t kind, const char *name, const char *path,
                   const dk_component **out, char *other, size_t other_size, dk_error *err) {
  dk_library *lib;
  int dup;
  int rc = load_ex(reg, path, &lib, &dup, err);
  if (rc) return *out && !dup ? DK_OK : rc;
  if (*out) return DK_OK;
  if ((*out = component_in(lib, kind, name))) return DK_OK;
  for (size_t k = 0; k < lib->n_comps; k++)
    if (strcmp(lib->comps[k].hdr->name, name) == 0)
      return dk_error_set(err, DK_ERR_INVALID, "plugin '%s' is a %s, not a %s (%s)", name,
                          dk_kind_name(lib->comps[k].kind), dk_kind_name(kind), lib->path);
  size_t ol = strlen(other);
  snprintf(other + ol, other_size - ol, "%s%s provides %s '%s'", ol ? "; " : "", path,
           dk_kind_name(lib->comps[0].kind), lib->comps[0].hdr->name);
  return DK_OK;
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
  /* Every folder is looked at: a second file providing the same component
   * is an error naming both, never a silent choice of the first. */
  char other[DK_ERROR_MAX / 2] = ""; /* NAME.so files that provide something else */
  for (size_t i = 0; i < reg->n_dirs; i++) {
    char *p = dir_file(reg->dirs[i], name, ".so");
    if (!p) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
    dk_trace("plugin: looking for %s '%s' at %s", dk_kind_name(kind), name, p);
    int rc = is_file(p) ? look_in(reg, kind, name, p, out, other, sizeof other, err) : DK_OK;
    free(p);
    if (rc) {
      *out = NULL;
      return rc;
    }
  }
  if (*out) return DK_OK;
  if (other[0])
    return dk_error_set(err, DK_ERR_INVALID, "no %s plugin named '%s': %s, not '%s'",
                        dk_kind_name(kind), name, other, name);
  char buf[256];
  const char *hint = suggest_name(reg, kind, name, buf);
  return dk_error_set(err, DK_ERR_INVALID, "no %s plugin named '%s'%s%s%s (searched: %s)",
                      dk_kind_name(kind), name, hint ? "; did you mean '" : "", hint ? hint : "",
                      hint ? "'?" : "", dk_registry_path_string(reg));
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
