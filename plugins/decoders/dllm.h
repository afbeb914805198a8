/* dllm.h -- the masked-diffusion engine the dLLM decoders share: canvas, blocks, caches, per-row statistics. */
#ifndef DK_DLLM_H
#define DK_DLLM_H

#include <decokit/plugin.h>

#include <stddef.h>

enum { DLLM_CONFIDENCE, DLLM_MARGIN, DLLM_ENTROPY, DLLM_RANDOM };
enum { DLLM_LINEAR, DLLM_EPS };
enum { DLLM_CACHE_NONE, DLLM_CACHE_PREFIX, DLLM_CACHE_DUAL };

/* The parameters every dLLM decoder takes (DLLM_PARAMS below). */
typedef struct dllm_opts {
  size_t gen_length, block_length, steps;
  int order, schedule, cache;
  double eps;
  int use_threshold;
  double threshold;
  double cfg; /* classifier-free guidance scale; 0 = none */
} dllm_opts;

/* What one forward says about one masked position. */
typedef struct dllm_row {
  size_t pos;      /* absolute position (prompt first) */
  dk_token x0;     /* the token the sampler chain chose, never the mask id */
  float conf;      /* its probability under the model */
  float z1, z2;    /* the two largest logits (mask excluded) */
  float p1, p2;    /* their probabilities */
  float neg_ent;   /* minus the entropy of the row */
  float raw;       /* log p of x0 */
  float processed; /* log p of x0 after the sampler chain */
  double score;    /* the unmasking order's key: larger goes first */
} dllm_row;

typedef struct dllm {
  const dk_host *h;
  dllm_opts o;
  int32_t nv;
  /* per completion */
  dk_session *s;
  const dk_model_ref *m;
  dk_token mask;
  size_t lead;      /* 1 when row i predicts position i + 1 */
  int use_seq;      /* eval_masked_seq, else the stateless eval_masked */
  dk_seq seq;
  dk_token *x;      /* prompt then the generation canvas */
  float *raw;       /* per canvas position: log p when it was unmasked */
  float *processed; /* the same after the sampler chain */
  dk_token *extra;  /* the block's decided tokens left of a row, for the chain */
  /* classifier-free guidance: the same canvas with the prompt masked */
  int has_useq;
  dk_seq useq;
  dk_token *xu;
  float *ulogits;
  size_t n_prompt, n_total;
  size_t cached;    /* positions in the model's prefix cache */
  int stored;       /* the model holds a stored canvas for this block */
  size_t b0, b1;    /* the current block, absolute */
  size_t steps_b, step_in_block, global_step;
  size_t block_masks; /* masks in the block when it opened */
  size_t longest_block; /* block_length, unless a decoder makes longer ones */
  size_t committed; /* absolute end of what the host has */
  size_t end;       /* forwards see positions [0, end); 0 = the whole canvas */
  /* the last forward */
  float *logits;    /* max_rows rows, or n_total with eval_masked */
  int32_t *rows;
  dllm_row *stat;
  size_t n_stat, max_rows;
} dllm;

/* Shared parameter specs: a plugin lists DLLM_PARAMS (or DLLM_PARAMS_CORE
 * and its own threshold, for decoders without a step schedule), then its
 * own. */
#define DLLM_PARAMS_CORE                                                                           \
  {"gen_length", DK_PARAM_INT, DK_PARAM_MIN, "128", 1, 0,                                          \
   "Positions of the generation canvas, all masked at the start; the output still ends at "      \
   "max_tokens or at the first EOS."},                                                             \
      {"block_length", DK_PARAM_INT, DK_PARAM_MIN, "32", 1, 0,                                     \
       "Semi-autoregressive block: the canvas is unmasked block by block, left to right."},        \
      {"order", DK_PARAM_STRING, 0, "confidence", 0, 0,                                            \
       "Which masked positions are unmasked first: confidence (the probability of the token "     \
       "the sampler chain chose there; LLaDA low-confidence remasking), margin (top-1 minus "      \
       "top-2 probability), entropy (lowest entropy) or random.  Each position's token comes "     \
       "from the pipeline's samplers (greedy without any)."},                                      \
      {"cache", DK_PARAM_STRING, 0, "prefix", 0, 0,                                                \
       "none (every step recomputes prompt and canvas), prefix (positions left of the block "      \
       "stay in the model's cache) or dual (also the positions right of the block are reused "     \
       "within a block).  Caches need eval_masked_seq; they are approximate on real models."},     \
  {                                                                                                \
    "cfg_scale", DK_PARAM_DOUBLE, DK_PARAM_MIN, "0", 0, 0,                                         \
        "Classifier-free guidance (LLaDA): each step also evaluates the canvas with the prompt "   \
        "masked, u, and uses u + (cfg_scale + 1) * (logits - u); two model calls a step.  0: "     \
        "none."                                                                                    \
  }

