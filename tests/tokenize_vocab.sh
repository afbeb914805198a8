#!/bin/sh
# tokenize_vocab.sh -- decokit tokenize on llama.cpp's vocabulary-only GGUF files: every test string gives llama.cpp's ids.
. "${DECOKIT_SRCDIR:?run through make check}/tests/testlib.sh"
need_models
[ -d "$m/vocab" ] || { echo "vocabulary files not found: skipping"; exit 77; }

# The .inp file holds strings separated by a marker line; .out has one line of ids per string.
for inp in "$m"/vocab/ggml-vocab-*.gguf.inp; do
  f=${inp%.inp}
  name=$(basename "$f")
  rm -f "$tmp"/case.*
  awk -v dir="$tmp" 'BEGIN { RS = "\n__ggml_vocab_test__\n" }
    { printf "%s", $0 > (dir "/case." NR); close(dir "/case." NR) }' "$inp"
  i=0
  while IFS= read -r want; do
    i=$((i + 1))
    [ -f "$tmp/case.$i" ] || { bad "$name: no string $i"; break; }
    got=$("$dk" tokenize -m "$f" --ids --no-bos - <"$tmp/case.$i" 2>"$tmp/err")
    # llama.cpp writes each id with a leading space
    if [ "$got" = "$(echo "$want" | sed 's/^ //')" ]; then ok; else bad "$name string $i: got '$got', want '$want' ($(cat "$tmp/err"))"; fi
  done <"$f.out"
done

# -m means the tokenizer only, whatever other --set options follow
got=$("$dk" tokenize -m "$m/vocab/ggml-vocab-gpt-2.gguf" --set model.n_ctx=16 --ids --no-bos "Hello world" 2>&1)
[ "$got" = "15496 995" ] && ok || bad "tokenize -m with --set: '$got'"

# vocab-only instances refuse to evaluate, saying why
"$dk" run -n 1 --set model.path="$m/vocab/ggml-vocab-gpt-2.gguf" --set model.vocab_only=true -p hi >"$tmp/out" 2>&1 &&
  bad "run on a vocabulary-only instance succeeded" || { grep -q "vocab_only" "$tmp/out" && ok || bad "run: $(cat "$tmp/out")"; }
finish
