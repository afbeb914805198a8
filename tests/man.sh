#!/bin/sh
# man.sh -- lint every manual page with groff -ww and check the plugin reference is current.
set -u
: "${DECOKIT_SRCDIR:?run through make check}"
command -v groff >/dev/null 2>&1 || { echo "groff not found: skipping"; exit 77; }
pass=0 fail=0
for page in "$DECOKIT_SRCDIR"/man/*.[1-8]; do
  out=$(groff -mandoc -ww -z "$page" 2>&1)
  if [ -z "$out" ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $page: $out"; fi
done
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
if sh "$DECOKIT_SRCDIR/man/assemble.sh" "$DECOKIT_BUILDDIR/core/decokit" \
    "$DECOKIT_SRCDIR/man/decokit-plugins.7.in" >"$tmp" &&
   cmp -s "$tmp" "$DECOKIT_SRCDIR/man/decokit-plugins.7"; then
  pass=$((pass + 1))
else
  fail=$((fail + 1))
  echo "FAIL: man/decokit-plugins.7 does not match the plugins' schemas; run 'make update-man'"
  diff "$DECOKIT_SRCDIR/man/decokit-plugins.7" "$tmp" | head -20
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
