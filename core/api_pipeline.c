/* api_pipeline.c -- decokit.h's pipelines: load or parse, override, resolve; and its error and struct conventions. */
#include "config.h"

#include "api_impl.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


int dk_api_error(decokit_error *out, int code, const dk_error *in) {
  if (!out) return code;
  size_t have = out->struct_size;
  if (have >= offsetof(decokit_error, code) + sizeof out->code) out->code = code;
  if (have > offsetof(decokit_error, message)) {
    size_t cap = have - offsetof(decokit_error, message);
    if (cap > sizeof out->message) cap = sizeof out->message;
    const char *msg = code == DECOKIT_OK ? "" : in && in->msg[0] ? in->msg : dk_status_name(code);
    snprintf(out->message, cap, "%s", msg);
  }
  return code;
}

int dk_api_fail(decokit_error *out, int code, const char *fmt, ...) {
  dk_error e;
  dk_error_clear(&e);
  va_list ap;
  va_start(ap, fmt);
  dk_error_vset(&e, code, fmt, ap);
  va_end(ap);
  return dk_api_error(out, code, &e);
}

int dk_api_opts(void *dst, size_t known, size_t min, const void *src, const char *what,
                decokit_error *err) {
  memset(dst, 0, known);
  if (!src) return DECOKIT_OK;
  size_t given = *(const size_t *)src;
  if (given < min)
    return dk_api_fail(err, DECOKIT_ERR_ABI, "%s.struct_size %zu is smaller than any version of it (%zu)",
                       what, given, min);
  /* A newer caller's fields this library does not know must be left at zero. */
  for (size_t i = known; i < given; i++)
    if (((const unsigned char *)src)[i])
      return dk_api_fail(err, DECOKIT_ERR_ABI,
                         "%s: byte %zu is set, a field of a newer decokit than this one (%s)", what, i,
                         PACKAGE_VERSION);
  memcpy(dst, src, given < known ? given : known);
  ((size_t *)dst)[0] = known;
  return DECOKIT_OK;
}

void decokit_set_log(void (*sink)(int level, const char *msg, void *user), void *user,
                     int max_level) {
  dk_log_set_sink(sink, user, max_level);
}

const char *decokit_version(void) { return PACKAGE_VERSION; }

const char *decokit_status_name(int code) {
  return code == DECOKIT_ERR_CANCELLED ? "cancelled" : dk_status_name(code);
}

void decokit_free(void *p) { free(p); }

static char *dup_or_null(const char *s, int *failed) {
  if (!s) return NULL;
  char *d = dk_strdup(s);
  if (!d) *failed = 1;
  return d;
}

/* The load options as this version knows them (all fields up to defer_resolve). */
#define LOAD_OPTS_MIN (offsetof(decokit_load_opts, defer_resolve) + sizeof(int))

static int finish_load(dk_pipeline *dp, const decokit_load_opts *o, decokit_pipeline **out,
                       decokit_error *err) {
  dk_error e;
  dk_error_clear(&e);
  decokit_pipeline *p = calloc(1, sizeof *p);
  int failed = !p;
  if (p) {
    p->p = dp;
    p->plugin_path = dup_or_null(o->plugin_path, &failed);
    p->bundled_plugin_dir = dup_or_null(o->bundled_plugin_dir, &failed);
    p->default_model = dup_or_null(o->default_model, &failed);
  }
  if (failed) {
    if (p) p->p = NULL;
    decokit_pipeline_free(p);
    dk_pipeline_free(dp);
    return dk_api_fail(err, DECOKIT_ERR_NOMEM, "out of memory");
  }
  for (size_t i = 0; i < o->n_sets; i++) {
    if (!o->sets[i]) {
      decokit_pipeline_free(p);
      return dk_api_fail(err, DECOKIT_ERR_INVALID, "decokit_load_opts.sets[%zu] is NULL", i);
    }
    int rc = dk_pipeline_override(dp, o->sets[i], &e);
    if (rc) {
      decokit_pipeline_free(p);
      return dk_api_error(err, rc, &e);
    }
  }
  if (!o->defer_resolve) {
    int rc = decokit_pipeline_resolve(p, err);
    if (rc) {
      decokit_pipeline_free(p);
      return rc;
    }
  }
  *out = p;
  return dk_api_error(err, DECOKIT_OK, NULL);
}

