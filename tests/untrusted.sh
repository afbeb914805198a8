#!/bin/sh
# untrusted.sh -- hostile files and arguments on the command line: a message and a failing status, fast.
. "${DECOKIT_SRCDIR:?run through make check}/tests/testlib.sh"
fx="$DECOKIT_FIXTURE_DIR"

# expect STATUS DESCRIPTION -- COMMAND...: run (at most 20 s), compare the exit status.
expect() {
  want=$1 what=$2; shift 3
  timeout 20 "$@" >"$tmp/out" 2>"$tmp/err"
  got=$?
  if [ "$got" -eq "$want" ]; then ok; else bad "$what: exit $got, wanted $want"; cat "$tmp/err"; fi
}

# A list section written twice overran the first list (validate crashed).
printf 'decokit: 1\nmodel: { plugin: hashlm }\nsamplers: [ { plugin: greedy }, { plugin: greedy } ]\nsamplers: []\n' >"$tmp/twice.yaml"
expect 3 "samplers twice" -- "$dk" validate --plugin-path "$fx" "$tmp/twice.yaml"
has "$tmp/err" "twice.yaml:4:1: section 'samplers' appears twice (first at line 3, column 1)" "samplers twice"

# A sampler returning a positive status used to end the run silently with status 0.
printf 'decokit: 1\nmodel: { plugin: hashlm }\nsamplers: [ { plugin: %s/rogue.so, mode: status } ]\ngenerate: { prompt: "a", max_tokens: 3 }\n' "$fx" >"$tmp/rogue.yaml"
expect 1 "positive status from apply" -- "$dk" run --plugin-path "$fx" -q "$tmp/rogue.yaml"
has "$tmp/err" "sampler 'rogue': apply returned status 5" "positive status from apply"
sed 's/mode: status/mode: create_status/' "$tmp/rogue.yaml" >"$tmp/rogue2.yaml"
expect 3 "positive status from create" -- "$dk" run --plugin-path "$fx" -q "$tmp/rogue2.yaml"
has "$tmp/err" "sampler 'rogue': create returned status 7" "positive status from create"

# Files that are not regular files: a FIFO as the model blocked forever,
# /dev/zero as a pipeline read forever, a directory said "read error".
mkfifo "$tmp/fifo"
expect 3 "FIFO model" -- "$dk" model info "$tmp/fifo"
has "$tmp/err" "fifo: not a GGUF file (not a regular file)" "FIFO model"
expect 3 "/dev/zero pipeline" -- "$dk" validate /dev/zero
has "$tmp/err" "/dev/zero: more than 1048576 bytes, larger than a pipeline may be" "/dev/zero pipeline"
expect 3 "directory pipeline" -- "$dk" validate "$tmp"
has "$tmp/err" "cannot read pipeline: Is a directory" "directory pipeline"
expect 2 "directory perplexity input" -- "$dk" perplexity --plugin-path "$fx" --set model.plugin=hashlm "$tmp"
has "$tmp/err" "perplexity: $tmp: cannot read text file: Is a directory" "directory perplexity input"

# Empty option values exited 2 without a word.
for args in "--plugin-path=" "--set=" "--set ''"; do
  eval "set -- $args"
  expect 2 "validate $args" -- "$dk" validate "$@" "$tmp/twice.yaml"
  has "$tmp/err" "option ${1%%=*} needs a non-empty value" "validate $args"
done
expect 2 "--model ''" -- "$dk" tokenize --model '' hello
has "$tmp/err" "option --model needs a non-empty value" "tokenize --model ''"

# Bad arguments to llama-synth leave no (empty) model behind.
synth="$DECOKIT_BUILDDIR/tools/synth/llama-synth"
expect 1 "llama-synth bad shape" -- "$synth" "$tmp/bad.gguf" --embd 7
has "$tmp/err" "inconsistent dimensions" "llama-synth bad shape"
[ ! -e "$tmp/bad.gguf" ] && [ ! -e "$tmp/bad.gguf.part" ] && ok || bad "llama-synth left a file behind"

# Every line of a multi-line tokenizer warning carries the prefix.
m="${DECOKIT_TEST_MODELS:-}"
if [ -n "$m" ] && [ -f "$m/stories260K-llama2c-convert.gguf" ]; then
  expect 0 "tokenizer warnings" -- "$dk" model info "$m/stories260K-llama2c-convert.gguf"
  has "$tmp/err" "seperator_token_id = 4294967295 is outside the vocabulary" "tokenizer warnings"
  if grep -v '^decokit: warning: ' "$tmp/err" | grep -q .; then
    bad "warning lines without the prefix:"; grep -v '^decokit: warning: ' "$tmp/err"
  else ok; fi
fi

finish
