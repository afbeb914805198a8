/* params.h -- component parameters typed by the plugin's declared schema. */
#ifndef DK_CORE_PARAMS_H
#define DK_CORE_PARAMS_H

#include <decokit/plugin.h>

/* A parameter spec as the host sees it, copied out of the plugin's array
 * with the plugin's stride (fields the plugin did not know stay zero). */
typedef struct dk_spec {
  const char *name;
  uint32_t type, flags;
  const char *def;
  double min, max;
  const char *doc;
} dk_spec;

typedef struct dk_cfg_value {
  dk_spec spec;
  int set;       /* explicitly set by the pipeline or --set */
  int has;       /* has a value (set or default) */
  int from_cli;  /* set by --set: a relative PATH is relative to the working folder */
  int64_t i;
  double d;
  int b;
  char *s;       /* STRING, PATH */
  char **list;   /* LIST */
  size_t n_list;
} dk_cfg_value;

struct dk_config {
  const char *component;  /* for messages */
  size_t n;
  dk_cfg_value *v;
};

/* Read a plugin's spec array (NULL-terminated, walked by stride). */
int dk_specs_read(const dk_iface_header *hdr, dk_spec **out, size_t *n, dk_error *err);
const char *dk_param_type_name(uint32_t type);

int dk_config_init(dk_config *c, const dk_iface_header *hdr, dk_error *err);
void dk_config_free(dk_config *c);
dk_cfg_value *dk_config_find(const dk_config *c, const char *key);
/* Parse one scalar by the declared type.  Errors say what was expected. */
int dk_config_set(dk_config *c, const char *key, const char *text, dk_error *err);
int dk_config_set_list(dk_config *c, const char *key, const char *const *items, size_t n,
                       dk_error *err);
/* Fill defaults, enforce required keys, resolve PATH values against base_dir
 * (those from the command line against the working folder). */
int dk_config_finish(dk_config *c, const char *base_dir, dk_error *err);
/* Append "key=value;" pairs in schema order to a growing buffer (for
 * fingerprints), leaving out the key skip (nullable). */
void dk_config_canon(const dk_config *c, const char *skip, char **buf, size_t *len, size_t *cap);

int64_t dk_cfg_int(const dk_config *c, const char *key);
double dk_cfg_double(const dk_config *c, const char *key);
int dk_cfg_bool(const dk_config *c, const char *key);
const char *dk_cfg_string(const dk_config *c, const char *key);
size_t dk_cfg_list_len(const dk_config *c, const char *key);
const char *dk_cfg_list_item(const dk_config *c, const char *key, size_t i);
int dk_cfg_is_set(const dk_config *c, const char *key);

/* Small string helpers used across core. */
char *dk_strdup(const char *s);
char *dk_strndup(const char *s, size_t n);
/* Append to a growing NUL-terminated buffer.  On allocation failure the
 * buffer is freed, *buf set to NULL and *cap to DK_BUF_FAILED, and every
 * later append fails too, so a caller may check once at the end. */
#define DK_BUF_FAILED ((size_t)-1)
int dk_buf_append(char **buf, size_t *len, size_t *cap, const char *s, size_t n);

#endif
