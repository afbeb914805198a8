/* check_schema_suite.c -- the JSON Schema Test Suite through the json_schema converter: no invalid instance accepted */
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar.h"

/* Instances are checked as compact JSON with integral reals written as integers,
 * the text the converter generates; properties may come in any order. */
static char *instance_text(json_t *v) {
  if (json_is_real(v) && json_real_value(v) == (double)(json_int_t)json_real_value(v)) {
    json_t *i = json_integer((json_int_t)json_real_value(v));
    char *s = json_dumps(i, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(i);
    return s;
  }
  /* the shortest of 15 or 17 digits that reads back as the same value */
  char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
  json_t *back = s ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
  int same = back && json_equal(back, v);
  json_decref(back);
  if (same) return s;
  free(s);
  return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

typedef struct tally {
  int groups, compiled, valid_ok, valid_rejected, invalid_rejected, invalid_accepted;
} tally;

static void run_file(const char *path, const char *name, int verbose, tally *t) {
  json_error_t je;
  json_t *doc = json_load_file(path, 0, &je);
  if (!json_is_array(doc)) {
    printf("%s: cannot read: %s\n", path, je.text);
    t->invalid_accepted++;   /* a missing file must fail the test */
    return;
  }
  size_t gi;
  json_t *group;
  json_array_foreach(doc, gi, group) {
    t->groups++;
    json_t *schema = json_deep_copy(json_object_get(group, "schema"));
    if (json_is_object(schema) && !json_object_get(schema, "$schema"))
      json_object_set_new(schema, "$schema", json_string("http://json-schema.org/draft-07/schema#"));
    char *text = json_dumps(schema, JSON_ENCODE_ANY);
    json_decref(schema);
    char err[512];
    dkg_schema_opts o = {.ws = DKG_WS_NONE, .any_order = 1};
    char *gbnf = text ? dkg_json_schema_to_gbnf_opts(text, strlen(text), &o, err, sizeof err) : NULL;
    free(text);
    const char *gd = json_string_value(json_object_get(group, "description"));
    if (!gbnf) {
      if (verbose) printf("%s: '%s': not compiled: %s\n", name, gd, err);
      continue;
    }
    dkg_checker *k = dkg_checker_new(gbnf, strlen(gbnf), err, sizeof err);
    free(gbnf);
    if (!k) {
      printf("%s: '%s': generated grammar does not compile: %s\n", name, gd, err);
      t->invalid_accepted++;
      continue;
    }
    t->compiled++;
    size_t ti;
    json_t *test;
    json_array_foreach(json_object_get(group, "tests"), ti, test) {
      int valid = json_is_true(json_object_get(test, "valid"));
      char *inst = instance_text(json_object_get(test, "data"));
      int r = inst ? dkg_checker_run(k, inst, strlen(inst), NULL) : -1;
      const char *td = json_string_value(json_object_get(test, "description"));
      if (r == 1 && valid) t->valid_ok++;
      else if (r == 1) {
        t->invalid_accepted++;
        printf("%s: '%s' / '%s': INVALID instance %s accepted\n", name, gd, td, inst);
      } else if (r == 0 && !valid) t->invalid_rejected++;
      else if (r == 0) {
        t->valid_rejected++;
        if (verbose) printf("%s: '%s' / '%s': valid %s rejected\n", name, gd, td, inst);
      } else {
        printf("%s: '%s' / '%s': check failed\n", name, gd, td);
        t->invalid_accepted++;
      }
      free(inst);
    }
    dkg_checker_free(k);
  }
  json_decref(doc);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_dir(const char *dir, int verbose, tally *t) {
  DIR *d = opendir(dir);
  if (!d) {
    printf("%s: cannot open\n", dir);
    t->invalid_accepted++;
    return;
  }
  char *names[256];
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < 256) {
    size_t l = strlen(e->d_name);
    if (l > 5 && !strcmp(e->d_name + l - 5, ".json")) names[n++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof *names, cmp_str);
  for (size_t i = 0; i < n; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    tally f = {0};
    run_file(path, names[i], verbose, &f);
    printf("%-28s groups %3d compiled %3d | valid: %3d accepted %3d rejected | invalid: %3d "
           "rejected %d accepted\n",
           names[i], f.groups, f.compiled, f.valid_ok, f.valid_rejected, f.invalid_rejected,
           f.invalid_accepted);
    t->groups += f.groups;
    t->compiled += f.compiled;
    t->valid_ok += f.valid_ok;
    t->valid_rejected += f.valid_rejected;
    t->invalid_rejected += f.invalid_rejected;
    t->invalid_accepted += f.invalid_accepted;
    free(names[i]);
  }
}

int main(void) {
  const char *src = getenv("DECOKIT_SRCDIR");
  int verbose = getenv("SCHEMA_SUITE_VERBOSE") != NULL;
  char dir[4096];
  tally t = {0};
  snprintf(dir, sizeof dir, "%s/tests/data/json-schema-test-suite/draft7", src && *src ? src : ".");
  run_dir(dir, verbose, &t);
  snprintf(dir, sizeof dir, "%s/tests/data/json-schema-test-suite/draft7/optional/format",
           src && *src ? src : ".");
  run_dir(dir, verbose, &t);
  printf("total: %d groups, %d compiled; valid instances %d accepted, %d rejected; invalid "
         "instances %d rejected, %d accepted\n",
         t.groups, t.compiled, t.valid_ok, t.valid_rejected, t.invalid_rejected,
         t.invalid_accepted);
  /* the guarantee: no invalid instance is ever in a compiled schema's language; and
   * coverage must not fall back (these floors are the counts when they were set) */
  int ok = t.invalid_accepted == 0 && t.compiled >= SUITE_MIN_COMPILED &&
           t.valid_ok >= SUITE_MIN_VALID_OK;
  return ok ? 0 : 1;
}
