/* harness.h -- load one component through the real loader and drive it from a unit test. */
#ifndef DK_TEST_HARNESS_H
#define DK_TEST_HARNESS_H

#include <check.h>
#include <decokit/plugin.h>

typedef struct dk_harness dk_harness;

/* A registry over $DECOKIT_PLUGIN_PATH (the build tree's plugins). */
dk_harness *dkh_new(void);
/* Run a suite (CK_ENV verbosity) and return the test program's exit status. */
int dkh_run(Suite *s);
/* A bare registry over the built plugins and the fixture plugins
 * ($DECOKIT_FIXTURE_DIR), for tests that drive the loader themselves. */
struct dk_registry *dkh_registry(void);
void dkh_free(dk_harness *h);
/* Create component (kind, name) with parameters given as "key", "value", ...,
 * NULL (a value starting with '[' is split on ',' into a list: "[a,b]").
 * On failure returns NULL and the message is in err.  The harness owns the
 * instance: free it with dkh_destroy. */
void *dkh_create(dk_harness *h, int kind, const char *name, const char *const *kv, uint64_t seed,
                 const dk_vocab *vocab, const void **iface_out, char *err, size_t errlen);
void dkh_destroy(dk_harness *h, void *inst);
const dk_host *dkh_host(dk_harness *h);
/* A scratch error sink for direct plugin calls, and its message. */
dk_error *dkh_error(dk_harness *h);
const char *dkh_error_message(dk_harness *h);

struct dk_run_opts;
struct dk_result;
struct dk_completion;

/* Parse YAML (relative paths against dir), resolve it against reg and run
 * it on prompt with opts, per-token logprobs recorded.  Parse and resolve
 * errors fail the test; *rc gets dk_run_new's or dk_run_generate's status
 * and err its message.  Returns what was generated (NULL if nothing ran). */
struct dk_result *dkh_run_yaml(struct dk_registry *reg, const char *yaml, const char *dir,
                               const char *prompt, const struct dk_run_opts *opts, int *rc,
                               dk_error *err);
/* A completion's metric, or -1 when it has none. */
double dkh_metric(const struct dk_completion *c, const char *name);

#endif
