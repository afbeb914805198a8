#!/bin/sh
# outoftree.sh -- a third-party plugin built against the installed SDK and run by the installed CLI.
set -u
: "${DECOKIT_BUILDDIR:?run through make check}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dest="$tmp/dest"
fail() { echo "FAIL: $*"; echo "0 passed, 1 failed"; exit 1; }

${MAKE:-make} -C "$DECOKIT_BUILDDIR" install DESTDIR="$dest" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log"; fail "make install DESTDIR"; }
prefix=$(sed -n 's/^prefix=//p' "$DECOKIT_BUILDDIR/decokit-plugin.pc")
pcdir=$(find "$dest" -name decokit-plugin.pc -print | head -n 1)
[ -n "$pcdir" ] || fail "decokit-plugin.pc was not installed"
export PKG_CONFIG_PATH="$(dirname "$pcdir")" PKG_CONFIG_SYSROOT_DIR="$dest"
cflags=$(pkg-config --cflags decokit-plugin) || fail "pkg-config --cflags decokit-plugin"
plugindir=$(pkg-config --variable=plugindir decokit-plugin)
# Some pkg-config versions put the sysroot in front of variables too.
case "$plugindir" in "$dest"*) ;; *) plugindir="$dest$plugindir" ;; esac
[ -f "$plugindir/sample.so" ] || fail "no sample.so in the installed plugindir $plugindir"
[ "$(pkg-config --variable=abi_major decokit-plugin)" = 1 ] || fail "abi_major in the .pc file"

# The plugin author's side: one C file, the installed header, nothing else.
cat >"$tmp/force.c" <<'C'
/* force.c -- a selector that always picks one token id. */
#include <decokit/plugin.h>
#include <stdlib.h>

typedef struct { dk_token id; } force;
static const dk_param_spec params[] = {
  {"id", DK_PARAM_INT, DK_PARAM_REQUIRED | DK_PARAM_MIN, NULL, 0, 0, "The token to pick."},
  {NULL, 0, 0, NULL, 0, 0, NULL}};
static int create(const dk_host *h, const dk_create_info *ci, void **inst, dk_error *err) {
  dk_token id = (dk_token)h->cfg_int(ci->config, "id");
  if (ci->vocab && id >= ci->vocab->n_vocab)
    return h->set_error(err, DK_ERR_INVALID, "id %d is outside the vocabulary", id);
  force *f = malloc(sizeof *f);
  if (!f) return h->set_error(err, DK_ERR_NOMEM, "out of memory");
  f->id = id;
  *inst = f;
  return DK_OK;
}
static void destroy(void *inst) { free(inst); }
static int apply(void *inst, const dk_sample_ctx *ctx, dk_candidates *c, dk_error *err) {
  (void)ctx; (void)err;
  for (size_t i = 0; i < c->n; i++)
    if (c->data[i].id == ((force *)inst)->id) c->selected = (int64_t)i;
  return DK_OK;
}
static const dk_sampler_iface iface = {
  {sizeof(dk_sampler_iface), DK_KIND_SAMPLER, "force", "1.0.0", "always pick one token",
   params, sizeof(dk_param_spec), DK_CAP_INSTANCE_MT},
  create, destroy, apply, NULL, NULL, NULL};
static const dk_iface_header *const comps[] = {&iface.hdr};
static const dk_plugin_desc desc = {DK_PLUGIN_DESC_HEAD, "force", "1.0.0", comps, 1, NULL, NULL};
DK_PLUGIN_ENTRY(force) { return &desc; }
C
mkdir -p "$tmp/mine"
${CC:-cc} -std=c99 -Wall -Wextra -Werror -fPIC -shared -fvisibility=hidden $cflags \
  "$tmp/force.c" -o "$tmp/mine/force.so" || fail "building the plugin against the installed header"

cat >"$tmp/p.yaml" <<'YAML'
decokit: 1
model: { plugin: hashlm }
samplers: [ { plugin: force, id: 50 } ]
generate: { prompt: "abc", max_tokens: 6 }
YAML
dk="$dest$prefix/bin/decokit"
[ -x "$dk" ] || fail "the CLI was not installed"
export DECOKIT_PLUGIN_PATH="$tmp/mine:$plugindir:$DECOKIT_FIXTURE_DIR"
out=$("$dk" run -q --no-prompt "$tmp/p.yaml") || fail "installed decokit run with the plugin"
[ "$out" = "PPPPPP" ] || fail "expected PPPPPP from the forced token 50, got '$out'"
"$dk" plugins info force >"$tmp/info" || fail "plugins info force"
grep -q "The token to pick." "$tmp/info" || fail "plugins info shows no parameter doc"
echo "1 passed, 0 failed"
