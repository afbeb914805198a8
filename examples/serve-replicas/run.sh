#!/bin/sh
# run.sh -- N decokit serve replicas behind nginx: ./run.sh PIPELINE [N] [PORT]; Ctrl-C stops them all.
# Each replica listens on PORT+1 ... PORT+N (check one with curl localhost:PORT+1/health, or
# scrape /metrics); nginx spreads /v1/... requests over them on PORT.
set -eu
pipeline=${1:?usage: run.sh PIPELINE [N] [PORT]}
n=${2:-3}
port=${3:-8080}
here=$(cd "$(dirname "$0")" && pwd)
decokit=${DECOKIT:-decokit}
dir=$(mktemp -d)
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  [ -f "$dir/nginx.pid" ] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
servers=""
replicas=""
i=1
while [ "$i" -le "$n" ]; do
  p=$((port + i))
  "$decokit" serve --port "$p" "$pipeline" &
  pids="$pids $!"
  replicas="$replicas $!"
  servers="$servers    server 127.0.0.1:$p max_fails=1 fail_timeout=5s;\n"
  i=$((i + 1))
done
# The example configuration with these ports.
awk -v servers="$servers" -v port="$port" '
  /server 127\.0\.0\.1:808[1-9]/ { if (!done) { printf "%s", servers; done = 1 } next }
  /listen 127\.0\.0\.1:/ { sub(/:[0-9]+;/, ":" port ";") }
  { print }' "$here/nginx.conf" | sed 's/\\n/\n/g' >"$dir/nginx.conf"
# Wait for every replica's /health before taking requests; one that exits (its port
# taken, say) ends the script.
i=1
for r in $replicas; do
  until curl -sf -m 2 "http://127.0.0.1:$((port + i))/health" >/dev/null; do
    kill -0 "$r" 2>/dev/null || { echo "run.sh: replica $i (port $((port + i))) exited" >&2; exit 1; }
    sleep 0.2
  done
  i=$((i + 1))
done
nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' &
pids="$pids $!"
echo "serving on http://127.0.0.1:$port/ with $n replicas" >&2
wait
