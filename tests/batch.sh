#!/bin/sh
# batch.sh -- decokit batch: results against decokit run, shards against one run, bad lines, pipelines, progress, usage.
. "${DECOKIT_SRCDIR:?run through make check}/tests/testlib.sh"
src=$DECOKIT_SRCDIR
command -v jq >/dev/null || { echo "jq not found: skipping"; exit 77; }
greedy=$src/config/greedy.yaml
export LC_ALL=C
# jqt FILTER [ARGS...]: FILTER gives true for some result of all.jsonl, and
# nothing but true.
jqt() {
  f=$1; shift
  jq -s -e "$@" "[.[] | $f] | length > 0 and all" "$tmp/all.jsonl" >/dev/null
}

# Twelve completions (greedy and seeded sampling, with logprobs), a chat,
# and lines that cannot run, with a blank line among them; the repeated id
# (line 10) falls in another shard than its first use (line 1).
cat >"$tmp/in.jsonl" <<'EOF'
{"id": "p1", "prompt": "Once upon a time", "max_tokens": 12}
{"prompt": "The cat sat", "max_tokens": 8}
not json at all
{"id": "u", "prompt": "x", "bogus": 1}

{"id": "v", "prompt": "Hello", "max_tokens": 0}
{"id": "p2", "prompt": "It was a bright cold day", "max_tokens": 16, "stop": ["."]}
{"id": "s1", "prompt": "One day", "max_tokens": 10, "temperature": 0.8, "seed": 7, "logprobs": 2}
{"id": "c1", "model": "chat", "messages": [{"role": "user", "content": "Hi there"}], "max_tokens": 6}
{"id": "p1", "prompt": "a repeated id", "max_tokens": 4}
{"id": 5, "prompt": "an id that is a number"}
{"id": "m", "model": "nosuch", "prompt": "x"}
[1, 2]
{"id": "p3", "prompt": "She said", "max_tokens": 9}
{"id": "p4", "prompt": "In the morning", "max_tokens": 7, "n": 2, "seed": 3, "temperature": 1}
EOF
printf 'decokit: 1\ndecoder: { plugin: sample }\nsamplers:\n  - { plugin: greedy }\ngenerate: { chat_template: chatml }\n' >"$tmp/chat.yaml"
pipes="$greedy chat=$tmp/chat.yaml"

expect 1 "one run (some lines are bad)" -- "$dk" batch $pipes -i "$tmp/in.jsonl" -o "$tmp/all.jsonl" -q
[ ! -s "$tmp/err" ] && ok || { bad "-q still reports"; cat "$tmp/err"; }

# One result per non-blank line, in input order, each carrying its line and id.
got=$(jq -r '"\(.line) \(.id)"' "$tmp/all.jsonl" | tr '\n' ' ')
want="1 p1 2 line-2 3 line-3 4 u 6 v 7 p2 8 s1 9 c1 10 p1 11 line-11 12 m 13 line-13 14 p3 15 p4 "
[ "$got" = "$want" ] && ok || bad "lines and ids: '$got', wanted '$want'"

