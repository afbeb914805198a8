#!/bin/sh
# batch_resume.sh -- decokit batch --resume: after SIGKILL, SIGTERM or a cut last line the final file is one whole run's.
. "${DECOKIT_SRCDIR:?run through make check}/tests/testlib.sh"
greedy=$DECOKIT_SRCDIR/config/greedy.yaml

# 40 requests of 48 tokens each, a bad one among them: long enough to stop
# in the middle.
i=1
while [ $i -le 40 ]; do
  if [ $i -eq 17 ]; then
    echo '{"id": "bad", "prompt": 3}'
  else
    echo "{\"id\": \"r$i\", \"prompt\": \"Story number $i begins\", \"max_tokens\": 48, \"seed\": $i, \"temperature\": 0.9}"
  fi
  i=$((i + 1))
done >"$tmp/in.jsonl"
run() { "$dk" batch "$greedy" -i "$tmp/in.jsonl" "$@"; }
# in_bg ARGS...: run in the background, its process id in $pid.
in_bg() {
  "$dk" batch "$greedy" -i "$tmp/in.jsonl" -q "$@" &
  pid=$!
}
run -o "$tmp/ref.jsonl"
[ $? -eq 1 ] && ok || bad "the reference run's exit status (a bad line: 1)"
[ "$(wc -l <"$tmp/ref.jsonl")" -eq 40 ] && ok || bad "reference: 40 lines"

# wait_lines FILE N: until FILE holds N whole lines (or 30 s pass).
wait_lines() {
  k=0
  while [ "$(cat "$1" 2>/dev/null | wc -l)" -lt "$2" ] && [ $k -lt 300 ]; do sleep 0.1; k=$((k + 1)); done
}

# SIGKILL in the middle, then --resume.
in_bg -o "$tmp/kill.jsonl"
wait_lines "$tmp/kill.jsonl" 3
kill -KILL $pid 2>/dev/null
wait $pid
before=$(wc -l <"$tmp/kill.jsonl")
[ "$before" -lt 40 ] && ok || echo "note: the run ended before the kill; resume is still checked"
run -o "$tmp/kill.jsonl" --resume
[ $? -eq 1 ] && ok || bad "resume after a kill: exit status (the bad line is run again only when it was not written)"
cmp "$tmp/kill.jsonl" "$tmp/ref.jsonl" && ok || bad "resume after SIGKILL differs from one run"

# SIGTERM (a scheduler's preemption): the current request is dropped, 143.
in_bg -o "$tmp/term.jsonl"
wait_lines "$tmp/term.jsonl" 2
kill -TERM $pid 2>/dev/null
wait $pid
st=$?
n=$(wc -l <"$tmp/term.jsonl")
if [ "$n" -lt 40 ]; then
  [ $st -eq 143 ] && ok || bad "SIGTERM: exit $st, wanted 143"
  tail -c 1 "$tmp/term.jsonl" | od -An -c | grep -q '\\n' && ok || bad "SIGTERM left a partial line"
fi
run -o "$tmp/term.jsonl" --resume --progress-interval 0 2>"$tmp/term.err"
cmp "$tmp/term.jsonl" "$tmp/ref.jsonl" && ok || bad "resume after SIGTERM differs from one run"
if [ "$n" -lt 40 ]; then
  grep -qE "^decokit: batch: 40/40 done \\($n skipped, [01] errors\\)" "$tmp/term.err" && ok || { bad "resume progress counts the skipped"; cat "$tmp/term.err"; }
fi

# SIGINT (Ctrl-C): 130, and the file resumes like the others.
in_bg -o "$tmp/int.jsonl"
wait_lines "$tmp/int.jsonl" 2
kill -INT $pid 2>/dev/null
wait $pid
st=$?
[ "$(wc -l <"$tmp/int.jsonl")" -eq 40 ] || { [ $st -eq 130 ] && ok || bad "SIGINT: exit $st, wanted 130"; }
run -o "$tmp/int.jsonl" --resume -q
cmp "$tmp/int.jsonl" "$tmp/ref.jsonl" && ok || bad "resume after SIGINT differs from one run"

# Killed while running four requests at once: the file is still a prefix of
# whole results in input order, and resuming completes it.
in_bg -o "$tmp/par.jsonl" -j 4
wait_lines "$tmp/par.jsonl" 5
kill -KILL $pid 2>/dev/null
wait $pid
run -o "$tmp/par.jsonl" --resume -q -j 4
jq -r .id "$tmp/par.jsonl" >"$tmp/par.ids"
jq -r .id "$tmp/ref.jsonl" >"$tmp/ref.ids"
cmp -s "$tmp/par.ids" "$tmp/ref.ids" && ok || bad "-j 4, killed and resumed: ids or their order differ"

# A run killed while writing leaves half a line: cut in the middle of the
# fifth line, and in the middle of the last.
for cut in 5 40; do
  st=1; [ $cut -gt 17 ] && st=0 # whether the bad line is run again
  bytes=$(head -n $((cut - 1)) "$tmp/ref.jsonl" | wc -c)
  head -c $((bytes + 25)) "$tmp/ref.jsonl" >"$tmp/cut.jsonl"
  expect $st "resume a cut file (line $cut)" -- run -o "$tmp/cut.jsonl" --resume
  has "$tmp/err" "removed a partial last line (25 bytes)" "the cut is reported"
  cmp "$tmp/cut.jsonl" "$tmp/ref.jsonl" && ok || bad "resume after a cut at line $cut differs from one run"
done

# Resuming a finished file runs nothing; with --resume every id is skipped.
expect 0 "resume a finished file" -- run -o "$tmp/ref.jsonl" --resume --progress-interval 0
has "$tmp/err" "40/40 done (40 skipped, 0 errors), 0 tokens" "nothing left to run"

# A file that is not batch output is refused, and left as it was.
printf 'hello\n' >"$tmp/other.txt"
expect 1 "resume a foreign file" -- run -o "$tmp/other.txt" --resume
has "$tmp/err" "line 1 is not a result of decokit batch" "foreign file message"
[ "$(cat "$tmp/other.txt")" = hello ] && ok || bad "the foreign file was changed"

# Two writers of one file: the second is refused.
in_bg -o "$tmp/two.jsonl"
wait_lines "$tmp/two.jsonl" 1
if kill -0 $pid 2>/dev/null; then
  expect 1 "a second writer" -- run -o "$tmp/two.jsonl" --resume
  has "$tmp/err" "being written by another process" "second writer message"
fi
wait $pid
run -o "$tmp/two.jsonl" --resume
cmp "$tmp/two.jsonl" "$tmp/ref.jsonl" && ok || bad "the first writer's file"

finish
