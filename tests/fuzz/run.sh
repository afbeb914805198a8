#!/bin/sh
# run.sh -- run each libFuzzer target for a bounded time: SRC_DIR BUILD_DIR SECONDS NAME...
# Seeds come from SRC_DIR/corpus/NAME (never written to); new inputs go to BUILD_DIR/work/NAME.
# Prints one line per target with its executions; exits 1 if any target reported a finding.
set -u
src=$1 build=$2 seconds=$3
shift 3
mkdir -p "$build/work" "$build/findings" "$build/logs"
status=0
for name in "$@"; do
  work="$build/work/$name"
  mkdir -p "$work" "$build/findings/$name"
  dict=""
  case $name in
    gguf) dict=gguf.dict ;;
    pipeline) dict=yaml.dict ;;
    gbnf) dict=gbnf.dict ;; # grammar_oracle maps every byte to a letter: no dictionary
    json_schema) dict=json.dict ;;
    regex) dict=regex.dict ;;
    tokenizer | choice) dict=text.dict ;;
  esac
  log="$build/logs/$name.log"
  # -timeout: an input slower than 10 s is a finding (a hang); -rss_limit_mb likewise for memory.
  more=""
  [ "$name" = pipeline ] && more="$src/../../config" # the example pipelines are seeds too
  "$build/fuzz_$name" "$work" "$src/corpus/$name" $more ${dict:+-dict="$src/dict/$dict"} \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
    -print_final_stats=1 -artifact_prefix="$build/findings/$name/" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  if [ "$rc" -eq 0 ]; then
    echo "fuzz $name: ${execs:-?} executions in ${seconds} s, no findings"
  else
    status=1
    echo "fuzz $name: FINDING after ${execs:-?} executions (exit $rc); reproducer in $build/findings/$name/"
    grep -E 'ERROR|fuzz finding|SUMMARY|Test unit written' "$log" | head -n 8
  fi
done
exit $status
