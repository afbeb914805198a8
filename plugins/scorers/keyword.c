/* keyword.c -- scorer: how many of the required keywords the generated text contains (DeAL's keyword coverage). */
#include "scorer_text.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static const dk_param_spec keyword_params[] = {
    {"keywords", DK_PARAM_LIST, DK_PARAM_REQUIRED, NULL, 0, 0,
     "The words (any strings) the text should contain."},
    {"hard", DK_PARAM_BOOL, 0, "false", 0, 0,
     "false: the fraction of keywords present (soft coverage); true: 1 when all are present, "
     "else 0."},
    {"ignore_case", DK_PARAM_BOOL, 0, "false", 0, 0, "Match ASCII letters regardless of case."},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

typedef struct keyword {
  st_base base;
  char **words;
  size_t *lens;
  size_t n;
  int hard, icase;
} keyword;

static void keyword_destroy(void *inst) {
  keyword *k = inst;
  for (size_t i = 0; k->words && i < k->n; i++) free(k->words[i]);
  free(k->words);
  free(k->lens);
  st_free(&k->base);
  free(k);
}

static int contains(const keyword *k, const char *text, size_t len, size_t w) {
  size_t wl = k->lens[w];
  if (wl == 0) return 1;
  for (size_t i = 0; i + wl <= len; i++) {
    size_t j = 0;
    if (k->icase)
      while (j < wl && tolower((unsigned char)text[i + j]) == tolower((unsigned char)k->words[w][j])) j++;
    else
      while (j < wl && text[i + j] == k->words[w][j]) j++;
    if (j == wl) return 1;
  }
  return 0;
}

static double keyword_fn(void *inst, const dk_token *gen, size_t n, const char *text, size_t len) {
  const keyword *k = inst;
  (void)gen;
  (void)n;
  size_t found = 0;
  for (size_t w = 0; w < k->n; w++) found += (size_t)contains(k, text, len, w);
  if (k->hard) return found == k->n ? 1.0 : 0.0;
  return k->n ? (double)found / (double)k->n : 1.0;
}

static int keyword_create(const dk_host *h, const dk_create_info *ci, void **inst, dk_error *err) {
  keyword *k = calloc(1, sizeof *k);
  if (!k) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  int rc = st_init(&k->base, h, ci, keyword_fn, err);
  if (rc) {
    free(k);
    return rc;
  }
  k->n = h->cfg_list_len(ci->config, "keywords");
  k->hard = h->cfg_bool(ci->config, "hard");
  k->icase = h->cfg_bool(ci->config, "ignore_case");
  if (k->n == 0) {
    keyword_destroy(k);
    return h->set_error(err, DK_ERR_INVALID, "key 'keywords': the list is empty");
  }
  k->words = calloc(k->n, sizeof *k->words);
  k->lens = calloc(k->n, sizeof *k->lens);
  for (size_t i = 0; k->words && k->lens && i < k->n; i++) {
    const char *w = h->cfg_list_item(ci->config, "keywords", i);
    k->lens[i] = strlen(w);
    k->words[i] = malloc(k->lens[i] + 1);
    if (!k->words[i]) break;
    memcpy(k->words[i], w, k->lens[i] + 1);
  }
  if (!k->words || !k->lens || !k->words[k->n - 1]) {
    keyword_destroy(k);
    return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  }
  *inst = k;
  return DK_OK;
}

static const struct dk_scorer_iface keyword_iface = {
    .hdr = {sizeof(struct dk_scorer_iface), DK_KIND_SCORER, "keyword", "1.0.0",
            "keyword coverage of the generated text", keyword_params, sizeof(dk_param_spec),
            DK_CAP_INSTANCE_MT},
    .create = keyword_create,
    .destroy = keyword_destroy,
    .score = st_score,
    .score_batch = st_score_batch,
    .score_next = st_score_next,
};

static const dk_iface_header *const components[] = {&keyword_iface.hdr};
static const dk_plugin_desc desc = {DK_PLUGIN_DESC_HEAD, "keyword", "1.0.0", components, 1, NULL, NULL};
DK_PLUGIN_ENTRY(keyword) { return &desc; }
