/* params.c -- check pipeline values against a plugin's schema: types, bounds, defaults, required. */
#include "params.h"

#include "suggest.h"

#include "error.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *dk_strdup(const char *s) { return s ? dk_strndup(s, strlen(s)) : NULL; }

char *dk_strndup(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (!p) return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

int dk_buf_append(char **buf, size_t *len, size_t *cap, const char *s, size_t n) {
  if (*cap == DK_BUF_FAILED) return DK_ERR_NOMEM;
  if (*len + n + 1 > *cap) {
    size_t nc = *cap ? *cap : 256;
    while (*len + n + 1 > nc) nc *= 2;
    char *nb = realloc(*buf, nc);
    if (!nb) { /* no half text: the whole buffer is gone, and stays failed */
      free(*buf);
      *buf = NULL;
      *len = 0;
      *cap = DK_BUF_FAILED;
      return DK_ERR_NOMEM;
    }
    *buf = nb;
    *cap = nc;
  }
  memcpy(*buf + *len, s, n);
  *len += n;
  (*buf)[*len] = '\0';
  return DK_OK;
}

const char *dk_param_type_name(uint32_t type) {
  switch (type) {
  case DK_PARAM_INT: return "integer";
  case DK_PARAM_DOUBLE: return "number";
  case DK_PARAM_BOOL: return "boolean (true or false)";
  case DK_PARAM_STRING: return "string";
  case DK_PARAM_PATH: return "path";
  case DK_PARAM_LIST: return "list of strings";
  default: return "unknown type";
  }
}

static int valid_name(const char *s) {
  if (!s || !*s) return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_')) return 0;
  return 1;
}

int dk_specs_read(const dk_iface_header *hdr, dk_spec **out, size_t *n, dk_error *err) {
  *out = NULL;
  *n = 0;
  if (!hdr->params) return DK_OK;
  size_t stride = hdr->param_stride;
  /* The first three members (name, type, flags) must be there to walk at all. */
  if (stride < offsetof(dk_param_spec, def))
    return dk_error_set(err, DK_ERR_ABI, "component '%s': param_stride %zu is too small",
                        hdr->name, stride);
  const unsigned char *base = (const unsigned char *)hdr->params;
  size_t count = 0;
  while (((const dk_param_spec *)(const void *)(base + count * stride))->name) {
    if (++count > 4096)
      return dk_error_set(err, DK_ERR_ABI, "component '%s': parameter list is not terminated",
                          hdr->name);
  }
  dk_spec *specs = calloc(count ? count : 1, sizeof *specs);
  if (!specs) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  for (size_t i = 0; i < count; i++) {
    dk_param_spec ps;
    memset(&ps, 0, sizeof ps);
    memcpy(&ps, base + i * stride, stride < sizeof ps ? stride : sizeof ps);
    specs[i] = (dk_spec){ps.name, ps.type, ps.flags, ps.def, ps.min, ps.max, ps.doc};
    if (!valid_name(ps.name) || ps.type < DK_PARAM_INT || ps.type > DK_PARAM_LIST) {
      free(specs);
      return dk_error_set(err, DK_ERR_ABI, "component '%s': parameter %zu ('%s') has %s",
                          hdr->name, i, ps.name,
                          valid_name(ps.name) ? "an unknown type" : "an invalid name");
    }
    for (size_t j = 0; j < i; j++)
      if (strcmp(specs[j].name, ps.name) == 0) {
        free(specs);
        return dk_error_set(err, DK_ERR_ABI, "component '%s': parameter '%s' declared twice",
                            hdr->name, ps.name);
      }
  }
  *out = specs;
  *n = count;
  return DK_OK;
}

int dk_config_init(dk_config *c, const dk_iface_header *hdr, dk_error *err) {
  memset(c, 0, sizeof *c);
  c->component = hdr->name;
  dk_spec *specs;
  size_t n;
  int rc = dk_specs_read(hdr, &specs, &n, err);
  if (rc) return rc;
  c->v = calloc(n ? n : 1, sizeof *c->v);
  if (!c->v) {
    free(specs);
    return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  }
  for (size_t i = 0; i < n; i++) c->v[i].spec = specs[i];
  c->n = n;
  free(specs);
  return DK_OK;
}

static void value_clear(dk_cfg_value *v) {
  free(v->s);
  v->s = NULL;
  for (size_t i = 0; i < v->n_list; i++) free(v->list[i]);
  free(v->list);
  v->list = NULL;
  v->n_list = 0;
}

void dk_config_free(dk_config *c) {
  if (!c) return;
  for (size_t i = 0; i < c->n; i++) value_clear(&c->v[i]);
  free(c->v);
  memset(c, 0, sizeof *c);
}

dk_cfg_value *dk_config_find(const dk_config *c, const char *key) {
  for (size_t i = 0; i < c->n; i++)
    if (strcmp(c->v[i].spec.name, key) == 0) return &c->v[i];
  return NULL;
}

static int unknown_key(const dk_config *c, const char *key, dk_error *err) {
  char names[1024] = "";
  size_t len = 0;
  for (size_t i = 0; i < c->n && len + 40 < sizeof names; i++)
    len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "",
                            c->v[i].spec.name);
  if (c->n == 0)
    return dk_error_set(err, DK_ERR_INVALID, "unknown key '%s': '%s' takes no parameters", key,
                        c->component);
  dk_suggester sg;
  dk_suggest_init(&sg, key);
  for (size_t i = 0; i < c->n; i++) dk_suggest_add(&sg, c->v[i].spec.name);
  if (sg.best)
    return dk_error_set(err, DK_ERR_INVALID,
                        "unknown key '%s' for '%s'; did you mean '%s'? (expected one of: %s)", key,
                        c->component, sg.best, names);
  return dk_error_set(err, DK_ERR_INVALID, "unknown key '%s' for '%s' (expected one of: %s)",
                      key, c->component, names);
}

