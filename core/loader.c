/* loader.c -- dlopen plugin libraries and validate them against the ABI before any use. */
#include "loader.h"

#include "error.h"
#include "host.h"
#include "log.h"
#include "plugin_mem.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

const char *dk_kind_name(uint32_t kind) {
  static const char *const names[] = {"?",          "model",   "decoder", "drafter",
                                      "constraint", "sampler", "scorer"};
  return kind >= 1 && kind <= DK_KIND_COUNT ? names[kind] : "unknown kind";
}

int dk_kind_from_name(const char *name) {
  for (int k = 1; k <= DK_KIND_COUNT; k++)
    if (strcmp(dk_kind_name((uint32_t)k), name) == 0) return k;
  return 0;
}

/* Size of the host's struct for each kind, and its required operations. */
typedef struct kind_rule {
  size_t size;
  size_t n_req;
  struct {
    size_t off;
    const char *name;
  } req[10];
} kind_rule;

#define REQ(type, f) {offsetof(type, f), #f}
static const kind_rule rules[DK_KIND_COUNT + 1] = {
    [DK_KIND_MODEL] = {sizeof(struct dk_model_iface), 9,
                       {REQ(struct dk_model_iface, create), REQ(struct dk_model_iface, destroy),
                        REQ(struct dk_model_iface, info), REQ(struct dk_model_iface, seq_new),
                        REQ(struct dk_model_iface, seq_free), REQ(struct dk_model_iface, seq_len),
                        REQ(struct dk_model_iface, eval), REQ(struct dk_model_iface, tokenize),
                        REQ(struct dk_model_iface, token_piece)}},
    [DK_KIND_DECODER] = {sizeof(dk_decoder_iface), 3,
                         {REQ(dk_decoder_iface, create), REQ(dk_decoder_iface, destroy),
                          REQ(dk_decoder_iface, step)}},
    [DK_KIND_DRAFTER] = {sizeof(struct dk_drafter_iface), 3,
                         {REQ(struct dk_drafter_iface, create),
                          REQ(struct dk_drafter_iface, destroy),
                          REQ(struct dk_drafter_iface, propose)}},
    [DK_KIND_CONSTRAINT] = {sizeof(struct dk_constraint_iface), 7,
                            {REQ(struct dk_constraint_iface, create),
                             REQ(struct dk_constraint_iface, destroy),
                             REQ(struct dk_constraint_iface, mask),
                             REQ(struct dk_constraint_iface, advance),
                             REQ(struct dk_constraint_iface, rollback),
                             REQ(struct dk_constraint_iface, fork),
                             REQ(struct dk_constraint_iface, is_complete)}},
    [DK_KIND_SAMPLER] = {sizeof(dk_sampler_iface), 3,
                         {REQ(dk_sampler_iface, create), REQ(dk_sampler_iface, destroy),
                          REQ(dk_sampler_iface, apply)}},
    [DK_KIND_SCORER] = {sizeof(struct dk_scorer_iface), 3,
                        {REQ(struct dk_scorer_iface, create), REQ(struct dk_scorer_iface, destroy),
                         REQ(struct dk_scorer_iface, score)}},
};
#undef REQ

/* Kind structs and descriptors are a few hundred bytes; a size far beyond
 * that is garbage, not a newer ABI. */
#define STRUCT_MAX 65536
/* Far more than any library provides; a larger count is a corrupt descriptor. */
#define MAX_COMPONENTS 4096

/* Copy a plugin struct of `theirs` bytes into `ours` bytes at dst: a shorter
 * one is zero-filled; a longer one is accepted only if its tail is zero
 * (the Linux copy_struct_from_user rule).  *tail is the first non-zero tail
 * offset, or 0.  Returns -1 when the plugin's memory is not readable. */
static int copy_sized(void *dst, size_t ours, const void *src, size_t theirs, size_t *tail) {
  *tail = 0;
  memset(dst, 0, ours);
  if (theirs > STRUCT_MAX || dk_plugin_mem_copy(dst, src, theirs < ours ? theirs : ours)) return -1;
  unsigned char chunk[256];
  for (size_t at = ours; at < theirs; at += sizeof chunk) {
    size_t n = theirs - at < sizeof chunk ? theirs - at : sizeof chunk;
    if (dk_plugin_mem_copy(chunk, (const unsigned char *)src + at, n)) return -1;
    for (size_t i = 0; i < n; i++)
      if (chunk[i]) {
        *tail = at + i;
        return 0;
      }
  }
  return 0;
}

/* Component i of the descriptor: its pointer and header are read without
 * trusting them, so a descriptor claiming more components than its array
 * holds is refused instead of crashing the loader. */
