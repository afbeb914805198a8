#!/bin/sh
# models.sh -- the bundled models' quality figures, re-checked through decokit itself.
. "${DECOKIT_SRCDIR:?run through make check}/tests/testlib.sh"
md="$DECOKIT_SRCDIR/models"
ref="$md/reference.json"

# reference.json keeps one model's figures per block; read a field of a block.
field() { # field MODEL KEY
  awk -v m="\"$1\"" -v k="\"$2\"" '
    index($0, m) { inside = 1 }
    inside && index($0, k) { sub(/^[^:]*: */, ""); sub(/,$/, ""); print; exit }' "$ref"
}

# Held-out perplexity: decokit's equals the training script's within 1%.
for m in decokit-tiny decokit-tiny-draft; do
  want=$(field "$m.gguf" heldout_perplexity)
  got=$("$dk" perplexity -m "$md/$m.gguf" "$md/heldout.txt" 2>/dev/null | awk '$1 == "perplexity" { print $2 }')
  if awk -v g="$got" -v w="$want" 'BEGIN { d = g - w; if (d < 0) d = -d; exit !(w > 0 && d <= 0.01 * w) }'; then
    ok
  else
    bad "$m: perplexity $got, the training script measured $want (1% allowed)"
  fi
done

# The draft agrees with the target's greedy token about 56% of the time
# (0.5602 over the whole held-out set in the model card).
agree=$("$dk" perplexity -m "$md/decokit-tiny.gguf" --draft "$md/decokit-tiny-draft.gguf" \
  "$md/heldout.txt" 2>/dev/null | awk '$1 == "draft_agreement" { print $2 }')
awk -v a="$agree" 'BEGIN { exit !(a >= 0.50 && a <= 0.62) }' && ok ||
  bad "draft agreement $agree, expected about 0.56"

# Greedy ids from decokit run equal the training script's (torch) ids.
for m in decokit-tiny decokit-tiny-draft; do
  want=$(field "$m.gguf" greedy_ids | tr -d ' ')
  got=$("$dk" run --set model.path="$md/$m.gguf" -p "It is a truth universally acknowledged" -n 32 \
    --json | tr -d ' \n' | sed 's/.*"tokens":\(\[[^]]*\]\).*/\1/')
  [ "$got" = "$want" ] && ok || bad "$m: greedy ids $got, torch gave $want"
done

# Sampling at temperature 0.8 gives English: most words of a sample are
# words of the held-out text (a random model scores near zero).
tr -cs 'A-Za-z' '\n' <"$md/heldout.txt" | tr 'A-Z' 'a-z' | sort -u >"$tmp/words"
cat >"$tmp/t08.yaml" <<'YAML'
decokit: 1
samplers: [ { plugin: temperature, t: 0.8 }, { plugin: dist } ]
generate: { max_tokens: 200, prompt: "It was a fine morning, and" }
YAML
for seed in 1 2 3; do
  "$dk" run "$tmp/t08.yaml" --set model.path="$md/decokit-tiny.gguf" --seed "$seed" -q --no-prompt |
    tr -cs 'A-Za-z' '\n' | tr 'A-Z' 'a-z' | grep -v '^$' >"$tmp/gen"
  total=$(wc -l <"$tmp/gen")
  known=$(grep -cxFf "$tmp/words" "$tmp/gen")
  [ "$total" -ge 40 ] && [ $((known * 10)) -ge $((total * 6)) ] && ok ||
    bad "seed $seed: only $known of $total sampled words are English words of the held-out text"
done

# Every example pipeline runs on the bundled model (validate checks less:
# some parameters, such as logit_bias texts, need the vocabulary).
for f in "$DECOKIT_SRCDIR"/config/*.yaml; do
  if "$dk" run "$f" -n 8 -q >/dev/null 2>"$tmp/err"; then ok; else bad "$f: $(cat "$tmp/err")"; fi
done

finish