/* What load and parse check first: the out pointer and the options. */
static int begin_load(const char *fn, const decokit_load_opts *opts, decokit_load_opts *o,
                      decokit_pipeline **out, decokit_error *err) {
  if (!out) return dk_api_fail(err, DECOKIT_ERR_INVALID, "%s: out is NULL", fn);
  *out = NULL;
  int rc = dk_api_opts(o, sizeof *o, LOAD_OPTS_MIN, opts, "decokit_load_opts", err);
  if (rc) return rc;
  if (o->n_sets && !o->sets)
    return dk_api_fail(err, DECOKIT_ERR_INVALID, "decokit_load_opts: n_sets without sets");
  return DECOKIT_OK;
}

int decokit_pipeline_load(const char *path, const decokit_load_opts *opts,
                                        decokit_pipeline **out, decokit_error *err) {
  decokit_load_opts o;
  int rc = begin_load("decokit_pipeline_load", opts, &o, out, err);
  if (rc) return rc;
  dk_error e;
  dk_error_clear(&e);
  dk_pipeline *dp = NULL;
  if (path) {
    rc = dk_pipeline_load(path, &dp, &e);
    if (rc) return dk_api_error(err, rc, &e);
  } else if (!(dp = dk_pipeline_new_default("."))) {
    return dk_api_fail(err, DECOKIT_ERR_NOMEM, "out of memory");
  }
  return finish_load(dp, &o, out, err);
}

int decokit_pipeline_parse(const char *yaml, size_t len, const decokit_load_opts *opts,
                                         decokit_pipeline **out, decokit_error *err) {
  decokit_load_opts o;
  int rc = begin_load("decokit_pipeline_parse", opts, &o, out, err);
  if (rc) return rc;
  if (!yaml) return dk_api_fail(err, DECOKIT_ERR_INVALID, "decokit_pipeline_parse: yaml is NULL");
  dk_error e;
  dk_error_clear(&e);
  dk_pipeline *dp = NULL;
  rc = dk_pipeline_parse(yaml, len, o.name ? o.name : "<string>", o.dir ? o.dir : ".", &dp, &e);
  if (rc) return dk_api_error(err, rc, &e);
  return finish_load(dp, &o, out, err);
}

static int editable(const decokit_pipeline *p, const char *fn, decokit_error *err) {
  if (!p) return dk_api_fail(err, DECOKIT_ERR_INVALID, "%s: pipeline is NULL", fn);
  if (p->p->resolved)
    return dk_api_fail(err, DECOKIT_ERR_STATE,
                       "%s: the pipeline is already resolved (load it with defer_resolve)", fn);
  return DECOKIT_OK;
}

int decokit_pipeline_set(decokit_pipeline *p, const char *assignment,
                                       decokit_error *err) {
  int rc = editable(p, "decokit_pipeline_set", err);
  if (rc) return rc;
  if (!assignment) return dk_api_fail(err, DECOKIT_ERR_INVALID, "decokit_pipeline_set: assignment is NULL");
  dk_error e;
  dk_error_clear(&e);
  return dk_api_error(err, dk_pipeline_override(p->p, assignment, &e), &e);
}

/* Samplers that pick the token: a sampler set by name goes before the
 * first of them, where it still has an effect. */
static int is_selector(const char *plugin) {
  static const char *const sel[] = {"dist", "greedy", "mirostat", "mirostat_v2"};
  for (size_t i = 0; i < sizeof sel / sizeof *sel; i++)
    if (strcmp(plugin, sel[i]) == 0) return 1;
  return 0;
}

