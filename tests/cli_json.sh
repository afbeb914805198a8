#!/bin/sh
# cli_json.sh -- run --json and --json-stream: the output validates against the shipped JSON
# Schema, carries index, seed, model, settings, stop, totals and usage, and text agrees with stdout.
. "${DECOKIT_SRCDIR:?run through make check}/tests/testlib.sh"
src=$DECOKIT_SRCDIR
schema="$src/man/decokit-run.schema.json"

# valid FILE DESCRIPTION: one compact JSON document against the schema.
valid() {
  tr -d '\n' <"$1" >"$tmp/doc"
  if "$dk" grammar check -q -g "$schema" --schema --properties-order any --whitespace none - <"$tmp/doc"; then
    ok
  else
    bad "$2: not valid against the schema:"
    "$dk" grammar check -g "$schema" --schema --properties-order any --whitespace none - <"$tmp/doc"
  fi
}
# The final event of --json-stream, which is the --json object plus "event".
done_event() { tail -n 1 "$tmp/out" >"$tmp/done"; }

p="She said that she"
# The schema must reject what it should: it is a test only if it can fail.
"$dk" run -q -n 3 -p "$p" --json-stream >"$tmp/out" 2>"$tmp/err" && ok || bad "json-stream run"
done_event
valid "$tmp/done" "plain greedy run"
tr -d '\n' <"$tmp/done" >"$tmp/orig"
for broken in 's/"seed":0/"seed":-1/' 's/"usage":{/"usage":{"x":1,/' 's/"stop":null/"stop":5/' \
              's/"bytes":\[[0-9,]*\]/"bytes":"x"/' 's/"index":0/"index":"0"/'; do
  sed "$broken" "$tmp/done" | tr -d '\n' >"$tmp/doc"
  if cmp -s "$tmp/doc" "$tmp/orig" ||
     "$dk" grammar check -q -g "$schema" --schema --properties-order any --whitespace none - <"$tmp/doc"; then
    bad "schema accepts the output edited by $broken"
  else
    ok
  fi
done

# Pipelines whose output uses every part of the format: n-best results,
# constraint mask times, drafted tokens, several completions, alternatives.
for cfg in "$src/config/greedy.yaml" "$src/config/beam.yaml" "$src/config/json-schema.yaml" \
           "$src/config/speculative.yaml" "$src/config/llamacpp-default.yaml"; do
  name=$(basename "$cfg" .yaml)
  "$dk" run -q "$cfg" -n 6 --set generate.logprobs=2 --set generate.n=2 --stop ' been' \
    --json-stream >"$tmp/out" 2>"$tmp/err" && ok || { bad "$name: run failed"; cat "$tmp/err"; }
  done_event
  valid "$tmp/done" "$name"
done

# ---- the fields ----
"$dk" run -q -n 12 -p "$p" --set generate.logprobs=1 --set generate.n=2 --seed 5 \
  --set 'generate.stop=[" been", ","]' --json >"$tmp/out" 2>"$tmp/err" && ok || bad "--json run"
has "$tmp/out" '"index": 0,' "completion index 0"
has "$tmp/out" '"index": 1,' "completion index 1"
# At the top, in the settings and in each of the two completions.
[ "$(grep -c '"seed": 5,' "$tmp/out")" -eq 4 ] && ok || bad "seed at the top and in each completion"
has "$tmp/out" '"name": "decokit-tiny"' "model name from the GGUF"
has "$tmp/out" '"path": "' "model path"
has "$tmp/out" '"stop": " been"' "matched stop string"
has "$tmp/out" '"prompt": "She said that she"' "settings hold the prompt that ran"
has "$tmp/out" '"decoder": {' "settings name the decoder"
# usage: the prompt once, plus every completion's tokens.
tr -d ' \n' <"$tmp/out" >"$tmp/flat"
np=$(sed 's/.*"usage":{"prompt_tokens":\([0-9]*\),.*/\1/' "$tmp/flat")
nc=$(sed 's/.*"usage":{[^}]*"completion_tokens":\([0-9]*\),.*/\1/' "$tmp/flat")
nt=$(sed 's/.*"usage":{[^}]*"total_tokens":\([0-9]*\)}.*/\1/' "$tmp/flat")
gen=$(grep -o '"generated_tokens":[0-9]*' "$tmp/flat" | awk -F: '{ s += $2 } END { print s }')
[ "$np" = 5 ] && [ "$nc" = "$gen" ] && [ "$nt" = $((np + nc)) ] && ok ||
  bad "usage: prompt $np completion $nc total $nt, generated $gen"
