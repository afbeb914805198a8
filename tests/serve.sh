#!/bin/sh
# serve.sh -- decokit serve under curl: endpoints, streaming, json_schema, errors, limits, cancellation.
. "${DECOKIT_SRCDIR:?run through make check}/tests/testlib.sh"
src=$DECOKIT_SRCDIR
for t in curl jq; do
  command -v $t >/dev/null || { echo "$t not found: skipping"; exit 77; }
done

# start NAME ARGS...: a server on a free loopback port, its port in $port.
start() {
  name=$1; shift
  rm -f "$tmp/$name.port"
  "$dk" serve --port 0 --port-file "$tmp/$name.port" "$@" 2>"$tmp/$name.log" &
  eval "pid_$name=\$!"
  i=0
  while [ ! -s "$tmp/$name.port" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
  [ -s "$tmp/$name.port" ] || { cat "$tmp/$name.log"; echo "FAIL: server $name did not start"; exit 1; }
  port=$(cat "$tmp/$name.port")
}
# stop NAME: SIGTERM, then a clean exit (0, and no sanitizer report) is a pass.
stop() {
  eval "p=\${pid_$1:-}"
  [ -n "$p" ] || return 0
  eval "pid_$1="
  kill "$p" 2>/dev/null
  wait "$p"
  st=$?
  if [ $st -eq 0 ] && ! grep -q Sanitizer "$tmp/$1.log"; then ok; else bad "server $1 exited with $st"; cat "$tmp/$1.log"; fi
}
trap 'for p in ${pid_main:-} ${pid_lim:-}; do kill $p; done 2>/dev/null; rm -rf "$tmp"' EXIT

# post PATH BODY: status in $tmp/code, body in $tmp/body, headers in $tmp/hdr.
post() {
  curl -s -o "$tmp/body" -D "$tmp/hdr" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary "$2" "http://127.0.0.1:$port$1" >"$tmp/code"
}
code_is() {
  if [ "$(cat "$tmp/code")" = "$1" ]; then ok; else bad "$2: status $(cat "$tmp/code"), wanted $1"; cat "$tmp/body"; fi
}
jq_is() { # FILTER WANT WHAT
  got=$(jq -r "$1" "$tmp/body" 2>&1)
  if [ "$got" = "$2" ]; then ok; else bad "$3: $1 is '$got', wanted '$2'"; fi
}

expect 0 "serve --help" -- "$dk" serve --help
has "$tmp/out" "/v1/chat/completions" "the help names the endpoints"
expect 2 "serve without a pipeline" -- "$dk" serve
expect 2 "a port out of range" -- "$dk" serve --port 70000 "$src/config/greedy.yaml"
expect 2 "an unknown option" -- "$dk" serve --bogus "$src/config/greedy.yaml"
expect 3 "a missing pipeline" -- "$dk" serve "$tmp/none.yaml"
expect 2 "two pipelines of one name" -- "$dk" serve "$src/config/greedy.yaml" greedy="$src/config/beam.yaml"

printf 'decokit: 1\ngenerate: { chat_template: chatml, max_tokens: 16 }\n' >"$tmp/chat.yaml"
start main --max-tokens 256 greedy="$src/config/greedy.yaml" json="$src/config/json-schema.yaml" \
  "$tmp/chat.yaml"
base="http://127.0.0.1:$port"

curl -s "$base/health" >"$tmp/body"
jq_is .status ok "/health"
curl -s "$base/v1/models" >"$tmp/body"
jq_is '[.data[].id] | join(",")' "greedy,json,chat" "/v1/models lists the pipelines by name"

# A completion is what decokit run makes from the same pipeline and prompt.
"$dk" run "$src/config/greedy.yaml" -p "Once upon a time" -n 24 --json 2>/dev/null | jq -r '.completions[0].text' >"$tmp/want"
post /v1/completions '{"model": "greedy", "prompt": "Once upon a time", "max_tokens": 24}'
code_is 200 "completion"
jq -r '.choices[0].text' "$tmp/body" >"$tmp/got"
if cmp -s "$tmp/want" "$tmp/got"; then ok; else bad "completion differs from decokit run: $(cat "$tmp/got") / $(cat "$tmp/want")"; fi
jq_is .object text_completion "completion object"
jq_is .usage.completion_tokens 24 "usage counts the generated tokens"
jq_is .choices[0].finish_reason length "max_tokens ends with length"

# The same, streamed: data lines, a finish, usage, [DONE], and the same text.
curl -sN -H 'Content-Type: application/json' --data-binary \
  '{"prompt": "Once upon a time", "max_tokens": 24, "stream": true, "stream_options": {"include_usage": true}}' \
  "$base/v1/completions" >"$tmp/sse"
tail -n 2 "$tmp/sse" | head -n 1 >"$tmp/last"
has "$tmp/last" "data: [DONE]" "stream ends with [DONE]"
grep '^data: {' "$tmp/sse" | sed 's/^data: //' | jq -j '.choices[0].text // empty' >"$tmp/got"
printf '\n' >>"$tmp/got"
if cmp -s "$tmp/want" "$tmp/got"; then ok; else bad "streamed text differs: $(cat "$tmp/got")"; fi
grep '^data: {' "$tmp/sse" | sed 's/^data: //' | jq -r 'select(.usage) | .usage.completion_tokens' >"$tmp/got"
has "$tmp/got" 24 "stream usage chunk"

# logprobs: one per token, the chosen token first among its alternatives.
post /v1/completions '{"prompt": "Once", "max_tokens": 4, "logprobs": 2}'
code_is 200 "logprobs"
jq_is '.choices[0].logprobs.token_logprobs | length' 4 "a logprob per token"
jq_is '[.choices[0].logprobs.top_logprobs[] | length] | join(",")' "2,2,2,2" "two alternatives per token"
jq_is '[.choices[0].logprobs.token_logprobs[] | . <= 0] | all' true "logprobs are at most 0"

# n completions, seed and temperature: two runs with one seed agree.
post /v1/completions '{"prompt": "Once", "max_tokens": 8, "n": 3, "temperature": 1.0, "seed": 7, "decokit": {"samplers": [{"plugin": "dist"}]}}'
code_is 200 "n = 3 with a seed"
jq_is '.choices | length' 3 "three choices"
cp "$tmp/body" "$tmp/first"
post /v1/completions '{"prompt": "Once", "max_tokens": 8, "n": 3, "temperature": 1.0, "seed": 7, "decokit": {"samplers": [{"plugin": "dist"}]}}'
if [ "$(jq -c '[.choices[].text]' "$tmp/first")" = "$(jq -c '[.choices[].text]' "$tmp/body")" ]; then ok; else bad "same seed, other text"; fi

post /v1/completions '{"prompt": "Once", "max_tokens": 4, "stream": true, "decokit": {"set": ["generate.n=2"]}}'
code_is 400 "streaming more than one completion"

# stop strings end the text before them.
post /v1/completions '{"prompt": "Once upon a time", "max_tokens": 24, "stop": [" city"]}'
code_is 200 "stop"
jq_is .choices[0].finish_reason stop "a stop string ends with stop"
jq_is '.choices[0].text | contains(" city")' false "the stop string is not in the text"

# Chat, in the pipeline's ChatML format.
post /v1/chat/completions '{"model": "chat", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}], "max_tokens": 8}'
code_is 200 "chat"
jq_is .object chat.completion "chat object"
jq_is .choices[0].message.role assistant "chat message role"
jq_is '.choices[0].message.content | type' string "chat content"
curl -sN -H 'Content-Type: application/json' --data-binary \
  '{"model": "chat", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 8, "stream": true}' \
  "$base/v1/chat/completions" >"$tmp/sse"
grep '^data: {' "$tmp/sse" | head -n 1 | sed 's/^data: //' >"$tmp/body"
jq_is .choices[0].delta.role assistant "chat stream starts with the role"
has "$tmp/sse" "data: [DONE]" "chat stream ends with [DONE]"
post /v1/chat/completions '{"model": "greedy", "messages": [{"role": "user", "content": "Hello"}]}'
code_is 400 "chat on a pipeline without a chat template"

# response_format json_schema: the output parses and follows the schema.
post /v1/completions '{"model": "json", "prompt": "A person as JSON:", "max_tokens": 120, "response_format": {"type": "json_schema", "json_schema": {"name": "p", "schema": {"type": "object", "properties": {"age": {"type": "integer"}, "name": {"type": "string", "maxLength": 8}}, "required": ["age", "name"], "additionalProperties": false}}}}'
code_is 200 "json_schema"
jq -r '.choices[0].text' "$tmp/body" >"$tmp/json"
if jq -e '(.age | type) == "number" and (.name | type) == "string" and (keys | length) == 2' "$tmp/json" >/dev/null; then ok; else bad "json_schema output: $(cat "$tmp/json")"; fi
post /v1/chat/completions '{"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 60, "response_format": {"type": "json_object"}, "decokit": {"set": ["constraint.whitespace=none"]}}'
code_is 200 "json_object"
jq -r '.choices[0].message.content' "$tmp/body" >"$tmp/json"
if [ "$(jq .choices[0].finish_reason -r "$tmp/body")" != stop ] || jq -e 'type == "object"' "$tmp/json" >/dev/null; then ok; else bad "json_object output: $(cat "$tmp/json")"; fi

# The decokit extension: another decoder for one request.
post /v1/completions '{"prompt": "Once upon a time", "max_tokens": 8, "decokit": {"decoder": {"plugin": "beam", "width": 3}}}'
code_is 200 "decokit.decoder"
post /v1/completions '{"prompt": "x", "decokit": {"pipeline": "json", "decoder": {"plugin": "no_such_decoder"}}}'
code_is 400 "an unknown decoder"
jq_is .error.param decokit "the error names the extension"
post /v1/completions '{"prompt": "x", "decokit": {"decoder": {"plugin": "/tmp/x.so"}}}'
code_is 400 "a plugin given as a path"
post /v1/completions '{"prompt": "x", "decokit": {"set": ["model.path=/etc/passwd"]}}'
code_is 400 "a model override"
# A request names no server files: only those of the server's pipelines.
post /v1/completions '{"prompt": "x", "decokit": {"constraint": {"plugin": "json_schema", "file": "/etc/passwd"}}}'
code_is 400 "a constraint reading a server file"
jq_is '.error.message | contains("names a file")' true "the error says why"
post /v1/completions '{"model": "json", "prompt": "x", "decokit": {"set": ["constraint.file=/etc/hostname"]}}'
code_is 400 "an override naming a server file"
post /v1/completions '{"model": "json", "prompt": "A person:", "max_tokens": 4, "decokit": {"set": ["constraint.whitespace=flexible"]}}'
code_is 200 "the pipeline's own schema file"

# Errors: OpenAI error objects.
post /v1/completions '{"prompt": "x",'
code_is 400 "malformed JSON"
jq_is .error.type invalid_request_error "error type"
post /v1/completions '{"prompt": "x", "max_tokenz": 3}'
code_is 400 "an unknown field"
jq_is .error.param max_tokenz "the error names the field"
post /v1/completions '{"prompt": "x", "temperature": "hot"}'
code_is 400 "a bad value"
post /v1/completions '{"prompt": "x", "max_tokens": 100000}'
code_is 400 "max_tokens above the server's limit"
post /v1/completions '[1, 2]'
code_is 400 "not an object"
post /v1/completions '{"max_tokens": 3}'
code_is 400 "no prompt"
post /v1/completions '{"model": "gpt-4", "prompt": "x"}'
code_is 404 "an unknown model"
jq_is .error.code model_not_found "unknown model code"
curl -s -o "$tmp/body" -w '%{http_code}' "$base/v1/completions" >"$tmp/code"
code_is 405 "GET on a POST endpoint"
curl -s -o "$tmp/body" -w '%{http_code}' "$base/nowhere" >"$tmp/code"
code_is 404 "an unknown path"

# Bad requests among good ones, all at once: the good ones are untouched.
# (Clients are waited for by pid: a bare wait would wait for the server.)
i=0 jobs=""
for body in '{' '{"prompt": 5}' '{"prompt": "x", "n": 0}' '{"prompt": "x", "stop": [1]}' \
  '{"prompt": "x", "decokit": 3}' '{"prompt": "x", "logprobs": 99}' '{"prompt": "x", "seed": -1}' \
  "$(printf '{"prompt": "\\ud800"}')" '{"prompt": "x", "top_p": 0}' '{"prompt": "x", "stream": "yes"}'; do
  i=$((i + 1))
  curl -s -o "$tmp/bad$i" -w '%{http_code}' --data-binary "$body" "$base/v1/completions" >"$tmp/badcode$i" &
  jobs="$jobs $!"
  curl -s -o "$tmp/good$i" --data-binary '{"model": "greedy", "prompt": "Once upon a time", "max_tokens": 24}' \
    "$base/v1/completions" &
  jobs="$jobs $!"
done
wait $jobs
for k in $(seq 1 $i); do
  if [ "$(cat "$tmp/badcode$k")" = 400 ]; then ok; else bad "bad request $k: status $(cat "$tmp/badcode$k")"; fi
  if [ "$(jq -r .choices[0].text "$tmp/good$k")" = "$(cat "$tmp/want")" ]; then ok; else bad "good request $k beside bad ones"; cat "$tmp/good$k"; fi
done

# Concurrent requests are batched and make the tokens each makes alone.
# Their logprobs agree closely, not bit for bit: the llama model computes one
# row with other kernels than several (F32, F16, and Q8_0 with AMX).
jobs=""
for k in 1 2 3 4 5 6; do
  curl -s -o "$tmp/conc$k" --data-binary "{\"prompt\": \"It was $k\", \"max_tokens\": 32, \"logprobs\": 2}" "$base/v1/completions" &
  jobs="$jobs $!"
done
wait $jobs
for k in 1 2 3 4 5 6; do
  post /v1/completions "{\"prompt\": \"It was $k\", \"max_tokens\": 32, \"logprobs\": 2}"
  if [ "$(jq -c '.choices[] | [.text, .finish_reason, .logprobs.tokens]' "$tmp/conc$k")" = \
       "$(jq -c '.choices[] | [.text, .finish_reason, .logprobs.tokens]' "$tmp/body")" ]; then ok; else bad "request $k differs run concurrently"; fi
  d=$(jq -n --slurpfile a "$tmp/conc$k" --slurpfile b "$tmp/body" \
    '[$a[0].choices[0].logprobs.token_logprobs, $b[0].choices[0].logprobs.token_logprobs] | transpose | map(.[0] - .[1] | fabs) | max')
  if jq -n "$d < 0.01" | grep -q true; then ok; else bad "request $k: logprobs differ by $d run concurrently"; fi
done
curl -s "$base/metrics" >"$tmp/metrics"
has "$tmp/metrics" "# TYPE decokit_request_duration_seconds histogram" "metrics histogram"
has "$tmp/metrics" 'decokit_requests_total{code="400"}' "metrics by status"
has "$tmp/metrics" "decokit_kv_sequences 0" "every KV sequence freed after the requests"
calls=$(sed -n 's/^decokit_model_calls_total //p' "$tmp/metrics")
evals=$(sed -n 's/^decokit_model_evals_total //p' "$tmp/metrics")
if [ "$calls" -lt "$evals" ]; then ok; else bad "no evals were merged: $calls calls for $evals evals"; fi

# A body over the limit is refused whole.
stop main
start lim --max-sessions 1 --queue 1 --max-body 2048 --timeout 2 --max-tokens 100000 greedy="$src/config/greedy.yaml"
base="http://127.0.0.1:$port"
big=$(head -c 4000 /dev/zero | tr '\0' a)
post /v1/completions "{\"prompt\": \"$big\"}"
code_is 413 "a body over --max-body"

# A long request holds the one session; one more waits; the next is refused.
long='{"prompt": "Once", "max_tokens": 240, "decokit": {"set": ["generate.n=200", "generate.ignore_eos=true"]}}'
t0=$(date +%s)
curl -s -o "$tmp/long1" --data-binary "$long" "$base/v1/completions" &
jobs=$!
sleep 0.5
curl -s -o "$tmp/long2" --data-binary "$long" "$base/v1/completions" &
jobs="$jobs $!"
sleep 0.5
post /v1/completions '{"prompt": "x", "max_tokens": 2}'
code_is 503 "a full queue"
has "$tmp/hdr" "Retry-After" "503 says when to retry"
wait $jobs
t1=$(date +%s)
jq_is .error.type overloaded_error "503 error type"
for k in 1 2; do
  if [ "$(jq -r .choices[0].finish_reason "$tmp/long$k")" = length ]; then ok; else bad "long request $k: $(head -c 300 "$tmp/long$k")"; fi
done
# Each stopped at the 2 s limit, not after its 48000 tokens.
if [ $((t1 - t0)) -le 12 ]; then ok; else bad "the time limit did not stop the requests ($((t1 - t0)) s)"; fi

# A client that hangs up cancels its request: the session is free at once.
curl -s -m 0.5 --data-binary "$long" "$base/v1/completions" >/dev/null
sleep 0.5
curl -s "$base/metrics" >"$tmp/metrics"
has "$tmp/metrics" "decokit_active_sessions 0" "a hang-up frees the session"
post /v1/completions '{"prompt": "Once upon a time", "max_tokens": 24}'
code_is 200 "served after a hang-up"
curl -s "$base/health" >"$tmp/body"
jq_is .status ok "still healthy"
stop lim
has "$tmp/lim.log" "serve: stopping" "SIGTERM stops the server"
finish
