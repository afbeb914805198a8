/* constraint_glue.h -- the constraint-kind vtable shared by the gbnf, json_schema, regex and choice plugins */
#ifndef DK_CONSTRAINT_GLUE_H
#define DK_CONSTRAINT_GLUE_H

#include <decokit/plugin.h>

/* Compiles GBNF text against the instance's vocabulary and returns a matcher at the
 * start of the language. what names the grammar's origin in error messages. */
int dkc_create_from_gbnf(const dk_host *host, const dk_create_info *ci, const char *plugin,
                         const char *what, const char *gbnf, void **inst, dk_error *err);
/* Reads a whole file (NUL-terminated, caller frees). */
int dkc_read_file(const dk_host *host, const char *plugin, const char *path, char **out,
                  size_t *len, dk_error *err);

void dkc_destroy(void *inst);
int dkc_mask(void *inst, uint32_t *words, dk_error *err);
int dkc_advance(void *inst, dk_token tok, dk_error *err);
int dkc_rollback(void *inst, size_t n, dk_error *err);
int dkc_fork(const void *inst, void **out, dk_error *err);
int dkc_is_complete(const void *inst);
int dkc_forced(void *inst, const char **bytes, size_t *len);

#define DKC_IFACE(name_, summary_, params_, create_)                                           \
  {                                                                                            \
    {sizeof(dk_constraint_iface), DK_KIND_CONSTRAINT, name_, "1.0.0", summary_, params_,       \
     sizeof(dk_param_spec), DK_CAP_INSTANCE_MT},                                               \
        create_, dkc_destroy, dkc_mask, dkc_advance, dkc_rollback, dkc_fork, dkc_is_complete,  \
        dkc_forced                                                                             \
  }

#define DKC_PLUGIN(ident, iface_)                                                              \
  static const dk_iface_header *const ident##_components[] = {&(iface_).hdr};                 \
  static const dk_plugin_desc ident##_desc = {DK_PLUGIN_DESC_HEAD, #ident, "1.0.0",            \
                                              ident##_components, 1, NULL, NULL};              \
  DK_PLUGIN_ENTRY(ident) { return &ident##_desc; }

#endif
