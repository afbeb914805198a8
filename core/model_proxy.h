/* model_proxy.h -- a metering stand-in for a model instance, handed to decoders. */
#ifndef DK_CORE_MODEL_PROXY_H
#define DK_CORE_MODEL_PROXY_H

#include <decokit/plugin.h>

typedef struct dk_model_meter {
  uint64_t forward_passes; /* evaluation calls of any kind */
  uint64_t tokens;         /* positions evaluated */
  double seconds;
} dk_model_meter;

typedef struct dk_model_proxy {
  struct dk_model_iface iface; /* the real one with metered ops swapped in */
  const struct dk_model_iface *real;
  void *real_inst;
  dk_model_meter *meter;
  dk_model_info info; /* the model's, less the host-only abort and share bits */
  dk_model_ref ref;   /* what decoders see: {&iface, this, &info} */
} dk_model_proxy;

/* Wrap (real, inst).  Ops whose cap bit in info is clear are hidden (NULL), so
 * decoders can trust caps; set_abort and clone_shared, the host's, are never
 * passed on and their bits are cleared in the proxy's copy of info. */
void dk_model_proxy_init(dk_model_proxy *px, const struct dk_model_iface *real, void *inst,
                         const dk_model_info *info, dk_model_meter *meter);

#endif
