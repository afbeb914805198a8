#!/bin/sh
# drafter-tools.sh -- aded-store and vocab-trim write what the aded and draft_model drafters read; the output stays greedy.
. "${DECOKIT_SRCDIR:?run through make check}/tests/testlib.sh"
store="$DECOKIT_BUILDDIR/tools/aded-store"
src="$DECOKIT_SRCDIR"

# By hand: 1 2 3 1 2 4 1 2 3 has pairs (1 2) -> 3 twice, 4 once; (2 3) -> 1; (2 4) -> 1; (3 1) -> 2; (4 1) -> 2.
printf '1 2 3 1 2 4 1 2 3\n' | "$store" > "$tmp/small.tri"
printf 'decokit-trigrams 1\n1 2 3 0.666667\n1 2 4 0.333333\n2 3 1 1\n2 4 1 1\n3 1 2 1\n4 1 2 1\n' > "$tmp/want.tri"
if cmp -s "$tmp/small.tri" "$tmp/want.tri"; then ok; else bad "store: $(cat "$tmp/small.tri")"; fi
printf '1 2 3 1 2 4 1 2 3\n' | "$store" -k 1 | grep -c '^1 2 ' | grep -qx 1 && ok || bad "-k 1 keeps one successor"
if printf '1 x 3\n' | "$store" > /dev/null 2>&1; then bad "non-numeric input accepted"; else ok; fi
if printf '1 -2 3\n' | "$store" > /dev/null 2>&1; then bad "negative id accepted"; else ok; fi

# A store from the bundled model's tokens: the output is still greedy's.
"$dk" tokenize --ids --no-bos - < "$src/models/heldout.txt" | "$store" > "$tmp/heldout.tri" || bad "tokenize | aded-store"
[ "$(head -n 1 "$tmp/heldout.tri")" = "decokit-trigrams 1" ] && [ "$(wc -l < "$tmp/heldout.tri")" -gt 1000 ] && ok \
  || bad "heldout store: $(head -n 3 "$tmp/heldout.tri")"
prompt="And the LORD said unto Moses,"
want=$("$dk" run -q --no-prompt -n 60 -p "$prompt" "$src/config/greedy.yaml") || bad "greedy run"
got=$("$dk" run -q --no-prompt -n 60 -p "$prompt" --set "drafter.store=$tmp/heldout.tri" "$src/config/aded.yaml") \
  || bad "aded run with a store"
[ "$got" = "$want" ] && ok || bad "aded with a store differs from greedy: '$got' vs '$want'"
# A store for another vocabulary is refused, naming the key.
printf 'decokit-trigrams 1\n1 2 99999 0.5\n' > "$tmp/wide.tri"
out=$("$dk" run -q -n 4 --set "drafter.store=$tmp/wide.tri" "$src/config/aded.yaml" 2>&1) && bad "a foreign store ran"
case "$out" in *store*line\ 2*) ok ;; *) bad "foreign store: $out" ;; esac

# vocab-trim: the most frequent ids first, ties to the lower id.
trim="$DECOKIT_BUILDDIR/tools/vocab-trim"
[ "$(printf '5 3 5 7 3 5 9\n' | "$trim" | tr '\n' ' ')" = "5 3 7 9 " ] && ok || bad "vocab-trim order"
[ "$(printf '5 3 5 7 3 5\n' | "$trim" -n 2 | tr '\n' ' ')" = "5 3 " ] && ok || bad "vocab-trim -n 2"
if printf '1 x\n' | "$trim" > /dev/null 2>&1; then bad "vocab-trim took a non-number"; else ok; fi
# The trimmed draft proposes listed tokens only and the output is still greedy's.
"$dk" tokenize --ids --no-bos - < "$src/models/heldout.txt" | "$trim" -n 300 > "$tmp/trim.ids" || bad "tokenize | vocab-trim"
[ "$(wc -l < "$tmp/trim.ids")" -eq 300 ] && ok || bad "300 ids expected: $(wc -l < "$tmp/trim.ids")"
got=$("$dk" run -q --no-prompt -n 60 -p "$prompt" --set "drafter.vocab_trim=$tmp/trim.ids" "$src/config/speculative.yaml") \
  || bad "speculative with vocab_trim"
[ "$got" = "$want" ] && ok || bad "vocab_trim differs from greedy: '$got' vs '$want'"
finish
