#!/bin/sh
# bench-compare.sh -- prompt and generation speed of synthetic models, decokit beside llama.cpp.
#
# usage: bench-compare.sh BUILDDIR MODELDIR [VOCAB.gguf]
#   BUILDDIR  the decokit build (tools/synth/llama-synth and tools/synth/bench-model)
#   MODELDIR  where the synthetic models are written (and reused when present)
#   VOCAB     a GGUF whose tokenizer is copied into the models; llama.cpp refuses models
#             without one, so without it only decokit's numbers are printed
# Environment:
#   LLAMA_CPP_BIN  a llama.cpp build's bin folder (holding llama-bench); unset: decokit only
#   BENCH_TYPES    default "f32 f16 bf16 q8_0 q4_0 q4_k q6_k"
#   BENCH_SHAPES   default "15m 110m" (15m: pp128 tg64; 110m: pp64 tg16)
#   BENCH_THREADS  default "1 2"
#   BENCH_ROUNDS   default 2: the two programs run alternately this many times, best kept,
#                  so that load from other processes falls on both
# After the speed table, a memory table for the 110m models at one thread: decokit's peak
# resident size beside the file and KV cache sizes, and llama.cpp's (with /usr/bin/time).
set -e
build=$1
dir=$2
vocab=${3:-}
if test -z "$build" || test -z "$dir"; then
    echo "usage: bench-compare.sh BUILDDIR MODELDIR [VOCAB.gguf]" >&2
    exit 2
fi
types=${BENCH_TYPES:-"f32 f16 bf16 q8_0 q4_0 q4_k q6_k"}
shapes=${BENCH_SHAPES:-"15m 110m"}
threads=${BENCH_THREADS:-"1 2"}
rounds=${BENCH_ROUNDS:-2}
lbench=
if test -n "${LLAMA_CPP_BIN:-}"; then
    if test ! -x "$LLAMA_CPP_BIN/llama-bench"; then
        echo "bench-compare: no llama-bench in $LLAMA_CPP_BIN" >&2
        exit 1
    fi
    if test -z "$vocab" || test ! -f "$vocab"; then
        echo "bench-compare: llama.cpp needs a tokenizer in the model: give VOCAB.gguf" >&2
        exit 1
    fi
    lbench=$LLAMA_CPP_BIN/llama-bench
fi
mkdir -p "$dir"
memrows=

# the larger of two decimal numbers (empty counts as 0)
best() {
    awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { print (a + 0 > b + 0) ? a : b }'
}
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.2fx", a / b; else printf "-" }'
}

if test -n "$lbench"; then
    echo "| model | threads | prompt tok/s decokit / llama.cpp | generation tok/s decokit / llama.cpp |"
    echo "|---|---|---|---|"
else
    echo "| model | threads | prompt tok/s | generation tok/s | prompt tok/s of CPU time |"
    echo "|---|---|---|---|---|"
fi
for shape in $shapes; do
    case $shape in
    15m) pp=128 tg=64 ;;
    *) pp=64 tg=16 ;;
    esac
    for type in $types; do
        if test -n "$vocab"; then
            f=$dir/synth-$shape-$type-vocab.gguf
            test -f "$f" || "$build/tools/synth/llama-synth" "$f" --preset "$shape" --type "$type" \
                --vocab-from "$vocab" >/dev/null
        else
            f=$dir/synth-$shape-$type.gguf
            test -f "$f" || "$build/tools/synth/llama-synth" "$f" --preset "$shape" --type "$type" >/dev/null
        fi
        for t in $threads; do
            dpp=0 dtg=0 dcpu=0 lpp=0 ltg=0
            r=0
            while test $r -lt "$rounds"; do
                line=$("$build/tools/synth/bench-model" "$f" "$t" "$pp" "$tg" 1)
                dpp=$(best "$dpp" "$(echo "$line" | sed -n "s/.*pp$pp: *\([0-9.]*\).*/\1/p")")
                dtg=$(best "$dtg" "$(echo "$line" | sed -n "s/.*tg$tg: *\([0-9.]*\).*/\1/p")")
                dcpu=$(best "$dcpu" "$(echo "$line" | sed -n "s/.*pp-cpu: *\([0-9.]*\).*/\1/p")")
                if test -n "$lbench"; then
                    out=$("$lbench" -m "$f" -t "$t" -p "$pp" -n "$tg" -r 1 -o jsonl 2>/dev/null)
                    lpp=$(best "$lpp" "$(echo "$out" | grep "\"n_prompt\": $pp," |
                        sed -n 's/.*"avg_ts": \([0-9.]*\).*/\1/p')")
                    ltg=$(best "$ltg" "$(echo "$out" | grep "\"n_gen\": $tg," |
                        sed -n 's/.*"avg_ts": \([0-9.]*\).*/\1/p')")
                fi
                r=$((r + 1))
            done
            if test -n "$lbench"; then
                printf '| %s %s, pp%d tg%d | %d | %.0f / %.0f (%s) | %.0f / %.0f (%s) |\n' "$shape" "$type" "$pp" "$tg" \
                    "$t" "$dpp" "$lpp" "$(ratio "$dpp" "$lpp")" "$dtg" "$ltg" "$(ratio "$dtg" "$ltg")"
            else
                printf '| %s %s, pp%d tg%d | %d | %.0f | %.0f | %.0f |\n' "$shape" "$type" "$pp" "$tg" "$t" "$dpp" \
                    "$dtg" "$dcpu"
            fi
            if test "$shape" = 110m && test "$t" = 1; then
                mem=$(echo "$line" | sed -n 's/.*rss: *\([0-9.]*\) MiB *file: *\([0-9.]*\) MiB *kv: *\([0-9.]*\) MiB.*/\2 \3 \1/p')
                lmem=-
                if test -n "$lbench" && test -x /usr/bin/time; then
                    lmem=$(/usr/bin/time -f "%M" "$lbench" -m "$f" -t 1 -p "$pp" -n "$tg" -r 1 -o csv 2>&1 >/dev/null |
                        tail -n 1 | awk '{ printf "%.1f", $1 / 1024 }')
                fi
                memrows="$memrows$shape $type $mem $lmem
"
            fi
        done
    done
done
if test -n "$memrows"; then
    echo
    echo "| model | file MiB | KV MiB | decokit peak RSS MiB (limit: file + KV + 10%) | llama.cpp peak RSS MiB |"
    echo "|---|---|---|---|---|"
    printf '%s' "$memrows" | while read -r shape type file kv rss lrss; do
        awk -v s="$shape" -v t="$type" -v f="$file" -v k="$kv" -v r="$rss" -v l="$lrss" \
            'BEGIN { printf "| %s %s | %.1f | %.1f | %.1f (%.1f) | %s |\n", s, t, f, k, r, (f + k) * 1.1, l }'
    done
fi