int decokit_pipeline_set_sampler(decokit_pipeline *p, const char *plugin,
                                               const char *key, const char *value,
                                               decokit_error *err) {
  int rc = editable(p, "decokit_pipeline_set_sampler", err);
  if (rc) return rc;
  if (!plugin || !key || !value)
    return dk_api_fail(err, DECOKIT_ERR_INVALID, "decokit_pipeline_set_sampler: NULL argument");
  dk_pipeline *dp = p->p;
  dk_error e;
  dk_error_clear(&e);
  size_t at = dp->n_samplers;
  for (size_t i = 0; i < dp->n_samplers && at == dp->n_samplers; i++)
    if (strcmp(dp->samplers[i].plugin, plugin) == 0) at = i;
  char *a = NULL;
  size_t len = 0, cap = 0;
  if (at == dp->n_samplers) {
    dk_buf_append(&a, &len, &cap, "samplers.+=", 11);
    dk_buf_append(&a, &len, &cap, plugin, strlen(plugin));
    if (cap == DK_BUF_FAILED) return dk_api_fail(err, DECOKIT_ERR_NOMEM, "out of memory");
    rc = dk_pipeline_override(dp, a, &e);
    free(a);
    if (rc) return dk_api_error(err, rc, &e);
    at = 0;
    while (at + 1 < dp->n_samplers && !is_selector(dp->samplers[at].plugin)) at++;
    dk_block added = dp->samplers[dp->n_samplers - 1];
    memmove(&dp->samplers[at + 1], &dp->samplers[at], (dp->n_samplers - 1 - at) * sizeof added);
    dp->samplers[at] = added;
    a = NULL;
    len = cap = 0;
  }
  char head[64];
  snprintf(head, sizeof head, "samplers.%zu.", at);
  dk_buf_append(&a, &len, &cap, head, strlen(head));
  dk_buf_append(&a, &len, &cap, key, strlen(key));
  dk_buf_append(&a, &len, &cap, "=", 1);
  dk_buf_append(&a, &len, &cap, value, strlen(value));
  if (cap == DK_BUF_FAILED) return dk_api_fail(err, DECOKIT_ERR_NOMEM, "out of memory");
  rc = dk_pipeline_override(dp, a, &e);
  free(a);
  return dk_api_error(err, rc, &e);
}

int decokit_pipeline_set_stops(decokit_pipeline *p, const char *const *stops,
                                             size_t n, decokit_error *err) {
  int rc = editable(p, "decokit_pipeline_set_stops", err);
  if (rc) return rc;
  if (n && !stops) return dk_api_fail(err, DECOKIT_ERR_INVALID, "decokit_pipeline_set_stops: stops is NULL");
  char *a = NULL;
  size_t len = 0, cap = 0;
  dk_buf_append(&a, &len, &cap, "generate.stop=[", 15);
  for (size_t i = 0; i < n; i++) {
    if (!stops[i]) {
      free(a);
      return dk_api_fail(err, DECOKIT_ERR_INVALID, "decokit_pipeline_set_stops: stops[%zu] is NULL", i);
    }
    if (i) dk_buf_append(&a, &len, &cap, ", ", 2);
    dk_yaml_quote(&a, &len, &cap, stops[i], strlen(stops[i]));
  }
  dk_buf_append(&a, &len, &cap, "]", 1);
  if (cap == DK_BUF_FAILED) return dk_api_fail(err, DECOKIT_ERR_NOMEM, "out of memory");
  dk_error e;
  dk_error_clear(&e);
  rc = dk_pipeline_override(p->p, a, &e);
  free(a);
  return dk_api_error(err, rc, &e);
}

/* True when the pipeline relies on the bundled model: no model block, or a
 * llama block without a path. */
