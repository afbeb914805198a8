#!/bin/sh
# dllm_llama.sh -- freedave and learn2pd on the llama plugin's real forward: a synthetic bidirectional model with a mask token, against one-position-per-step decoding.
. "${DECOKIT_SRCDIR:?run through make check}/tests/testlib.sh"
synth="$DECOKIT_BUILDDIR/tools/synth/llama-synth"
add_kv="$DECOKIT_BUILDDIR/tests/gguf_add_kv"
# F32 weights: the batched masked call's rows are the single call's bit for
# bit there, so the argmaxes, and with them the tokens, must agree exactly.
"$synth" "$tmp/bi.gguf" --vocab-from "$DECOKIT_SRCDIR/models/decokit-tiny.gguf" --non-causal --type f32 \
  --embd 64 --layers 2 --heads 4 --kv-heads 2 --ffn 128 --ctx 256 --seed 7 >/dev/null && ok || bad "llama-synth"
"$add_kv" "$tmp/bi.gguf" "$tmp/dllm.gguf" tokenizer.ggml.mask_token_id u32:3 && ok || bad "gguf_add_kv mask"

# run NAME DECODER: text in $tmp/NAME.txt, model calls in $tmp/NAME.nfe.
run() {
  printf 'decokit: 1\nmodel: { plugin: llama, path: %s }\ndecoder: { %s }\ngenerate: { max_tokens: 32, ignore_eos: true }\n' \
    "$tmp/dllm.gguf" "$2" >"$tmp/$1.yaml"
  if "$dk" run "$tmp/$1.yaml" -p "Once upon a time" --no-prompt >"$tmp/$1.txt" 2>"$tmp/$1.err"; then ok; else
    bad "$1: exit status"; cat "$tmp/$1.err"; fi
  sed -n 's/.* \([0-9][0-9]*\) forward passes.*/\1/p' "$tmp/$1.err" >"$tmp/$1.nfe"
}
same() { # same A B: equal texts
  if cmp -s "$tmp/$1.txt" "$tmp/$2.txt"; then ok; else bad "$2 differs from $1:"; cat "$tmp/$1.txt" "$tmp/$2.txt"; fi
}
calls() { # calls NAME MAX: at most MAX model calls
  n=$(cat "$tmp/$1.nfe")
  if [ -n "$n" ] && [ "$n" -le "$2" ]; then ok; else bad "$1: $n calls, more than $2"; fi
}

canvas="gen_length: 32, block_length: 16"
for cache in none prefix dual; do
  run "ref-$cache" "plugin: diffusion, $canvas, steps: 32, cache: $cache"
  run "fd-$cache" "plugin: freedave, $canvas, draft_steps: 4, cache: $cache"
  run "l2-$cache" "plugin: learn2pd, $canvas, eotp: false, cache: $cache"
  same "ref-$cache" "fd-$cache"
  same "ref-$cache" "l2-$cache"
  # The dual cache stores its canvas on a call of its own: one more per block.
  extra=0; [ "$cache" = dual ] && extra=2
  calls "fd-$cache" $(( $(cat "$tmp/ref-$cache.nfe") + extra ))
  calls "l2-$cache" "$(cat "$tmp/ref-$cache.nfe")"
done
# Draft steps 1 is the reference itself, call for call.
run fd1 "plugin: freedave, $canvas, draft_steps: 1"
same ref-prefix fd1
calls fd1 "$(cat "$tmp/ref-prefix.nfe")"
finish
