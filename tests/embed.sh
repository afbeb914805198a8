#!/bin/sh
# embed.sh -- decokit(3)'s example built outside the tree against the installed libdecokit (pkg-config) and run.
. "${DECOKIT_SRCDIR:?run through make check}/tests/testlib.sh"
command -v pkg-config >/dev/null 2>&1 || { echo "pkg-config not found: skipping"; exit 77; }
src="$DECOKIT_SRCDIR"
dest="$tmp/dest"
${MAKE:-make} -C "$DECOKIT_BUILDDIR" install DESTDIR="$dest" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log"; bad "make install DESTDIR"; finish; exit 1; }
pc=$(find "$dest" -name decokit.pc -print | head -n 1)
[ -n "$pc" ] || { bad "decokit.pc was not installed"; finish; exit 1; }
export PKG_CONFIG_PATH="$(dirname "$pc")" PKG_CONFIG_SYSROOT_DIR="$dest"
prefix=$(sed -n 's/^prefix=//p' "$DECOKIT_BUILDDIR/decokit.pc")
libdir=$(pkg-config --variable=libdir decokit)
plugindir=$(pkg-config --variable=plugindir decokit)
# Some pkg-config versions put the sysroot in front of variables too.
case "$libdir" in "$dest"*) ;; *) libdir="$dest$libdir" ;; esac
case "$plugindir" in "$dest"*) ;; *) plugindir="$dest$plugindir" ;; esac
if [ -f "$dest$prefix/include/decokit/decokit.h" ]; then ok; else bad "decokit.h was not installed"; fi
if [ -f "$dest$prefix/share/man/man3/decokit.3" ]; then ok; else bad "decokit(3) was not installed"; fi

# The library: a versioned soname and nothing exported but decokit_*.
so="$libdir/libdecokit.so"
if [ -f "$so" ] && objdump -p "$so" | grep -q 'SONAME *libdecokit\.so\.0$'; then ok
else bad "no $so with soname libdecokit.so.0"; fi
if command -v nm >/dev/null 2>&1; then
  nm -D --defined-only "$so" | awk '{print $NF}' | grep -v '^decokit_' >"$tmp/extra"
  if [ -s "$tmp/extra" ]; then bad "libdecokit.so exports more than decokit_*:"; head "$tmp/extra"; else ok; fi
  nm -D --defined-only "$so" | awk '{print $NF}' | grep '^decokit_' | sort >"$tmp/exported"
  sed -n 's/^[a-z].* \**\(decokit_[a-z_]*\)(.*/\1/p' "$src/core/include/decokit/decokit.h" | sort -u >"$tmp/declared"
  if cmp -s "$tmp/exported" "$tmp/declared"; then ok
  else bad "exported and declared functions differ:"; diff "$tmp/declared" "$tmp/exported"; fi
fi

# The page's example, as the page writes it, in a folder of its own.
mkdir "$tmp/prog"
awk -v dir="$tmp/prog" '
  function unroff(s) {
    gsub(/\\\(dq/, "\"", s); gsub(/\\\(aq/, "\047", s); gsub(/\\-/, "-", s)
    gsub(/\\&/, "", s); gsub(/\\e/, "\\", s)
    return s
  }
  /^\.\\" example: (file [^ ]+|sh)$/ { pending = $3 == "sh" ? dir "/build.sh" : dir "/" $4; next }
  pending != "" && /^\.Bd/ { out = pending; pending = ""; next }
  out != "" && /^\.Ed$/ { close(out); out = ""; next }
  out != "" { print unroff($0) > out }
' "$src/man/decokit.3"
[ -f "$tmp/prog/embed.c" ] && [ -f "$tmp/prog/build.sh" ] || { bad "decokit.3: example markers lost"; finish; exit 1; }
export LD_LIBRARY_PATH="$libdir" DECOKIT_PLUGIN_PATH="$plugindir"
export DECOKIT_MODEL="$dest$prefix/share/decokit/models/decokit-tiny.gguf"
[ -f "$DECOKIT_MODEL" ] || DECOKIT_MODEL="$src/models/decokit-tiny.gguf"
# The page says cc: this cc is the system's, warning-clean, and with the
# sanitizers of this build (whose library needs their runtime first).
san=$(sed -n 's/^SAN_LDFLAGS = //p' "$DECOKIT_BUILDDIR/Makefile")
mkdir "$tmp/cc"
printf '#!/bin/sh\nexec %s -Wall -Wextra -Werror %s "$@"\n' "$(command -v cc)" "$san" >"$tmp/cc/cc"
chmod +x "$tmp/cc/cc"
if (cd "$tmp/prog" && PATH="$tmp/cc:$PATH" sh -e build.sh) >"$tmp/out" 2>&1; then ok
else bad "the example of decokit(3) does not build and run:"; cat "$tmp/out"; fi
# A real generation: the same text as the installed CLI's, greedy.
dk_inst="$dest$prefix/bin/decokit"
"$dk_inst" run -q --no-prompt -n 24 -p "Once upon a time" >"$tmp/cli" 2>"$tmp/err" || { bad "installed decokit run"; cat "$tmp/err"; }
"$tmp/prog/embed" >"$tmp/emb" 2>"$tmp/err" || { bad "embed"; cat "$tmp/err"; }
if [ -s "$tmp/emb" ] && cmp -s "$tmp/cli" "$tmp/emb"; then ok
else bad "embed's text differs from decokit run's:"; cat "$tmp/cli" "$tmp/emb"; fi
has "$tmp/err" "24 generated, stop: length" "embed's statistics"
# A pipeline file and a prompt; an error is a message and a status, not a crash.
printf 'decokit: 1\nsamplers: [ { plugin: top_k, k: 1 } ]\n' >"$tmp/p.yaml"
"$dk_inst" run -q --no-prompt -n 24 -p "The cat" "$tmp/p.yaml" >"$tmp/cli" 2>"$tmp/err"
"$tmp/prog/embed" "$tmp/p.yaml" "The cat" >"$tmp/emb" 2>"$tmp/err" || { bad "embed p.yaml"; cat "$tmp/err"; }
if [ -s "$tmp/emb" ] && cmp -s "$tmp/cli" "$tmp/emb"; then ok
else bad "embed p.yaml differs from decokit run's:"; cat "$tmp/cli" "$tmp/emb"; fi
printf 'decokit: 1\nsamplers: [ { plugin: top_k, kk: 1 } ]\n' >"$tmp/bad.yaml"
expect 1 "embed with a bad pipeline" -- "$tmp/prog/embed" "$tmp/bad.yaml"
has "$tmp/err" "bad.yaml:2:" "embed's message names the pipeline's line"
finish
