/* dist.c -- the dist selector: a seeded draw from softmax(logits) of the candidates left. */
#include "sampler_common.h"

typedef struct dist_inst {
  const dk_host *host;
  dks_rng rng, rng0; /* rng0: the start state, replayed by reset */
} dist_inst;

static const dk_param_spec dist_params[] = {{NULL, 0, 0, NULL, 0, 0, NULL}};

static int dist_create(const dk_host *host, const dk_create_info *ci, void **inst, dk_error *err) {
  dist_inst *s = malloc(sizeof *s);
  if (s == NULL) return host->set_error(err, DK_ERR_NOMEM, "dist: out of memory");
  s->host = host;
  dks_rng_init(&s->rng, host, ci);
  s->rng0 = s->rng;
  *inst = s;
  return DK_OK;
}

static void dist_destroy(void *inst) { free(inst); }

static int dist_apply(void *inst, const dk_sample_ctx *ctx, dk_candidates *cand, dk_error *err) {
  dist_inst *s = inst;
  (void)ctx;
  if (cand->n == 0) return s->host->set_error(err, DK_ERR_INVALID, "dist: no candidates left");
  s->host->cand_softmax(cand);
  /* one draw per call, even for a single candidate, so the stream position
   * depends only on how many tokens were sampled */
  double u = dks_rng_uniform(&s->rng);
  cand->selected = dks_draw(cand, u);
  return DK_OK;
}

static void dist_reset(void *inst) {
  dist_inst *s = inst;
  s->rng = s->rng0;
}

static int dist_clone(const void *inst, void **out, dk_error *err) {
  (void)err;
  *out = dks_memdup(inst, sizeof(dist_inst));
  return *out ? DK_OK : DK_ERR_NOMEM;
}

static const dk_sampler_iface dist_iface = {
    DKS_HEADER("dist", "select a token at random from softmax(logits) (seeded)", dist_params),
    dist_create, dist_destroy, dist_apply, NULL, dist_reset, dist_clone};

DKS_PLUGIN(dist, dist_iface)
