/* check_pipeline.c -- pipeline YAML: located errors, typed parameters, overrides, fingerprints. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "harness.h"
#include "loader.h"
#include "log.h"
#include "pipeline.h"

static dk_registry *reg;
static dk_error err;

static void setup(void) {
  reg = dkh_registry();
  dk_error_clear(&err);
}

static void teardown(void) { dk_registry_free(reg); }

/* Parse and resolve; returns the status, message in err. */
static int load(const char *yaml, dk_pipeline **out) {
  dk_pipeline *p = NULL;
  int rc = dk_pipeline_parse(yaml, strlen(yaml), "t.yaml", "/base", &p, &err);
  if (!rc) rc = dk_pipeline_resolve(p, reg, NULL, &err);
  if (out && !rc)
    *out = p;
  else
    dk_pipeline_free(p);
  return rc;
}

#define MODEL "model: { plugin: hashlm }\n"

START_TEST(test_minimal) {
  dk_pipeline *p;
  ck_assert_msg(load("decokit: 1\n" MODEL, &p) == DK_OK, "%s", err.msg);
  ck_assert_str_eq(p->decoder->comp->hdr->name, "sample"); /* the default decoder */
  ck_assert_int_eq(dk_gen_int(p, "max_tokens"), 128);      /* defaults filled in */
  ck_assert_int_eq(dk_gen_int(p, "n"), 1);
  ck_assert_uint_eq(dk_gen_list_len(p, "stop"), 0);
  dk_pipeline_free(p);
}
END_TEST

START_TEST(test_unknown_section) {
  ck_assert_int_eq(load("decokit: 1\nmodle: { plugin: hashlm }\n", NULL), DK_ERR_INVALID);
  ck_assert_str_eq(err.msg, "t.yaml:2:1: unknown key 'modle'; did you mean 'model'? (expected one of: decokit, "
                            "plugin_path, model, draft, decoder, drafter, constraint, samplers, "
                            "scorers, generate)");
}
END_TEST

START_TEST(test_unknown_param) {
  ck_assert_int_eq(load("decokit: 1\n" MODEL "samplers:\n  - { plugin: good, bais: 2 }\n", NULL),
                   DK_ERR_INVALID);
  ck_assert_str_eq(err.msg, "t.yaml:4:21: samplers: unknown key 'bais' for 'good'; did you mean 'bias'? (expected one of: bias)");
}
END_TEST

START_TEST(test_wrong_type) {
  ck_assert_int_eq(load("decokit: 1\n" MODEL "samplers:\n  - plugin: good\n    bias: lots\n", NULL),
                   DK_ERR_INVALID);
  ck_assert_str_eq(err.msg, "t.yaml:5:5: samplers: key 'bias': expected a number, got 'lots'");
}
END_TEST

START_TEST(test_out_of_range) {
  ck_assert_int_eq(load("decokit: 1\n" MODEL "generate: { n: 0 }\n", NULL), DK_ERR_INVALID);
  ck_assert_str_eq(err.msg, "t.yaml:3:13: generate: key 'n': 0 is out of range [1, 1024]");
  ck_assert_int_eq(load("decokit: 1\n" MODEL "samplers: [ { plugin: good, bias: -1 } ]\n", NULL),
                   DK_ERR_INVALID);
  ck_assert_str_eq(err.msg, "t.yaml:3:29: samplers: key 'bias': -1 is below the minimum 0");
}
END_TEST

START_TEST(test_bool_is_strict) {
  /* YAML 1.1 would read `yes` as true; decokit asks for true or false. */
  ck_assert_int_eq(load("decokit: 1\n" MODEL "generate: { ignore_eos: yes }\n", NULL), DK_ERR_INVALID);
  ck_assert_str_eq(err.msg, "t.yaml:3:13: generate: key 'ignore_eos': expected true or false, got 'yes'");
}
END_TEST

START_TEST(test_missing_plugin) {
  ck_assert_int_eq(load("decokit: 1\n" MODEL "decoder: { plugin: nope }\n", NULL), DK_ERR_INVALID);
  ck_assert_msg(strncmp(err.msg, "t.yaml:3:10: decoder: no decoder plugin named 'nope' (searched: ", 64) == 0,
                "%s", err.msg);
}
END_TEST

