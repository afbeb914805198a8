/* beam_search.h -- beam search with Hugging Face transformers' rules, in groups, every live beam advanced by one batched model call a step. */
#ifndef DK_BEAM_SEARCH_H
#define DK_BEAM_SEARCH_H

#include <decokit/plugin.h>

#include <stddef.h>

enum { BS_EARLY_FALSE, BS_EARLY_TRUE, BS_EARLY_NEVER };

typedef struct bs_params {
  size_t width;          /* beams in all (B) */
  size_t groups;         /* G, dividing width; 1 = plain beam search */
  size_t n_return;       /* hypotheses reported as results (R <= B) */
  double length_penalty; /* alpha: finished scores are sum / g^alpha */
  double diversity;      /* lambda of the Hamming penalty between groups */
  int early;             /* BS_EARLY_* */
  /* ACBS (acbs.c): each beam offers its top_k tokens, ranked by log p plus
   * the attribute: the weighted sum of the pipeline's scorers on the
   * hypothesis with the token.  top_k 0 = plain beam search. */
  size_t top_k;
  const double *weights; /* one per scorer (copied), NULL = all 1 */
  size_t n_weights;
} bs_params;

/* The parameters beam and diverse_beam share, in both schemas. */
#define BS_COMMON_PARAMS                                                                          \
  {"length_penalty", DK_PARAM_DOUBLE, 0, "1.0", 0, 0,                                             \
   "Exponent alpha on a finished hypothesis' length: its score is the sum of its processed "      \
   "log-probabilities divided by g^alpha, g = generated tokens including the final EOS. "         \
   "Above 0 favours longer output, below 0 shorter, 0 ranks by the plain sum."},                 \
      {"early_stopping", DK_PARAM_STRING, 0, "false", 0, 0,                                       \
       "When the search ends, as in transformers: true stops a group once it has finished as "    \
       "many hypotheses as it has beams; false also stops when the best running beam, divided by its current length, "   \
       "cannot beat the worst finished one; never divides by the longest possible length "        \
       "instead (an exact bound when length_penalty > 0)."},                                      \
      {"num_return", DK_PARAM_INT, DK_PARAM_MIN, "1", 1, 0,                                       \
       "Finished hypotheses reported, best first, with their scores (the results of --json); "    \
       "at most width.  The best one is the completion's text."}

/* Read the shared keys (and width); groups and diversity are the caller's. */
int bs_read_params(const dk_host *h, const dk_config *cfg, bs_params *p, dk_error *err);

/* The decoder operations, shared by the beam and diverse_beam plugins. */
int bs_create(const dk_host *h, const dk_create_info *ci, const bs_params *p, void **inst,
              dk_error *err);
void bs_destroy(void *inst);
int bs_begin(void *inst, dk_session *s, dk_error *err);
int bs_step(void *inst, dk_session *s, dk_error *err);
void bs_end(void *inst, dk_session *s);

#endif
