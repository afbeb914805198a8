#!/bin/sh
# lud_run.sh -- rebuild models/decokit-tiny-lud.gguf (Lexical Unit Decoding fine-tune of decokit-tiny), exactly as shipped.
# Usage: tools/train/lud_run.sh [OUTDIR]   (default: tools/train/out; corpus and tokenizer are made there if missing)
# One torch thread, one OpenBLAS thread, low priority.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/out}
models=$here/../../models
export OPENBLAS_NUM_THREADS=1
py="/usr/bin/python3 $here/train.py --out $out --seed 1234"
mkdir -p "$out"
[ -f "$out/corpus.json" ] || $py make-corpus --holdout 0.02 --sample-bytes 4500
[ -f "$out/tokenizer.model" ] || $py tokenizer
lud="/usr/bin/python3 $here/lud_train.py --out $out --base $models/decokit-tiny.gguf --seed 1234 --alpha 0.7 --m 4 --placeholder 0"
nice -n 5 $lud mine --windows 6000
nice -n 5 $lud train --steps 450
$lud export --name decokit-tiny-lud --gguf "$models/decokit-tiny-lud.gguf"
nice -n 5 $lud evaluate --heldout "$models/heldout.txt"
(cd "$models" && grep -v ' decokit-tiny-lud.gguf$' SHA256SUMS > SHA256SUMS.new &&
    sha256sum decokit-tiny-lud.gguf >> SHA256SUMS.new && mv SHA256SUMS.new SHA256SUMS)
