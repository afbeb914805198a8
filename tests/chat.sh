#!/bin/sh
# chat.sh -- chat templates end to end: recognised from a model's GGUF template or named, rendered
# with special tokens parsed, and `decokit chat` from a pipe and on a terminal (tmux).
. "${DECOKIT_SRCDIR:?run through make check}/tests/testlib.sh"
src=$DECOKIT_SRCDIR
add_kv="$DECOKIT_BUILDDIR/tests/gguf_add_kv"
model="$src/models/decokit-tiny.gguf"

starts() { # starts FILE TEXT DESCRIPTION: the file begins with TEXT (newlines as \n)
  want=$(printf '%b' "$2")
  got=$(head -c "$(printf '%s' "$want" | wc -c)" "$1")
  if [ "$got" = "$want" ]; then ok; else bad "$3: starts with '$got'"; fi
}

# ---- the format comes from the model's tokenizer.chat_template ----
chatml="{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
llama3="{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n' + m['content'] | trim + '<|eot_id|>' }}{% endfor %}"
"$add_kv" "$model" "$tmp/chatml.gguf" tokenizer.chat_template "$chatml" && ok || bad "gguf_add_kv chatml"
"$add_kv" "$model" "$tmp/llama3.gguf" tokenizer.chat_template "$llama3" && ok || bad "gguf_add_kv llama3"
"$add_kv" "$model" "$tmp/gemma.gguf" tokenizer.chat_template "<start_of_turn>{{ m }}" && ok || bad "gguf_add_kv other"
# The copy is the same model: greedy output is unchanged.
a=$("$dk" run -q -n 8 -p "She said" 2>&1)
b=$("$dk" run -q -n 8 -p "She said" --set model.path="$tmp/chatml.gguf" 2>&1)
[ "$a" = "$b" ] && ok || bad "gguf_add_kv changed the model: '$a' vs '$b'"

expect 0 "run --chat, ChatML from the model" -- "$dk" run -q -n 2 --chat -p Hello --set model.path="$tmp/chatml.gguf"
starts "$tmp/out" '<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n' "ChatML from the model"
expect 0 "run --chat, Llama-3 from the model" -- "$dk" run -q -n 2 --system " Brief. " -p Hello --set model.path="$tmp/llama3.gguf"
starts "$tmp/out" '<|start_header_id|>system<|end_header_id|>\n\nBrief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n' "Llama-3 from the model"
expect 3 "run --chat, unrecognised template" -- "$dk" run -q -n 2 --chat -p Hello --set model.path="$tmp/gemma.gguf"
has "$tmp/err" "chat template is none that decokit recognises" "unrecognised template"
expect 3 "run --chat, no template" -- "$dk" run -q -n 2 --chat -p Hello
has "$tmp/err" "chat template is missing" "no template"
# A name (option or pipeline key) wins over the model's template.
expect 0 "--chat-template over the model's" -- "$dk" run -q -n 2 --chat-template mistral -p Hello --set model.path="$tmp/chatml.gguf"
starts "$tmp/out" '[INST] Hello[/INST]' "--chat-template over the model's"
expect 0 "generate.chat_template" -- "$dk" run -q -n 2 --chat -p Hello --set generate.chat_template=llama2
starts "$tmp/out" '[INST] Hello [/INST]' "generate.chat_template"
expect 3 "generate.chat_template unknown" -- "$dk" validate "$src/config/greedy.yaml" --set generate.chat_template=vicuna
has "$tmp/err" "key 'chat_template': expected auto, chatml, llama2, llama3 or mistral, got 'vicuna'" "bad chat_template"
expect 2 "--chat-template unknown" -- "$dk" run -q -n 2 --chat-template vicuna -p Hello
has "$tmp/err" "unknown chat template 'vicuna'" "bad --chat-template"
expect 2 "--chat --print-pipeline" -- "$dk" run --chat-template chatml -p Hello --print-pipeline
has "$tmp/err" "cannot carry a --chat prompt" "--chat --print-pipeline"
expect 0 "chat --help" -- "$dk" chat --help
has "$tmp/out" "Usage: decokit chat" "chat --help"
expect 0 "--help lists chat" -- "$dk" --help
has "$tmp/out" "  chat [PIPELINE]" "--help lists chat"
# The end of the turn stops the reply when the model writes it as text.
expect 0 "end of turn is a stop string" -- "$dk" run -q -n 2 --chat-template chatml -p Hello --json
tr -d ' \n' <"$tmp/out" | grep -q '"stop":\["<|im_end|>"\]' && ok || bad "ChatML's <|im_end|> is not a stop string"

