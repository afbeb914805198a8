#!/bin/sh
# configs.sh -- every example pipeline in config/ validates against the built plugins.
. "${DECOKIT_SRCDIR:?run through make check}/tests/testlib.sh"
for f in "$DECOKIT_SRCDIR"/config/*.yaml; do
  if out=$("$dk" validate "$f" 2>&1); then ok; else bad "$out"; fi
done
finish