#define DLLM_PARAMS                                                                                \
  DLLM_PARAMS_CORE,                                                                                \
      {"steps", DK_PARAM_INT, DK_PARAM_MIN, "128", 1, 0,                                           \
       "Denoising steps over the whole canvas, shared equally by the blocks: a multiple of "       \
       "gen_length / block_length, which must be whole.  Ignored with a threshold."},              \
      {"schedule", DK_PARAM_STRING, 0, "linear", 0, 0,                                             \
       "How many positions a step unmasks: linear (LLaDA: the block's masks spread evenly over "   \
       "its steps) or eps (Dream: times linspace(1, eps, steps + 1), a step from t to s unmasks "  \
       "floor(masked * (1 - s/t)), the last step all)."},                                         \
      {"eps", DK_PARAM_DOUBLE, DK_PARAM_MIN | DK_PARAM_MAX, "0.001", 0, 1,                         \
       "The final time of the eps schedule."},                                                     \
  {                                                                                                \
    "threshold", DK_PARAM_DOUBLE, DK_PARAM_MIN, NULL, 0, 0,                                        \
        "Fast-dLLM parallel decoding: each step unmasks every masked position of the block "       \
        "whose chosen token has at least this probability, and always the first in order; steps "  \
        "are then ignored.  Unset: the schedule decides."                                          \
  }

/* Read and check DLLM_PARAMS, or with steps 0 DLLM_PARAMS_CORE and a
 * "threshold" with a default, or with steps < 0 DLLM_PARAMS_CORE for one
 * position per step (create).  Errors name the key. */
int dllm_init(dllm *d, const dk_host *h, const dk_create_info *ci, int steps, dk_error *err);
/* Start a completion: check the model, lay out prompt and canvas, size the
 * buffers for max_rows rows per forward (0: a block). */
int dllm_begin(dllm *d, dk_session *s, size_t max_rows, dk_error *err);
/* Free a completion's buffers (also what a destroy needs). */
void dllm_end(dllm *d);
/* Open the next block; 0 when the canvas is done. */
int dllm_next_block(dllm *d);
size_t dllm_masks(const dllm *d, size_t lo, size_t hi);
/* Positions the schedule unmasks at this step of the block (may be 0). */
size_t dllm_schedule(const dllm *d);
/* Statistics of rows stat[0..n) (positions set, ascending) of canvas x
 * from logits: row i, or with stride_rows the row of each position. */
int dllm_stats(dllm *d, const dk_token *x, float *logits, dllm_row *stat, size_t n, int stride_rows,
               dk_error *err);
/* 1 when the model evaluates several canvases in one call. */
int dllm_can_batch(const dllm *d);
/* Rows of k alternative canvases (each n_total tokens, prompt first) at
 * the positions d->x has masked in [lo, hi), leaving the model's sequence
 * as it is: one batched call, or for k = 1 without it a single call (the
 * dual cache's stored canvas is reused once there is one).  Rows go canvas
 * after canvas into out; *n_rows per canvas. */
int dllm_eval_canvases(dllm *d, const dk_token *canv, size_t k, size_t lo, size_t hi, float *out,
                       size_t *n_rows, dk_error *err);
/* One model call: statistics of every masked position in [lo, hi). */
int dllm_forward(dllm *d, size_t lo, size_t hi, dk_error *err);
/* Unmask the k best rows of the last forward inside the block (threshold:
 * every row at or over it, and at least the best).  Returns how many. */
size_t dllm_unmask(dllm *d, size_t k);
void dllm_fill(dllm *d, const dllm_row *r);
/* Sort the last forward's rows into the unmasking order. */
void dllm_rank(dllm *d);
/* Forwards from now on see only positions [0, end) (0: all); a stored
 * canvas of another length is dropped. */
void dllm_set_end(dllm *d, size_t end);
/* Hand the host canvas positions [committed, upto), all unmasked. */
int dllm_commit(dllm *d, size_t upto, dk_error *err);
/* How many positions this step unmasks.  Steps whose schedule unmasks
 * nothing would leave the canvas as it is, so they pass without a call. */
size_t dllm_plan(dllm *d);
/* After a step's unmasking: count the step; the block's tokens decided
 * from its left end on go to the host, and a full block opens the next.
 * DK_DONE after the last block (or a stop). */
int dllm_advance(dllm *d, dk_error *err);

#endif
