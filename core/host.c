/* host.c -- the services table: logging, errors, typed parameters, RNG, candidates, sessions. */
#include "host.h"

#include "candidates.h"
#include "error.h"
#include "loader.h"
#include "log.h"
#include "params.h"
#include "rng.h"
#include "session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct host_priv {
  dk_host pub; /* must stay first: plugins get &priv->pub */
  const dk_library *lib;
} host_priv;

static void host_log(const dk_host *host, int level, const char *fmt, ...) {
  const host_priv *hp = (const host_priv *)(const void *)host;
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  dk_log(level, "%s: %s", hp->lib ? hp->lib->desc.name : "decokit", msg);
}

static int host_set_error(dk_error *err, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  dk_error_vset(err, code, fmt, ap);
  va_end(ap);
  return code;
}

static void *host_get_proc(const dk_host *host, const char *name) {
  (void)host;
  (void)name;
  return NULL; /* no optional services yet */
}

static const dk_host host_template = {
    .struct_size = sizeof(dk_host),
    .abi_major = DK_ABI_MAJOR,
    .abi_minor = DK_ABI_MINOR,
    .log = host_log,
    .set_error = host_set_error,
    .cfg_int = dk_cfg_int,
    .cfg_double = dk_cfg_double,
    .cfg_bool = dk_cfg_bool,
    .cfg_string = dk_cfg_string,
    .cfg_list_len = dk_cfg_list_len,
    .cfg_list_item = dk_cfg_list_item,
    .cfg_is_set = dk_cfg_is_set,
    .rng_u64 = dk_rng_u64,
    .rng_uniform = dk_rng_uniform,
    .cand_sort = dk_cand_sort,
    .cand_top = dk_cand_top,
    .cand_softmax = dk_cand_softmax,
    .session_model = dk_session_model,
    .session_draft_model = dk_session_draft_model,
    .session_drafter = dk_session_drafter,
    .session_constraint = dk_session_constraint,
    .session_n_scorers = dk_session_n_scorers,
    .session_scorer = dk_session_scorer,
    .session_seq = dk_session_seq,
    .session_prompt_logits = dk_session_prompt_logits,
    .session_tokens = dk_session_tokens,
    .session_sample = dk_session_sample,
    .session_distribution = dk_session_distribution,
    .commit = dk_session_commit,
    .metric_add = dk_session_metric_add,
    .session_rng = dk_session_rng,
    .get_proc = host_get_proc,
    .session_sample_ex = dk_session_sample_ex,
    .session_distribution_ex = dk_session_distribution_ex,
    .commit_ex = dk_session_commit_ex,
    .branch_new = dk_branch_new,
    .branch_free = dk_branch_free,
    .branch_extend = dk_branch_extend,
    .branch_tokens = dk_branch_tokens,
    .session_limits = dk_session_limits,
    .session_would_stop = dk_session_would_stop,
    .session_add_result = dk_session_add_result,
};

void *dk_host_table_new(dk_library *lib) {
  host_priv *hp = malloc(sizeof *hp);
  if (!hp) return NULL;
  hp->pub = host_template;
  hp->lib = lib;
  return hp;
}

void dk_host_table_free(void *table) { free(table); }

static const host_priv default_host = {.pub = host_template, .lib = NULL};

const dk_host *dk_host_default(void) { return &default_host.pub; }