START_TEST(test_missing_plugin_key) {
  ck_assert_int_eq(load("decokit: 1\n" MODEL "decoder: { beams: 4 }\n", NULL), DK_ERR_INVALID);
  ck_assert_str_eq(err.msg, "t.yaml:3:10: 'decoder': missing key 'plugin' (the plugin's name)");
}
END_TEST

START_TEST(test_version) {
  ck_assert_int_eq(load(MODEL, NULL), DK_ERR_INVALID);
  ck_assert_str_eq(err.msg, "t.yaml:1:1: missing key 'decokit' (the format version: decokit: 1)");
  ck_assert_int_eq(load("decokit: 2\n" MODEL, NULL), DK_ERR_INVALID);
  ck_assert_str_eq(err.msg, "t.yaml:1:10: key 'decokit': format version 2 is not supported (this decokit reads 1)");
}
END_TEST

START_TEST(test_yaml_syntax) {
  ck_assert_int_eq(load("decokit: 1\nmodel: { plugin: hashlm\n", NULL), DK_ERR_FORMAT);
  ck_assert_msg(strncmp(err.msg, "t.yaml:3:1: YAML syntax error: ", 31) == 0, "%s", err.msg);
}
END_TEST

START_TEST(test_duplicate_key) {
  ck_assert_int_eq(load("decokit: 1\n" MODEL "generate: { n: 2, n: 3 }\n", NULL), DK_ERR_INVALID);
  ck_assert_str_eq(err.msg, "t.yaml:3:19: key 'n' appears twice");
}
END_TEST

/* Every top-level section at most once: a repeated list used to keep the
 * old count with the new (shorter) array and overrun it. */