static int check_component(dk_library *lib, size_t i, const dk_iface_header *src, dk_component *c,
                           dk_error *err) {
  const char *path = lib->path;
  dk_iface_header h;
  if (dk_plugin_mem_copy(&h, src, sizeof h))
    return dk_error_set(err, DK_ERR_ABI,
                        "%s: component %zu of %zu is not readable (does n_components exceed the "
                        "components array?)",
                        path, i, lib->n_comps);
  if (h.struct_size < sizeof(dk_iface_header))
    return dk_error_set(err, DK_ERR_ABI, "%s: component struct_size %u is smaller than its header",
                        path, h.struct_size);
  if (h.kind < 1 || h.kind > DK_KIND_COUNT)
    return dk_error_set(err, DK_ERR_ABI, "%s: component has unknown kind %u", path, h.kind);
  if (h.name && !dk_plugin_mem_string(h.name, 256))
    return dk_error_set(err, DK_ERR_ABI, "%s: component %zu's name is not a readable string", path,
                        i);
  const kind_rule *r = &rules[h.kind];
  size_t tail;
  const char *nm = h.name ? h.name : "(unnamed)";
  if (copy_sized(&c->copy, r->size, src, h.struct_size, &tail))
    return dk_error_set(err, DK_ERR_ABI,
                        "%s: component '%s' (%s): struct_size %u is above 64 KiB or not readable",
                        path, nm, dk_kind_name(h.kind), h.struct_size);
  if (tail)
    return dk_error_set(err, DK_ERR_ABI,
                        "%s: component '%s' (%s) uses fields this host does not know "
                        "(struct is %u bytes, host knows %zu, byte %zu is set): upgrade decokit",
                        path, nm, dk_kind_name(h.kind), h.struct_size, r->size, tail);
  c->copy.hdr.struct_size = (uint32_t)r->size;
  c->hdr = &c->copy.hdr;
  c->kind = h.kind;
  c->lib = lib;
  if (!h.name || !*h.name)
    return dk_error_set(err, DK_ERR_ABI, "%s: a %s component has no name", path,
                        dk_kind_name(h.kind));
  for (const char *p = h.name; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
      return dk_error_set(err, DK_ERR_ABI, "%s: component name '%s' is not [a-z0-9_]+", path,
                          h.name);
  for (size_t k = 0; k < r->n_req; k++) {
    void (*fn)(void);
    memcpy(&fn, (const char *)&c->copy + r->req[k].off, sizeof fn);
    if (r->req[k].off + sizeof fn > h.struct_size || !fn)
      return dk_error_set(err, DK_ERR_ABI,
                          "%s: component '%s' (%s): required operation '%s' is missing", path, nm,
                          dk_kind_name(h.kind), r->req[k].name);
  }
  return dk_specs_read(c->hdr, &c->specs, &c->n_specs, err) ? dk_error_prefix(err, "%s: ", path)
                                                            : DK_OK;
}

static int validate(dk_library *lib, const dk_plugin_desc *d, dk_error *err) {
  const char *path = lib->path;
  /* The first three fields never move: read them before trusting the size. */
  if (d->abi_major != DK_ABI_MAJOR)
    return dk_error_set(err, DK_ERR_ABI, "%s: built for ABI %u.%u, host speaks %d.%d", path,
                        d->abi_major, d->abi_minor, DK_ABI_MAJOR, DK_ABI_MINOR);
  if (d->struct_size < offsetof(dk_plugin_desc, init))
    return dk_error_set(err, DK_ERR_ABI, "%s: descriptor struct_size %u is too small", path,
                        d->struct_size);
  size_t tail;
  if (copy_sized(&lib->desc, sizeof lib->desc, d, d->struct_size, &tail))
    return dk_error_set(err, DK_ERR_ABI,
                        "%s: descriptor struct_size %u is above 64 KiB or not readable", path,
                        d->struct_size);
  if (tail)
    return dk_error_set(err, DK_ERR_ABI,
                        "%s: uses fields this host does not know (descriptor is %u bytes, host "
                        "knows %zu, byte %zu is set): upgrade decokit",
                        path, d->struct_size, sizeof lib->desc, tail);
  if (!lib->desc.name || !lib->desc.components || lib->desc.n_components == 0)
    return dk_error_set(err, DK_ERR_ABI, "%s: descriptor has no name or no components", path);
  if (lib->desc.n_components > MAX_COMPONENTS)
    return dk_error_set(err, DK_ERR_ABI, "%s: descriptor declares %zu components (at most %d)",
                        path, lib->desc.n_components, MAX_COMPONENTS);
  lib->comps = calloc(lib->desc.n_components, sizeof *lib->comps);
  const dk_iface_header **ptrs = calloc(lib->desc.n_components, sizeof *ptrs);
  if (!lib->comps || !ptrs) {
    free(ptrs);
    return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  }
  lib->n_comps = lib->desc.n_components;
  int rc = DK_OK;
  if (dk_plugin_mem_copy(ptrs, lib->desc.components, lib->n_comps * sizeof *ptrs))
    rc = dk_error_set(err, DK_ERR_ABI,
                      "%s: the components array is shorter than n_components (%zu)", path,
                      lib->n_comps);
  for (size_t i = 0; !rc && i < lib->n_comps; i++) {
    if (!ptrs[i]) {
      rc = dk_error_set(err, DK_ERR_ABI, "%s: component %zu of %zu is NULL", path, i,
                        lib->n_comps);
      break;
    }
    rc = check_component(lib, i, ptrs[i], &lib->comps[i], err);
    if (rc) break;
    for (size_t j = 0; !rc && j < i; j++)
      if (lib->comps[j].kind == lib->comps[i].kind &&
          strcmp(lib->comps[j].hdr->name, lib->comps[i].hdr->name) == 0)
        rc = dk_error_set(err, DK_ERR_ABI, "%s: declares %s '%s' twice", path,
                          dk_kind_name(lib->comps[i].kind), lib->comps[i].hdr->name);
  }
  free(ptrs);
  return rc;
}

int dk_library_open(const char *path, dk_library **out, dk_error *err) {
  *out = NULL;
  dk_library *lib = calloc(1, sizeof *lib);
  if (!lib || !(lib->path = dk_strdup(path))) {
    free(lib);
    return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  }
  dk_trace("plugin: dlopen %s", path);
  /* RTLD_NOW: a missing symbol fails here, not mid-decode.  RTLD_LOCAL:
   * plugin symbols never leak into each other. */
  lib->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib->handle) {
    const char *why = dlerror();
    dk_error_set(err, DK_ERR_IO, "%s: cannot load: %s (try ldd(1) on it)", path,
                 why ? why : "unknown dlopen error");
    goto fail;
  }
  dlerror();
  void *sym = dlsym(lib->handle, DK_PLUGIN_ENTRY_SYMBOL);
  dk_trace("plugin: %s: dlsym %s -> %s", path, DK_PLUGIN_ENTRY_SYMBOL, sym ? "found" : "absent");
  if (!sym) {
    dk_error_set(err, DK_ERR_ABI, "%s: no symbol '%s' (not a decokit plugin?)", path,
                 DK_PLUGIN_ENTRY_SYMBOL);
    goto fail;
  }
  dk_plugin_entry_fn entry;
  memcpy(&entry, &sym, sizeof entry); /* object-to-function pointer, the POSIX way */
  const dk_plugin_desc *d = entry();
  if (!d) {
    dk_error_set(err, DK_ERR_ABI, "%s: %s() returned NULL", path, DK_PLUGIN_ENTRY_SYMBOL);
    goto fail;
  }
  if (validate(lib, d, err)) goto fail;
  lib->host = dk_host_table_new(lib);
  if (!lib->host) {
    dk_error_set(err, DK_ERR_NOMEM, "out of memory");
    goto fail;
  }
  if (lib->desc.init) {
    dk_error e;
    dk_error_clear(&e);
    int rc = lib->desc.init((const dk_host *)lib->host, &e);
    if (rc != DK_OK) {
      dk_error_ensure(&e, rc, "init");
      dk_error_set(err, rc < 0 ? rc : DK_ERR_INTERNAL, "%s: init failed: %s", path, e.msg);
      goto fail;
    }
  }
  lib->initialized = 1;
  dk_trace("plugin: %s: accepted '%s' %s (ABI %u.%u, %zu component%s)", path, lib->desc.name,
           lib->desc.version ? lib->desc.version : "", lib->desc.abi_major, lib->desc.abi_minor,
           lib->n_comps, lib->n_comps == 1 ? "" : "s");
  *out = lib;
  return DK_OK;
fail:
  dk_trace("plugin: refused: %s", err ? err->msg : path);
  dk_library_close(lib);
  return err ? err->code : DK_ERR_ABI;
}

void dk_library_close(dk_library *lib) {
  if (!lib) return;
  if (lib->initialized && lib->desc.fini) lib->desc.fini();
  for (size_t i = 0; i < lib->n_comps; i++) free(lib->comps[i].specs);
  free(lib->comps);
  dk_host_table_free(lib->host);
  /* DECOKIT_NO_DLCLOSE=1 keeps code mapped so valgrind can name plugin frames. */
  const char *keep = getenv("DECOKIT_NO_DLCLOSE");
  if (lib->handle && !(keep && *keep && strcmp(keep, "0") != 0)) dlclose(lib->handle);
  free(lib->path);
  free(lib);
}
