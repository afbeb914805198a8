/* pipeline.h -- YAML pipelines: parse, override, resolve against plugin schemas, fingerprint. */
#ifndef DK_CORE_PIPELINE_H
#define DK_CORE_PIPELINE_H

#include <decokit/plugin.h>

#include "loader.h"
#include "params.h"

/* One `key: value` (or `key: [list]`) as written, with where it was written. */
typedef struct dk_raw_kv {
  char *key;
  char *value;  /* scalar, or NULL for a list */
  char **list;
  size_t n_list;
  int is_list;
  int line, col; /* 1-based; 0 = from --set */
} dk_raw_kv;

/* A component block (`{ plugin: top_k, k: 40 }`) or the generate block. */
typedef struct dk_block {
  char *plugin;
  int line, col;
  dk_raw_kv *kv;
  size_t n_kv;
  uint32_t kind;
  const dk_component *comp; /* after resolve */
  dk_config cfg;            /* after resolve */
} dk_block;

typedef struct dk_pipeline {
  char *file;  /* as given, for messages ("<default>" when none) */
  char *dir;   /* folder relative paths resolve against */
  long version;
  char *plugin_path;
  dk_block *model, *draft, *decoder, *drafter, *constraint;
  /* drafter points at n_drafters blocks: one for a single `drafter:` block,
   * more for a sequence, whose proposals are merged into one tree. */
  size_t n_drafters;
  dk_block *samplers;
  size_t n_samplers;
  dk_block *scorers;
  size_t n_scorers;
  dk_block generate;
  int host_reads_draft; /* the caller reads `draft:` itself, whatever the decoder */
  int resolved;
} dk_pipeline;

/* What a pipeline may be: anything larger is refused before it is read
 * (values count every alias expansion, as the reader walks them). */
#define DK_PIPELINE_MAX_BYTES (1 << 20)
#define DK_PIPELINE_MAX_DEPTH 64
#define DK_PIPELINE_MAX_NODES 100000
#define DK_PIPELINE_MAX_ANCHORS 1000

/* Parse a file; errors are "FILE:LINE:COL: message". */
int dk_pipeline_load(const char *path, dk_pipeline **out, dk_error *err);
/* Parse YAML text (file names the source in messages; dir for relative paths). */
int dk_pipeline_parse(const char *text, size_t len, const char *file, const char *dir,
                      dk_pipeline **out, dk_error *err);
/* An empty pipeline (all defaults). */
dk_pipeline *dk_pipeline_new_default(const char *dir);
void dk_pipeline_free(dk_pipeline *p);
/* Apply `section.key=value` (samplers.N.key or samplers.NAME.key for lists). */
int dk_pipeline_override(dk_pipeline *p, const char *assignment, dk_error *err);
/* Fill defaults (decoder `sample`, model `llama` on the default model), look
 * up every plugin in reg and check every key against its schema. */
int dk_pipeline_resolve(dk_pipeline *p, dk_registry *reg, const char *default_model,
                        dk_error *err);
/* Prefix err with where block b was written ("FILE:LINE:COL: ",
 * or "FILE: " for a block from the command line or a default), for errors
 * its plugin reports (which name the component); returns err's code. */
int dk_block_error(const dk_pipeline *p, const dk_block *b, dk_error *err);
/* XXH3 of the canonical resolved pipeline, as 16 hex digits; generate.threads
 * is left out, since it cannot change the output. */
/* DK_ERR_NOMEM (and "unknown") when the canonical text could not be built. */
int dk_pipeline_fingerprint(const dk_pipeline *p, char out[17]);

/* The resolved pipeline as canonical YAML: every parameter with its value
 * (defaults included), which reads back as a pipeline with the same
 * fingerprint.  Caller frees; NULL when out of memory. */
char *dk_pipeline_yaml(const dk_pipeline *p);
/* Append s[0..n) as a YAML double-quoted scalar (dk_buf_append rules). */
void dk_yaml_quote(char **buf, size_t *len, size_t *cap, const char *s, size_t n);

/* The generate block's host-declared parameters. */
int64_t dk_gen_int(const dk_pipeline *p, const char *key);
const char *dk_gen_string(const dk_pipeline *p, const char *key);
size_t dk_gen_list_len(const dk_pipeline *p, const char *key);
const char *dk_gen_list_item(const dk_pipeline *p, const char *key, size_t i);
int dk_gen_bool(const dk_pipeline *p, const char *key);
/* The spec table of the generate block, for docs and `plugins info`. */
const dk_iface_header *dk_generate_header(void);

#endif
