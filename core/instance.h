/* instance.h -- create and destroy component instances with their own RNG streams. */
#ifndef DK_CORE_INSTANCE_H
#define DK_CORE_INSTANCE_H

#include <decokit/plugin.h>

#include "loader.h"
#include "rng.h"

typedef struct dk_instance {
  const dk_component *comp;
  void *inst;
  dk_rng rng;
  uint64_t seed;
} dk_instance;

/* Every instance gets stream `stream` of `seed`, so same pipeline + seed
 * gives the same numbers whatever else runs. */
int dk_instance_create(const dk_component *comp, const dk_config *cfg, uint64_t seed,
                       uint64_t stream, const dk_vocab *vocab, int n_threads, dk_instance **out,
                       dk_error *err);
void dk_instance_destroy(dk_instance *in);
/* The library's host table, for calls that need a dk_host. */
const dk_host *dk_instance_host(const dk_instance *in);

#endif