# The total log-probability is the sum of the tokens'.
"$dk" run -q -n 6 -p "$p" --json-stream >"$tmp/out" 2>/dev/null
done_event
tot=$(sed 's/.*"logprobs":\[.*\],"logprob":\([-0-9.e]*\),.*/\1/' "$tmp/done")
sum=$(grep -o '{"id":[0-9]*,"piece":"[^"]*","logprob":[-0-9.e]*' "$tmp/done" |
      awk -F'"logprob":' '{ s += $2; n++ } END { if (n == 6) printf "%.12g", s }')
awk -v a="$tot" -v b="$sum" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a < 0 && d < 1e-6) }' && ok ||
  bad "total logprob $tot is not the sum $sum"

# ---- byte tokens and invalid UTF-8: piece is a string plus bytes, and the
# text agrees with stdout under one replacement policy (U+FFFD a byte) ----
# Token 198 of the bundled model is the lone byte 0xC3.
bias='{plugin: logit_bias, bias: ["198:100"]}'
"$dk" run -q --no-prompt -n 2 -p "$p" --sampler "$bias" >"$tmp/stdout" 2>"$tmp/err" && ok || { bad "byte run"; cat "$tmp/err"; }
printf '\357\277\275\357\277\275\n' >"$tmp/want"
cmp -s "$tmp/stdout" "$tmp/want" && ok || { bad "stdout: invalid UTF-8 not replaced"; od -c "$tmp/stdout"; }
"$dk" run -q -n 2 -p "$p" --sampler "$bias" --json >"$tmp/out" 2>"$tmp/err"
has "$tmp/out" '"text": "\uFFFD\uFFFD"' "JSON text: the same replacement"
has "$tmp/out" '"piece": "\uFFFD"' "byte token piece is a string"
tr -d ' \n' <"$tmp/out" | grep -q '"bytes":\[195\]' && ok || bad "byte token bytes"
"$dk" run -q -n 2 -p "$p" --sampler "$bias" --json-stream >"$tmp/out" 2>"$tmp/err"
has "$tmp/out" '"piece":"\uFFFD"' "stream piece: the same replacement"
# The first lone byte waits for the next token to show it is not a character.
has "$tmp/out" '"bytes":[195],"text":""}' "stream text: an unfinished character waits"
has "$tmp/out" '"bytes":[195],"text":"\uFFFD\uFFFD"}' "stream text: the same replacement"

# ---- --json-stream: an event per token as it is made, then the result ----
"$dk" run -q -n 12 -p "$p" --stop ', ' --json-stream >"$tmp/out" 2>"$tmp/err" && ok || bad "json-stream"
n=$(grep -c '^{"event":"token","index":0,"id":' "$tmp/out")
[ "$n" -eq 9 ] && ok || bad "json-stream: $n token events, wanted 9 (the tokens up to ', ')"
[ "$(wc -l <"$tmp/out")" -eq $((n + 1)) ] && ok || bad "json-stream: not token events then one done event"
tail -n 1 "$tmp/out" | grep -q '^{"event":"done","fingerprint":' && ok || bad "json-stream: no final done event"
# Every line is valid against the schema.
while IFS= read -r line; do
  printf '%s' "$line" >"$tmp/line"
  valid "$tmp/line" "json-stream line"
done <"$tmp/out"
# The events' ids are the completion's tokens, their texts its text: the
# stop string's tokens come with no text.
ids=$(sed -n 's/^{"event":"token","index":0,"id":\([0-9]*\),.*/\1/p' "$tmp/out" | paste -sd, -)
tail -n 1 "$tmp/out" | grep -qF "\"tokens\":[$ids]" && ok || bad "json-stream: event ids $ids are not the completion's"
joined=$(grep '"event":"token"' "$tmp/out" | sed 's/.*"text":"\(.*\)"}$/\1/' | tr -d '\n')
text=$(tail -n 1 "$tmp/out" | sed 's/.*"completions":\[{"index":0,"seed":0,"text":"\([^"]*\)".*/\1/')
[ "$joined" = "$text" ] && [ "$text" = " had been in the country" ] && ok || bad "json-stream: events '$joined', text '$text'"
tail -n 2 "$tmp/out" | head -n 1 | grep -q '"piece":" and",.*"text":""}$' && ok || bad "json-stream: the stop string's text shows"
# Several completions: each event names its completion.
"$dk" run -q -n 3 -p "$p" --temp 1 --set generate.n=2 --json-stream >"$tmp/out" 2>/dev/null
[ "$(grep -c '^{"event":"token","index":1,' "$tmp/out")" -eq 3 ] && ok || bad "json-stream: completion 1's events"

finish
