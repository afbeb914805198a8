/* lookahead.h -- what the lookahead plugin's drafter shares with its decoder: the parameters and the drafter itself. */
#ifndef DKL_LOOKAHEAD_H
#define DKL_LOOKAHEAD_H

#include <decokit/plugin.h>

#define LA_MAX_N 8
#define LA_MAX_W 32
#define LA_MAX_G 32

#define DKL_PARAMS                                                                            \
  {"n", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "4", 2, LA_MAX_N,                          \
   "N-gram size (the window has n - 1 levels)."},                                             \
      {"window", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "5", 1, LA_MAX_W, "Window width W."}, \
      {"guesses", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "5", 0, LA_MAX_G,                \
       "Pooled n-grams verified per step (G). A tree has at most (window + guesses) * (n - 1) " \
       "nodes: the lookahead decoder verifies them all; as a drafter, the speculative decoder's " \
       "max_draft must allow them."}

/* The Jacobi-window drafter; it reads n, window and guesses from the
 * config it is created with. */
extern const struct dk_drafter_iface dkl_drafter_iface;

#endif
