#!/bin/sh
# examples.sh -- run every example of the manual pages and the README, so none can go stale.
#
# What counts as an example (the markers are in the sources):
#   man pages:  a `.Dl $ COMMAND` line is a command to run;
#               `.\" example: file NAME` before a .Bd block writes the block to NAME;
#               `.\" example: sh` before a .Bd block runs the block as a script.
#   README.md:  `<!-- example: file NAME -->` or `<!-- example: sh -->` before a
#               fenced or indented block.
# Each document runs in its own folder holding models/, config/ (also as pipelines/,
# and each of its files at the top), an empty plugins/ and core/decokit, with decokit
# on PATH and pkg-config finding decokit-plugin.  Every pipeline written (NAME.yaml)
# must validate and run; one named like an example pipeline must equal it but for
# comment lines.
. "${DECOKIT_SRCDIR:?run through make check}/tests/testlib.sh"
src="$DECOKIT_SRCDIR"
# The pages name the default prefix's folders; an installed page names the
# configured ones (man/local.am substitutes both the same way).
pkgdatadir=$(sed -n 's/^pkgdatadir = //p' "$DECOKIT_BUILDDIR/Makefile")

mkdir "$tmp/bin" "$tmp/pc"
printf '#!/bin/sh\nexec "%s" "$@"\n' "$dk" >"$tmp/bin/decokit"
chmod +x "$tmp/bin/decokit"
printf 'Name: decokit-plugin\nDescription: decokit plugin SDK (source tree)\nVersion: 0\nCflags: -I%s/core/include\n' \
  "$src" >"$tmp/pc/decokit-plugin.pc"
PATH="$tmp/bin:$PATH" PKG_CONFIG_PATH="$tmp/pc"
export PATH PKG_CONFIG_PATH

sandbox() { # sandbox DIR
  mkdir -p "$1/core" "$1/plugins"
  ln -s "$tmp/bin/decokit" "$1/core/decokit"
  ln -s "$src/models" "$1/models"
  ln -s "$src/config" "$1/config"
  ln -s "$src/config" "$1/pipelines"
  for f in "$src"/config/*; do ln -s "$f" "$1/$(basename "$f")"; done
}

# Split DOC into numbered parts under DIR: LINE.file.NAME and LINE.sh.
extract_man() { # extract_man PAGE DIR
  awk -v dir="$2" '
    function unroff(s) {
      gsub(/\\\(dq/, "\"", s); gsub(/\\\(aq/, "\047", s); gsub(/\\-/, "-", s)
      gsub(/\\&/, "", s); gsub(/\\\(ti/, "~", s); gsub(/\\\(ha/, "^", s); gsub(/\\e/, "\\", s)
      return s
    }
    /^\.\\" example: (file [^ ]+|sh)$/ { pending = $3 == "sh" ? "sh" : "file." $4; next }
    pending != "" && /^\.Bd/ { out = sprintf("%s/%06d.%s", dir, NR, pending); pending = ""; next }
    out != "" && /^\.Ed$/ { close(out); out = ""; next }
    out != "" { print unroff($0) > out; next }
    /^\.Dl \$ / { f = sprintf("%s/%06d.sh", dir, NR); print unroff(substr($0, 7)) > f; close(f) }
  ' "$1"
}

extract_md() { # extract_md README DIR
  awk -v dir="$2" '
    /^<!-- example: (file [^ ]+|sh) -->$/ { pending = $3 == "sh" ? "sh" : "file." $4; next }
    pending != "" && /^```/ { out = sprintf("%s/%06d.%s", dir, NR, pending); pending = ""; fence = 1; next }
    pending != "" && /^    / { out = sprintf("%s/%06d.%s", dir, NR, pending); pending = ""; fence = 0 }
    out != "" && fence && /^```$/ { close(out); out = ""; next }
    out != "" && !fence && !/^    / && !/^$/ { close(out); out = "" }
    out != "" { print (fence ? $0 : substr($0, 5)) > out; next }
  ' "$1"
}

run_doc() { # run_doc DOC KIND
  doc=$1 name=$(basename "$1")
  parts="$tmp/parts.$name" box="$tmp/box.$name"
  mkdir "$parts"
  sandbox "$box"
  if [ "$2" = man ]; then extract_man "$doc" "$parts"; else extract_md "$doc" "$parts"; fi
  n=0
  for part in "$parts"/*; do
    [ -e "$part" ] || break
    n=$((n + 1))
    base=$(basename "$part")
    line=$(echo "$base" | sed 's/^0*\([0-9]*\)\..*/\1/')
    where="$name:$line"
    # Paths of an installed tree are this sandbox.
    sed -e "s|/usr/local/share/decokit|$box|g" -e "s|$pkgdatadir|$box|g" "$part" >"$part.run"
    case $base in
    *.file.*)
      file=${base#*.file.}
      rm -f "$box/$file"
      cp "$part.run" "$box/$file"
      if [ -f "$src/config/$file" ]; then # the same pipeline; comments may differ
        grep -v '^#' "$part.run" >"$tmp/a"
        grep -v '^#' "$src/config/$file" >"$tmp/b"
        if cmp -s "$tmp/a" "$tmp/b"; then ok; else bad "$where: $file differs from config/$file"; diff "$tmp/b" "$tmp/a"; fi
      fi
      case $file in
      *.yaml)
        if (cd "$box" && decokit validate -q "$file") >"$tmp/out" 2>&1; then ok; else bad "$where: $file does not validate:"; cat "$tmp/out"; fi
        if (cd "$box" && timeout 120 decokit run -q -n 4 "$file" </dev/null) >"$tmp/out" 2>&1; then ok; else bad "$where: $file does not run:"; cat "$tmp/out"; fi
        ;;
      esac
      ;;
    *.sh)
      if (cd "$box" && timeout 300 sh -e "$part.run" </dev/null) >"$tmp/out" 2>&1; then ok; else
        bad "$where: example failed:"; cat "$part.run"; echo "--- output:"; tail -20 "$tmp/out"
      fi
      ;;
    esac
  done
  [ "$n" -gt 0 ] || bad "$name: no examples found (markers lost?)"
}

