#!/bin/sh
# batch-array.sh -- decokit batch over a Slurm job array: one shard per task, then a merge job.
#
# Submit from a login node (the requests, results and pipelines on a shared
# file system):
#   sh batch-array.sh IN.jsonl OUT.jsonl PIPELINE...
# Environment: TASKS (array size, default 4), DECOKIT (the program, default
# decokit), SBATCH_ARGS (more sbatch options, e.g. a partition).
#
# Task I of N runs `decokit batch --shard I/N --resume` into OUT.jsonl.I-of-N:
# a requeued or preempted task continues where it stopped.  The merge job
# runs after every task has ended, however it ended: it finishes any shard
# left incomplete (--resume again, so a finished shard costs nothing), then
# sorts the shards by input line into OUT.jsonl.
#SBATCH --job-name=decokit-batch
#SBATCH --cpus-per-task=1
#SBATCH --output=decokit-batch-%A_%a.log
#SBATCH --requeue
set -eu
[ $# -ge 3 ] || { echo "usage: sh batch-array.sh IN.jsonl OUT.jsonl PIPELINE..." >&2; exit 2; }
in=$1 out=$2
shift 2
dk=${DECOKIT:-decokit}
threads=${SLURM_CPUS_PER_TASK:-1}

if [ -n "${DECOKIT_MERGE_TASKS:-}" ]; then
  # The merge job.
  n=$DECOKIT_MERGE_TASKS
  i=0
  while [ $i -lt "$n" ]; do
    "$dk" batch "$@" -i "$in" -o "$out.$i-of-$n" --shard "$i/$n" --resume -t "$threads" || [ $? -eq 1 ]
    i=$((i + 1))
  done
  i=0
  set --
  while [ $i -lt "$n" ]; do set -- "$@" "$out.$i-of-$n"; i=$((i + 1)); done
  # Results start with {"line":N,: a stable numeric sort on N is input order.
  LC_ALL=C sort -s -t: -k2,2n "$@" >"$out.tmp"
  mv "$out.tmp" "$out"
  echo "decokit-batch: merged $n shards into $out ($(wc -l <"$out") results)"
elif [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then
  # One task of the array.  Exit status 1 means some requests have error
  # results (the shard is complete); the merge runs regardless.
  n=$SLURM_ARRAY_TASK_COUNT
  exec "$dk" batch "$@" -i "$in" -o "$out.$SLURM_ARRAY_TASK_ID-of-$n" \
    --shard "$SLURM_ARRAY_TASK_ID/$n" --resume -t "$threads"
else
  # Not in a job yet: submit the array, then the merge after it.
  tasks=${TASKS:-4}
  script=$(command -v "$0" 2>/dev/null || echo "$0")
  # shellcheck disable=SC2086
  job=$(sbatch --parsable ${SBATCH_ARGS:-} --array="0-$((tasks - 1))" "$script" "$in" "$out" "$@")
  job=${job%%;*}
  # shellcheck disable=SC2086
  merge=$(sbatch --parsable ${SBATCH_ARGS:-} --dependency="afterany:$job" --job-name=decokit-batch-merge \
    --output="decokit-batch-$job-merge.log" --export="ALL,DECOKIT_MERGE_TASKS=$tasks" "$script" "$in" "$out" "$@")
  echo "decokit-batch: array job $job ($tasks tasks), merge job ${merge%%;*}"
fi
