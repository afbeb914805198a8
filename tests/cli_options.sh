#!/bin/sh
# cli_options.sh -- run's options on the bundled model: --set in YAML flow syntax, --sampler, the
# sampler shortcuts, --stop, -f, --seed -1, --print-pipeline, and perplexity's progress lines.
. "${DECOKIT_SRCDIR:?run through make check}/tests/testlib.sh"
src=$DECOKIT_SRCDIR
fx="$DECOKIT_FIXTURE_DIR"

hasnt() {
  if grep -qF -- "$2" "$1"; then bad "$3: '$2' in:"; cat "$1"; else ok; fi
}
same() { # same A B DESCRIPTION
  if [ "$1" = "$2" ]; then ok; else bad "$3: '$1' != '$2'"; fi
}

# ---- --set values are YAML flow syntax ----
# Greedy on the bundled model continues this prompt with " had been in the country, ...".
p="She said that she"
expect 0 "greedy reference" -- "$dk" run -q --no-prompt -n 12 -p "$p"
has "$tmp/out" " had been in the country," "greedy reference"
# The stop list keeps the leading space of " had" and the comma as an item.
expect 0 "--set a flow list" -- "$dk" run -q --json -n 12 -p "$p" --set 'generate.stop=[" been", ","]'
has "$tmp/out" '"text": " had"' "flow list: cut before ' been'"
has "$tmp/out" '"stop": " been"' "flow list: the matched stop string"
expect 0 "--set a quoted comma" -- "$dk" run -q --json -n 12 -p "$p" --set 'generate.stop=[","]'
has "$tmp/out" '"text": " had been in the country"' "quoted comma is a stop string"
has "$tmp/out" '"stop": ","' "quoted comma matched"
expect 0 "--set a quoted scalar with ': '" -- "$dk" run -q --no-prompt -n 1 --set 'generate.prompt="a: b"' --print-pipeline
has "$tmp/out" 'prompt: "a: b"' "quoted scalar keeps its text, not its quotes"
# What YAML cannot read is an error naming the option, never a value with quotes kept.
expect 3 "--set unterminated quote" -- "$dk" run -q -n 1 --set 'generate.stop=["x'
has "$tmp/err" "--set generate.stop" "unterminated quote names the option"
expect 3 "--set a mapping where a value goes" -- "$dk" run -q -n 1 --set 'generate.prompt=a: b'
has "$tmp/err" "--set generate.prompt: expected a value or a [list] of values, got a mapping" "mapping value"
expect 3 "--set only a comment" -- "$dk" run -q -n 1 --set 'generate.prompt=#x'
has "$tmp/err" "--set generate.prompt: the value is only a YAML comment" "comment value"
expect 3 "--set a nested list" -- "$dk" run -q -n 1 --set 'generate.stop=[[a]]'
has "$tmp/err" "--set generate.stop: list items must be scalars" "nested list"

# ---- adding samplers ----
expect 0 "--set samplers.+=" -- "$dk" run -q -n 1 --set 'samplers.+={plugin: top_k, k: 3}' --sampler greedy --print-pipeline
has "$tmp/out" '  - { plugin: "top_k", k: 3 }' "samplers.+= block"
has "$tmp/out" '  - { plugin: "greedy" }' "--sampler NAME"
[ "$(grep -n top_k "$tmp/out" | cut -d: -f1)" -lt "$(grep -n greedy "$tmp/out" | cut -d: -f1)" ] && ok ||
  bad "samplers are appended in command-line order"
expect 3 "--sampler without a plugin" -- "$dk" run -q -n 1 --sampler '{k: 3}'
has "$tmp/err" "--sampler: --set samplers.+" "--sampler error names the option"
has "$tmp/err" "missing key 'plugin'" "--sampler without a plugin"
expect 3 "--sampler unknown plugin" -- "$dk" run -q -n 1 --sampler no_such_sampler
has "$tmp/err" "no_such_sampler" "--sampler unknown plugin"