for page in "$src"/man/decokit.1 "$src"/man/decokit-pipeline.5 "$src"/man/decokit-plugin.3; do
  run_doc "$page" man
done
run_doc "$src/README.md" md

# Nested quoting macros render as (“a, “b, “c”””): every quote must close
# before the next opens.
if command -v groff >/dev/null 2>&1; then
  for page in "$src"/man/*.[1-8]; do
    if groff -mandoc -Tutf8 "$page" 2>/dev/null | sed 's/.\x08//g' | grep -n '””\|“[^”]*“' >"$tmp/q"; then
      bad "$page: nested quotes:"; cat "$tmp/q"
    else ok; fi
  done
fi

# The README states which parameter count includes the tied output copy.
if grep -q '1.00 M' "$src/README.md" &&
   decokit model info "$src/models/decokit-tiny.gguf" | grep -qx 'parameters: 1000576 (1.00M)'; then ok
else bad "README's parameter count does not match 'decokit model info'"; fi

# Installed pages name the configured folders, not the default prefix.
dest="$tmp/dest"
if ${MAKE:-make} -s -C "$DECOKIT_BUILDDIR" install-man install-man-paths DESTDIR="$dest" \
     mandir=/opt/dk/man datadir=/opt/dk/share pkgdatadir=/opt/dk/share/decokit \
     libdir=/opt/dk/lib >"$tmp/out" 2>&1; then
  page="$dest/opt/dk/man/man1/decokit.1"
  if grep -q '/opt/dk/share/decokit/config/' "$page" && ! grep -q '/usr/local\|\${datadir}' "$page"; then ok
  else bad "installed decokit(1) does not name the configured folders:"; grep -n 'share\|datadir' "$page"; fi
else bad "installing the man pages failed:"; cat "$tmp/out"; fi
finish
