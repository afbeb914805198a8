#!/bin/sh
# serve_replicas.sh -- examples/serve-replicas: two decokit serve replicas behind nginx share the requests.
. "${DECOKIT_SRCDIR:?run through make check}/tests/testlib.sh"
src=$DECOKIT_SRCDIR
for t in nginx curl jq; do
  command -v $t >/dev/null || { echo "$t not found: skipping"; exit 77; }
done
# A free block of three ports: nginx's and the replicas' after it.
port=$(python3 -c '
import random, socket
while True:
    base = random.randrange(20000, 60000, 10)
    socks = []
    try:
        for k in range(3):
            s = socket.socket()
            s.bind(("127.0.0.1", base + k))
            socks.append(s)
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(base)
    break' 2>/dev/null || echo 38170)
DECOKIT="$dk" sh "$src/examples/serve-replicas/run.sh" "$src/config/greedy.yaml" 2 "$port" 2>"$tmp/run.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
i=0
until grep -q "serving on" "$tmp/run.log" && curl -sf "http://127.0.0.1:$port/health" >/dev/null; do
  i=$((i + 1))
  [ $i -lt 150 ] || { cat "$tmp/run.log"; echo "FAIL: the replicas did not start"; exit 1; }
  sleep 0.2
done
"$dk" run "$src/config/greedy.yaml" -p "Once upon a time" -n 16 --json 2>/dev/null | jq -r '.completions[0].text' >"$tmp/want"
for k in 1 2 3 4 5 6; do
  curl -s "http://127.0.0.1:$port/v1/completions" -d '{"prompt": "Once upon a time", "max_tokens": 16}' |
    jq -r '.choices[0].text' >"$tmp/got"
  if cmp -s "$tmp/want" "$tmp/got"; then ok; else bad "request $k through nginx: $(cat "$tmp/got")"; fi
done
# Both replicas served some: their own /metrics say so.
for r in 1 2; do
  n=$(curl -s "http://127.0.0.1:$((port + r))/metrics" | sed -n 's/^decokit_completion_tokens_total //p')
  if [ "${n:-0}" -gt 0 ]; then ok; else bad "replica $r generated nothing"; fi
done
kill $pid
wait $pid
if ! curl -sf "http://127.0.0.1:$((port + 1))/health" >/dev/null 2>&1; then ok; else bad "a replica outlived run.sh"; fi
finish
