#!/bin/sh
# run-diffusion.sh -- rebuild models/decokit-tiny-diffusion.gguf from the bundled AR target, exactly as shipped.
# Usage: tools/train/run-diffusion.sh [OUTDIR]   (default: tools/train/out)
# Needs the corpus and tokenizer of run.sh (its first two steps are repeated here; they are quick).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/out}
models=$here/../../models
py="/usr/bin/python3 $here/train.py --out $out --seed 1234"
dpy="/usr/bin/python3 $here/diffusion.py --out $out --seed 1234 --init $models/decokit-tiny.gguf --seq 128"
export OPENBLAS_NUM_THREADS=1
mkdir -p "$out"
[ -f "$out/corpus.json" ] || $py make-corpus --holdout 0.02 --sample-bytes 4500
[ -f "$out/tokenizer.model" ] || $py tokenizer
nice -n 10 $dpy train --steps 1200 --lr 1.5e-3
$dpy export --name decokit-tiny-diffusion --gguf "$models/decokit-tiny-diffusion.gguf"
$dpy evaluate --gguf "$models/decokit-tiny-diffusion.gguf" --report "$out/diffusion-report.json" \
    --reference "$models/decokit-tiny-diffusion.json"
(cd "$models" && sha256sum decokit-tiny.gguf decokit-tiny-draft.gguf heldout.txt reference.json \
    decokit-tiny-attr-lord-god.bin decokit-tiny-diffusion.gguf decokit-tiny-diffusion.json > SHA256SUMS)