static int parse_value(dk_cfg_value *v, const char *text, dk_error *err) {
  const dk_spec *sp = &v->spec;
  char *end;
  switch (sp->type) {
  case DK_PARAM_INT: {
    errno = 0;
    long long x = strtoll(text, &end, 10);
    if (!*text || *end || errno)
      return dk_error_set(err, DK_ERR_INVALID, "key '%s': expected an integer, got '%s'",
                          sp->name, text);
    if (((sp->flags & DK_PARAM_MIN) && (double)x < sp->min) ||
        ((sp->flags & DK_PARAM_MAX) && (double)x > sp->max))
      goto range;
    v->i = x;
    v->d = (double)x;
    break;
  }
  case DK_PARAM_DOUBLE: {
    errno = 0;
    double x = strtod(text, &end);
    if (!*text || *end || errno || !isfinite(x))
      return dk_error_set(err, DK_ERR_INVALID, "key '%s': expected a number, got '%s'", sp->name,
                          text);
    if (((sp->flags & DK_PARAM_MIN) && x < sp->min) || ((sp->flags & DK_PARAM_MAX) && x > sp->max))
      goto range;
    v->d = x;
    break;
  }
  case DK_PARAM_BOOL:
    /* Only true/false: YAML 1.1's yes/no/on/off guessing surprises people. */
    if (strcmp(text, "true") == 0)
      v->b = 1;
    else if (strcmp(text, "false") == 0)
      v->b = 0;
    else
      return dk_error_set(err, DK_ERR_INVALID, "key '%s': expected true or false, got '%s'",
                          sp->name, text);
    break;
  case DK_PARAM_STRING:
  case DK_PARAM_PATH: {
    char *s = dk_strdup(text);
    if (!s) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
    free(v->s);
    v->s = s;
    break;
  }
  case DK_PARAM_LIST:
    return dk_error_set(err, DK_ERR_INVALID, "key '%s': expected a list of strings, got a scalar",
                        sp->name);
  }
  v->has = 1;
  return DK_OK;
range:
  if ((sp->flags & DK_PARAM_MIN) && (sp->flags & DK_PARAM_MAX))
    return dk_error_set(err, DK_ERR_INVALID, "key '%s': %s is out of range [%g, %g]", sp->name,
                        text, sp->min, sp->max);
  if (sp->flags & DK_PARAM_MIN)
    return dk_error_set(err, DK_ERR_INVALID, "key '%s': %s is below the minimum %g", sp->name,
                        text, sp->min);
  return dk_error_set(err, DK_ERR_INVALID, "key '%s': %s is above the maximum %g", sp->name, text,
                      sp->max);
}

int dk_config_set(dk_config *c, const char *key, const char *text, dk_error *err) {
  dk_cfg_value *v = dk_config_find(c, key);
  if (!v) return unknown_key(c, key, err);
  int rc = parse_value(v, text, err);
  if (rc == DK_OK) v->set = 1;
  return rc;
}

