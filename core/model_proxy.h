/* model_proxy.h -- a metering stand-in for a model instance, handed to decoders. */
#ifndef DK_CORE_MODEL_PROXY_H
#define DK_CORE_MODEL_PROXY_H

#include <decokit/plugin.h>

typedef struct dk_model_meter {
  uint64_t forward_passes; /* eval, eval_batch, eval_tree, eval_masked calls */
  uint64_t tokens;         /* positions evaluated */
  double seconds;
} dk_model_meter;

typedef struct dk_model_proxy {
  struct dk_model_iface iface; /* the real one with metered ops swapped in */
  const struct dk_model_iface *real;
  void *real_inst;
  dk_model_meter *meter;
  dk_model_ref ref; /* what decoders see: {&iface, this, info} */
} dk_model_proxy;

/* Wrap (real, inst); NULL ops stay NULL so capability checks still work. */
void dk_model_proxy_init(dk_model_proxy *px, const struct dk_model_iface *real, void *inst,
                         const dk_model_info *info, dk_model_meter *meter);

#endif
