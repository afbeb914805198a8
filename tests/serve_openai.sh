#!/bin/sh
# serve_openai.sh -- decokit serve under the official openai npm client (installed here; skips without node, npm or the registry).
. "${DECOKIT_SRCDIR:?run through make check}/tests/testlib.sh"
src=$DECOKIT_SRCDIR
for t in node npm; do
  command -v $t >/dev/null || { echo "$t not found: skipping"; exit 77; }
done
mkdir "$tmp/js"
cp "$src/tests/serve_openai.mjs" "$tmp/js/"
if ! (cd "$tmp/js" && timeout 180 npm install --no-audit --no-fund --silent openai@4 >"$tmp/npm.log" 2>&1); then
  cat "$tmp/npm.log"
  echo "npm could not install the openai package: skipping"
  exit 77
fi
printf 'decokit: 1\ngenerate: { chat_template: chatml, max_tokens: 16 }\n' >"$tmp/chat.yaml"
"$dk" serve --port 0 --port-file "$tmp/port" greedy="$src/config/greedy.yaml" "$tmp/chat.yaml" 2>"$tmp/serve.log" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
i=0
while [ ! -s "$tmp/port" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$tmp/port" ] || { cat "$tmp/serve.log"; echo "FAIL: the server did not start"; exit 1; }
if (cd "$tmp/js" && timeout 120 node serve_openai.mjs "http://127.0.0.1:$(cat "$tmp/port")"); then ok; else bad "the openai client's checks"; fi
kill $pid
if wait $pid; then ok; else bad "the server did not exit cleanly"; cat "$tmp/serve.log"; fi
finish
