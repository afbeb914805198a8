#!/bin/sh
# run.sh -- rebuild decokit's default models from scratch, exactly as shipped.
# Usage: tools/train/run.sh [OUTDIR]   (default: tools/train/out)
# Runs on one torch thread with one OpenBLAS thread, at low priority.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/out}
models=$here/../../models
py="/usr/bin/python3 $here/train.py --out $out --seed 1234"
export OPENBLAS_NUM_THREADS=1
mkdir -p "$out"
$py make-corpus --holdout 0.02 --sample-bytes 4500
$py tokenizer
nice -n 10 $py train --preset target --steps 3400 --lr 3e-3
nice -n 10 $py train --preset draft --steps 1200 --lr 5e-3
$py export --preset target --name decokit-tiny --gguf "$models/decokit-tiny.gguf"
$py export --preset draft --name decokit-tiny-draft --gguf "$models/decokit-tiny-draft.gguf"
cp "$out/heldout.txt" "$models/heldout.txt"
$py evaluate --heldout "$models/heldout.txt" --report "$out/report.json" \
    --reference "$models/reference.json"
/usr/bin/python3 "$here/check_export.py" --out "$out" --gguf "$models/decokit-tiny.gguf" --heldout "$models/heldout.txt"
(cd "$models" && sha256sum decokit-tiny.gguf decokit-tiny-draft.gguf heldout.txt reference.json > SHA256SUMS)
