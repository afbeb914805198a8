#!/bin/sh
# assemble.sh -- put the plugins' generated parameter reference into decokit-plugins.7.
# usage: assemble.sh DECOKIT TEMPLATE > PAGE
set -eu
dk=$1 template=$2
ref=$(mktemp)
trap 'rm -f "$ref"' EXIT
"$dk" plugins man >"$ref"
awk -v ref="$ref" '
  /^\.\\" @BUNDLED_PLUGINS@$/ { while ((getline line < ref) > 0) print line; next }
  { print }' "$template"
