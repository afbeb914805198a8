/* schema_engine.c -- what the JSON Schema tests share: compiling a schema or GBNF to an engine and matching whole strings. */
#include "schema_engine.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

dkg_vocab *se_byte_vocab(void) {
  const char *piece[] = {"a", "</s>"};
  uint32_t len[] = {1, 4};
  char err[128];
  return dkg_vocab_new(piece, len, 2, 1, NULL, err, sizeof err);
}

dkg_engine *se_compile(dkg_vocab *v, char *gbnf) {
  ck_assert_ptr_nonnull(gbnf);
  dkg_grammar *g;
  char err[512];
  ck_assert_msg(dkg_grammar_parse(gbnf, strlen(gbnf), &g, err, sizeof err) == 0, "%s\n%s", err, gbnf);
  dkg_engine *e = dkg_engine_new(g, v, err, sizeof err);
  ck_assert_msg(e != NULL, "%s", err);
  dkg_grammar_free(g);
  free(gbnf);
  return e;
}

dkg_engine *se_schema(dkg_vocab *v, const char *json, int ws) {
  char err[512];
  char *g = dkg_json_schema_to_gbnf(json, strlen(json), ws, err, sizeof err);
  ck_assert_msg(g != NULL, "%s: %s", json, err);
  return se_compile(v, g);
}

int se_matches(dkg_engine *e, const char *s) {
  dkg_matcher *m = dkg_matcher_new(e);
  int ok = dkg_matcher_advance_bytes(m, s, strlen(s)) == 0 && dkg_matcher_is_complete(m);
  dkg_matcher_free(m);
  return ok;
}