START_TEST(test_duplicate_section) {
  static const struct {
    const char *yaml, *msg;
  } cases[] = {
      {"decokit: 1\n" MODEL "samplers: [ { plugin: good }, { plugin: good } ]\nsamplers: []\n",
       "t.yaml:4:1: section 'samplers' appears twice (first at line 3, column 1)"},
      {"decokit: 1\n" MODEL "scorers: [ { plugin: good }, { plugin: good } ]\nscorers: []\n",
       "t.yaml:4:1: section 'scorers' appears twice (first at line 3, column 1)"},
      {"decokit: 1\n" MODEL "generate: { max_tokens: 3 }\ngenerate: { seed: 2 }\n",
       "t.yaml:4:1: section 'generate' appears twice (first at line 3, column 1)"},
      {"decokit: 1\n" MODEL MODEL, "t.yaml:3:1: section 'model' appears twice (first at line 2, column 1)"},
      {"decokit: 1\n" MODEL "decokit: 1\n", "t.yaml:3:1: section 'decokit' appears twice (first at line 1, column 1)"},
      {"decokit: 1\nplugin_path: /\n" MODEL "plugin_path: /\n",
       "t.yaml:4:1: section 'plugin_path' appears twice (first at line 2, column 1)"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    ck_assert_int_eq(load(cases[i].yaml, NULL), DK_ERR_INVALID);
    ck_assert_str_eq(err.msg, cases[i].msg);
  }
}
END_TEST

/* Hostile YAML fails fast with a located message: aliases of aliases that
 * would expand to a billion values, 100 000 nested flow lists, a huge file. */
START_TEST(test_amplification_limits) {
  size_t cap = 1 << 21, n = 0;
  char *y = malloc(cap);
  n += (size_t)sprintf(y + n, "decokit: 1\nx0: &a0 [s, s, s, s, s, s, s, s, s, s]\n");
  for (int level = 1; level < 10; level++) {
    n += (size_t)sprintf(y + n, "x%d: &a%d [", level, level);
    for (int k = 0; k < 10; k++) n += (size_t)sprintf(y + n, "%s*a%d", k ? ", " : "", level - 1);
    n += (size_t)sprintf(y + n, "]\n");
  }
  dk_pipeline *p = NULL;
  ck_assert_int_eq(dk_pipeline_parse(y, n, "t.yaml", ".", &p, &err), DK_ERR_INVALID);
  ck_assert_str_eq(err.msg, "t.yaml:6:45: the pipeline expands to more than 100000 values "
                            "(aliases count once per use)");
  n = (size_t)sprintf(y, "decokit: 1\nx: ");
  for (int i = 0; i < 100000; i++) y[n++] = '[';
  for (int i = 0; i < 100000; i++) y[n++] = ']';
  ck_assert_int_eq(dk_pipeline_parse(y, n, "t.yaml", ".", &p, &err), DK_ERR_INVALID);
  ck_assert_str_eq(err.msg, "t.yaml:2:67: nested deeper than 64 levels");
  memset(y, ' ', cap);
  memcpy(y, "decokit: 1\n", 11);
  ck_assert_int_eq(dk_pipeline_parse(y, cap, "t.yaml", ".", &p, &err), DK_ERR_INVALID);
  ck_assert_str_eq(err.msg, "t.yaml: 2097152 bytes is larger than a pipeline may be (1048576)");
  /* Each of these took from seconds to minutes before the limits: without them the test
   * runs past its timeout. */
  free(y);
  /* Aliases within the limits still work. */
  ck_assert_msg(load("decokit: 1\n" MODEL "samplers: [ &g { plugin: good, bias: 2 }, *g ]\n", &p) == DK_OK,
                "%s", err.msg);
  ck_assert_uint_eq(p->n_samplers, 2);
  ck_assert_double_eq(dk_cfg_double(&p->samplers[1].cfg, "bias"), 2.0);
  dk_pipeline_free(p);
}
END_TEST

START_TEST(test_lists_and_strings) {
  dk_pipeline *p;
  ck_assert_msg(load("decokit: 1\n" MODEL "generate:\n  stop: [\"\\n\\n\", 'The end']\n  prompt: 123\n", &p) == DK_OK,
                "%s", err.msg);
  ck_assert_uint_eq(dk_gen_list_len(p, "stop"), 2);
  ck_assert_str_eq(dk_gen_list_item(p, "stop", 0), "\n\n");
  ck_assert_str_eq(dk_gen_list_item(p, "stop", 1), "The end");
  ck_assert_str_eq(dk_gen_string(p, "prompt"), "123"); /* typed by schema, not guessed */
  dk_pipeline_free(p);
  ck_assert_int_eq(load("decokit: 1\n" MODEL "generate: { stop: \"x\" }\n", NULL), DK_ERR_INVALID);
  ck_assert_str_eq(err.msg, "t.yaml:3:13: generate: key 'stop': expected a list of strings, got a scalar");
}
END_TEST

START_TEST(test_overrides) {
  dk_pipeline *p = NULL;
  const char *y = "decokit: 1\n" MODEL "samplers:\n  - { plugin: good }\n  - { plugin: good, bias: 1 }\n";
  /* Two instances of one sampler are fine in a chain. */
  ck_assert_int_eq(dk_pipeline_parse(y, strlen(y), "t.yaml", "/base", &p, &err), DK_OK);
  ck_assert_int_eq(dk_pipeline_override(p, "samplers.1.bias=4", &err), DK_OK);
  ck_assert_int_eq(dk_pipeline_override(p, "generate.max_tokens=7", &err), DK_OK);
  ck_assert_int_eq(dk_pipeline_override(p, "generate.stop=[a,bc]", &err), DK_OK);
  ck_assert_int_eq(dk_pipeline_override(p, "model.seed=9", &err), DK_OK);
  ck_assert_int_eq(dk_pipeline_override(p, "nonsense", &err), DK_ERR_INVALID);
  ck_assert_str_eq(err.msg, "--set nonsense: expected SECTION.KEY=VALUE (e.g. generate.max_tokens=32)");
  ck_assert_int_eq(dk_pipeline_override(p, "samplers.5.bias=1", &err), DK_ERR_INVALID);
  ck_assert_int_eq(dk_pipeline_override(p, "sampler.bias=1", &err), DK_ERR_INVALID);
  ck_assert_msg(strstr(err.msg, "unknown section 'sampler'") != NULL, "%s", err.msg);
  ck_assert_msg(dk_pipeline_resolve(p, reg, NULL, &err) == DK_OK, "%s", err.msg);
  ck_assert_double_eq(dk_cfg_double(&p->samplers[1].cfg, "bias"), 4.0);
  ck_assert_double_eq(dk_cfg_double(&p->samplers[0].cfg, "bias"), 1.5);
  ck_assert_int_eq(dk_gen_int(p, "max_tokens"), 7);
  ck_assert_uint_eq(dk_gen_list_len(p, "stop"), 2);
  ck_assert_str_eq(dk_gen_list_item(p, "stop", 1), "bc");
  ck_assert_int_eq(dk_cfg_int(&p->model->cfg, "seed"), 9);
  dk_pipeline_free(p);
  /* A bad override is reported as such, not as a file position. */
  ck_assert_int_eq(dk_pipeline_parse(y, strlen(y), "t.yaml", "/base", &p, &err), DK_OK);
  ck_assert_int_eq(dk_pipeline_override(p, "samplers.good.bias=x", &err), DK_OK);
  ck_assert_int_eq(dk_pipeline_resolve(p, reg, NULL, &err), DK_ERR_INVALID);
  ck_assert_str_eq(err.msg, "--set samplers.good.bias: key 'bias': expected a number, got 'x'");
  dk_pipeline_free(p);
}
END_TEST

/* --set values are YAML flow syntax: quoting keeps spaces and commas, and
 * text YAML cannot read is an error naming the option. */
START_TEST(test_override_flow) {
  dk_pipeline *p = NULL;
  const char *y = "decokit: 1\n" MODEL "samplers:\n  - { plugin: good }\n";
  ck_assert_int_eq(dk_pipeline_parse(y, strlen(y), "t.yaml", "/base", &p, &err), DK_OK);
  ck_assert_int_eq(dk_pipeline_override(p, "generate.stop=[\" had\", \",\", 'it''s']", &err), DK_OK);
  ck_assert_int_eq(dk_pipeline_override(p, "generate.prompt=\"a: b\"", &err), DK_OK);
  ck_assert_int_eq(dk_pipeline_override(p, "samplers.+=good", &err), DK_OK);
  ck_assert_int_eq(dk_pipeline_override(p, "samplers.+={ plugin: good, bias: 2.5 }", &err), DK_OK);
  ck_assert_uint_eq(p->n_samplers, 3);
  ck_assert_msg(dk_pipeline_resolve(p, reg, NULL, &err) == DK_OK, "%s", err.msg);
  ck_assert_uint_eq(dk_gen_list_len(p, "stop"), 3);
  ck_assert_str_eq(dk_gen_list_item(p, "stop", 0), " had");
  ck_assert_str_eq(dk_gen_list_item(p, "stop", 1), ",");
  ck_assert_str_eq(dk_gen_list_item(p, "stop", 2), "it's");
  ck_assert_str_eq(dk_gen_string(p, "prompt"), "a: b");
  ck_assert_double_eq(dk_cfg_double(&p->samplers[2].cfg, "bias"), 2.5);
  dk_pipeline_free(p);
  ck_assert_int_eq(dk_pipeline_parse(y, strlen(y), "t.yaml", "/base", &p, &err), DK_OK);
  ck_assert_int_eq(dk_pipeline_override(p, "generate.stop=[\"x", &err), DK_ERR_FORMAT);
  ck_assert_msg(strncmp(err.msg, "--set generate.stop:1:", 22) == 0, "%s", err.msg);
  ck_assert_int_eq(dk_pipeline_override(p, "generate.prompt=a: b", &err), DK_ERR_INVALID);
  ck_assert_msg(strstr(err.msg, "--set generate.prompt: expected a value or a [list]") == err.msg,
                "%s", err.msg);
  ck_assert_int_eq(dk_pipeline_override(p, "generate.stop=[[a]]", &err), DK_ERR_INVALID);
  ck_assert_int_eq(dk_pipeline_override(p, "generate.prompt=# only a comment", &err), DK_ERR_INVALID);
  ck_assert_int_eq(dk_pipeline_override(p, "samplers.+=[good]", &err), DK_ERR_INVALID);
  ck_assert_int_eq(dk_pipeline_override(p, "samplers.+={ bias: 1 }", &err), DK_ERR_INVALID);
  ck_assert_msg(strstr(err.msg, "missing key 'plugin'") != NULL, "%s", err.msg);
  ck_assert_int_eq(dk_pipeline_override(p, "decoder.plugin=", &err), DK_ERR_INVALID);
  ck_assert_uint_eq(p->n_samplers, 1); /* nothing half-added */
  /* An empty value is an empty string, as before. */
  ck_assert_int_eq(dk_pipeline_override(p, "generate.prompt=", &err), DK_OK);
  ck_assert_msg(dk_pipeline_resolve(p, reg, NULL, &err) == DK_OK, "%s", err.msg);
  ck_assert_str_eq(dk_gen_string(p, "prompt"), "");
  dk_pipeline_free(p);
}
END_TEST

static void fp_of(const char *yaml, char out[17]) {
  dk_pipeline *p;
  ck_assert_msg(load(yaml, &p) == DK_OK, "%s", err.msg);
  dk_pipeline_fingerprint(p, out);
  dk_pipeline_free(p);
}

START_TEST(test_fingerprint) {
  char a[17], b[17], c[17], d[17];
  fp_of("decokit: 1\n" MODEL "samplers: [ { plugin: good } ]\n", a);
  /* Writing a default explicitly, or in another layout, changes nothing. */
  fp_of("decokit: 1\nsamplers:\n  - plugin: good\n    bias: 1.5\nmodel:\n  plugin: hashlm\n  seed: 0\n", b);
  fp_of("decokit: 1\n" MODEL "samplers: [ { plugin: good, bias: 1.25 } ]\n", c);
  fp_of("decokit: 1\n" MODEL "samplers: [ { plugin: good } ]\ngenerate: { seed: 1 }\n", d);
  ck_assert_uint_eq(strlen(a), 16);
  ck_assert_str_eq(a, b);
  ck_assert_str_ne(a, c);
  ck_assert_str_ne(a, d);
  /* The thread count cannot change the output, so it is not part of it. */
  char e[17];
  fp_of("decokit: 1\n" MODEL "samplers: [ { plugin: good } ]\ngenerate: { threads: 3 }\n", e);
  ck_assert_str_eq(a, e);
}
END_TEST

/* The fixture decoders declaring what they read live in one library. */
static void load_sections(void) {
  char path[4096];
  const dk_component *c;
  snprintf(path, sizeof path, "%s/sections.so", getenv("DECOKIT_FIXTURE_DIR"));
  ck_assert_msg(dk_registry_find(reg, DK_KIND_DECODER, path, &c, &err) == DK_OK, "%s", err.msg);
  snprintf(path, sizeof path, "%s/probe.so", getenv("DECOKIT_FIXTURE_DIR"));
  ck_assert_msg(dk_registry_find(reg, DK_KIND_DECODER, path, &c, &err) == DK_OK, "%s", err.msg);
}

static char warned[1024];
static void keep_warning(int level, const char *msg, void *user) {
  (void)user;
  if (level == DK_LOG_WARN) snprintf(warned, sizeof warned, "%s", msg);
}

/* A section the decoder does not read would be silently ignored: refused,
 * at its line, for decoders that declare what they read (ABI 1.2). */
START_TEST(test_unused_sections) {
  load_sections();
  static const struct {
    const char *yaml, *msg;
  } refused[] = {
      {"decokit: 1\n" MODEL "decoder: { plugin: plain_fx }\ndrafter: { plugin: needs_draft_fx }\n",
       "t.yaml:4:10: drafter: decoder 'plain_fx' does not use a 'drafter' section: remove it, or "
       "choose a decoder that does"},
      {"decokit: 1\n" MODEL "draft: { plugin: hashlm }\ndecoder: { plugin: plain_fx }\n",
       "t.yaml:3:8: draft: decoder 'plain_fx' does not use a 'draft' section: remove it, or "
       "choose a decoder that does"},
      {"decokit: 1\n" MODEL "decoder: { plugin: plain_fx }\nscorers:\n  - { plugin: length }\n",
       "t.yaml:5:5: scorers: decoder 'plain_fx' does not use a 'scorers' section: remove it, or "
       "choose a decoder that does"},
      /* Only the drafter reads the draft model; it cannot work without one. */
      {"decokit: 1\n" MODEL "decoder: { plugin: reads_drafter_fx }\ndrafter: { plugin: needs_draft_fx }\n",
       "t.yaml:4:10: drafter: 'needs_draft_fx' needs a draft model: add a 'draft' section (e.g. "
       "draft: { plugin: llama, path: draft.gguf })"},
      {"decokit: 1\n" MODEL "decoder: { plugin: sample }\nscorers: [ { plugin: length } ]\n",
       "t.yaml:4:12: scorers: decoder 'sample' does not use a 'scorers' section: remove it, or "
       "choose a decoder that does"},
  };
  for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
    ck_assert_int_eq(load(refused[i].yaml, NULL), DK_ERR_INVALID);
    ck_assert_str_eq(err.msg, refused[i].msg);
  }
  /* Declared sections are fine; a drafter may be what reads the draft model. */
  ck_assert_msg(load("decokit: 1\n" MODEL "draft: { plugin: hashlm }\ndecoder: { plugin: reads_all_fx }\n"
                     "drafter: { plugin: needs_draft_fx }\nscorers: [ { plugin: length } ]\n", NULL) == DK_OK,
                "%s", err.msg);
  ck_assert_msg(load("decokit: 1\n" MODEL "draft: { plugin: hashlm }\ndecoder: { plugin: reads_drafter_fx }\n"
                     "drafter: { plugin: needs_draft_fx }\n", NULL) == DK_OK, "%s", err.msg);
  /* A command that reads the draft model itself (perplexity --draft) says so. */
  const char *y = "decokit: 1\n" MODEL "draft: { plugin: hashlm }\ndecoder: { plugin: plain_fx }\n";
  dk_pipeline *p;
  ck_assert_int_eq(dk_pipeline_parse(y, strlen(y), "t.yaml", ".", &p, &err), DK_OK);
  p->host_reads_draft = 1;
  ck_assert_msg(dk_pipeline_resolve(p, reg, NULL, &err) == DK_OK, "%s", err.msg);
  dk_pipeline_free(p);
  /* A decoder built for ABI 1.0 could not declare: a warning, not a refusal. */
  warned[0] = '\0';
  dk_log_set_sink(keep_warning, NULL, DK_LOG_WARN);
  int rc = load("decokit: 1\n" MODEL "decoder: { plugin: probe_spec }\nscorers: [ { plugin: length } ]\n", NULL);
  dk_log_set_sink(NULL, NULL, DK_LOG_WARN);
  ck_assert_msg(rc == DK_OK, "%s", err.msg);
  ck_assert_str_eq(warned, "t.yaml:4: decoder 'probe_spec' was built for ABI 1.0 and cannot say "
                           "whether it reads the 'scorers' section; it may be ignored");
}
END_TEST

