# testlib.sh -- shared by the shell tests: the CLI under test, a scratch folder, pass/fail counts.
# Sourced as: . "${DECOKIT_SRCDIR:?run through make check}/tests/testlib.sh"
set -u
: "${DECOKIT_BUILDDIR:?run through make check}"
dk="$DECOKIT_BUILDDIR/core/decokit"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
# expect STATUS DESCRIPTION -- COMMAND...: run with output in $tmp/out and
# $tmp/err, compare the exit status.
expect() {
  want=$1 what=$2; shift 3
  "$@" >"$tmp/out" 2>"$tmp/err"
  got=$?
  if [ "$got" -eq "$want" ]; then ok; else bad "$what: exit $got, wanted $want"; cat "$tmp/err"; fi
}
# has FILE TEXT DESCRIPTION: FILE holds TEXT.
has() {
  if grep -qF -- "$2" "$1"; then ok; else bad "$3: no '$2' in:"; cat "$1"; fi
}
# The reference models in $m, or skip the whole test (exit 77) without them.
need_models() {
  m="${DECOKIT_TEST_MODELS:-}"
  [ -n "$m" ] && [ -f "$m/stories260K.gguf" ] || { echo "reference models not found: skipping"; exit 77; }
}
# The closing line automake's driver and CI read; the exit status says it all.
finish() {
  echo "$pass passed, $fail failed"
  [ "$pass" -gt 0 ] && [ "$fail" -eq 0 ]
}
