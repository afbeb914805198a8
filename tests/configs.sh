#!/bin/sh
# configs.sh -- every example pipeline in config/ validates against the built plugins.
. "${DECOKIT_SRCDIR:?run through make check}/tests/testlib.sh"
# config/dllm/ holds pipelines sized for large diffusion LMs (the bundled one runs from
# config/diffusion-tiny.yaml): they are validated here but not run.
for f in "$DECOKIT_SRCDIR"/config/*.yaml "$DECOKIT_SRCDIR"/config/dllm/*.yaml; do
  if out=$("$dk" validate "$f" 2>&1); then ok; else bad "$out"; fi
done
finish