START_TEST(test_relative_paths) {
  dk_pipeline *p;
  char base[4096], plug[4200], want[4400];
  const char *bd = getenv("DECOKIT_BUILDDIR");
  snprintf(base, sizeof base, "%s/tests/dk-pipeline-XXXXXX", bd ? bd : ".");
  ck_assert_ptr_nonnull(mkdtemp(base));
  snprintf(plug, sizeof plug, "%s/plug", base);
  ck_assert_int_eq(mkdir(plug, 0700), 0);
  const char *y = "decokit: 1\nplugin_path: plug:/\n" MODEL;
  ck_assert_int_eq(dk_pipeline_parse(y, strlen(y), "t.yaml", base, &p, &err), DK_OK);
  snprintf(want, sizeof want, "%s/plug:/", base);
  ck_assert_str_eq(p->plugin_path, want);
  dk_pipeline_free(p);
  /* A folder that is not there is an error at its line, not an empty folder. */
  y = "decokit: 1\n" MODEL "plugin_path: plug:nope\n";
  ck_assert_int_eq(dk_pipeline_parse(y, strlen(y), "t.yaml", base, &p, &err), DK_ERR_INVALID);
  snprintf(want, sizeof want, "t.yaml:3:14: key 'plugin_path': no folder '%s/nope'", base);
  ck_assert_str_eq(err.msg, want);
  rmdir(plug);
  rmdir(base);
  /* PATH parameters resolve against the pipeline's folder. */
  static const dk_param_spec specs[] = {
      {"file", DK_PARAM_PATH, 0, NULL, 0, 0, "a file"},
      {"abs", DK_PARAM_PATH, 0, NULL, 0, 0, "a file"},
      {"need", DK_PARAM_INT, DK_PARAM_REQUIRED, NULL, 0, 0, "required"},
      {NULL, 0, 0, NULL, 0, 0, NULL}};
  dk_iface_header hdr = {sizeof hdr, DK_KIND_CONSTRAINT, "x", "1", "x", specs, sizeof *specs, 0};
  dk_config cfg;
  ck_assert_int_eq(dk_config_init(&cfg, &hdr, &err), DK_OK);
  ck_assert_int_eq(dk_config_set(&cfg, "file", "g/json.gbnf", &err), DK_OK);
  ck_assert_int_eq(dk_config_set(&cfg, "abs", "/etc/x", &err), DK_OK);
  ck_assert_int_eq(dk_config_finish(&cfg, "/base", &err), DK_ERR_INVALID);
  ck_assert_str_eq(err.msg, "missing required key 'need' for 'x' (integer)");
  ck_assert_int_eq(dk_config_set(&cfg, "need", "3", &err), DK_OK);
  ck_assert_int_eq(dk_config_finish(&cfg, "/base", &err), DK_OK);
  ck_assert_str_eq(dk_cfg_string(&cfg, "file"), "/base/g/json.gbnf");
  ck_assert_str_eq(dk_cfg_string(&cfg, "abs"), "/etc/x");
  ck_assert(dk_cfg_is_set(&cfg, "need"));
  dk_config_free(&cfg);
}
END_TEST

