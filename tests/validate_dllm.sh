#!/bin/sh
# validate_dllm.sh -- validate refuses a diffusion decoder on a model it cannot decode, as the run would, without a model call.
. "${DECOKIT_SRCDIR:?run through make check}/tests/testlib.sh"
fx="$DECOKIT_FIXTURE_DIR"
src="$DECOKIT_SRCDIR"

# A causal model: the decoder's own message, at the decoder's line, as run gives it.
printf 'decokit: 1\nmodel: { plugin: llama, path: %s/models/decokit-tiny.gguf }\ndecoder: { plugin: diffusion, gen_length: 64, block_length: 32, steps: 64 }\n' \
  "$src" >"$tmp/causal.yaml"
expect 3 "diffusion on a causal model" -- "$dk" validate "$tmp/causal.yaml"
has "$tmp/err" "causal.yaml:3:10: decoder 'diffusion': model 'llama' is causal: masked diffusion needs a bidirectional model" \
  "the causal model is named at the decoder"
cp "$tmp/err" "$tmp/validate.err"
expect 1 "diffusion on a causal model (run)" -- "$dk" run "$tmp/causal.yaml" -p "It was"
has "$tmp/err" "$(head -n 1 "$tmp/validate.err" | sed 's/^decokit: //')" "run fails with validate's message"

# The bundled dLLM with its pipeline is valid.
expect 0 "the bundled dLLM's pipeline" -- "$dk" validate "$src/config/diffusion-tiny.yaml"
has "$tmp/out" "diffusion-tiny.yaml: ok (fingerprint " "the bundled dLLM's pipeline is ok"

# The other checks a diffusion decoder makes of its model when it begins.
toy() {
  printf 'decokit: 1\nmodel: { plugin: toymask, %s }\ndecoder: { plugin: %s, gen_length: 128, block_length: 32, cache: prefix }\ngenerate: { max_tokens: 128 }\n' \
    "$1" "$2" >"$tmp/toy.yaml"
}
toy "has_mask: false" freedave
expect 3 "a model without a mask token" -- "$dk" validate --plugin-path "$fx" "$tmp/toy.yaml"
has "$tmp/err" "toy.yaml:3:10: decoder 'freedave': model 'toymask' has no mask token" "no mask token"
toy "seq_cache: false" prophet
expect 3 "a prefix cache without eval_masked_seq" -- "$dk" validate --plugin-path "$fx" "$tmp/toy.yaml"
has "$tmp/err" "decoder 'prophet': cache: prefix needs a model with eval_masked_seq" "no sequence cache"
toy "n_ctx: 64" diffusion
expect 3 "a canvas longer than the context" -- "$dk" validate --plugin-path "$fx" "$tmp/toy.yaml"
has "$tmp/err" "decoder 'diffusion': gen_length: 128 positions after a prompt of 1 do not fit the model's context of 64" \
  "canvas over the context"

# Beginning makes no model call: a model whose batched call fails passes
# validate, and only the run, which steps, meets the fault.
toy "batch_fault: status" freedave
expect 0 "validate does not step the decoder" -- "$dk" validate --plugin-path "$fx" "$tmp/toy.yaml"
expect 1 "the run steps it" -- "$dk" run --plugin-path "$fx" "$tmp/toy.yaml" -p ab
has "$tmp/err" "eval_masked_batch returned status 42" "the run meets the faulty batched call"

finish
