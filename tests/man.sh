#!/bin/sh
# man.sh -- lint every manual page with groff -ww and check the plugin reference is current.
. "${DECOKIT_SRCDIR:?run through make check}/tests/testlib.sh"
command -v groff >/dev/null 2>&1 || { echo "groff not found: skipping"; exit 77; }
for page in "$DECOKIT_SRCDIR"/man/*.[1-8]; do
  out=$(groff -mandoc -ww -z "$page" 2>&1)
  if [ -z "$out" ]; then ok; else bad "$page: $out"; fi
done
if sh "$DECOKIT_SRCDIR/man/assemble.sh" "$dk" \
    "$DECOKIT_SRCDIR/man/decokit-plugins.7.in" >"$tmp/page" &&
   cmp -s "$tmp/page" "$DECOKIT_SRCDIR/man/decokit-plugins.7"; then
  ok
else
  bad "man/decokit-plugins.7 does not match the plugins' schemas; run 'make update-man'"
  diff "$DECOKIT_SRCDIR/man/decokit-plugins.7" "$tmp/page" | head -20
fi
# The decoder example of decokit-plugin(3) is the chunked fixture, which
# make check builds and cli.sh runs: the page may not drift from it.
awk '/^\.\\" The code below is tests\/fixtures\/chunked\.c/ { on = 1; next }
     on && /^\.Bd/ { next }
     on && /^\.Ed$/ { exit }
     on { gsub(/\\e/, "\\"); print }' "$DECOKIT_SRCDIR/man/decokit-plugin.3" >"$tmp/example.c"
if [ -s "$tmp/example.c" ] && cmp -s "$tmp/example.c" "$DECOKIT_SRCDIR/tests/fixtures/chunked.c"; then
  ok
else
  bad "the decoder example in man/decokit-plugin.3 differs from tests/fixtures/chunked.c"
  diff "$DECOKIT_SRCDIR/tests/fixtures/chunked.c" "$tmp/example.c" | head -20
fi
finish