# The good lines make what decokit run makes.
for q in "p1|Once upon a time|12" "line-2|The cat sat|8" "p3|She said|9"; do
  id=${q%%|*} rest=${q#*|}; p=${rest%|*} n=${rest#*|}
  "$dk" run "$greedy" -p "$p" -n "$n" --json 2>/dev/null | jq -r '.completions[0].text' >"$tmp/want"
  jq -r --arg id "$id" 'select(.id == $id and .error == null) | .choices[0].text' "$tmp/all.jsonl" >"$tmp/got"
  if cmp -s "$tmp/want" "$tmp/got" && [ -s "$tmp/want" ]; then ok; else bad "$id: batch text differs from decokit run"; fi
done
jqt 'select(.id == "p2") | .choices[0].finish_reason == "stop" and (.choices[0].text | contains(".") | not)' && ok || bad "p2: stop string"
jqt 'select(.id == "s1") | (.choices[0].logprobs.tokens | length) == 10 and (.choices[0].logprobs.top_logprobs[0] | length) == 2' && ok || bad "s1: logprobs"
jqt 'select(.id == "p1" and .line == 1) | .object == "text_completion" and .model == "greedy" and .usage.completion_tokens == 12 and (has("created") | not)' && ok || bad "p1: response fields"
jqt 'select(.id == "c1") | .object == "chat.completion" and .model == "chat" and .choices[0].message.role == "assistant"' && ok || bad "c1: chat through the chat pipeline"
jqt 'select(.id == "p4") | (.choices | length) == 2' && ok || bad "p4: n = 2"

# Bad lines: an error result each, with the field at fault.
err_is() { # ID PARAM TEXT
  jqt 'select(.id == $id and .error != null) | .error.type == "invalid_request_error" and
    (.error.param // "") == $p and (.error.message | contains($t))' --arg id "$1" --arg p "$2" --arg t "$3" && ok || { bad "$1: error result ($2, $3)"; grep -F "\"$1\"" "$tmp/all.jsonl"; }
}
err_is line-3 "" "line 3 is not valid JSON"
err_is u bogus "unknown field 'bogus'"
err_is v max_tokens "'max_tokens' must be between"
err_is p1 id "already used by line 1"
err_is line-11 id "'id' must be a non-empty string"
err_is m model "no model or pipeline named 'nosuch'"
err_is line-13 "" "must be a JSON object"
[ "$(jq -c 'select(.error) | .line' "$tmp/all.jsonl" | tr '\n' ' ')" = "3 4 6 10 11 12 13 " ] && ok || bad "error lines"

# Shards 0..3 of 4: line N goes to shard (N - 1) mod 4; merged and sorted by
# line they are the unsharded run, byte for byte.
for i in 0 1 2 3; do
  expect 1 "shard $i/4" -- "$dk" batch $pipes -i "$tmp/in.jsonl" -o "$tmp/shard$i.jsonl" --shard $i/4 -q
  bad_line=$(jq -r --argjson i $i 'select((.line - 1) % 4 != $i) | .line' "$tmp/shard$i.jsonl")
  [ -z "$bad_line" ] && ok || bad "shard $i/4 holds line $bad_line"
done
cat "$tmp"/shard[0-3].jsonl | sort -s -t: -k2,2n >"$tmp/merged.jsonl"
cmp "$tmp/merged.jsonl" "$tmp/all.jsonl" && ok || bad "merged shards differ from one run"
# A run with more shards than lines leaves the extra shards empty.
expect 0 "an empty shard" -- "$dk" batch $pipes -i "$tmp/in.jsonl" -o "$tmp/empty.jsonl" --shard 20/21 -q
[ -f "$tmp/empty.jsonl" ] && [ ! -s "$tmp/empty.jsonl" ] && ok || bad "shard 20/21 is not an empty file"

# Requests side by side (-j 3): the same results in the same order; the
# model calls they share round differently, so only the greedy lines' texts
# are compared (the sampled ones may differ).
expect 1 "-j 3" -- "$dk" batch $pipes -i "$tmp/in.jsonl" -o "$tmp/par.jsonl" -q -j 3
view() { jq -c 'select(.id != "s1" and .id != "p4") | [.line, .id, .error, ((.choices // []) | map(.text // .message.content))]' "$1"; }
view "$tmp/all.jsonl" >"$tmp/view1"
view "$tmp/par.jsonl" >"$tmp/view3"
cmp -s "$tmp/view1" "$tmp/view3" && ok || { bad "-j 3 results differ"; diff "$tmp/view1" "$tmp/view3"; }
[ "$(jq -r .line "$tmp/par.jsonl" | tr '\n' ' ')" = "$(jq -r .line "$tmp/all.jsonl" | tr '\n' ' ')" ] && ok || bad "-j 3 order"
expect 2 "-j 0" -- "$dk" batch "$greedy" -i "$tmp/in.jsonl" -o "$tmp/x.jsonl" -j 0

# Input from standard input; every line good: exit 0.
grep -E '"id": "p[23]"' "$tmp/in.jsonl" >"$tmp/good.jsonl"
"$dk" batch "$greedy" -i - -o "$tmp/good.out" -q <"$tmp/good.jsonl" && ok || bad "stdin input: exit $?"
[ "$(jq -r .id "$tmp/good.out" | tr '\n' ' ')" = "p2 p3 " ] && ok || bad "stdin input results"

# Progress off a terminal: plain lines on stderr, the last one complete.
"$dk" batch $pipes -i "$tmp/in.jsonl" -o "$tmp/prog.jsonl" --progress-interval 0 2>"$tmp/prog.err"
tail -n 1 "$tmp/prog.err" | grep -qE '^decokit: batch: 14/14 done \(0 skipped, 7 errors\), [0-9]+ tokens, [0-9.]+ tok/s, ETA 0:00$' \
  && ok || { bad "final progress line"; cat "$tmp/prog.err"; }
[ "$(grep -c '^decokit: batch: ' "$tmp/prog.err")" -eq 14 ] && ok || { bad "a progress line per request"; cat "$tmp/prog.err"; }
grep -q "$(printf '\r')" "$tmp/prog.err" && bad "carriage returns off a terminal" || ok
"$dk" batch $pipes -i "$tmp/in.jsonl" -o "$tmp/prog2.jsonl" 2>"$tmp/prog2.err"
[ "$(grep -c '^decokit: batch: ' "$tmp/prog2.err")" -eq 1 ] && ok || { bad "default interval: one line for a quick batch"; cat "$tmp/prog2.err"; }

# On a terminal (script(1) gives one): a bar redrawn in place, ending its line.
if command -v script >/dev/null && script -qec true /dev/null >/dev/null 2>&1; then
  script -qec "'$dk' batch $greedy -i '$tmp/good.jsonl' -o '$tmp/tty.jsonl'" /dev/null >"$tmp/tty.log" 2>&1
  tr '\r' '\n' <"$tmp/tty.log" | grep -qE 'batch \[#{24}\] 2/2  [0-9.]+ tok/s  ETA 0:00' && ok || { bad "terminal bar"; cat -v "$tmp/tty.log"; }
  grep -q "$(printf '\r')" "$tmp/tty.log" && ok || bad "the bar is not redrawn in place"
  grep -q 'done (' "$tmp/tty.log" && bad "plain lines on a terminal" || ok
else
  echo "script(1) cannot open a terminal here: the bar is not checked"
fi

# Usage and file errors.
expect 2 "no input" -- "$dk" batch "$greedy" -o "$tmp/x.jsonl"
expect 2 "no pipeline" -- "$dk" batch -i "$tmp/in.jsonl" -o "$tmp/x.jsonl"
for s in 4/4 -1/4 1/0 a/b 1 1/2x; do
  expect 2 "--shard $s" -- "$dk" batch "$greedy" -i "$tmp/in.jsonl" -o "$tmp/x.jsonl" --shard "$s"
  has "$tmp/err" "expected I/N" "--shard $s message"
done
expect 2 "unknown option" -- "$dk" batch "$greedy" -i "$tmp/in.jsonl" -o "$tmp/x.jsonl" --frobnicate
expect 2 "same name twice" -- "$dk" batch "$greedy" "$greedy" -i "$tmp/in.jsonl" -o "$tmp/x.jsonl"
expect 1 "missing input" -- "$dk" batch "$greedy" -i "$tmp/nosuch.jsonl" -o "$tmp/x.jsonl"
expect 1 "output not empty without --resume" -- "$dk" batch "$greedy" -i "$tmp/in.jsonl" -o "$tmp/all.jsonl"
has "$tmp/err" "give --resume" "not-empty message"
cmp -s "$tmp/merged.jsonl" "$tmp/all.jsonl" && ok || bad "a refused run changed the output"
printf 'decokit: 1\ndecoder: { plugin: nosuch }\n' >"$tmp/broken.yaml"
expect 3 "invalid pipeline" -- "$dk" batch "$tmp/broken.yaml" -i "$tmp/in.jsonl" -o "$tmp/y.jsonl"
expect 0 "--help" -- "$dk" batch --help
has "$tmp/out" "--shard I/N" "help text"

finish
