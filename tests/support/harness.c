/* harness.c -- test-only glue from "name + key/value strings" to a live plugin instance. */
#include "harness.h"

#include "error.h"
#include "host.h"
#include "instance.h"
#include "loader.h"
#include "params.h"
#include "pipeline.h"
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct held {
  dk_instance *in;
  dk_config cfg;
} held;

struct dk_harness {
  dk_registry *reg;
  held *items;
  size_t n;
  dk_error err;
};

dk_harness *dkh_new(void) {
  dk_harness *h = calloc(1, sizeof *h);
  if (!h) return NULL;
  h->reg = dk_registry_new();
  if (!h->reg) {
    free(h);
    return NULL;
  }
  dk_registry_add_path(h->reg, getenv("DECOKIT_PLUGIN_PATH"));
  return h;
}

int dkh_run(Suite *s) {
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

dk_registry *dkh_registry(void) {
  dk_registry *reg = dk_registry_new();
  if (reg) {
    dk_registry_add_path(reg, getenv("DECOKIT_PLUGIN_PATH"));
    dk_registry_add_path(reg, getenv("DECOKIT_FIXTURE_DIR"));
  }
  return reg;
}

void dkh_free(dk_harness *h) {
  if (!h) return;
  for (size_t i = 0; i < h->n; i++) {
    dk_instance_destroy(h->items[i].in);
    dk_config_free(&h->items[i].cfg);
  }
  free(h->items);
  dk_registry_free(h->reg);
  free(h);
}

static int set_kv(dk_config *cfg, const char *key, const char *val, dk_error *err) {
  if (val[0] != '[') return dk_config_set(cfg, key, val, err);
  char *copy = dk_strdup(val + 1);
  if (!copy) return DK_ERR_NOMEM;
  size_t len = strlen(copy);
  if (len && copy[len - 1] == ']') copy[len - 1] = '\0';
  const char *items[64];
  size_t n = 0;
  for (char *p = copy; *p && n < 64;) {
    items[n++] = p;
    char *c = strchr(p, ',');
    if (!c) break;
    *c = '\0';
    p = c + 1;
  }
  int rc = dk_config_set_list(cfg, key, items, n, err);
  free(copy);
  return rc;
}

void *dkh_create(dk_harness *h, int kind, const char *name, const char *const *kv, uint64_t seed,
                 const dk_vocab *vocab, const void **iface_out, char *errbuf, size_t errlen) {
  dk_error err;
  dk_error_clear(&err);
  const dk_component *comp;
  held item;
  memset(&item, 0, sizeof item);
  int rc = dk_registry_find(h->reg, (uint32_t)kind, name, &comp, &err);
  if (!rc) rc = dk_config_init(&item.cfg, comp->hdr, &err);
  for (size_t i = 0; !rc && kv && kv[i] && kv[i + 1]; i += 2) rc = set_kv(&item.cfg, kv[i], kv[i + 1], &err);
  if (!rc) rc = dk_config_finish(&item.cfg, NULL, &err);
  if (!rc) rc = dk_instance_create(comp, &item.cfg, seed, 0, vocab, 1, &item.in, &err);
  held *t = rc ? NULL : realloc(h->items, (h->n + 1) * sizeof *t);
  if (rc || !t) {
    if (errbuf) snprintf(errbuf, errlen, "%s", rc ? err.msg : "out of memory");
    dk_instance_destroy(item.in);
    dk_config_free(&item.cfg);
    return NULL;
  }
  h->items = t;
  h->items[h->n++] = item;
  if (iface_out) *iface_out = comp->hdr;
  return item.in->inst;
}

void dkh_destroy(dk_harness *h, void *inst) {
  for (size_t i = 0; i < h->n; i++)
    if (h->items[i].in->inst == inst) {
      dk_instance_destroy(h->items[i].in);
      dk_config_free(&h->items[i].cfg);
      h->items[i] = h->items[--h->n];
      return;
    }
}

const dk_host *dkh_host(dk_harness *h) {
  return h->n ? dk_instance_host(h->items[h->n - 1].in) : dk_host_default();
}

dk_error *dkh_error(dk_harness *h) {
  dk_error_clear(&h->err);
  return &h->err;
}

const char *dkh_error_message(dk_harness *h) { return h->err.msg; }

dk_result *dkh_run_yaml(dk_registry *reg, const char *yaml, const char *dir, const char *prompt,
                        const dk_run_opts *opts, int *rc, dk_error *err) {
  dk_pipeline *p;
  dk_error_clear(err);
  ck_assert_msg(dk_pipeline_parse(yaml, strlen(yaml), "t.yaml", dir, &p, err) == DK_OK, "%s", err->msg);
  /* A pipeline the host refuses when it resolves it fails like a run does:
   * tests of bad pipelines do not care which stage catches them. */
  *rc = dk_pipeline_resolve(p, reg, NULL, err);
  if (*rc) {
    dk_pipeline_free(p);
    return NULL;
  }
  dk_run_opts o = *opts;
  o.prompt = prompt;
  o.record_logprobs = 1;
  dk_run *run = NULL;
  dk_result *r = NULL;
  *rc = dk_run_new(p, &o, &run, err);
  if (*rc == DK_OK) *rc = dk_run_generate(run, &r, err);
  dk_run_free(run);
  dk_pipeline_free(p);
  return r;
}

double dkh_metric(const dk_completion *c, const char *name) {
  for (size_t k = 0; k < c->n_metrics; k++)
    if (!strcmp(c->metrics[k].name, name)) return c->metrics[k].value;
  return -1;
}