int dk_config_set_list(dk_config *c, const char *key, const char *const *items, size_t n,
                       dk_error *err) {
  dk_cfg_value *v = dk_config_find(c, key);
  if (!v) return unknown_key(c, key, err);
  if (v->spec.type != DK_PARAM_LIST)
    return dk_error_set(err, DK_ERR_INVALID, "key '%s': expected %s, got a list", key,
                        dk_param_type_name(v->spec.type));
  value_clear(v);
  v->list = calloc(n ? n : 1, sizeof *v->list);
  if (!v->list) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  for (size_t i = 0; i < n; i++) {
    v->list[i] = dk_strdup(items[i]);
    if (!v->list[i]) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
    v->n_list = i + 1;
  }
  v->set = v->has = 1;
  return DK_OK;
}

int dk_config_finish(dk_config *c, const char *base_dir, dk_error *err) {
  for (size_t i = 0; i < c->n; i++) {
    dk_cfg_value *v = &c->v[i];
    if (!v->has && v->spec.def && v->spec.type != DK_PARAM_LIST) {
      int rc = parse_value(v, v->spec.def, err);
      if (rc) return dk_error_prefix(err, "'%s' declares a bad default: ", c->component);
    }
    if (!v->has && (v->spec.flags & DK_PARAM_REQUIRED))
      return dk_error_set(err, DK_ERR_INVALID, "missing required key '%s' for '%s' (%s)",
                          v->spec.name, c->component, dk_param_type_name(v->spec.type));
    if (v->spec.type != DK_PARAM_PATH || !v->s || !v->set || v->s[0] == '/') continue;
    char cwd[PATH_MAX];
    const char *base = v->from_cli ? getcwd(cwd, sizeof cwd) : base_dir;
    if (base && *base) {
      size_t n = strlen(base) + strlen(v->s) + 2;
      char *p = malloc(n);
      if (!p) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
      snprintf(p, n, "%s/%s", base, v->s);
      free(v->s);
      v->s = p;
    }
  }
  return DK_OK;
}

void dk_config_canon(const dk_config *c, const char *skip, char **buf, size_t *len, size_t *cap) {
  char tmp[64];
  for (size_t i = 0; i < c->n; i++) {
    const dk_cfg_value *v = &c->v[i];
    if (!v->has || (skip && strcmp(v->spec.name, skip) == 0)) continue;
    dk_buf_append(buf, len, cap, v->spec.name, strlen(v->spec.name));
    dk_buf_append(buf, len, cap, "=", 1);
    switch (v->spec.type) {
    case DK_PARAM_INT: snprintf(tmp, sizeof tmp, "%lld", (long long)v->i); break;
    case DK_PARAM_DOUBLE: snprintf(tmp, sizeof tmp, "%.17g", v->d); break;
    case DK_PARAM_BOOL: snprintf(tmp, sizeof tmp, "%s", v->b ? "true" : "false"); break;
    default: tmp[0] = '\0';
    }
    if (tmp[0]) dk_buf_append(buf, len, cap, tmp, strlen(tmp));
    if (v->s) dk_buf_append(buf, len, cap, v->s, strlen(v->s) + 1); /* keep the NUL: unambiguous */
    for (size_t j = 0; j < v->n_list; j++)
      dk_buf_append(buf, len, cap, v->list[j], strlen(v->list[j]) + 1);
    dk_buf_append(buf, len, cap, ";", 1);
  }
}

int64_t dk_cfg_int(const dk_config *c, const char *key) {
  const dk_cfg_value *v = dk_config_find(c, key);
  return v ? v->i : 0;
}
double dk_cfg_double(const dk_config *c, const char *key) {
  const dk_cfg_value *v = dk_config_find(c, key);
  return v ? v->d : 0.0;
}
int dk_cfg_bool(const dk_config *c, const char *key) {
  const dk_cfg_value *v = dk_config_find(c, key);
  return v ? v->b : 0;
}
const char *dk_cfg_string(const dk_config *c, const char *key) {
  const dk_cfg_value *v = dk_config_find(c, key);
  return v ? v->s : NULL;
}
size_t dk_cfg_list_len(const dk_config *c, const char *key) {
  const dk_cfg_value *v = dk_config_find(c, key);
  return v ? v->n_list : 0;
}
const char *dk_cfg_list_item(const dk_config *c, const char *key, size_t i) {
  const dk_cfg_value *v = dk_config_find(c, key);
  return v && i < v->n_list ? v->list[i] : NULL;
}
int dk_cfg_is_set(const dk_config *c, const char *key) {
  const dk_cfg_value *v = dk_config_find(c, key);
  return v ? v->set : 0;
}