START_TEST(test_bad_specs_refused) {
  static const dk_param_spec bad_name[] = {{"Bad-Name", DK_PARAM_INT, 0, "1", 0, 0, "x"},
                                           {NULL, 0, 0, NULL, 0, 0, NULL}};
  static const dk_param_spec twice[] = {{"a", DK_PARAM_INT, 0, "1", 0, 0, "x"},
                                        {"a", DK_PARAM_INT, 0, "1", 0, 0, "x"},
                                        {NULL, 0, 0, NULL, 0, 0, NULL}};
  dk_iface_header hdr = {sizeof hdr, DK_KIND_SAMPLER, "s", "1", "s", bad_name, sizeof(dk_param_spec), 0};
  dk_config cfg;
  ck_assert_int_eq(dk_config_init(&cfg, &hdr, &err), DK_ERR_ABI);
  ck_assert_str_eq(err.msg, "component 's': parameter 0 ('Bad-Name') has an invalid name");
  hdr.params = twice;
  ck_assert_int_eq(dk_config_init(&cfg, &hdr, &err), DK_ERR_ABI);
  ck_assert_str_eq(err.msg, "component 's': parameter 'a' declared twice");
}
END_TEST

int main(void) {
  Suite *s = suite_create("pipeline");
  TCase *tc = tcase_create("pipeline");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_minimal);
  tcase_add_test(tc, test_unknown_section);
  tcase_add_test(tc, test_unknown_param);
  tcase_add_test(tc, test_wrong_type);
  tcase_add_test(tc, test_out_of_range);
  tcase_add_test(tc, test_bool_is_strict);
  tcase_add_test(tc, test_missing_plugin);
  tcase_add_test(tc, test_missing_plugin_key);
  tcase_add_test(tc, test_version);
  tcase_add_test(tc, test_yaml_syntax);
  tcase_add_test(tc, test_duplicate_key);
  tcase_add_test(tc, test_duplicate_section);
  tcase_add_test(tc, test_amplification_limits);
  tcase_add_test(tc, test_lists_and_strings);
  tcase_add_test(tc, test_overrides);
  tcase_add_test(tc, test_override_flow);
  tcase_add_test(tc, test_fingerprint);
  tcase_add_test(tc, test_relative_paths);
  tcase_add_test(tc, test_unused_sections);
  tcase_add_test(tc, test_bad_specs_refused);
  suite_add_tcase(s, tc);
  return dkh_run(s);
}
