/* scorer_text.h -- the frame the text scorers share: a hypothesis' generated tokens and text, scored by one function for score, score_batch and score_next. */
#ifndef DK_SCORER_TEXT_H
#define DK_SCORER_TEXT_H

#include <decokit/plugin.h>

/* Score the generated part of a hypothesis: its tokens and their text,
 * both without control tokens (EOS and the like).  Higher is better. */
typedef double (*st_fn)(void *inst, const dk_token *gen, size_t n, const char *text, size_t len);

/* The first member of every text scorer's instance. */
typedef struct st_base {
  const dk_host *h;
  const dk_vocab *vocab;
  st_fn fn;
  dk_token *toks;
  char *text;
  size_t cap_toks, cap_text, max_piece;
} st_base;

int st_init(st_base *b, const dk_host *h, const dk_create_info *ci, st_fn fn, dk_error *err);
void st_free(st_base *b);

/* The scorer operations, for instances that start with an st_base.
 * score_next's out[i] is the score the hypothesis would have with cands[i]
 * appended: what score gives for ctx + cands[i], without rebuilding ctx. */
int st_score(void *inst, dk_session *s, const dk_token *toks, size_t n, size_t n_prompt,
             double *out, dk_error *err);
int st_score_batch(void *inst, dk_session *s, const dk_token *const *toks, const size_t *n,
                   size_t n_hyps, size_t n_prompt, double *out, dk_error *err);
int st_score_next(void *inst, dk_session *s, const dk_token *ctx, size_t n_ctx, size_t n_prompt,
                  const dk_token *cands, size_t n_cands, double *out, dk_error *err);

#endif
