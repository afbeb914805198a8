#!/bin/sh
# e2e.sh -- decokit run on real GGUF models: llama.cpp's greedy ids, thread counts, determinism.
. "${DECOKIT_SRCDIR:?run through make check}/tests/testlib.sh"
need_models

# llama.cpp's reference (../shared/models/README.md): prompt ids and 64 greedy ids.
want_prompt='[1,403,407,261,378]'
want_ids='[432,383,286,261,376,298,315,421,395,317,426,338,401,396,267,337,410,408,419,292,411,322,265,282,295,433,426,385,328,432,358,394,261,370,432,352,266,268,388,426,338,391,266,267,337,335,312,432,398,312,286,267,414,270,333,415,426,13,438,310,439,419,357,336]'

json() { # json MODEL THREADS [more args]: the run's JSON with white space removed
  model=$1 threads=$2; shift 2
  "$dk" run --set model.path="$m/$model" -t "$threads" -n 64 -p "Once upon a time" --json "$@" |
    tr -d ' \n'
}

for model in stories260K.gguf stories260K-f16.gguf stories260K-q8_0.gguf; do
  for t in 1 2; do
    out=$(json "$model" "$t") || { bad "$model -t $t: decokit run failed"; continue; }
    case "$out" in *"\"prompt_tokens\":$want_prompt"*) ok ;; *) bad "$model -t $t: prompt ids" ;; esac
    case "$out" in
      *"\"tokens\":$want_ids"*) ok ;;
      *) bad "$model -t $t: greedy ids differ from llama.cpp's: $(echo "$out" | sed 's/.*"tokens":\(\[[^]]*\]\).*/\1/')" ;;
    esac
  done
done

# The quirky converter output loads (with a warning) and decodes the same.
out=$(json stories260K-llama2c-convert.gguf 1 2>"$tmp/err") || bad "llama2c-convert: run failed: $(cat "$tmp/err")"
case "$out" in *"\"tokens\":$want_ids"*) ok ;; *) bad "llama2c-convert: greedy ids differ" ;; esac

# Same pipeline and seed: byte-identical text, run after run and at 1 or 2 threads.
for t in 1 2 1; do
  "$dk" run --set model.path="$m/stories260K.gguf" "$DECOKIT_SRCDIR/config/creative.yaml" \
    -p "Once upon a time" -n 48 --seed 11 -t "$t" -q >"$tmp/creative.$t" 2>"$tmp/err" ||
    bad "creative -t $t: $(cat "$tmp/err")"
done
cmp -s "$tmp/creative.1" "$tmp/creative.2" && ok || bad "sampling differs between 1 and 2 threads"
"$dk" run --set model.path="$m/stories260K.gguf" "$DECOKIT_SRCDIR/config/creative.yaml" \
  -p "Once upon a time" -n 48 --seed 12 -q >"$tmp/creative.other" 2>/dev/null
cmp -s "$tmp/creative.1" "$tmp/creative.other" && bad "another seed gave the same text" || ok

# n completions from one prompt: distinct, each with its own stream.
out=$("$dk" run --set model.path="$m/stories260K.gguf" "$DECOKIT_SRCDIR/config/creative.yaml" \
  -p "Once upon a time" -n 24 --set generate.n=4 --json | grep '"text"' | sort -u | wc -l)
[ "$out" -eq 4 ] && ok || bad "generate.n=4 gave $out distinct texts"

# A stop string ends the text before it, across token boundaries.
out=$("$dk" run --set model.path="$m/stories260K.gguf" -p "Once upon a time" -n 64 \
  --set 'generate.stop=[Lily]' --no-prompt -q)
[ "$out" = ", there was a little girl named " ] && ok || bad "stop string: got '$out'"

# llama-2-tiny-random (32k SPM vocabulary, F16): llama.cpp's prompt ids and its
# top two step-0 tokens 17196 (0.205912) and 30883 (0.201880), compared as
# log-probabilities, whose difference equals the logits' difference.
if [ -f "$m/llama-2-tiny-random.gguf" ]; then
  out=$("$dk" run --set model.path="$m/llama-2-tiny-random.gguf" -p "Once upon a time" -n 1 --json \
    --set generate.logprobs=2 | tr -d ' \n' |
    sed 's/.*"prompt_tokens":\(\[[^]]*\]\).*"top":\[{"id":\([0-9]*\),"piece":"[^"]*","logprob":\([-0-9.e]*\)[^}]*},{"id":\([0-9]*\),"piece":"[^"]*","logprob":\([-0-9.e]*\)[^}]*}.*/\1 \2 \3 \4 \5/')
  set -- $out
  [ "${1:-}" = "[1,9038,2501,263,931]" ] && ok || bad "tiny-random prompt ids: ${1:-none}"
  if [ "${2:-}" = 17196 ] && [ "${4:-}" = 30883 ] &&
     awk -v a="$3" -v b="$5" 'BEGIN { d = a - b - 0.004032; if (d < 0) d = -d; exit !(d < 1e-3) }'; then
    ok
  else
    bad "tiny-random step-0 top two: $out"
  fi
fi

# A byte token cut off by max_tokens is not valid UTF-8: JSON keeps it as U+FFFD.
cat >"$tmp/byte.yaml" <<YAML
decokit: 1
model: { plugin: llama, path: "$m/stories260K.gguf" }
samplers: [ { plugin: logit_bias, bias: ["229:100"] }, { plugin: greedy } ]
generate: { max_tokens: 1, prompt: "Once" }
YAML
out=$("$dk" run --json "$tmp/byte.yaml" | tr -d ' \n')
case "$out" in *'"text":"\uFFFD"'*) ok ;; *) bad "invalid UTF-8 in JSON text: $out" ;; esac

finish
