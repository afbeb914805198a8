/* top_p.c -- nucleus (top-p) sampling: keep the smallest top set whose probability reaches p. */
#include "sampler_common.h"

typedef struct top_p_inst {
  const dk_host *host;
  double p;
  size_t min_keep;
} top_p_inst;

static const dk_param_spec top_p_params[] = {
    {"p", DK_PARAM_DOUBLE, DK_PARAM_MIN | DK_PARAM_MAX, "0.95", 0, 1,
     "Cumulative probability to keep. Candidates are taken from the most likely down until their "
     "probabilities (softmax over the candidates this sampler receives) add up to at least p. "
     "p = 1 disables the sampler. Default 0.95, as in llama.cpp."},
    {"min_keep", DK_PARAM_INT, DK_PARAM_MIN, "1", 0, 0,
     "Never keep fewer than this many candidates, even when fewer already reach p. Default 1."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static int top_p_create(const dk_host *host, const dk_create_info *ci, void **inst, dk_error *err) {
  top_p_inst *s = malloc(sizeof *s);
  if (s == NULL) return host->set_error(err, DK_ERR_NOMEM, "top_p: out of memory");
  s->host = host;
  s->p = host->cfg_double(ci->config, "p");
  s->min_keep = (size_t)host->cfg_int(ci->config, "min_keep");
  *inst = s;
  return DK_OK;
}

static void top_p_destroy(void *inst) { free(inst); }

/* Buckets of logit distance below the maximum, 1/16 nat wide: fine enough
 * that the bucket holding the cut is small, so only it needs sorting. */
enum { TOP_P_BUCKETS = 2048, TOP_P_SCALE = 16 };

static size_t bucket_of(float logit, float max) {
  float d = (max - logit) * (float)TOP_P_SCALE;
  return d < (float)(TOP_P_BUCKETS - 1) ? (size_t)d : TOP_P_BUCKETS - 1;
}

static int by_logit_desc(const void *pa, const void *pb) {
  const dk_token_data *a = pa, *b = pb;
  if (a->logit != b->logit) return a->logit > b->logit ? -1 : 1;
  return (a->id > b->id) - (a->id < b->id);
}

static void swap_td(dk_token_data *a, dk_token_data *b) {
  dk_token_data t = *a;
  *a = *b;
  *b = t;
}

static int top_p_apply(void *inst, const dk_sample_ctx *ctx, dk_candidates *cand, dk_error *err) {
  const top_p_inst *s = inst;
  (void)ctx;
  (void)err;
  if (s->p >= 1.0 || cand->n == 0) return DK_OK;
  s->host->cand_softmax(cand);
  size_t before = 0; /* candidates known to be in the nucleus, at data[0..before) */
  double cum = 0;
  if (!(cand->flags & DK_CAND_SORTED) && cand->n > 64) {
    /* The nucleus can be thousands of tokens on a flat row, so instead of
     * sorting it, find the bucket where the cumulative mass crosses p, move
     * the buckets above it to the front and sort only the crossing bucket. */
    size_t count[TOP_P_BUCKETS] = {0};
    double mass[TOP_P_BUCKETS] = {0};
    const float max = dks_max_logit(cand);
    for (size_t i = 0; i < cand->n; i++) {
      size_t b = bucket_of(cand->data[i].logit, max);
      count[b]++;
      mass[b] += cand->data[i].p;
    }
    size_t cut = 0, k = 0;
    for (; cut < TOP_P_BUCKETS - 1; cut++) {
      if ((cum + mass[cut] >= s->p && k + count[cut] >= s->min_keep)) break;
      cum += mass[cut];
      k += count[cut];
    }
    size_t j = 0;
    for (size_t i = 0; i < cand->n; i++)
      if (bucket_of(cand->data[i].logit, max) < cut) swap_td(&cand->data[j++], &cand->data[i]);
    before = j;
    for (size_t i = j; i < cand->n; i++)
      if (bucket_of(cand->data[i].logit, max) == cut) swap_td(&cand->data[j++], &cand->data[i]);
    qsort(cand->data + before, j - before, sizeof *cand->data, by_logit_desc);
    cand->n = j;
    cand->flags &= ~DK_CAND_SORTED; /* the front part is in no particular order */
  } else {
    s->host->cand_sort(cand);
  }
  /* data[before..n) is sorted: walk it until the mass reaches p */
  size_t last = cand->n;
  for (size_t i = before; i < cand->n; i++) {
    cum += cand->data[i].p;
    if (cum >= s->p && i + 1 >= s->min_keep) {
      last = i + 1;
      break;
    }
  }
  cand->n = last;
  cand->flags &= ~DK_CAND_SOFTMAXED;
  return DK_OK;
}

static int top_p_clone(const void *inst, void **out, dk_error *err) {
  (void)err;
  *out = dks_memdup(inst, sizeof(top_p_inst));
  return *out ? DK_OK : DK_ERR_NOMEM;
}

static const dk_sampler_iface top_p_iface = {
    DKS_HEADER("top_p", "nucleus sampling: keep the most likely tokens up to probability p", top_p_params),
    top_p_create, top_p_destroy, top_p_apply, NULL, NULL, top_p_clone};

DKS_PLUGIN(top_p, top_p_iface)
