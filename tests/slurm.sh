#!/bin/sh
# slurm.sh -- examples/slurm/batch-array.sh on a one-node Slurm started here: 4 array tasks and a merge equal one run.
. "${DECOKIT_SRCDIR:?run through make check}/tests/testlib.sh"
src=$DECOKIT_SRCDIR
skip() { echo "$*: skipping"; exit 77; }
for t in slurmctld slurmd munged sbatch squeue sinfo python3 jq; do
  command -v $t >/dev/null || skip "$t not found"
done
[ "$(id -u)" -eq 0 ] || skip "slurmd must run as root to start jobs"
[ -r /etc/munge/munge.key ] || skip "no munge key"

# Everything lives in $tmp: a munge socket, the configuration, spool and
# state folders, logs; the daemons are this test's children and are stopped
# on every way out.
chmod 755 "$tmp"
pids=
stop_all() {
  for p in $pids; do kill "$p" 2>/dev/null; done
  for p in $pids; do
    k=0
    while kill -0 "$p" 2>/dev/null && [ $k -lt 50 ]; do sleep 0.1; k=$((k + 1)); done
    kill -KILL "$p" 2>/dev/null
  done
  rm -rf "$tmp"
}
trap stop_all EXIT
trap 'exit 1' INT TERM

mkdir -p "$tmp/munge" "$tmp/state" "$tmp/spool" "$tmp/work"
chmod 700 "$tmp/munge"
cp /etc/munge/munge.key "$tmp/munge/key"
chmod 600 "$tmp/munge/key"
sock=$tmp/munge/sock
munged -F -f --socket="$sock" --key-file="$tmp/munge/key" --pid-file="$tmp/munge/pid" \
  --log-file="$tmp/munge/log" --seed-file="$tmp/munge/seed" >"$tmp/munged.out" 2>&1 &
pids="$pids $!"
k=0
while [ ! -S "$sock" ] && [ $k -lt 50 ]; do sleep 0.1; k=$((k + 1)); done
[ -S "$sock" ] || { cat "$tmp/munged.out" "$tmp/munge/log" 2>/dev/null; skip "munged did not start"; }

# Two free ports on the loopback interface.
set -- $(python3 -c 'import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
[ $# -eq 2 ] || skip "no free ports"
host=$(hostname -s)
cpus=$(nproc)
cat >"$tmp/slurm.conf" <<EOF
ClusterName=decokittest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$1
SlurmdPort=$2
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$sock
CredType=cred/munge
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
MpiDefault=none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$tmp/slurm.conf"
slurmctld -D -i -f "$SLURM_CONF" >"$tmp/slurmctld.out" 2>&1 &
pids="$pids $!"
slurmd -D -f "$SLURM_CONF" -N "$host" >"$tmp/slurmd.out" 2>&1 &
pids="$pids $!"
# The node is up when it is idle (30 s at most).
k=0
until [ "$(sinfo -h -n "$host" -o %T 2>/dev/null)" = idle ] || [ $k -ge 60 ]; do sleep 0.5; k=$((k + 1)); done
if [ "$(sinfo -h -n "$host" -o %T 2>/dev/null)" != idle ]; then
  tail -n 20 "$tmp/slurmctld.log" "$tmp/slurmd.log" "$tmp/slurmctld.out" "$tmp/slurmd.out" 2>/dev/null
  skip "Slurm did not start here"
fi

# Twenty requests, one of them bad, through the example script.
i=1
while [ $i -le 20 ]; do
  if [ $i -eq 9 ]; then echo '{"id": "bad", "prompt": "x", "top_p": 7}'
  else echo "{\"id\": \"q$i\", \"prompt\": \"Tale $i:\", \"max_tokens\": 16, \"seed\": $i, \"temperature\": 0.7}"; fi
  i=$((i + 1))
done >"$tmp/work/in.jsonl"
cd "$tmp/work" || exit 1
"$dk" batch "$src/config/greedy.yaml" -i in.jsonl -o one.jsonl -q
[ $? -eq 1 ] && ok || bad "the unsharded run (one bad line: exit 1)"
DECOKIT=$dk TASKS=4 sh "$src/examples/slurm/batch-array.sh" in.jsonl out.jsonl "$src/config/greedy.yaml" >submit.out 2>&1 \
  && ok || { bad "submitting"; cat submit.out; }
# Wait for the array and the merge (90 s at most).
k=0
while [ -n "$(squeue -h -o %i 2>/dev/null)" ] && [ $k -lt 180 ]; do sleep 0.5; k=$((k + 1)); done
[ -z "$(squeue -h -o %i 2>/dev/null)" ] && ok || { bad "jobs still queued after 90 s"; squeue; }
for i in 0 1 2 3; do
  f=out.jsonl.$i-of-4
  if [ -s "$f" ] && [ -z "$(jq -r --argjson i $i 'select((.line - 1) % 4 != $i) | .line' "$f")" ]; then ok
  else bad "array task $i did not write its shard"; fi
done
cmp out.jsonl one.jsonl && ok || { bad "merged output differs from one run"; cat submit.out decokit-batch-*.log; tail -n 30 "$tmp/slurmctld.log" "$tmp/slurmd.log"; }
grep -q "merged 4 shards" decokit-batch-*-merge.log && ok || { bad "merge job log"; cat decokit-batch-*.log; }

finish
