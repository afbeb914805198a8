/* loader.h -- plugin libraries, their components, and the registry that finds them. */
#ifndef DK_CORE_LOADER_H
#define DK_CORE_LOADER_H

#include <decokit/plugin.h>

#include "params.h"

typedef struct dk_library dk_library;
typedef struct dk_registry dk_registry;

/* One component of a loaded library, with the host's own zero-filled copy
 * of its kind struct (so later fields read as NULL for older plugins). */
typedef struct dk_component {
  dk_library *lib;
  uint32_t kind;
  const dk_iface_header *hdr; /* points at `copy` */
  union {
    dk_iface_header hdr;
    struct dk_model_iface model;
    dk_decoder_iface decoder;
    struct dk_drafter_iface drafter;
    struct dk_constraint_iface constraint;
    dk_sampler_iface sampler;
    struct dk_scorer_iface scorer;
  } copy;
  dk_spec *specs; /* parameter specs, copied with the plugin's stride */
  size_t n_specs;
} dk_component;

struct dk_library {
  char *path;
  void *handle;
  dk_plugin_desc desc; /* host-sized copy */
  dk_component *comps;
  size_t n_comps;
  void *host;          /* this library's dk_host table (see host.c) */
  int initialized;
};

const char *dk_kind_name(uint32_t kind);
int dk_kind_from_name(const char *name);

/* Load and validate one library by path.  Errors name the file. */
int dk_library_open(const char *path, dk_library **out, dk_error *err);
void dk_library_close(dk_library *lib);

dk_registry *dk_registry_new(void);
void dk_registry_free(dk_registry *reg);
/* Append directories in search order (a colon list is split). */
int dk_registry_add_path(dk_registry *reg, const char *dirs);
/* The standard order: cli path, DECOKIT_PLUGIN_PATH, pipeline plugin_path,
 * then (unless DECOKIT_PLUGIN_PATH is set, which replaces them) the build
 * tree's plugins when running uninstalled (nullable) and the installed
 * plugin directory. */
int dk_registry_standard_paths(dk_registry *reg, const char *cli_path, const char *pipeline_path,
                               const char *build_dir);
/* Find (kind, name): a registered name looked up as NAME.so along the path,
 * or a file path (contains '/').  Loads the library on first use. */
int dk_registry_find(dk_registry *reg, uint32_t kind, const char *name_or_path,
                     const dk_component **out, dk_error *err);
/* Load every .so along the path (for listings).  Problems are collected in
 * `problems` (one per line) rather than stopping the scan; DK_ERR_NOMEM
 * when memory ran out, so a listing is never silently short. */
int dk_registry_scan(dk_registry *reg, char **problems);
size_t dk_registry_count(const dk_registry *reg);
const dk_component *dk_registry_component(const dk_registry *reg, size_t i);
const char *dk_registry_path_string(const dk_registry *reg);

#endif
