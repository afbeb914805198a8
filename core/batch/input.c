/* input.c -- JSONL request lines: split, sharded by line number, ids read and checked for repeats. */
#include "input.h"

#include "params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int blank(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
  return 1;
}

/* Fill l from the line's text; the body is kept only when keep is set. */
static int read_line(dk_batch_line *l, const char *s, size_t n, int keep) {
  char name[32];
  snprintf(name, sizeof name, "line-%zu", l->lineno);
  json_error_t je;
  json_t *o = json_loadb(s, n, JSON_REJECT_DUPLICATES, &je);
  const char *id = name;
  if (!o) {
    snprintf(l->error, sizeof l->error, "line %zu is not valid JSON: %s (at character %d)", l->lineno,
             je.text, je.position);
  } else if (!json_is_object(o)) {
    snprintf(l->error, sizeof l->error, "line %zu must be a JSON object", l->lineno);
  } else {
    json_t *v = json_object_get(o, "id");
    if (v && (!json_is_string(v) || !json_string_length(v) ||
              strlen(json_string_value(v)) != json_string_length(v))) {
      snprintf(l->error, sizeof l->error, "line %zu: 'id' must be a non-empty string", l->lineno);
      snprintf(l->param, sizeof l->param, "id");
    } else if (v) {
      id = json_string_value(v);
    }
  }
  l->id = dk_strdup(id);
  if (!l->id) {
    json_decref(o);
    return -1;
  }
  if (keep && !l->error[0]) {
    json_object_del(o, "id");
    l->body = o;
  } else {
    json_decref(o);
  }
  return 0;
}

int dk_batch_input_read(const char *text, size_t len, size_t shard, size_t n_shards,
                        dk_batch_input *out) {
  memset(out, 0, sizeof *out);
  size_t cap = 0;
  json_t *seen = json_object(); /* id -> the line that first used it */
  if (!seen) return -1;
  size_t lineno = 0;
  for (size_t at = 0; at < len;) {
    const char *s = text + at, *nl = memchr(s, '\n', len - at);
    size_t n = nl ? (size_t)(nl - s) : len - at;
    at += n + 1;
    lineno++;
    if (blank(s, n)) continue;
    int mine = (lineno - 1) % n_shards == shard;
    dk_batch_line l = {.lineno = lineno};
    if (read_line(&l, s, n, mine)) goto oom;
    out->n_all++;
    json_t *first = json_object_get(seen, l.id);
    if (first && !l.error[0]) {
      snprintf(l.error, sizeof l.error, "line %zu: id '%.200s' was already used by line %lld", lineno,
               l.id, (long long)json_integer_value(first));
      snprintf(l.param, sizeof l.param, "id");
      json_decref(l.body);
      l.body = NULL;
    } else if (!first && json_object_set_new(seen, l.id, json_integer((json_int_t)lineno))) {
      free(l.id);
      json_decref(l.body);
      goto oom;
    }
    if (!mine) {
      free(l.id);
      continue;
    }
    if (out->n == cap) {
      size_t nc = cap ? 2 * cap : 64;
      dk_batch_line *g = realloc(out->lines, nc * sizeof *g);
      if (!g) {
        free(l.id);
        json_decref(l.body);
        goto oom;
      }
      out->lines = g;
      cap = nc;
    }
    out->lines[out->n++] = l;
  }
  json_decref(seen);
  return 0;
oom:
  json_decref(seen);
  dk_batch_input_free(out);
  return -1;
}

void dk_batch_input_free(dk_batch_input *in) {
  for (size_t i = 0; i < in->n; i++) {
    free(in->lines[i].id);
    json_decref(in->lines[i].body);
  }
  free(in->lines);
  memset(in, 0, sizeof *in);
}
