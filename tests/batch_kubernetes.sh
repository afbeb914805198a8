#!/bin/sh
# batch_kubernetes.sh -- the Indexed Job example's pod commands, run here with each completion index, merge to one run's output.
. "${DECOKIT_SRCDIR:?run through make check}/tests/testlib.sh"
src=$DECOKIT_SRCDIR
python3 -c 'import yaml' 2>/dev/null || { echo "python3 with yaml not found: skipping"; exit 77; }
manifest=$src/examples/kubernetes/batch-indexed-job.yaml

# Each Job's container command and environment, as a pod would get them,
# with /data a folder here and decokit the build tree's.
python3 - "$manifest" "$tmp" <<'PY' || { bad "the manifest's shape"; finish; exit 1; }
import sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
assert [d["kind"] for d in docs] == ["Job", "Job"], "two Jobs"
shards, merge = docs
spec = shards["spec"]
assert spec["completionMode"] == "Indexed"
assert spec["completions"] == spec["parallelism"] == 4
assert shards["metadata"]["labels"]["step"] == "shards" and merge["metadata"]["labels"]["step"] == "merge"
for name, d in (("shard", shards), ("merge", merge)):
    c = d["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["SHARDS"] == "4"
    assert c["command"][:2] == ["sh", "-c"]
    open(f"{sys.argv[2]}/{name}.sh", "w").write(c["command"][2])
PY
ok
grep -q 'JOB_COMPLETION_INDEX/\$SHARDS' "$tmp/shard.sh" && ok || bad "the shard command does not use JOB_COMPLETION_INDEX"

mkdir -p "$tmp/data" "$tmp/bin"
ln -s "$dk" "$tmp/bin/decokit"
cp "$src/config/greedy.yaml" "$tmp/data/pipeline.yaml"
i=1
while [ $i -le 13 ]; do
  if [ $i -eq 6 ]; then echo '{"id": "bad", "prompt": "x", "n": 99}'
  else echo "{\"id\": \"k$i\", \"prompt\": \"Chapter $i\", \"max_tokens\": 10}"; fi
  i=$((i + 1))
done >"$tmp/data/in.jsonl"
"$dk" batch "$tmp/data/pipeline.yaml" -i "$tmp/data/in.jsonl" -o "$tmp/one.jsonl" -q

# Pods 0, 2 and 3 run; pod 1 is lost: the merge Job finishes its shard.
for idx in 0 2 3; do
  PATH="$tmp/bin:$PATH" DATA=$tmp/data SHARDS=4 THREADS=1 JOB_COMPLETION_INDEX=$idx sh -e "$tmp/shard.sh" 2>"$tmp/pod$idx.err" \
    && ok || { bad "pod $idx failed"; cat "$tmp/pod$idx.err"; }
done
[ ! -e "$tmp/data/out.jsonl.1-of-4" ] && ok || bad "pod 1 ran"
PATH="$tmp/bin:$PATH" DATA=$tmp/data SHARDS=4 THREADS=1 sh -e "$tmp/merge.sh" >"$tmp/merge.out" 2>&1 \
  && ok || { bad "the merge Job failed"; cat "$tmp/merge.out"; }
has "$tmp/merge.out" "merged 4 shards" "merge message"
cmp "$tmp/data/out.jsonl" "$tmp/one.jsonl" && ok || bad "merged output differs from one run"

finish