# ---- decokit chat from a pipe: the conversation grows, specials are parsed ----
reply=$("$dk" run -q --no-prompt -n 4 --chat-template llama2 --system Sys -p Hello)
printf 'Hello\nHow are you?\n/reset\nHello\n/quit\nnot read\n' >"$tmp/lines"
expect 0 "chat from a pipe" -- "$dk" chat --chat-template llama2 --system Sys -n 4 <"$tmp/lines"
[ "$(grep -c 'prompt tokens' "$tmp/err")" -eq 3 ] && ok || { bad "chat: not three replies"; cat "$tmp/err"; }
head -n 1 "$tmp/out" | grep -qxF -- "$reply" && ok || bad "chat: first reply is not run --chat's '$reply'"
# The second turn's prompt is the whole conversation, its <s> one BOS token.
turn2="[INST] <<SYS>>
Sys
<</SYS>>

Hello [/INST] $reply</s><s>[INST] How are you? [/INST]"
want=$("$dk" tokenize --special --ids "$turn2" | wc -w)
got=$(sed -n '2s/^decokit: \([0-9]*\) prompt tokens.*/\1/p' "$tmp/err")
[ "$want" = "$got" ] && ok || bad "chat: turn 2 has $got prompt tokens, the conversation $want"
# /reset forgets it: the third reply is the first again.
first=$(sed -n '1s/^decokit: \([0-9]*\) prompt tokens.*/\1/p' "$tmp/err")
third=$(sed -n '3s/^decokit: \([0-9]*\) prompt tokens.*/\1/p' "$tmp/err")
[ "$first" = "$third" ] && ok || bad "chat: /reset kept the conversation ($first vs $third tokens)"
expect 2 "chat n > 1" -- "$dk" chat --chat-template chatml --set generate.n=2 </dev/null
has "$tmp/err" "generate.n must be 1" "chat n > 1"

# ---- decokit chat on a terminal: line editing and history (libedit) ----
if ! command -v tmux >/dev/null 2>&1; then
  echo "tmux not found: skipping the terminal part"
  finish
  exit
fi
reply=$("$dk" run -q --no-prompt -n 4 --chat-template chatml -p Hello)
sock="$tmp/tmux.sock"
tmux -S "$sock" new-session -d -x 120 -y 40 \
  "'$dk' chat --chat-template chatml -n 4 -q; echo chat-exit-\$?; sleep 30" && ok || bad "tmux did not start"
# wait_for TEXT: poll the pane until TEXT shows (at most 20 s).
wait_for() {
  i=0
  while [ $i -lt 100 ]; do
    tmux -S "$sock" capture-pane -p >"$tmp/pane" 2>/dev/null
    grep -qF -- "$1" "$tmp/pane" && return 0
    sleep 0.2
    i=$((i + 1))
  done
  return 1
}
wait_for ">" && ok || { bad "chat: no prompt on the terminal"; cat "$tmp/pane"; }
# Type "Helo", fix it with the cursor keys, send it.
tmux -S "$sock" send-keys "Helo" Left "l" Enter
wait_for "$reply" && ok || { bad "chat: no reply '$reply' to the edited line"; cat "$tmp/pane"; }
grep -qxF "> Hello" "$tmp/pane" && ok || { bad "chat: the edited line is not 'Hello'"; cat "$tmp/pane"; }
# Up recalls it from the history.
tmux -S "$sock" send-keys Up Enter
i=0
while [ $i -lt 100 ] && [ "$(tmux -S "$sock" capture-pane -p | grep -cxF '> Hello')" -lt 2 ]; do sleep 0.2; i=$((i + 1)); done
[ "$(tmux -S "$sock" capture-pane -p | grep -cxF '> Hello')" -eq 2 ] && ok ||
  { bad "chat: Up did not recall 'Hello'"; tmux -S "$sock" capture-pane -p; }
# Ctrl-D ends the chat with status 0 (typed once the reply is done: the line
# editor may drop what was typed ahead while the model ran).
i=0
while [ $i -lt 100 ] && [ "$(tmux -S "$sock" capture-pane -p | grep -cxF -- "$reply")" -lt 2 ]; do sleep 0.2; i=$((i + 1)); done
sleep 0.5
# Ctrl-D ends the chat with status 0.
tmux -S "$sock" send-keys C-d
wait_for "chat-exit-0" && ok || { bad "chat: Ctrl-D did not end it with status 0"; cat "$tmp/pane"; }
tmux -S "$sock" kill-server 2>/dev/null
finish
