/* pipeline_yaml.c -- write a resolved pipeline back as canonical YAML that reads as the same pipeline. */
#include "pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dk_yaml_quote(char **buf, size_t *len, size_t *cap, const char *s, size_t n) {
  dk_buf_append(buf, len, cap, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    char esc[8];
    if (ch == '"' || ch == '\\') {
      esc[0] = '\\';
      esc[1] = (char)ch;
      dk_buf_append(buf, len, cap, esc, 2);
    } else if (ch < 0x20 || ch == 0x7f) {
      snprintf(esc, sizeof esc, "\\x%02x", ch);
      dk_buf_append(buf, len, cap, esc, 4);
    } else {
      dk_buf_append(buf, len, cap, s + i, 1);
    }
  }
  dk_buf_append(buf, len, cap, "\"", 1);
}

/* The shortest decimal form that reads back as the same double, so the
 * written pipeline has the same fingerprint and stays readable (0.8, not
 * 0.80000000000000004). */
static void shortest_double(char *out, size_t n, double d) {
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(out, n, "%.*g", prec, d);
    if (strtod(out, NULL) == d) return;
  }
}

static void put(char **buf, size_t *len, size_t *cap, const char *s) {
  dk_buf_append(buf, len, cap, s, strlen(s));
}

static void put_values(const dk_config *c, char **buf, size_t *len, size_t *cap) {
  char tmp[64];
  for (size_t i = 0; i < c->n; i++) {
    const dk_cfg_value *v = &c->v[i];
    if (!v->has) continue;
    put(buf, len, cap, ", ");
    put(buf, len, cap, v->spec.name);
    put(buf, len, cap, ": ");
    switch (v->spec.type) {
    case DK_PARAM_INT: snprintf(tmp, sizeof tmp, "%lld", (long long)v->i); put(buf, len, cap, tmp); break;
    case DK_PARAM_DOUBLE: shortest_double(tmp, sizeof tmp, v->d); put(buf, len, cap, tmp); break;
    case DK_PARAM_BOOL: put(buf, len, cap, v->b ? "true" : "false"); break;
    case DK_PARAM_LIST:
      put(buf, len, cap, "[");
      for (size_t j = 0; j < v->n_list; j++) {
        if (j) put(buf, len, cap, ", ");
        dk_yaml_quote(buf, len, cap, v->list[j], strlen(v->list[j]));
      }
      put(buf, len, cap, "]");
      break;
    default: dk_yaml_quote(buf, len, cap, v->s ? v->s : "", v->s ? strlen(v->s) : 0);
    }
  }
}

static void put_block(const dk_pipeline *p, const dk_block *b, const char *indent,
                      char **buf, size_t *len, size_t *cap) {
  put(buf, len, cap, indent);
  put(buf, len, cap, "{ plugin: ");
  /* A plugin named by path keeps its path, made independent of the folder
   * the pipeline was read from. */
  if (strchr(b->plugin, '/') && b->plugin[0] != '/') {
    char *joined = malloc(strlen(p->dir) + strlen(b->plugin) + 2);
    if (!joined) { /* fail the whole text, as dk_buf_append does */
      free(*buf);
      *buf = NULL;
      *len = 0;
      *cap = DK_BUF_FAILED;
      return;
    }
    sprintf(joined, "%s/%s", p->dir, b->plugin);
    dk_yaml_quote(buf, len, cap, joined, strlen(joined));
    free(joined);
  } else {
    dk_yaml_quote(buf, len, cap, b->plugin, strlen(b->plugin));
  }
  put_values(&b->cfg, buf, len, cap);
  put(buf, len, cap, " }\n");
}

char *dk_pipeline_yaml(const dk_pipeline *p) {
  char *buf = NULL;
  size_t len = 0, cap = 0;
  put(&buf, &len, &cap, "decokit: 1\n");
  if (p->plugin_path) {
    put(&buf, &len, &cap, "plugin_path: ");
    dk_yaml_quote(&buf, &len, &cap, p->plugin_path, strlen(p->plugin_path));
    put(&buf, &len, &cap, "\n");
  }
  const struct {
    const char *name;
    const dk_block *b;
  } single[] = {{"model", p->model},     {"draft", p->draft},          {"decoder", p->decoder},
                {"drafter", p->n_drafters == 1 ? p->drafter : NULL}, {"constraint", p->constraint}};
  for (size_t i = 0; i < sizeof single / sizeof *single; i++) {
    if (!single[i].b || !single[i].b->comp) continue;
    put(&buf, &len, &cap, single[i].name);
    put_block(p, single[i].b, ": ", &buf, &len, &cap);
  }
  /* A list of one reads back as the same pipeline as the single block. */
  if (p->n_drafters > 1) put(&buf, &len, &cap, "drafter:\n");
  for (size_t i = 0; p->n_drafters > 1 && i < p->n_drafters; i++)
    put_block(p, &p->drafter[i], "  - ", &buf, &len, &cap);
  if (p->n_samplers) put(&buf, &len, &cap, "samplers:\n");
  for (size_t i = 0; i < p->n_samplers; i++) put_block(p, &p->samplers[i], "  - ", &buf, &len, &cap);
  if (p->n_scorers) put(&buf, &len, &cap, "scorers:\n");
  for (size_t i = 0; i < p->n_scorers; i++) put_block(p, &p->scorers[i], "  - ", &buf, &len, &cap);
  put(&buf, &len, &cap, "generate: {");
  /* put_values starts every pair with ", ": drop the first one. */
  size_t at = len;
  put_values(&p->generate.cfg, &buf, &len, &cap);
  if (cap != DK_BUF_FAILED && len > at) {
    memmove(buf + at, buf + at + 1, len - at);
    len--;
  }
  put(&buf, &len, &cap, " }\n");
  return cap == DK_BUF_FAILED ? NULL : buf;
}
