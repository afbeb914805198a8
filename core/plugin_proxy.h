/* plugin_proxy.h -- checking stand-ins for drafters and scorers: what they hand back is verified at the boundary. */
#ifndef DK_CORE_PLUGIN_PROXY_H
#define DK_CORE_PLUGIN_PROXY_H

#include <decokit/plugin.h>

typedef struct dk_drafter_proxy {
  struct dk_drafter_iface iface; /* the real one with checked ops swapped in */
  const struct dk_drafter_iface *real;
  void *real_inst;
  const char *name;
  int32_t n_vocab;
  dk_drafter_ref ref; /* what decoders see: {&iface, this} */
} dk_drafter_proxy;

typedef struct dk_scorer_proxy {
  struct dk_scorer_iface iface;
  const struct dk_scorer_iface *real;
  void *real_inst;
  const char *name;
  dk_scorer_ref ref;
} dk_scorer_proxy;

void dk_drafter_proxy_init(dk_drafter_proxy *px, const struct dk_drafter_iface *real, void *inst,
                           const char *name, int32_t n_vocab);
void dk_scorer_proxy_init(dk_scorer_proxy *px, const struct dk_scorer_iface *real, void *inst,
                          const char *name);
/* A plugin status: DK_OK, DK_DONE where done_ok, or negative; anything else
 * becomes DK_ERR_INTERNAL with a message naming what returned it. */
int dk_plugin_status(int rc, int done_ok, dk_error *err, const char *what);

#endif
