/* greedy.c -- the greedy selector: choose the highest logit, lowest id on ties. */
#include "sampler_common.h"

static const dk_param_spec greedy_params[] = {{NULL, 0, 0, NULL, 0, 0, NULL}};

typedef struct greedy_inst {
  const dk_host *host;
} greedy_inst;

static int greedy_create(const dk_host *host, const dk_create_info *ci, void **inst, dk_error *err) {
  greedy_inst *s = malloc(sizeof *s);
  (void)ci;
  if (s == NULL) return host->set_error(err, DK_ERR_NOMEM, "greedy: out of memory");
  s->host = host;
  *inst = s;
  return DK_OK;
}

static void greedy_destroy(void *inst) { free(inst); }

static int greedy_apply(void *inst, const dk_sample_ctx *ctx, dk_candidates *cand, dk_error *err) {
  const greedy_inst *s = inst;
  (void)ctx;
  if (cand->n == 0) return s->host->set_error(err, DK_ERR_INVALID, "greedy: no candidates left");
  /* the host sorts ties by lower id, so a sorted list has the answer first */
  cand->selected = (cand->flags & DK_CAND_SORTED) ? 0 : (int64_t)dks_argmax(cand);
  return DK_OK;
}

static int greedy_clone(const void *inst, void **out, dk_error *err) {
  (void)err;
  *out = dks_memdup(inst, sizeof(greedy_inst));
  return *out ? DK_OK : DK_ERR_NOMEM;
}

static const dk_sampler_iface greedy_iface = {
    DKS_HEADER("greedy", "select the most likely token (lowest id on ties)", greedy_params),
    greedy_create, greedy_destroy, greedy_apply, NULL, NULL, greedy_clone};

DKS_PLUGIN(greedy, greedy_iface)