static int needs_default_model(const dk_pipeline *p) {
  if (!p->model) return 1;
  if (p->model->plugin && strcmp(p->model->plugin, "llama") != 0) return 0;
  for (size_t i = 0; i < p->model->n_kv; i++)
    if (strcmp(p->model->kv[i].key, "path") == 0) return 0;
  return 1;
}

static const char *default_model(const decokit_pipeline *p) {
  if (p->default_model) return p->default_model;
  const char *env = getenv("DECOKIT_MODEL");
  if (env && *env) return env;
  static const char bundled[] = PKGDATADIR "/models/decokit-tiny.gguf";
  struct stat st;
  return stat(bundled, &st) == 0 && S_ISREG(st.st_mode) ? bundled : NULL;
}

int decokit_pipeline_resolve(decokit_pipeline *p, decokit_error *err) {
  if (!p) return dk_api_fail(err, DECOKIT_ERR_INVALID, "decokit_pipeline_resolve: pipeline is NULL");
  if (p->p->resolved) return dk_api_error(err, DECOKIT_OK, NULL);
  dk_error e;
  dk_error_clear(&e);
  if (!p->reg) {
    p->reg = dk_registry_new();
    if (!p->reg) return dk_api_fail(err, DECOKIT_ERR_NOMEM, "out of memory");
    int rc = dk_registry_standard_paths(p->reg, p->plugin_path, p->p->plugin_path,
                                        p->bundled_plugin_dir);
    if (rc) {
      dk_registry_free(p->reg);
      p->reg = NULL;
      return dk_api_fail(err, rc, "out of memory");
    }
  }
  const char *def = default_model(p);
  if (!def && needs_default_model(p->p))
    return dk_api_fail(err, DECOKIT_ERR_INVALID,
                       "%s: no model given and the bundled default model was not found "
                       "(set model.path, or DECOKIT_MODEL)",
                       p->p->file);
  p->p->host_reads_draft = p->reads_draft;
  return dk_api_error(err, dk_pipeline_resolve(p->p, p->reg, def, &e), &e);
}

char *decokit_pipeline_yaml(decokit_pipeline *p, decokit_error *err) {
  if (decokit_pipeline_resolve(p, err)) return NULL;
  char *y = dk_pipeline_yaml(p->p);
  if (!y) dk_api_fail(err, DECOKIT_ERR_NOMEM, "out of memory");
  return y;
}

int decokit_pipeline_generate_int(const decokit_pipeline *p, const char *key,
                                                long long *out, decokit_error *err) {
  if (!p || !key || !out)
    return dk_api_fail(err, DECOKIT_ERR_INVALID, "decokit_pipeline_generate_int: NULL argument");
  if (!p->p->resolved)
    return dk_api_fail(err, DECOKIT_ERR_STATE, "decokit_pipeline_generate_int: the pipeline is not resolved");
  const dk_cfg_value *v = NULL;
  for (size_t i = 0; i < p->p->generate.cfg.n && !v; i++)
    if (strcmp(p->p->generate.cfg.v[i].spec.name, key) == 0) v = &p->p->generate.cfg.v[i];
  if (!v || v->spec.type != DK_PARAM_INT)
    return dk_api_fail(err, DECOKIT_ERR_INVALID, "generate.%s is not a whole-number parameter", key);
  *out = (long long)dk_gen_int(p->p, key);
  return dk_api_error(err, DECOKIT_OK, NULL);
}

void decokit_pipeline_free(decokit_pipeline *p) {
  if (!p) return;
  dk_pipeline_free(p->p);
  dk_registry_free(p->reg);
  free(p->plugin_path);
  free(p->bundled_plugin_dir);
  free(p->default_model);
  free(p);
}

void dk_api_pipeline_take(decokit_pipeline *p, dk_registry **reg, dk_pipeline **out) {
  *reg = p->reg;
  *out = p->p;
  p->reg = NULL;
  p->p = NULL;
  decokit_pipeline_free(p);
}

void dk_api_pipeline_reads_draft(decokit_pipeline *p, int on) { p->reads_draft = on; }
