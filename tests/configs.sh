#!/bin/sh
# configs.sh -- every example pipeline in config/ validates against the built plugins.
. "${DECOKIT_SRCDIR:?run through make check}/tests/testlib.sh"
for f in "$DECOKIT_SRCDIR"/config/*.yaml; do
  if out=$("$dk" validate "$f" 2>&1); then ok; else bad "$out"; fi
done
# config/dllm/ holds pipelines sized for large diffusion LMs (the bundled one runs from
# config/diffusion-tiny.yaml): they name no model, and validate begins a diffusion decoder
# on its model, so they are validated on the bundled dLLM with room for their canvases,
# but not run.
for f in "$DECOKIT_SRCDIR"/config/dllm/*.yaml; do
  if out=$("$dk" validate --set "model.path=$DECOKIT_SRCDIR/models/decokit-tiny-diffusion.gguf" \
    --set model.n_ctx=1024 "$f" 2>&1); then ok; else bad "$out"; fi
done
finish
