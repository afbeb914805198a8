/* min_tokens.c -- suppress end-of-generation tokens until a minimum number of tokens was generated. */
#include "sampler_common.h"

typedef struct min_tokens_inst {
  int64_t n;
  dk_token eos, eot;
} min_tokens_inst;

static const dk_param_spec min_tokens_params[] = {
    {"n", DK_PARAM_INT, DK_PARAM_MIN, "0", 0, 0,
     "Remove the model's EOS and EOT tokens from the candidates while fewer than n tokens have been "
     "generated (prompt tokens do not count), like transformers' min_new_tokens. If they are the only "
     "candidates left they stay. Default 0 (off)."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static int min_tokens_create(const dk_host *host, const dk_create_info *ci, void **inst, dk_error *err) {
  min_tokens_inst *s = malloc(sizeof *s);
  if (s == NULL) return host->set_error(err, DK_ERR_NOMEM, "min_tokens: out of memory");
  s->n = host->cfg_int(ci->config, "n");
  s->eos = ci->vocab != NULL ? ci->vocab->eos : -1;
  s->eot = ci->vocab != NULL ? ci->vocab->eot : -1;
  if (s->n > 0 && s->eos < 0 && s->eot < 0) {
    free(s);
    return host->set_error(err, DK_ERR_INVALID, "min_tokens: the vocabulary has no EOS or EOT token");
  }
  *inst = s;
  return DK_OK;
}

static void min_tokens_destroy(void *inst) { free(inst); }

static int is_end(const min_tokens_inst *s, dk_token t) { return t >= 0 && (t == s->eos || t == s->eot); }

static int min_tokens_apply(void *inst, const dk_sample_ctx *ctx, dk_candidates *cand, dk_error *err) {
  const min_tokens_inst *s = inst;
  (void)err;
  if (s->n <= 0 || ctx == NULL || cand->n == 0) return DK_OK;
  if (ctx->n_tokens - ctx->n_prompt >= (uint64_t)s->n) return DK_OK;
  /* never leave only impossible (-inf) tokens behind */
  size_t keep = 0, keep_finite = 0;
  for (size_t i = 0; i < cand->n; i++) {
    int ok = !is_end(s, cand->data[i].id);
    keep += ok;
    keep_finite += ok && cand->data[i].logit > -INFINITY;
  }
  if (keep_finite == 0 || keep == cand->n) return DK_OK;
  size_t j = 0;
  for (size_t i = 0; i < cand->n; i++)
    if (!is_end(s, cand->data[i].id)) cand->data[j++] = cand->data[i];
  cand->n = j;
  cand->flags &= ~DK_CAND_SOFTMAXED;
  return DK_OK;
}

static int min_tokens_clone(const void *inst, void **out, dk_error *err) {
  (void)err;
  *out = dks_memdup(inst, sizeof(min_tokens_inst));
  return *out ? DK_OK : DK_ERR_NOMEM;
}

static const dk_sampler_iface min_tokens_iface = {
    DKS_HEADER("min_tokens", "suppress EOS/EOT until n tokens were generated", min_tokens_params),
    min_tokens_create, min_tokens_destroy, min_tokens_apply, NULL, NULL, min_tokens_clone};

DKS_PLUGIN(min_tokens, min_tokens_iface)