# ---- shortcuts ----
# On a pipeline with the sampler they set its value; otherwise they add it
# before the chain's selector (dist), in llama.cpp's order.
expect 0 "shortcuts on llamacpp-default" -- "$dk" run -q "$src/config/llamacpp-default.yaml" --temp 0.5 --top-k 7 --print-pipeline
has "$tmp/out" '{ plugin: "temperature", t: 0.5 }' "--temp sets the pipeline's temperature"
has "$tmp/out" '{ plugin: "top_k", k: 7 }' "--top-k sets the pipeline's top_k"
[ "$(grep -c 'plugin: "temperature"' "$tmp/out")" -eq 1 ] && ok || bad "--temp added a second temperature"
expect 0 "shortcuts added" -- "$dk" run -q "$src/config/creative.yaml" --temp 0.9 --top-p 0.8 --min-p 0.1 --top-k 5 --repeat-penalty 1.2 --print-pipeline
sed -n 's/^  - { plugin: "\([a-z_]*\)".*/\1/p' "$tmp/out" | tr '\n' ' ' >"$tmp/chain"
same "$(cat "$tmp/chain")" "penalties min_p temperature top_k top_p dist " "shortcut samplers go before dist"
has "$tmp/out" '{ plugin: "penalties", last_n: 256, repeat: 1.2' "--repeat-penalty"
has "$tmp/out" '{ plugin: "min_p", p: 0.1' "--min-p"
has "$tmp/out" '{ plugin: "top_p", p: 0.8' "--top-p"
expect 0 "shortcuts on the default pipeline" -- "$dk" run -q -n 1 --temp 0.7 --top-k 40 --print-pipeline
sed -n 's/^  - { plugin: "\([a-z_]*\)".*/\1/p' "$tmp/out" | tr '\n' ' ' >"$tmp/chain"
same "$(cat "$tmp/chain")" "top_k temperature " "shortcuts in llama.cpp's order"
expect 2 "--temp not a number" -- "$dk" run -q -n 1 --temp hot
has "$tmp/err" "option --temp: expected a number, got 'hot'" "--temp not a number"
expect 2 "--top-k not whole" -- "$dk" run -q -n 1 --top-k 2.5
has "$tmp/err" "option --top-k: expected a whole number" "--top-k not whole"
expect 3 "--top-p out of range" -- "$dk" run -q -n 1 --top-p 2
has "$tmp/err" "top_p" "--top-p out of range names the sampler"
# A shortcut changes the output: top-k 1 is greedy whatever the seed.
expect 0 "--top-k 1 --temp 5 is greedy" -- "$dk" run -q --no-prompt -n 12 -p "$p" --top-k 1 --temp 5 --seed 3
has "$tmp/out" " had been in the country," "--top-k 1 --temp 5 is greedy"
expect 0 "--temp 5 is not greedy" -- "$dk" run -q --no-prompt -n 12 -p "$p" --temp 5 --seed 3
hasnt "$tmp/out" " had been in the country," "--temp 5 samples"

# ---- --stop is literal and repeatable ----
expect 0 "--stop" -- "$dk" run -q --json -n 12 -p "$p" --stop ' country' --stop '"x\'
has "$tmp/out" '"text": " had been in the"' "--stop with a space"
has "$tmp/out" '"stop": [' "--stop list in settings"
has "$tmp/out" '"\"x\\"' "--stop keeps quotes and backslashes literally"

# ---- -f/--prompt-file ----
printf '%s' "$p" >"$tmp/prompt.txt"
expect 0 "-f" -- "$dk" run -q -n 12 -f "$tmp/prompt.txt"
has "$tmp/out" "She said that she had been in the country," "-f reads the prompt"
expect 0 "--prompt-file=" -- "$dk" run -q -n 12 --prompt-file="$tmp/prompt.txt"
has "$tmp/out" "She said that she had been in the country," "--prompt-file="
expect 1 "-f missing file" -- "$dk" run -q -n 1 -f "$tmp/nope.txt"
has "$tmp/err" "nope.txt" "-f missing file named"
expect 2 "-f and -p" -- "$dk" run -q -n 1 -f "$tmp/prompt.txt" -p x
has "$tmp/err" "not both" "-f and -p"

# ---- --seed -1: random, and shown so the run can be replayed ----
expect 0 "--seed -1" -- "$dk" run --no-prompt -n 16 --temp 1.5 --seed -1 -p "$p"
seed=$(sed -n 's/.*, seed \([0-9]*\), pipeline.*/\1/p' "$tmp/err")
[ -n "$seed" ] && ok || { bad "--seed -1: no seed in the statistics"; cat "$tmp/err"; }
cp "$tmp/out" "$tmp/first"
expect 0 "replay the seed" -- "$dk" run --no-prompt -n 16 --temp 1.5 --seed "${seed:-0}" -p "$p"
cmp -s "$tmp/first" "$tmp/out" && ok || bad "--seed $seed does not replay --seed -1"
has "$tmp/err" ", seed ${seed:-x}, " "replayed seed in statistics"
expect 0 "--seed -1 --json" -- "$dk" run -q --json -n 2 --temp 1.5 --seed -1
grep -q '^  "seed": [0-9]' "$tmp/out" && ok || bad "--seed -1: no seed in the JSON"
s1=$(sed -n 's/^  "seed": \([0-9]*\),/\1/p' "$tmp/out")
"$dk" run -q --json -n 2 --temp 1.5 --seed -1 >"$tmp/out2" 2>/dev/null
s2=$(sed -n 's/^  "seed": \([0-9]*\),/\1/p' "$tmp/out2")
[ "$s1" != "$s2" ] && ok || bad "--seed -1 chose the same seed twice ($s1)"
expect 3 "--seed -2" -- "$dk" run -q -n 1 --seed -2
has "$tmp/err" "seed" "--seed -2 refused"

