#!/bin/sh
# configs.sh -- every example pipeline in config/ validates against the built plugins.
set -u
: "${DECOKIT_SRCDIR:?run through make check}"
dk="$DECOKIT_BUILDDIR/core/decokit"
pass=0 fail=0
for f in "$DECOKIT_SRCDIR"/config/*.yaml; do
  if out=$("$dk" validate "$f" 2>&1); then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL: $out"
  fi
done
echo "$pass passed, $fail failed"
[ "$pass" -gt 0 ] && [ "$fail" -eq 0 ]
