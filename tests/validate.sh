#!/bin/sh
# validate.sh -- validate runs every plugin's own checks; errors are located, classed and helpful.
. "${DECOKIT_SRCDIR:?run through make check}/tests/testlib.sh"
fx="$DECOKIT_FIXTURE_DIR"
src="$DECOKIT_SRCDIR"

# Files a pipeline names are opened by validate, and a missing one is the
# same failure class (3) whichever plugin opens it.
printf 'decokit: 1\nmodel: { plugin: llama, path: missing.gguf }\n' >"$tmp/model.yaml"
expect 3 "missing model file" -- "$dk" validate "$tmp/model.yaml"
has "$tmp/err" "model.yaml:2:8: model 'llama': " "missing model file is located"
has "$tmp/err" "missing.gguf" "missing model file is named"
printf 'decokit: 1\nconstraint: { plugin: json_schema, file: missing.json }\n' >"$tmp/schema.yaml"
expect 3 "missing schema file" -- "$dk" validate "$tmp/schema.yaml"
has "$tmp/err" "schema.yaml:2:13: constraint 'json_schema': " "missing schema file is located"
printf 'root ::= "a" undefined_rule\n' >"$tmp/bad.gbnf"
printf 'decokit: 1\nconstraint: { plugin: gbnf, file: bad.gbnf }\n' >"$tmp/gbnf.yaml"
expect 3 "invalid grammar" -- "$dk" validate "$tmp/gbnf.yaml"
has "$tmp/err" "gbnf.yaml:2:13: " "invalid grammar is located"
printf 'decokit: 1\nmodel: { plugin: llama, path: %s/config/greedy.yaml }\n' "$src" >"$tmp/notgguf.yaml"
expect 3 "a model file that is not GGUF" -- "$dk" validate "$tmp/notgguf.yaml"
expect 0 "a valid pipeline" -- "$dk" validate "$src/config/json-schema.yaml"
has "$tmp/out" "json-schema.yaml: ok (fingerprint " "validate prints the fingerprint"

# Sections the decoder does not read are refused, by validate and by run.
printf 'decokit: 1\ndrafter: { plugin: prompt_lookup }\n' >"$tmp/drafter.yaml"
expect 3 "unused drafter (validate)" -- "$dk" validate "$tmp/drafter.yaml"
has "$tmp/err" "drafter.yaml:2:10: drafter: decoder 'sample' does not use a 'drafter' section" "unused drafter"
expect 3 "unused drafter (run)" -- "$dk" run "$tmp/drafter.yaml" -p "It" -n 2
printf 'decokit: 1\ndecoder: { plugin: beam }\nscorers: [ { plugin: length } ]\n' >"$tmp/scorers.yaml"
expect 3 "unused scorers" -- "$dk" validate "$tmp/scorers.yaml"
has "$tmp/err" "scorers.yaml:3:12: scorers: decoder 'beam' does not use a 'scorers' section" "unused scorers"
printf 'decokit: 1\ndraft: { plugin: llama, path: %s/models/decokit-tiny-draft.gguf }\n' "$src" >"$tmp/draft.yaml"
expect 3 "unused draft" -- "$dk" validate "$tmp/draft.yaml"
has "$tmp/err" "draft.yaml:2:8: draft: decoder 'sample' does not use a 'draft' section" "unused draft"

# Did you mean.
printf 'decokit: 1\nsamplers:\n  - { plugin: tpo_k, k: 4 }\n' >"$tmp/typo.yaml"
expect 3 "misspelt plugin" -- "$dk" validate "$tmp/typo.yaml"
has "$tmp/err" "typo.yaml:3:5: samplers: no sampler plugin named 'tpo_k'; did you mean 'top_k'?" "plugin suggestion"
printf 'decokit: 1\nsamplers:\n  - { plugin: top_k, kk: 4 }\n' >"$tmp/key.yaml"
expect 3 "misspelt key" -- "$dk" validate "$tmp/key.yaml"
has "$tmp/err" "unknown key 'kk' for 'top_k'; did you mean 'k'?" "key suggestion"
printf 'decokit: 1\ngenrate: { max_tokens: 2 }\n' >"$tmp/section.yaml"
expect 3 "misspelt section" -- "$dk" validate "$tmp/section.yaml"
has "$tmp/err" "section.yaml:2:1: unknown key 'genrate'; did you mean 'generate'?" "section suggestion"

# A plugin_path folder that is not there is a typo, reported at its line.
printf 'decokit: 1\nplugin_path: no-such-folder\n' >"$tmp/path.yaml"
expect 3 "missing plugin_path folder" -- "$dk" validate "$tmp/path.yaml"
has "$tmp/err" "path.yaml:2:14: key 'plugin_path': no folder '$tmp/no-such-folder'" "missing plugin_path folder"

