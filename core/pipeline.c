/* pipeline.c -- read pipeline YAML with libyaml, keep positions, check it against schemas. */
#include "pipeline.h"

#include "chat_template.h"
#include "error.h"
#include "log.h"
#include "suggest.h"
#include "textfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>
#include <yaml.h>

/* ---- the generate block: host-declared, checked like a plugin's ---- */

static const dk_param_spec generate_params[] = {
    {"prompt", DK_PARAM_STRING, 0, "", 0, 0,
     "Prompt text; the command line's --prompt or standard input overrides it."},
    {"max_tokens", DK_PARAM_INT, DK_PARAM_MIN, "128", 0, 0,
     "Stop after this many generated tokens (0 means only the prompt is evaluated)."},
    {"stop", DK_PARAM_LIST, 0, NULL, 0, 0,
     "Stop strings: generation ends when the output contains one; the stop string itself is "
     "never printed.  Matched across token boundaries."},
    {"seed", DK_PARAM_INT, DK_PARAM_MIN, "0", 0, 0,
     "Seed of every random stream in the run; the same pipeline and seed give the same output."},
    {"n", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "1", 1, 1024,
     "Number of completions; they share the prompt's KV cache and each has its own RNG stream."},
    {"logprobs", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "0", 0, 64,
     "With --json: report this many top alternatives per token, as raw model log-probabilities "
     "and as log-probabilities after the sampler chain."},
    {"add_bos", DK_PARAM_STRING, 0, "auto", 0, 0,
     "Start the prompt with BOS: auto (as the model's metadata says), true or false."},
    {"ignore_eos", DK_PARAM_BOOL, 0, "false", 0, 0,
     "Keep generating past the end-of-sequence token."},
    {"threads", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "0", 0, 256,
     "Threads for the model and OpenBLAS; 0 means the number of online CPUs."},
    /* No default, so pipelines without it keep their fingerprints. */
    {"chat_template", DK_PARAM_STRING, 0, NULL, 0, 0,
     "Chat format of decokit chat and run --chat: chatml, llama2, llama3, mistral, or auto (the "
     "model's tokenizer.chat_template when it is one of these). Default: auto."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static const dk_iface_header generate_hdr = {
    sizeof(dk_iface_header), 0, "generate", "1", "generation settings", generate_params,
    sizeof(dk_param_spec), 0};

const dk_iface_header *dk_generate_header(void) { return &generate_hdr; }

/* ---- memory ---- */

static void kv_free(dk_raw_kv *kv) {
  free(kv->key);
  free(kv->value);
  for (size_t i = 0; i < kv->n_list; i++) free(kv->list[i]);
  free(kv->list);
}

static void block_clear(dk_block *b) {
  if (!b) return;
  free(b->plugin);
  for (size_t i = 0; i < b->n_kv; i++) kv_free(&b->kv[i]);
  free(b->kv);
  dk_config_free(&b->cfg);
  memset(b, 0, sizeof *b);
}

static void block_free(dk_block *b) {
  block_clear(b);
  free(b);
}

void dk_pipeline_free(dk_pipeline *p) {
  if (!p) return;
  block_free(p->model);
  block_free(p->draft);
  block_free(p->decoder);
  for (size_t i = 0; i < p->n_drafters; i++) block_clear(&p->drafter[i]);
  free(p->drafter);
  block_free(p->constraint);
  for (size_t i = 0; i < p->n_samplers; i++) block_clear(&p->samplers[i]);
  for (size_t i = 0; i < p->n_scorers; i++) block_clear(&p->scorers[i]);
  free(p->samplers);
  free(p->scorers);
  block_clear(&p->generate);
  free(p->plugin_path);
  free(p->file);
  free(p->dir);
  free(p);
}

dk_pipeline *dk_pipeline_new_default(const char *dir) {
  dk_pipeline *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->file = dk_strdup("<command line>");
  p->dir = dk_strdup(dir ? dir : ".");
  if (!p->file || !p->dir) {
    dk_pipeline_free(p);
    return NULL;
  }
  p->version = 1;
  return p;
}

/* ---- YAML walking ---- */

typedef struct walk {
  yaml_document_t *doc;
  const char *file;
  dk_error *err;
} walk;

static int at(const walk *w, const yaml_node_t *n, int code, const char *fmt, ...)
    DK_PRINTF(4, 5);
static int at(const walk *w, const yaml_node_t *n, int code, const char *fmt, ...) {
  char msg[DK_ERROR_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return dk_error_set(w->err, code, "%s:%lu:%lu: %s", w->file,
                      (unsigned long)n->start_mark.line + 1, (unsigned long)n->start_mark.column + 1,
                      msg);
}

static const char *scalar(const yaml_node_t *n) {
  return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static const char *node_kind(const yaml_node_t *n) {
  switch (n->type) {
  case YAML_SCALAR_NODE: return "a scalar";
  case YAML_SEQUENCE_NODE: return "a list";
  case YAML_MAPPING_NODE: return "a mapping";
  default: return "nothing";
  }
}

static int add_kv(dk_block *b, const char *key, const yaml_node_t *kn, const yaml_node_t *vn,
                  const walk *w) {
  for (size_t i = 0; i < b->n_kv; i++)
    if (strcmp(b->kv[i].key, key) == 0)
      return at(w, kn, DK_ERR_INVALID, "key '%s' appears twice", key);
  dk_raw_kv *t = realloc(b->kv, (b->n_kv + 1) * sizeof *t);
  if (!t) return dk_error_set(w->err, DK_ERR_NOMEM, "out of memory");
  b->kv = t;
  dk_raw_kv *kv = &b->kv[b->n_kv];
  memset(kv, 0, sizeof *kv);
  kv->line = (int)kn->start_mark.line + 1;
  kv->col = (int)kn->start_mark.column + 1;
  kv->key = dk_strdup(key);
  if (!kv->key) return dk_error_set(w->err, DK_ERR_NOMEM, "out of memory");
  b->n_kv++;
  if (vn->type == YAML_SCALAR_NODE) {
    kv->value = dk_strdup(scalar(vn));
    return kv->value ? DK_OK : dk_error_set(w->err, DK_ERR_NOMEM, "out of memory");
  }
  if (vn->type != YAML_SEQUENCE_NODE)
    return at(w, vn, DK_ERR_INVALID, "key '%s': expected a value or a list of values, got %s", key,
              node_kind(vn));
  kv->is_list = 1;
  size_t n = (size_t)(vn->data.sequence.items.top - vn->data.sequence.items.start);
  kv->list = calloc(n ? n : 1, sizeof *kv->list);
  if (!kv->list) return dk_error_set(w->err, DK_ERR_NOMEM, "out of memory");
  for (size_t i = 0; i < n; i++) {
    yaml_node_t *it = yaml_document_get_node(w->doc, vn->data.sequence.items.start[i]);
    if (!scalar(it))
      return at(w, it, DK_ERR_INVALID, "key '%s': list items must be scalars, got %s", key,
                node_kind(it));
    kv->list[i] = dk_strdup(scalar(it));
    if (!kv->list[i]) return dk_error_set(w->err, DK_ERR_NOMEM, "out of memory");
    kv->n_list = i + 1;
  }
  return DK_OK;
}

/* A component block: a mapping with `plugin:` and parameters.  The generate
 * block has no plugin key. */
static int read_block(const walk *w, const yaml_node_t *n, const char *section, int want_plugin,
                      dk_block *b) {
  memset(b, 0, sizeof *b);
  b->line = (int)n->start_mark.line + 1;
  b->col = (int)n->start_mark.column + 1;
  if (n->type != YAML_MAPPING_NODE)
    return at(w, n, DK_ERR_INVALID, "'%s' must be a mapping (e.g. { plugin: NAME, ... }), got %s",
              section, node_kind(n));
  for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
    yaml_node_t *kn = yaml_document_get_node(w->doc, pr->key);
    yaml_node_t *vn = yaml_document_get_node(w->doc, pr->value);
    const char *key = scalar(kn);
    if (!key) return at(w, kn, DK_ERR_INVALID, "'%s': keys must be plain names", section);
    if (want_plugin && strcmp(key, "plugin") == 0) {
      if (!scalar(vn) || !*scalar(vn))
        return at(w, vn, DK_ERR_INVALID, "'%s.plugin': expected a plugin name or path", section);
      free(b->plugin);
      b->plugin = dk_strdup(scalar(vn));
      if (!b->plugin) return dk_error_set(w->err, DK_ERR_NOMEM, "out of memory");
      continue;
    }
    int rc = add_kv(b, key, kn, vn, w);
    if (rc) return rc;
  }
  if (want_plugin && !b->plugin)
    return at(w, n, DK_ERR_INVALID, "'%s': missing key 'plugin' (the plugin's name)", section);
  return DK_OK;
}

static int read_list(const walk *w, const yaml_node_t *n, const char *section, dk_block **out,
                     size_t *n_out) {
  if (n->type != YAML_SEQUENCE_NODE)
    return at(w, n, DK_ERR_INVALID, "'%s' must be a list of { plugin: NAME, ... } blocks, got %s",
              section, node_kind(n));
  size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
  *out = calloc(cnt ? cnt : 1, sizeof **out);
  if (!*out) return dk_error_set(w->err, DK_ERR_NOMEM, "out of memory");
  for (size_t i = 0; i < cnt; i++) {
    *n_out = i + 1;
    int rc = read_block(w, yaml_document_get_node(w->doc, n->data.sequence.items.start[i]),
                        section, 1, &(*out)[i]);
    if (rc) return rc;
  }
  return DK_OK;
}

static const char *const sections[] = {"decokit", "plugin_path", "model",   "draft",
                                       "decoder", "drafter",     "constraint", "samplers",
                                       "scorers", "generate",    NULL};

static int read_top(const walk *w, yaml_node_t *root, dk_pipeline *p) {
  if (!root)
    return dk_error_set(w->err, DK_ERR_INVALID, "%s: empty pipeline (expected 'decokit: 1' and "
                        "component blocks)", w->file);
  if (root->type != YAML_MAPPING_NODE)
    return at(w, root, DK_ERR_INVALID, "a pipeline is a mapping of sections, got %s",
              node_kind(root));
  int have_version = 0;
  /* Where each section was first seen: a second one is an error, never a
   * silent replacement (a list read twice would also leak or overrun). */
  const yaml_node_t *seen[sizeof sections / sizeof *sections] = {NULL};
  for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top;
       pr++) {
    yaml_node_t *kn = yaml_document_get_node(w->doc, pr->key);
    yaml_node_t *vn = yaml_document_get_node(w->doc, pr->value);
    const char *key = scalar(kn);
    size_t sec = 0;
    while (key && sections[sec] && strcmp(key, sections[sec]) != 0) sec++;
    if (!key || !sections[sec]) {
      const char *hint = key ? dk_suggest(key, sections, sizeof sections / sizeof *sections - 1)
                             : NULL;
      return at(w, kn, DK_ERR_INVALID,
                "unknown key '%s'%s%s%s (expected one of: decokit, plugin_path, model, draft, "
                "decoder, drafter, constraint, samplers, scorers, generate)",
                key ? key : "?", hint ? "; did you mean '" : "", hint ? hint : "",
                hint ? "'?" : "");
    }
    if (seen[sec])
      return at(w, kn, DK_ERR_INVALID, "section '%s' appears twice (first at line %lu, column %lu)",
                key, (unsigned long)seen[sec]->start_mark.line + 1,
                (unsigned long)seen[sec]->start_mark.column + 1);
    seen[sec] = kn;
    int rc = DK_OK;
    dk_block **slot = NULL;
    if (strcmp(key, "decokit") == 0) {
      char *end;
      const char *s = scalar(vn);
      long v = s ? strtol(s, &end, 10) : 0;
      if (!s || !*s || *end)
        return at(w, vn, DK_ERR_INVALID, "key 'decokit': expected the format version 1, got %s",
                  s ? s : node_kind(vn));
      if (v != 1)
        return at(w, vn, DK_ERR_INVALID,
                  "key 'decokit': format version %ld is not supported (this decokit reads 1)", v);
      p->version = v;
      have_version = 1;
    } else if (strcmp(key, "plugin_path") == 0) {
      if (!scalar(vn))
        return at(w, vn, DK_ERR_INVALID, "key 'plugin_path': expected a colon-separated list");
      /* Relative entries resolve against the pipeline's folder. */
      size_t len = 0, cap = 0;
      const char *s = scalar(vn);
      while (*s) {
        const char *e = strchr(s, ':');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (len) dk_buf_append(&p->plugin_path, &len, &cap, ":", 1);
        size_t start = len;
        if (n && s[0] != '/') {
          dk_buf_append(&p->plugin_path, &len, &cap, p->dir, strlen(p->dir));
          dk_buf_append(&p->plugin_path, &len, &cap, "/", 1);
        }
        dk_buf_append(&p->plugin_path, &len, &cap, s, n);
        /* A folder that is not there is a typo, not an empty folder. */
        struct stat st;
        if (n && cap != DK_BUF_FAILED &&
            (stat(p->plugin_path + start, &st) != 0 || !S_ISDIR(st.st_mode)))
          return at(w, vn, DK_ERR_INVALID, "key 'plugin_path': no folder '%s'",
                    p->plugin_path + start);
        s += n;
        if (*s == ':') s++;
      }
      if (cap == DK_BUF_FAILED) return dk_error_set(w->err, DK_ERR_NOMEM, "out of memory");
    } else if (strcmp(key, "samplers") == 0) {
      rc = read_list(w, vn, key, &p->samplers, &p->n_samplers);
    } else if (strcmp(key, "scorers") == 0) {
      rc = read_list(w, vn, key, &p->scorers, &p->n_scorers);
    } else if (strcmp(key, "generate") == 0) {
      rc = read_block(w, vn, key, 0, &p->generate);
    } else if (strcmp(key, "drafter") == 0 && vn->type == YAML_SEQUENCE_NODE) {
      rc = read_list(w, vn, key, &p->drafter, &p->n_drafters);
      if (!rc && !p->n_drafters)
        rc = at(w, vn, DK_ERR_INVALID, "'drafter' is an empty list: name at least one drafter");
    } else {
      slot = strcmp(key, "model") == 0     ? &p->model
             : strcmp(key, "draft") == 0   ? &p->draft
             : strcmp(key, "decoder") == 0 ? &p->decoder
             : strcmp(key, "drafter") == 0 ? &p->drafter
                                           : &p->constraint;
      *slot = calloc(1, sizeof **slot);
      if (!*slot) return dk_error_set(w->err, DK_ERR_NOMEM, "out of memory");
      if (slot == &p->drafter) p->n_drafters = 1;
      rc = read_block(w, vn, key, 1, *slot);
    }
    if (rc) return rc;
  }
  if (!have_version)
    return at(w, root, DK_ERR_INVALID, "missing key 'decokit' (the format version: decokit: 1)");
  return DK_OK;
}

/* ---- limits: a pipeline is small, and hostile text must fail fast ---- */

static int syntax_error(const yaml_parser_t *parser, const char *file, dk_error *err) {
  return dk_error_set(err, DK_ERR_FORMAT, "%s:%lu:%lu: YAML syntax error: %s%s%s", file,
                      (unsigned long)parser->problem_mark.line + 1,
                      (unsigned long)parser->problem_mark.column + 1,
                      parser->problem ? parser->problem : "unknown problem",
                      parser->context ? " " : "", parser->context ? parser->context : "");
}

typedef struct shape {
  struct {
    char *anchor;
    size_t start; /* nodes counted when the collection opened */
  } stack[DK_PIPELINE_MAX_DEPTH];
  size_t depth;
  struct {
    char *name;
    size_t nodes;
  } anchors[DK_PIPELINE_MAX_ANCHORS];
  size_t n_anchors;
  size_t nodes; /* as the reader will see them: every alias expanded */
} shape;

static int shape_anchor(shape *sh, const yaml_char_t *name, size_t nodes, const char *file,
                        const yaml_mark_t *m, dk_error *err) {
  if (sh->n_anchors == DK_PIPELINE_MAX_ANCHORS)
    return dk_error_set(err, DK_ERR_INVALID, "%s:%lu:%lu: more than %d anchors", file,
                        (unsigned long)m->line + 1, (unsigned long)m->column + 1,
                        DK_PIPELINE_MAX_ANCHORS);
  char *copy = dk_strdup((const char *)name);
  if (!copy) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  sh->anchors[sh->n_anchors].name = copy;
  sh->anchors[sh->n_anchors++].nodes = nodes;
  return DK_OK;
}

/* One streaming pass over the events before the document is built: the
 * loader shares aliased nodes, but the reader walks (and copies) them once
 * per alias, so a few kilobytes of nested aliases would become gigabytes,
 * and libyaml's scanner slows down with every open flow collection. */
static int check_shape(const char *text, size_t len, const char *file, dk_error *err) {
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  shape *sh = calloc(1, sizeof *sh);
  int rc = sh ? DK_OK : dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  int done = 0;
  while (!rc && !done) {
    yaml_event_t ev;
    if (!yaml_parser_parse(&parser, &ev)) {
      rc = syntax_error(&parser, file, err);
      break;
    }
    const yaml_mark_t *m = &ev.start_mark;
    switch (ev.type) {
    case YAML_SCALAR_EVENT:
      sh->nodes++;
      if (ev.data.scalar.anchor) rc = shape_anchor(sh, ev.data.scalar.anchor, 1, file, m, err);
      break;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
      const yaml_char_t *anchor = ev.type == YAML_SEQUENCE_START_EVENT
                                      ? ev.data.sequence_start.anchor
                                      : ev.data.mapping_start.anchor;
      if (sh->depth == DK_PIPELINE_MAX_DEPTH) {
        rc = dk_error_set(err, DK_ERR_INVALID, "%s:%lu:%lu: nested deeper than %d levels", file,
                          (unsigned long)m->line + 1, (unsigned long)m->column + 1,
                          DK_PIPELINE_MAX_DEPTH);
        break;
      }
      sh->stack[sh->depth].anchor = anchor ? dk_strdup((const char *)anchor) : NULL;
      sh->stack[sh->depth++].start = sh->nodes++;
      break;
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
      if (sh->depth) {
        sh->depth--;
        char *anchor = sh->stack[sh->depth].anchor;
        if (anchor)
          rc = shape_anchor(sh, (const yaml_char_t *)anchor, sh->nodes - sh->stack[sh->depth].start,
                            file, m, err);
        free(anchor);
      }
      break;
    case YAML_ALIAS_EVENT:
      /* The latest anchor of that name; an undefined one is the loader's to report. */
      for (size_t i = sh->n_anchors; i-- > 0;)
        if (strcmp(sh->anchors[i].name, (const char *)ev.data.alias.anchor) == 0) {
          sh->nodes += sh->anchors[i].nodes;
          break;
        }
      break;
    case YAML_DOCUMENT_END_EVENT:
    case YAML_STREAM_END_EVENT:
      done = 1; /* only the first document is read */
      break;
    default:
      break;
    }
    if (!rc && sh->nodes > DK_PIPELINE_MAX_NODES)
      rc = dk_error_set(err, DK_ERR_INVALID,
                        "%s:%lu:%lu: the pipeline expands to more than %d values (aliases count "
                        "once per use)",
                        file, (unsigned long)m->line + 1, (unsigned long)m->column + 1,
                        DK_PIPELINE_MAX_NODES);
    yaml_event_delete(&ev);
  }
  if (sh) {
    for (size_t i = 0; i < sh->depth; i++) free(sh->stack[i].anchor);
    for (size_t i = 0; i < sh->n_anchors; i++) free(sh->anchors[i].name);
    free(sh);
  }
  yaml_parser_delete(&parser);
  return rc;
}

int dk_pipeline_parse(const char *text, size_t len, const char *file, const char *dir,
                      dk_pipeline **out, dk_error *err) {
  *out = NULL;
  if (len > DK_PIPELINE_MAX_BYTES)
    return dk_error_set(err, DK_ERR_INVALID, "%s: %zu bytes is larger than a pipeline may be (%d)",
                        file, len, DK_PIPELINE_MAX_BYTES);
  int rc = check_shape(text, len, file, err);
  if (rc) return rc;
  dk_pipeline *p = calloc(1, sizeof *p);
  if (!p) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  p->file = dk_strdup(file);
  p->dir = dk_strdup(dir && *dir ? dir : ".");
  if (!p->file || !p->dir) {
    dk_pipeline_free(p);
    return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  }
  yaml_parser_t parser;
  yaml_document_t doc;
  if (!yaml_parser_initialize(&parser)) {
    dk_pipeline_free(p);
    return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  }
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  if (!yaml_parser_load(&parser, &doc)) {
    rc = syntax_error(&parser, file, err);
  } else {
    walk w = {&doc, file, err};
    rc = read_top(&w, yaml_document_get_root_node(&doc), p);
    yaml_document_delete(&doc);
  }
  yaml_parser_delete(&parser);
  if (rc) {
    dk_pipeline_free(p);
    return rc;
  }
  *out = p;
  return DK_OK;
}

int dk_pipeline_load(const char *path, dk_pipeline **out, dk_error *err) {
  *out = NULL;
  char *buf;
  size_t len;
  int rc = dk_textfile_read(path, "pipeline", DK_PIPELINE_MAX_BYTES, &buf, &len, err);
  if (rc) return rc;
  char *dir = dk_strdup(path);
  if (!dir) {
    free(buf);
    return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  }
  char *slash = strrchr(dir, '/');
  if (slash)
    *(slash == dir ? slash + 1 : slash) = '\0';
  else
    strcpy(dir, ".");
  rc = dk_pipeline_parse(buf, len, path, dir, out, err);
  free(dir);
  free(buf);
  return rc;
}

/* ---- --set overrides ---- */

static dk_block **section_slot(dk_pipeline *p, const char *name) {
  if (strcmp(name, "model") == 0) return &p->model;
  if (strcmp(name, "draft") == 0) return &p->draft;
  if (strcmp(name, "decoder") == 0) return &p->decoder;
  if (strcmp(name, "drafter") == 0) return &p->drafter;
  if (strcmp(name, "constraint") == 0) return &p->constraint;
  return NULL;
}

/* Set key in b to a scalar, or to a list when list is not NULL. */
static int set_kv(dk_block *b, const char *key, const char *value, char *const *list,
                  size_t n_list, dk_error *err) {
  if (strcmp(key, "plugin") == 0) {
    if (list || !*value)
      return dk_error_set(err, DK_ERR_INVALID, "key 'plugin': expected a plugin name or path");
    char *v = dk_strdup(value);
    if (!v) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
    free(b->plugin);
    b->plugin = v;
    return DK_OK;
  }
  dk_raw_kv *kv = NULL;
  for (size_t i = 0; i < b->n_kv; i++)
    if (strcmp(b->kv[i].key, key) == 0) kv = &b->kv[i];
  if (!kv) {
    dk_raw_kv *t = realloc(b->kv, (b->n_kv + 1) * sizeof *t);
    if (!t) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
    b->kv = t;
    kv = &b->kv[b->n_kv];
    memset(kv, 0, sizeof *kv);
    kv->key = dk_strdup(key);
    if (!kv->key) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
    b->n_kv++;
  } else {
    char *k = kv->key;
    kv->key = NULL;
    kv_free(kv);
    memset(kv, 0, sizeof *kv);
    kv->key = k;
  }
  if (!list) {
    kv->value = dk_strdup(value);
    return kv->value ? DK_OK : dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  }
  kv->is_list = 1;
  kv->list = calloc(n_list ? n_list : 1, sizeof *kv->list);
  if (!kv->list) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  for (size_t i = 0; i < n_list; i++) {
    if (!(kv->list[i] = dk_strdup(list[i]))) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
    kv->n_list = i + 1;
  }
  return DK_OK;
}

static int set_raw(dk_block *b, const char *key, const char *value, dk_error *err) {
  return set_kv(b, key, value, NULL, 0, err);
}

/* An override's value is YAML flow syntax, read by the same parser as a
 * pipeline file: `[" had", ","]` is a list of two strings with their space
 * and comma, `"a: b"` a quoted scalar.  Text YAML cannot read is an error:
 * a value kept with its quotes would silently mean something else. */
typedef struct flow_value {
  yaml_document_t doc;
  yaml_node_t *root; /* NULL for an empty value */
  int loaded;
} flow_value;

static int flow_parse(const char *what, const char *text, flow_value *fv, dk_error *err) {
  memset(fv, 0, sizeof *fv);
  int rc = check_shape(text, strlen(text), what, err);
  if (rc) return rc;
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
  if (!yaml_parser_load(&parser, &fv->doc)) {
    rc = dk_error_set(err, DK_ERR_INVALID, "%s: not a YAML value at column %lu: %s%s%s (quote "
                      "it, e.g. '\"...\"')", what, (unsigned long)parser.problem_mark.column + 1,
                      parser.problem ? parser.problem : "unknown problem",
                      parser.context ? " " : "", parser.context ? parser.context : "");
  } else {
    fv->loaded = 1;
    fv->root = yaml_document_get_root_node(&fv->doc);
    if (!fv->root && strspn(text, " \t") != strlen(text))
      rc = dk_error_set(err, DK_ERR_INVALID,
                        "%s: the value is only a YAML comment (quote a value starting with '#')",
                        what);
  }
  yaml_parser_delete(&parser);
  return rc;
}

static void flow_free(flow_value *fv) {
  if (fv->loaded) yaml_document_delete(&fv->doc);
}

/* A scalar or a list of scalars into b's key. */
static int set_flow(dk_block *b, const char *key, const flow_value *fv, const char *what,
                    dk_error *err) {
  const yaml_node_t *n = fv->root;
  if (strcmp(key, "plugin") == 0 && (!n || !scalar(n) || !*scalar(n)))
    return dk_error_set(err, DK_ERR_INVALID, "%s: expected a plugin name or path", what);
  if (!n) return set_raw(b, key, "", err);
  if (n->type == YAML_SCALAR_NODE) return set_raw(b, key, scalar(n), err);
  if (n->type != YAML_SEQUENCE_NODE)
    return dk_error_set(err, DK_ERR_INVALID,
                        "%s: expected a value or a [list] of values, got %s (quote a value "
                        "containing ': ', e.g. '\"a: b\"')",
                        what, node_kind(n));
  size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
  char **items = calloc(cnt ? cnt : 1, sizeof *items);
  if (!items) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  int rc = DK_OK;
  for (size_t i = 0; !rc && i < cnt; i++) {
    yaml_node_t *it = yaml_document_get_node((yaml_document_t *)&fv->doc,
                                             n->data.sequence.items.start[i]);
    if (!scalar(it))
      rc = dk_error_set(err, DK_ERR_INVALID, "%s: list items must be scalars, got %s", what,
                        node_kind(it));
    else
      items[i] = (char *)scalar(it);
  }
  if (!rc) rc = set_kv(b, key, NULL, items, cnt, err);
  free(items);
  return rc;
}

/* `samplers.+=NAME` or `samplers.+={ plugin: NAME, key: value }` appends a block. */
static int append_block(dk_block **list, size_t *n, const char *section, const flow_value *fv,
                        const char *what, dk_error *err) {
  const yaml_node_t *r = fv->root;
  if (!r || (r->type == YAML_SCALAR_NODE && !*scalar(r)) || r->type == YAML_SEQUENCE_NODE)
    return dk_error_set(err, DK_ERR_INVALID,
                        "%s: expected a plugin name or { plugin: NAME, key: value, ... }", what);
  dk_block *t = realloc(*list, (*n + 1) * sizeof *t);
  if (!t) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  *list = t;
  dk_block *b = &t[*n];
  memset(b, 0, sizeof *b);
  int rc;
  if (r->type == YAML_SCALAR_NODE) {
    rc = (b->plugin = dk_strdup(scalar(r))) ? DK_OK : dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  } else {
    walk w = {(yaml_document_t *)&fv->doc, what, err};
    rc = read_block(&w, r, section, 1, b);
    b->line = b->col = 0; /* from the command line: messages name the option */
    for (size_t i = 0; i < b->n_kv; i++) b->kv[i].line = b->kv[i].col = 0;
  }
  if (rc) {
    block_clear(b);
    return rc;
  }
  (*n)++;
  return DK_OK;
}

int dk_pipeline_override(dk_pipeline *p, const char *assignment, dk_error *err) {
  const char *eq = strchr(assignment, '=');
  const char *dot = strchr(assignment, '.');
  if (!eq || !dot || dot > eq)
    return dk_error_set(err, DK_ERR_INVALID,
                        "--set %s: expected SECTION.KEY=VALUE (e.g. generate.max_tokens=32)",
                        assignment);
  char *sect = dk_strndup(assignment, (size_t)(dot - assignment));
  char *path = dk_strndup(dot + 1, (size_t)(eq - dot - 1));
  char *what = dk_strndup(assignment, (size_t)(eq - assignment));
  char label[DK_ERROR_MAX / 4];
  snprintf(label, sizeof label, "--set %s", what ? what : "");
  flow_value fv;
  memset(&fv, 0, sizeof fv);
  int rc = DK_OK;
  if (!sect || !path || !what) rc = dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  if (!rc) rc = flow_parse(label, eq + 1, &fv, err);
  if (rc) {
    /* nothing more */
  } else if (strcmp(sect, "generate") == 0) {
    rc = set_flow(&p->generate, path, &fv, label, err);
  } else if (strcmp(sect, "samplers") == 0 || strcmp(sect, "scorers") == 0 ||
             (strcmp(sect, "drafter") == 0 && (p->n_drafters > 1 || strcmp(path, "+") == 0))) {
    int is_s = sect[1] == 'a', is_d = sect[0] == 'd';
    dk_block **list = is_d ? &p->drafter : is_s ? &p->samplers : &p->scorers;
    size_t *n = is_d ? &p->n_drafters : is_s ? &p->n_samplers : &p->n_scorers;
    if (strcmp(path, "+") == 0) {
      rc = append_block(list, n, sect, &fv, label, err);
    } else {
      char *d2 = strchr(path, '.');
      dk_block *b = NULL;
      if (d2) {
        *d2 = '\0';
        char *end;
        unsigned long idx = strtoul(path, &end, 10);
        if (*path && !*end && idx < *n) b = &(*list)[idx];
        for (size_t i = 0; !b && i < *n; i++)
          if (strcmp((*list)[i].plugin, path) == 0) b = &(*list)[i];
      }
      if (!b)
        rc = dk_error_set(err, DK_ERR_INVALID,
                          "%s: expected %s.INDEX.KEY=VALUE or %s.PLUGIN.KEY=VALUE naming one "
                          "of the pipeline's %zu %s, or %s.+=PLUGIN to add one",
                          label, sect, sect, *n, sect, sect);
      else
        rc = set_flow(b, d2 + 1, &fv, label, err);
    }
  } else {
    dk_block **slot = section_slot(p, sect);
    if (!slot) {
      rc = dk_error_set(err, DK_ERR_INVALID,
                        "%s: unknown section '%s' (expected model, draft, decoder, drafter, "
                        "constraint, samplers, scorers or generate)",
                        label, sect);
    } else {
      if (!*slot && !(*slot = calloc(1, sizeof **slot)))
        rc = dk_error_set(err, DK_ERR_NOMEM, "out of memory");
      else if (slot == &p->drafter && !p->n_drafters)
        p->n_drafters = 1;
      if (!rc) rc = set_flow(*slot, path, &fv, label, err);
    }
  }
  flow_free(&fv);
  free(sect);
  free(path);
  free(what);
  return rc;
}

/* ---- resolution against schemas ---- */

static int apply_kvs(const dk_pipeline *p, dk_block *b, const char *section, dk_error *err) {
  for (size_t i = 0; i < b->n_kv; i++) {
    dk_raw_kv *kv = &b->kv[i];
    int rc;
    if (kv->is_list)
      rc = dk_config_set_list(&b->cfg, kv->key, (const char *const *)kv->list, kv->n_list, err);
    else
      rc = dk_config_set(&b->cfg, kv->key, kv->value, err);
    dk_cfg_value *v = rc ? NULL : dk_config_find(&b->cfg, kv->key);
    if (v) v->from_cli = kv->line == 0;
    if (rc) {
      if (kv->line)
        return dk_error_prefix(err, "%s:%d:%d: %s: ", p->file, kv->line, kv->col, section);
      if (b->plugin && (!strcmp(section, "samplers") || !strcmp(section, "scorers")))
        return dk_error_prefix(err, "--set %s.%s.%s: ", section, b->plugin, kv->key);
      return dk_error_prefix(err, "--set %s.%s: ", section, kv->key);
    }
  }
  int rc = dk_config_finish(&b->cfg, p->dir, err);
  if (rc) {
    if (b->line) return dk_error_prefix(err, "%s:%d:%d: %s: ", p->file, b->line, b->col, section);
    return dk_error_prefix(err, "%s: %s: ", p->file, section);
  }
  return DK_OK;
}

static int resolve_block(dk_pipeline *p, dk_registry *reg, dk_block *b, uint32_t kind,
                         const char *section, dk_error *err) {
  b->kind = kind;
  if (!b->plugin)
    return dk_error_set(err, DK_ERR_INVALID, "%s: section '%s' has no 'plugin' key", p->file,
                        section);
  /* A plugin given as a path resolves against the pipeline's folder. */
  char *name = b->plugin;
  char *joined = NULL;
  if (strchr(name, '/') && name[0] != '/') {
    size_t n = strlen(p->dir) + strlen(name) + 2;
    joined = malloc(n);
    if (!joined) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
    snprintf(joined, n, "%s/%s", p->dir, name);
    name = joined;
  }
  int rc = dk_registry_find(reg, kind, name, &b->comp, err);
  free(joined);
  if (rc) {
    if (b->line) return dk_error_prefix(err, "%s:%d:%d: %s: ", p->file, b->line, b->col, section);
    return dk_error_prefix(err, "%s: %s: ", p->file, section);
  }
  rc = dk_config_init(&b->cfg, b->comp->hdr, err);
  if (rc) return rc;
  return apply_kvs(p, b, section, err);
}

static int ensure_block(dk_block **slot, const char *plugin) {
  if (!*slot && !(*slot = calloc(1, sizeof **slot))) return DK_ERR_NOMEM;
  if (!(*slot)->plugin && !((*slot)->plugin = dk_strdup(plugin))) return DK_ERR_NOMEM;
  return DK_OK;
}

int dk_block_error(const dk_pipeline *p, const dk_block *b, dk_error *err) {
  if (b->line) return dk_error_prefix(err, "%s:%d:%d: ", p->file, b->line, b->col);
  return dk_error_prefix(err, "%s: ", p->file);
}

/* Sections only some decoders read: one the decoder does not read would be
 * silently ignored, so it is an error (a warning for decoders built before
 * they could declare what they read). */
static int check_used(const dk_pipeline *p, dk_error *err) {
  const dk_component *dec = p->decoder->comp;
  uint32_t caps = dec->hdr->caps;
  const char *dn = dec->hdr->name;
  int declares = dec->lib->desc.abi_minor >= 2;
  int uses_drafter = (caps & DK_CAP_DECODER_USES_DRAFTER) != 0;
  int uses_scorers = (caps & DK_CAP_DECODER_USES_SCORERS) != 0;
  int scorer_reads_draft = 0;
  for (size_t i = 0; uses_scorers && i < p->n_scorers; i++) {
    const dk_component *sc = p->scorers[i].comp;
    if (sc && sc->lib->desc.abi_minor >= 2 && (sc->hdr->caps & DK_CAP_SCORER_USES_DRAFT_MODEL))
      scorer_reads_draft = 1;
  }
  struct {
    const dk_block *b;
    const char *section;
    int used;
  } opt[] = {
      {p->drafter, "drafter", uses_drafter},
      /* The drafter or a scorer may be what reads the draft model. */
      {p->draft, "draft",
       p->host_reads_draft || (caps & DK_CAP_DECODER_USES_DRAFT_MODEL) ||
           (p->drafter && uses_drafter) || scorer_reads_draft},
      {p->n_scorers ? &p->scorers[0] : NULL, "scorers", uses_scorers},
  };
  for (size_t i = 0; i < sizeof opt / sizeof *opt; i++) {
    const dk_block *b = opt[i].b;
    if (!b || opt[i].used) continue;
    if (!declares) {
      dk_log(DK_LOG_WARN,
             "%s:%d: decoder '%s' was built for ABI %u.%u and cannot say whether it reads the "
             "'%s' section; it may be ignored",
             p->file, b->line, dn, dec->lib->desc.abi_major, dec->lib->desc.abi_minor,
             opt[i].section);
      continue;
    }
    if (b->line)
      return dk_error_set(err, DK_ERR_INVALID,
                          "%s:%d:%d: %s: decoder '%s' does not use a '%s' section: remove it, or "
                          "choose a decoder that does",
                          p->file, b->line, b->col, opt[i].section, dn, opt[i].section);
    return dk_error_set(err, DK_ERR_INVALID,
                        "%s: %s: decoder '%s' does not use a '%s' section: remove it, or choose "
                        "a decoder that does",
                        p->file, opt[i].section, dn, opt[i].section);
  }
  if (declares && (caps & DK_CAP_DECODER_NEEDS_SCORERS) && !p->n_scorers)
    return dk_error_set(err, DK_ERR_INVALID,
                        "%s:%d:%d: decoder: '%s' needs at least one scorer: add a 'scorers' list "
                        "(e.g. scorers: [ { plugin: keyword, keywords: [word] } ])",
                        p->file, p->decoder->line, p->decoder->col, dn);
  for (size_t i = 0; !p->draft && i < p->n_drafters; i++) {
    const dk_block *dr = &p->drafter[i];
    if (dr->comp->lib->desc.abi_minor >= 2 &&
        (dr->comp->hdr->caps & DK_CAP_DRAFTER_NEEDS_DRAFT_MODEL))
      return dk_error_set(err, DK_ERR_INVALID,
                          "%s:%d:%d: drafter: '%s' needs a draft model: add a 'draft' section "
                          "(e.g. draft: { plugin: llama, path: draft.gguf })",
                          p->file, dr->line, dr->col, dr->comp->hdr->name);
  }
  return DK_OK;
}

int dk_pipeline_resolve(dk_pipeline *p, dk_registry *reg, const char *default_model,
                        dk_error *err) {
  int add_default_path = !p->model || !p->model->plugin;
  if (ensure_block(&p->model, "llama") || ensure_block(&p->decoder, "sample"))
    return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  /* No model named: the bundled default model, unless a path is already set. */
  if (add_default_path || strcmp(p->model->plugin, "llama") == 0) {
    int has_path = 0;
    for (size_t i = 0; i < p->model->n_kv; i++) has_path |= strcmp(p->model->kv[i].key, "path") == 0;
    if (!has_path && default_model) {
      int rc = set_raw(p->model, "path", default_model, err);
      if (rc) return rc;
    }
  }
  int rc = resolve_block(p, reg, p->model, DK_KIND_MODEL, "model", err);
  if (!rc && p->draft) rc = resolve_block(p, reg, p->draft, DK_KIND_MODEL, "draft", err);
  if (!rc) rc = resolve_block(p, reg, p->decoder, DK_KIND_DECODER, "decoder", err);
  for (size_t i = 0; !rc && i < p->n_drafters; i++)
    rc = resolve_block(p, reg, &p->drafter[i], DK_KIND_DRAFTER, "drafter", err);
  if (!rc && p->constraint)
    rc = resolve_block(p, reg, p->constraint, DK_KIND_CONSTRAINT, "constraint", err);
  for (size_t i = 0; !rc && i < p->n_samplers; i++)
    rc = resolve_block(p, reg, &p->samplers[i], DK_KIND_SAMPLER, "samplers", err);
  for (size_t i = 0; !rc && i < p->n_scorers; i++)
    rc = resolve_block(p, reg, &p->scorers[i], DK_KIND_SCORER, "scorers", err);
  if (!rc) rc = check_used(p, err);
  if (!rc) rc = dk_config_init(&p->generate.cfg, &generate_hdr, err);
  if (!rc) rc = apply_kvs(p, &p->generate, "generate", err);
  if (!rc) {
    const char *ab = dk_gen_string(p, "add_bos");
    if (strcmp(ab, "auto") && strcmp(ab, "true") && strcmp(ab, "false"))
      rc = dk_error_set(err, DK_ERR_INVALID, "%s: generate: key 'add_bos': expected auto, true or "
                        "false, got '%s'", p->file, ab);
  }
  if (!rc) {
    const char *ct = dk_gen_string(p, "chat_template");
    if (*ct && strcmp(ct, "auto") && !dk_chat_format_named(ct))
      rc = dk_error_set(err, DK_ERR_INVALID, "%s: generate: key 'chat_template': expected auto, "
                        "chatml, llama2, llama3 or mistral, got '%s'", p->file, ct);
  }
  if (!rc) p->resolved = 1;
  return rc;
}

/* ---- fingerprint ---- */

static void canon_block(const dk_block *b, const char *section, char **buf, size_t *len,
                        size_t *cap) {
  if (!b || !b->comp) return;
  dk_buf_append(buf, len, cap, section, strlen(section));
  dk_buf_append(buf, len, cap, ":", 1);
  dk_buf_append(buf, len, cap, b->comp->hdr->name, strlen(b->comp->hdr->name));
  dk_buf_append(buf, len, cap, "{", 1);
  dk_config_canon(&b->cfg, NULL, buf, len, cap);
  dk_buf_append(buf, len, cap, "}\n", 2);
}

int dk_pipeline_fingerprint(const dk_pipeline *p, char out[17]) {
  char *buf = NULL;
  size_t len = 0, cap = 0;
  dk_buf_append(&buf, &len, &cap, "decokit:1\n", 10);
  canon_block(p->model, "model", &buf, &len, &cap);
  canon_block(p->draft, "draft", &buf, &len, &cap);
  canon_block(p->decoder, "decoder", &buf, &len, &cap);
  for (size_t i = 0; i < p->n_drafters; i++) canon_block(&p->drafter[i], "drafter", &buf, &len, &cap);
  canon_block(p->constraint, "constraint", &buf, &len, &cap);
  for (size_t i = 0; i < p->n_samplers; i++) canon_block(&p->samplers[i], "sampler", &buf, &len, &cap);
  for (size_t i = 0; i < p->n_scorers; i++) canon_block(&p->scorers[i], "scorer", &buf, &len, &cap);
  dk_buf_append(&buf, &len, &cap, "generate{", 9);
  /* The thread count cannot change the output (every reduction has a fixed
   * order), so runs on different machines share a fingerprint. */
  dk_config_canon(&p->generate.cfg, "threads", &buf, &len, &cap);
  dk_buf_append(&buf, &len, &cap, "}\n", 2);
  /* A fingerprint of part of the text would name another pipeline. */
  if (cap == DK_BUF_FAILED) {
    snprintf(out, 17, "%s", "unknown");
    return DK_ERR_NOMEM;
  }
  XXH64_hash_t h = XXH3_64bits(buf, len);
  snprintf(out, 17, "%016llx", (unsigned long long)h);
  free(buf);
  return DK_OK;
}

int64_t dk_gen_int(const dk_pipeline *p, const char *key) { return dk_cfg_int(&p->generate.cfg, key); }
const char *dk_gen_string(const dk_pipeline *p, const char *key) {
  const char *s = dk_cfg_string(&p->generate.cfg, key);
  return s ? s : "";
}
size_t dk_gen_list_len(const dk_pipeline *p, const char *key) {
  return dk_cfg_list_len(&p->generate.cfg, key);
}
const char *dk_gen_list_item(const dk_pipeline *p, const char *key, size_t i) {
  return dk_cfg_list_item(&p->generate.cfg, key, i);
}
int dk_gen_bool(const dk_pipeline *p, const char *key) { return dk_cfg_bool(&p->generate.cfg, key); }
