#!/bin/sh
# grammar_cli.sh -- decokit grammar check/gbnf: verdicts, failure positions, exit statuses.
. "${DECOKIT_SRCDIR:?run through make check}/tests/testlib.sh"

# expect STATUS OUTPUT-SUBSTRING COMMAND...
expect() {
  want=$1 text=$2
  shift 2
  out=$("$@" 2>&1)
  st=$?
  if [ "$st" -eq "$want" ] && case $out in *"$text"*) true ;; *) false ;; esac; then
    ok
  else
    bad "$* -> status $st, output: $out (wanted $want, '$text')"
  fi
}

printf '{"type":"string","enum":["1","2-two",null]}' >"$tmp/enum.json"
expect 0 "ok: in the language" "$dk" grammar check -g "$tmp/enum.json" '"2-two"'
expect 1 "byte 0 (line 1, column 1) is 'n', expected '\"'" \
  "$dk" grammar check -g "$tmp/enum.json" null

printf '{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}' \
  >"$tmp/obj.schema"
expect 1 "byte 5 (line 1, column 6) is 't', expected '-', '0'..'9'" \
  "$dk" grammar check --schema -g "$tmp/obj.schema" --whitespace none '{"a":true}'
expect 1 "the text ends too early at byte 6" \
  "$dk" grammar check --schema -g "$tmp/obj.schema" --whitespace none '{"a":1'
printf '{"a": 1}' | "$dk" grammar check --schema -g "$tmp/obj.schema" - >/dev/null && ok ||
  bad "standard input is read"

printf 'a{2,3}b\n' >"$tmp/re"
expect 0 "ok" "$dk" grammar check --regex -g "$tmp/re" aab
expect 1 "byte 1 (line 1, column 2) is 'b'" "$dk" grammar check --regex -g "$tmp/re" ab
expect 0 'root ::= ( "a"{2,3} "b" )' "$dk" grammar gbnf --regex -g "$tmp/re"
expect 0 "ok" "$dk" grammar check --regex -g "$tmp/re" -- aaab

printf 'root ::= "x" (\n' >"$tmp/bad.gbnf"
expect 3 "expected ')' to close this group" "$dk" grammar check -g "$tmp/bad.gbnf" x
printf '{"oneOf":[{"type":"string"},{"type":"string"}]}' >"$tmp/one.json"
expect 3 "oneOf branches 0 and 1 may both match one value" "$dk" grammar gbnf -g "$tmp/one.json"
printf '{"type":"integer","x-unit":"s"}' >"$tmp/x.json"
expect 0 "j-integer" "$dk" grammar gbnf -g "$tmp/x.json"
expect 3 "unknown keyword 'x-unit'" "$dk" grammar gbnf --strict -g "$tmp/x.json"
expect 2 "give the grammar with -g FILE" "$dk" grammar check x
expect 0 "Usage: decokit grammar check" "$dk" grammar --help

# validate compiles the constraint: a schema the run would refuse fails here
printf 'decokit: 1\nconstraint:\n  plugin: json_schema\n  file: %s\n' "$tmp/one.json" \
  >"$tmp/one.yaml"
expect 3 "one.yaml:3:3: constraint 'json_schema': json_schema: $tmp/one.json: schema #: oneOf" \
  "$dk" validate "$tmp/one.yaml"
printf 'decokit: 1\nconstraint: { plugin: gbnf, file: /dev/zero }\n' >"$tmp/zero.yaml"
expect 3 "'/dev/zero' is not a regular file" "$dk" validate "$tmp/zero.yaml"
printf 'decokit: 1\nconstraint: { plugin: regex, pattern: "a{2,}" }\n' >"$tmp/re.yaml"
expect 0 "re.yaml: ok" "$dk" validate "$tmp/re.yaml"
finish
