#!/bin/sh
# cli.sh -- the decokit command end to end: help, exit codes, located errors, run, plugins.
. "${DECOKIT_SRCDIR:?run through make check}/tests/testlib.sh"
fx="$DECOKIT_FIXTURE_DIR"

expect 0 "--version" -- "$dk" --version
has "$tmp/out" "decokit 0.1.0 (plugin ABI 1.3)" "--version"
for c in run validate plugins model tokenize perplexity bench; do
  expect 0 "$c --help" -- "$dk" "$c" --help
  has "$tmp/out" "Usage: decokit $c" "$c --help"
done
expect 0 "--help" -- "$dk" --help
expect 2 "no command" -- "$dk"
expect 2 "unknown command" -- "$dk" frobnicate
has "$tmp/err" "unknown command 'frobnicate'" "unknown command"
expect 2 "unknown option" -- "$dk" run --frob
has "$tmp/err" "run: unknown option '--frob'" "unknown option"
expect 2 "--plugin-path to a missing folder" -- "$dk" run --plugin-path "$fx:$tmp/no-such-folder" -p x
has "$tmp/err" "--plugin-path: '$tmp/no-such-folder' is not a folder" "--plugin-path names the missing folder"

# A pipeline on the hash LM fixture, so no weights are needed.
cat >"$tmp/good.yaml" <<'YAML'
decokit: 1
model: { plugin: hashlm }
generate: { max_tokens: 12, prompt: "the cat", ignore_eos: true }
YAML
expect 0 "validate good" -- "$dk" validate --plugin-path "$fx" "$tmp/good.yaml"
has "$tmp/out" "good.yaml: ok (fingerprint " "validate good"
expect 0 "run" -- "$dk" run --plugin-path "$fx" -q "$tmp/good.yaml"
has "$tmp/out" "the cat" "run echoes the prompt"
[ "$(wc -c <"$tmp/out")" -gt 9 ] && ok || bad "run printed no generated text"
expect 0 "run --json" -- "$dk" run --plugin-path "$fx" --json "$tmp/good.yaml" --set generate.logprobs=2
has "$tmp/out" '"fingerprint":' "run --json"
has "$tmp/out" '"stop_reason": "length"' "run --json stop reason"
has "$tmp/out" '"processed_top":' "run --json logprobs"
expect 0 "run twice is identical" -- sh -c "'$dk' run --plugin-path '$fx' -q --json '$tmp/good.yaml' > '$tmp/a'; '$dk' run --plugin-path '$fx' -q --json '$tmp/good.yaml' > '$tmp/b'; grep -v '_s\"\\|per_s\"' '$tmp/a' > '$tmp/a2'; grep -v '_s\"\\|per_s\"' '$tmp/b' > '$tmp/b2'; cmp '$tmp/a2' '$tmp/b2'"
# n-best results and per-token numbers from a beam decoder (the fixture
# library's first decoder).
printf 'decokit: 1\nmodel: { plugin: hashlm }\ndecoder: { plugin: %s, width: 2 }\ngenerate: { max_tokens: 5 }\n' \
  "$fx/abi11.so" >"$tmp/beam.yaml"
expect 0 "run --json n-best" -- "$dk" run --plugin-path "$fx" --json "$tmp/beam.yaml"
has "$tmp/out" '"results": [' "run --json n-best"
has "$tmp/out" '"rank": 2' "run --json n-best ranks"
has "$tmp/out" '"processed_logprob": -' "run --json beam logprobs"
# Ctrl-C stops a long run: what was generated is printed, exit 130.
printf 'decokit: 1\nmodel: { plugin: hashlm, n_ctx: 100000000 }\ngenerate: { max_tokens: 100000000, ignore_eos: true }\n' \
  >"$tmp/long.yaml"
# The signal goes out once the run has installed its handler (SigCgt bit 2),
# so a slow start on a loaded machine cannot turn it into a plain kill.
interrupt_when_caught() {
  "$@" &
  pid=$!
  i=0
  while [ $i -lt 300 ]; do
    caught=$(sed -n 's/^SigCgt:[[:space:]]*//p' "/proc/$pid/status" 2>/dev/null)
    [ -n "$caught" ] && [ $(( 0x$caught & 2 )) -ne 0 ] && break
    sleep 0.1
    i=$((i + 1))
  done
  sleep 0.5
  kill -INT "$pid"
  wait "$pid"
}
expect 130 "SIGINT" -- interrupt_when_caught "$dk" run --plugin-path "$fx" "$tmp/long.yaml" -p "the cat"
has "$tmp/err" "stop: cancelled" "SIGINT stop reason"
has "$tmp/err" "interrupted" "SIGINT message"
[ "$(wc -c <"$tmp/out")" -gt 100 ] && ok || bad "SIGINT lost the generated text"
# The decoder example of decokit-plugin(3): three tokens a commit through a
# branch give the same text and tokens as one token a step, and every token
# keeps its logprobs (their values are compared in check_abi11).
printf 'samplers: [ { plugin: penalties, repeat: 1.3 }, { plugin: top_k, k: 8 }, { plugin: temperature, t: 0.8 } ]\n' >"$tmp/chain.yaml"
cat "$tmp/good.yaml" "$tmp/chain.yaml" >"$tmp/one.yaml"
cat "$tmp/one.yaml" >"$tmp/chunked.yaml"
echo 'decoder: { plugin: chunked }' >>"$tmp/chunked.yaml"
for y in one chunked; do
  expect 0 "run $y.yaml" -- "$dk" run --plugin-path "$fx" -q --json "$tmp/$y.yaml"
  grep -v -e '_s"' -e 'per_s"' -e '"pipeline"' -e '"fingerprint"' -e 'logprob"' -e '"plugin"' "$tmp/out" >"$tmp/$y.json"
  cp "$tmp/out" "$tmp/$y.full"