# Two folders providing one component: refused, naming both; plugins says error.
mkdir "$tmp/a" "$tmp/b"
cp "$fx/good.so" "$tmp/a/good.so"
cp "$fx/good.so" "$tmp/b/good.so"
printf 'decokit: 1\nsamplers: [ { plugin: good } ]\n' >"$tmp/dup.yaml"
expect 3 "duplicate plugin" -- "$dk" validate --plugin-path "$tmp/a:$tmp/b" "$tmp/dup.yaml"
has "$tmp/err" "duplicate sampler plugin 'good': $tmp/a/good.so and $tmp/b/good.so" "duplicate names both"
expect 0 "plugins with a duplicate" -- "$dk" plugins --plugin-path "$tmp/a:$tmp/b"
has "$tmp/err" "decokit: error: duplicate sampler plugin 'good'" "plugins shows a duplicate as an error"
cp "$fx/good.so" "$tmp/b/other.so"
printf 'decokit: 1\nsamplers: [ { plugin: other } ]\n' >"$tmp/other.yaml"
expect 3 "file providing another name" -- "$dk" validate --plugin-path "$tmp/b" "$tmp/other.yaml"
has "$tmp/err" "$tmp/b/other.so provides sampler 'good', not 'other'" "file providing another name"

# DECOKIT_PLUGIN_PATH adds folders: the bundled llama and sample stay found.
expect 0 "DECOKIT_PLUGIN_PATH keeps the bundled plugins" -- env DECOKIT_PLUGIN_PATH="$tmp/a" "$dk" validate "$src/config/greedy.yaml"
expect 0 "DECOKIT_PLUGIN_PATH adds its plugins" -- env DECOKIT_PLUGIN_PATH="$tmp/a" "$dk" validate "$tmp/dup.yaml"

# A plugin refusing its create() is reported before any output, at its block.
printf 'decokit: 1\nmodel: { plugin: hashlm }\nsamplers:\n  - { plugin: %s/rogue.so, mode: create_status }\n' "$fx" >"$tmp/create.yaml"
expect 3 "create() refusal" -- "$dk" run --plugin-path "$fx" -q -p "PROMPT-TEXT" "$tmp/create.yaml"
has "$tmp/err" "create.yaml:4:5: sampler 'rogue': create returned status 7" "create() refusal is located"
if [ -s "$tmp/out" ]; then bad "the prompt was echoed before a create() refusal: $(cat "$tmp/out")"; else ok; fi
expect 3 "create() refusal (validate)" -- "$dk" validate --plugin-path "$fx" "$tmp/create.yaml"

# A drafter that declares it needs the draft model is refused without one,
# before any run.
printf 'decokit: 1\ndecoder: { plugin: speculative }\ndrafter: { plugin: draft_model }\n' >"$tmp/spec.yaml"
expect 3 "drafter without its draft model" -- "$dk" validate "$tmp/spec.yaml"
has "$tmp/err" "spec.yaml:3:10: drafter: 'draft_model' needs a draft model" "missing draft model is located"
printf 'decokit: 1\ndecoder: { plugin: speculative }\ndrafter:\n  - { plugin: prompt_lookup }\n  - { plugin: draft_model }\n' >"$tmp/spec-list.yaml"
expect 3 "a drafter list member without its draft model" -- "$dk" validate "$tmp/spec-list.yaml"
has "$tmp/err" "spec-list.yaml:5:5: drafter: 'draft_model' needs a draft model" "the list member is located"

# Decoders and scorers that declare what they need are refused without it,
# at their own block, before any run.
printf 'decokit: 1\nmodel: { plugin: hashlm }\ndecoder: { plugin: deal }\n' >"$tmp/deal.yaml"
expect 3 "deal without scorers" -- "$dk" validate --plugin-path "$fx" "$tmp/deal.yaml"
has "$tmp/err" "deal.yaml:3:10: decoder: 'deal' needs at least one scorer" "missing scorers are located"
printf 'decokit: 1\nmodel: { plugin: tablelm, hidden: false }\ndecoder: { plugin: contrastive }\n' >"$tmp/hid.yaml"
expect 3 "contrastive without hidden states" -- "$dk" validate --plugin-path "$fx" "$tmp/hid.yaml"
has "$tmp/err" "hid.yaml:3:10: decoder: 'contrastive' needs the model's hidden states" "missing hidden states are located"

# An error while decoding names the block whose plugin reported it.

printf 'decokit: 1\nmodel: { plugin: hashlm }\nsamplers:\n  - { plugin: %s/rogue.so, mode: status }\n' "$fx" >"$tmp/apply.yaml"
expect 1 "runtime sampler error" -- "$dk" run --plugin-path "$fx" -q -p "a" -n 3 "$tmp/apply.yaml"
has "$tmp/err" "apply.yaml:4:5: sampler 'rogue': apply returned status 5" "a sampler's runtime error names its block"

# The .pc file repeats the header's ABI version.
minor=$(sed -n 's/^#define DK_ABI_MINOR \([0-9]*\)$/\1/p' "$src/core/include/decokit/plugin.h")
has "$DECOKIT_BUILDDIR/decokit-plugin.pc" "abi_minor=$minor" "decokit-plugin.pc's abi_minor"
finish
