/* instance.c -- component instances: create_info assembly and error attribution. */
#include "instance.h"

#include "error.h"
#include "plugin_proxy.h"

#include <stdlib.h>

int dk_instance_create(const dk_component *comp, const dk_config *cfg, uint64_t seed,
                       uint64_t stream, const dk_vocab *vocab, int n_threads, dk_instance **out,
                       dk_error *err) {
  *out = NULL;
  dk_instance *in = calloc(1, sizeof *in);
  if (!in) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  in->comp = comp;
  in->seed = seed;
  dk_rng_seed(&in->rng, seed, stream);
  dk_create_info ci = {
      .struct_size = sizeof ci,
      .config = cfg,
      .rng = &in->rng,
      .seed = seed,
      .vocab = vocab,
      .n_threads = n_threads > 0 ? n_threads : 1,
  };
  dk_error e;
  dk_error_clear(&e);
  /* create is at the same place in every kind struct, right after the header. */
  const dk_sampler_iface *any = (const dk_sampler_iface *)(const void *)comp->hdr;
  /* Callers treat only negative codes as errors: a positive one would pass
   * for success with no instance behind it. */
  int rc = dk_plugin_status(any->create(dk_instance_host(in), &ci, &in->inst, &e), 0, &e, "create");
  if (rc != DK_OK || !in->inst) {
    if (rc == DK_OK) rc = DK_ERR_INTERNAL;
    dk_error_ensure(&e, rc, "create");
    dk_error_set(err, rc, "%s '%s': %s", dk_kind_name(comp->kind), comp->hdr->name, e.msg);
    free(in);
    return rc;
  }
  *out = in;
  return DK_OK;
}

void dk_instance_destroy(dk_instance *in) {
  if (!in) return;
  const dk_sampler_iface *any = (const dk_sampler_iface *)(const void *)in->comp->hdr;
  if (in->inst) any->destroy(in->inst);
  free(in);
}

const dk_host *dk_instance_host(const dk_instance *in) {
  return (const dk_host *)in->comp->lib->host;
}