# ---- --print-pipeline: the resolved pipeline, which validates to the same fingerprint ----
for cfg in "" "$src/config/llamacpp-default.yaml" "$src/config/json-schema.yaml" "$src/config/speculative.yaml"; do
  name=${cfg:-default}
  expect 0 "print $name" -- "$dk" run $cfg -n 5 --stop ', "' --temp 0.3 --print-pipeline
  cp "$tmp/out" "$tmp/printed.yaml"
  expect 0 "validate printed $name" -- "$dk" validate "$tmp/printed.yaml"
  fp1=$(sed -n 's/.*fingerprint \([0-9a-f]*\)).*/\1/p' "$tmp/out")
  "$dk" run $cfg -n 5 --stop ', "' --temp 0.3 >/dev/null 2>"$tmp/err"
  fp2=$(sed -n 's/.*, pipeline \([0-9a-f]*\)$/\1/p' "$tmp/err")
  [ -n "$fp1" ] && [ "$fp1" = "$fp2" ] && ok || bad "$name: printed pipeline fingerprint $fp1, run's $fp2"
  # It reads back as itself.
  "$dk" run "$tmp/printed.yaml" --print-pipeline >"$tmp/again.yaml" 2>&1
  cmp -s "$tmp/printed.yaml" "$tmp/again.yaml" && ok || bad "$name: printed pipeline is not a fixed point"
done
expect 0 "print with a prompt" -- "$dk" run -p 'tab	"q"' --print-pipeline
has "$tmp/out" 'prompt: "tab\x09\"q\""' "printed prompt is escaped"

# ---- the help and decokit(1) suggest only what works ----
"$dk" run --help >"$tmp/help"
hasnt "$tmp/help" "beams" "run --help suggests no decoder.beams"
hasnt "$src/man/decokit.1" "beams" "decokit(1) suggests no decoder.beams"
# The --set examples of the help, one a line, work on the default pipeline
# in the order given.
sed -n "s/^ \\{10,\\}--set '\\(.*\\)'\$/\\1/p; s/^ \\{10,\\}--set \\([^ ']*\\).*/\\1/p" "$tmp/help" >"$tmp/sets"
[ "$(wc -l <"$tmp/sets")" -ge 4 ] && ok || bad "run --help lost its --set examples"
set --
while IFS= read -r a; do set -- "$@" --set "$a"; done <"$tmp/sets"
if "$dk" run -q "$@" --print-pipeline >"$tmp/out" 2>"$tmp/err"; then ok; else bad "help's --set examples:"; cat "$tmp/err"; fi
has "$tmp/out" '{ plugin: "top_k", k: 20 }' "help's --set examples"
has "$tmp/out" 'stop: [" had", ","]' "help's --set stop example"
# decokit(1)'s EXAMPLES run as written, with the bundled model, in a scratch folder.
mkdir -p "$tmp/bin" "$tmp/ex"
printf '#!/bin/sh\nexec "%s" "$@"\n' "$dk" >"$tmp/bin/decokit"
chmod +x "$tmp/bin/decokit"
sed -n 's/^\.Dl \$ //p' "$src/man/decokit.1" |
  sed "s/\\\\(dq/\"/g; s/\\\\(aq/'/g; s/\\\\e/\\\\/g" >"$tmp/examples"
[ "$(wc -l <"$tmp/examples")" -ge 8 ] && ok || bad "decokit(1) lost its examples"
while IFS= read -r ex; do
  if (cd "$tmp/ex" && PATH="$tmp/bin:$PATH" sh -c "$ex") >"$tmp/out" 2>"$tmp/err"; then ok; else
    bad "decokit(1) example fails: $ex"; cat "$tmp/err"; fi
done <"$tmp/examples"

# ---- perplexity: carriage-return progress only on a terminal ----
printf 'the cat sat on the mat and the dog sat on the log\n' >"$tmp/text.txt"
expect 0 "perplexity to a pipe" -- "$dk" perplexity --plugin-path "$fx" --set model.plugin=hashlm -c 8 "$tmp/text.txt"
if tr -d '\n' <"$tmp/err" | grep -q "$(printf '\r')"; then bad "perplexity wrote \\r to a non-terminal"; else ok; fi
[ "$(grep -c '^decokit: perplexity: [0-9]*/[0-9]* tokens$' "$tmp/err")" -ge 2 ] && ok ||
  { bad "perplexity progress is not one line per window"; cat "$tmp/err"; }

# A relative path given with --set is relative to the working folder, not
# to the pipeline file's folder.
mkdir "$tmp/elsewhere"
printf 'decokit: 1\ngenerate: { max_tokens: 2 }\n' >"$tmp/elsewhere/p.yaml"
cp "$src/models/decokit-tiny.gguf" "$tmp/here.gguf"
if (cd "$tmp" && "$dk" run -q -p "It" --set model.path=here.gguf elsewhere/p.yaml) >"$tmp/out" 2>"$tmp/err"; then
  ok
else
  bad "--set model.path=RELATIVE was not read from the working folder:"; cat "$tmp/err"
fi

finish