done
cmp -s "$tmp/one.json" "$tmp/chunked.json" && ok || bad "chunked example: not the one-token-a-step result"
grep -q 'logprob": null' "$tmp/chunked.full" && bad "chunked example: a token lost its logprob" || ok
printf 'from stdin' >"$tmp/prompt"
expect 0 "prompt from stdin" -- sh -c "'$dk' run --plugin-path '$fx' -q -p - '$tmp/good.yaml' < '$tmp/prompt'"
has "$tmp/out" "from stdin" "prompt from stdin"

# Wrong pipelines: one clear located error each, exit status 3.
printf 'decokit: 1\nmodel: { plugin: hashlm }\nsamplers:\n  - { plugin: top_k, kk: 3 }\n' >"$tmp/key.yaml"
expect 3 "unknown key" -- "$dk" validate --plugin-path "$fx" "$tmp/key.yaml"
has "$tmp/err" "key.yaml:4:22: samplers: unknown key 'kk' for 'top_k'" "unknown key"
printf 'decokit: 1\nmodel: { plugin: hashlm }\ngenerate:\n  max_tokens: many\n' >"$tmp/type.yaml"
expect 3 "wrong type" -- "$dk" run --plugin-path "$fx" "$tmp/type.yaml"
has "$tmp/err" "type.yaml:4:3: generate: key 'max_tokens': expected an integer, got 'many'" "wrong type"
printf 'decokit: 1\nmodel: { plugin: hashlm }\ndecoder: { plugin: no_such_decoder }\n' >"$tmp/plug.yaml"
expect 3 "missing plugin" -- "$dk" validate --plugin-path "$fx" "$tmp/plug.yaml"
has "$tmp/err" "plug.yaml:3:10: decoder: no decoder plugin named 'no_such_decoder'" "missing plugin"
[ "$(wc -l <"$tmp/err")" -eq 1 ] && ok || bad "missing plugin: more than one error line"
expect 3 "bad --set" -- "$dk" validate --plugin-path "$fx" --set generate.n=0 "$tmp/good.yaml"
has "$tmp/err" "--set generate.n: key 'n': 0 is out of range [1, 1024]" "bad --set"
expect 3 "missing file" -- "$dk" validate "$tmp/absent.yaml"
has "$tmp/err" "absent.yaml: cannot open pipeline: No such file or directory" "missing file"

# Loading can be traced.
expect 0 "verbose loading" -- env DECOKIT_PLUGIN_VERBOSE=1 "$dk" validate --plugin-path "$fx" "$tmp/good.yaml"
has "$tmp/err" "trace: plugin: dlopen $fx/hashlm.so" "verbose loading"
has "$tmp/err" "accepted 'hashlm' 1.0.0 (ABI 1.3, 1 component)" "verbose loading"

# Plugins: the built-ins are listed; each exports exactly one symbol.
expect 0 "plugins" -- "$dk" plugins
has "$tmp/out" "decoder    sample" "plugins lists the sample decoder"
expect 0 "plugins info" -- "$dk" plugins info hashlm --plugin-path "$fx"
has "$tmp/out" "window" "plugins info shows parameters"
has "$tmp/out" "capabilities: none" "plugins info shows no capabilities"
expect 0 "plugins info decoder" -- "$dk" plugins info sample
has "$tmp/out" "  capabilities: instance_mt" "plugins info shows the header's capabilities"
expect 0 "plugins info no_prefill" -- "$dk" plugins info unmask_fx --plugin-path "$fx"
has "$tmp/out" "  capabilities: no_prefill" "plugins info shows a decoder's no_prefill"
expect 3 "plugins info absent" -- "$dk" plugins info no_such_plugin
for so in "$DECOKIT_PLUGIN_PATH"/*.so; do
  n=$(nm -D --defined-only "$so" | awk '$2 == "T" || $2 == "D" || $2 == "B" || $2 == "R"' | wc -l)
  syms=$(nm -D --defined-only "$so" | awk '{print $3}' | tr '\n' ' ')
  if [ "$n" -eq 1 ] && nm -D --defined-only "$so" | grep -q ' T dk_plugin_entry$'; then ok; else bad "$so exports: $syms"; fi
done

finish
