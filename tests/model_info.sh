#!/bin/sh
# model_info.sh -- decokit model info on the reference GGUF files: the report's keys and values.
. "${DECOKIT_SRCDIR:?run through make check}/tests/testlib.sh"
need_models

# has FILE LINE: the report holds exactly this line
has() {
  if grep -qxF -- "$2" "$1"; then ok; else bad "$(basename "$1"): no line '$2'"; fi
}

info() { # info MODEL: the report in $tmp/MODEL.txt
  "$dk" model info "$m/$1" >"$tmp/$1.txt" 2>"$tmp/$1.err" || { bad "$1: model info failed: $(cat "$tmp/$1.err")"; return 1; }
  ok
}

if info stories260K.gguf; then
  r="$tmp/stories260K.gguf.txt"
  size=$(wc -c <"$m/stories260K.gguf" | tr -d ' ')
  grep -q "^file.size: $size bytes " "$r" && ok || bad "file.size is not $size bytes"
  has "$r" "gguf.version: 3"
  has "$r" "architecture: llama"
  has "$r" "n_ctx_train: 512"
  has "$r" "n_ctx: 512"
  has "$r" "n_embd: 64"
  has "$r" "n_layer: 5"
  has "$r" "n_head: 8"
  has "$r" "n_head_kv: 4 (GQA)"
  has "$r" "head_dim: 8"
  has "$r" "n_ff: 172"
  has "$r" "rope.type: normal"
  has "$r" "rope.freq_base: 10000"
  has "$r" "rms_eps: 1e-05"
  has "$r" "output: output.weight"
  has "$r" "vocab.size: 512"
  has "$r" 'tokenizer.model: "llama"'
  has "$r" "tokenizer.kind: SentencePiece"
  has "$r" 'token.bos: 1 "<s>"'
  has "$r" 'token.eos: 2 "</s>"'
  has "$r" 'token.unk: 0 "<unk>"'
  has "$r" "tensor blk.0.attn_q.weight: F32 [64, 64]"
  has "$r" "tensor blk.4.ffn_down.weight: F32 [172, 64]"
  has "$r" "tensor token_embd.weight: F32 [64, 512]"
  has "$r" "tensor output.weight: F32 [64, 512]"
  # one tensor line per tensor: 9 per layer, plus token_embd, output_norm and output
  n=$(grep -c '^tensor ' "$r")
  [ "$n" -eq 48 ] && ok || bad "stories260K: $n tensor lines, want 48"
  grep -q '^type F32: 48 tensors, 1171200 bytes ' "$r" && ok || bad "stories260K: F32 type summary"
  # 2*512*64 embeddings + 5 layers of (2*64*64 + 2*64*32 + 3*64*172 + 2*64) + 64
  has "$r" "parameters: 292800 (292.8K)"
  # K and V, 5 layers, 4 heads of 8, half precision: 5*2*32*2 = 640 bytes per position
  has "$r" "kv_cache.per_1k_positions: 655360 bytes (640.00 KiB, F16 K and V)"
  # What the model reports to the host, after the plugin's own report.
  has "$r" "capabilities: batch tree fork truncate hidden ragged head masked_seq dual_cache block_causal abort share masked_batch"
  has "$r" "attention: causal"
  has "$r" "logit_shift: 0"
  res=$((size + 640 * 512))
  grep -q "^memory.resident: about $res bytes " "$r" && ok || bad "memory.resident is not $res bytes"
fi

# Q8_0 file: ffn_down stays F16 (172 columns are not a multiple of 32).
if info stories260K-q8_0.gguf; then
  r="$tmp/stories260K-q8_0.gguf.txt"
  has "$r" "tensor blk.0.attn_q.weight: Q8_0 [64, 64]"
  has "$r" "tensor blk.0.ffn_down.weight: F16 [172, 64]"
  grep -q '^type F16: 5 tensors, ' "$r" && ok || bad "q8_0: F16 type summary"
  grep -q '^type Q8_0: ' "$r" && ok || bad "q8_0: Q8_0 type summary"
fi

# The quirky converter output: its trained context and the warning about the special ids.
if info stories260K-llama2c-convert.gguf; then
  r="$tmp/stories260K-llama2c-convert.gguf.txt"
  has "$r" "n_ctx_train: 128"
  grep -q '^warning: .*4294967295' "$r" && ok || bad "llama2c-convert: no warning line about id 4294967295"
fi

# A 32k vocabulary and another general.name.
if [ -f "$m/llama-2-tiny-random.gguf" ] && info llama-2-tiny-random.gguf; then
  r="$tmp/llama-2-tiny-random.gguf.txt"
  has "$r" "vocab.size: 32000"
  has "$r" "n_embd: 8"
  grep -q '^general.name: "' "$r" && ok || bad "tiny-random: general.name"
fi

# A diffusion LM (the bundled one) is described without naming a diffusion decoder.
r="$tmp/diffusion.txt"
if "$dk" model info "$DECOKIT_SRCDIR/models/decokit-tiny-diffusion.gguf" >"$r" 2>"$tmp/err"; then
  ok
  has "$r" "architecture: dream"
  has "$r" "attention: bidirectional"
  has "$r" "logit_shift: 1"
else
  bad "diffusion model: model info failed: $(cat "$tmp/err")"
fi

# Errors: a missing file and a file that is not GGUF fail cleanly.
"$dk" model info "$tmp/missing.gguf" >/dev/null 2>"$tmp/err" && bad "missing file accepted" || ok
printf 'not a gguf file at all' >"$tmp/junk.gguf"
"$dk" model info "$tmp/junk.gguf" >/dev/null 2>"$tmp/err" && bad "junk file accepted" || ok
[ -s "$tmp/err" ] && ok || bad "junk file: no error message"

finish
