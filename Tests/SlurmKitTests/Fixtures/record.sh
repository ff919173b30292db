#!/usr/bin/env bash
# Records the outputs the SlurmKit parsers are tested on, from the real commands on the
# single-node cluster of .ci/services/slurm.sh. Run from the repository root, as root:
#   .ci/services/slurm.sh start > /tmp/slurm.env && source /tmp/slurm.env
#   bash Tests/SlurmKitTests/Fixtures/record.sh
#   .ci/services/slurm.sh stop
# Takes about 2 minutes (one job waits for its 1-minute time limit). Overwrites the recorded
# fixtures (not the hand-written ones, whose names start with "hand-").
set -euo pipefail
[ -n "${SLURM_CONF:-}" ] || { echo "record.sh: source the env file of .ci/services/slurm.sh start first" >&2; exit 1; }
F="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
W="$(mktemp -d /tmp/slurmkit-record.XXXXXX)"
trap 'rm -rf "$W"' EXIT
cd "$W"
SQ=(squeue -h -r --states=all -o '%i|%T|%r')
ids() { (IFS=,; echo "$*"); }
state_of() { squeue -h -r --states=all -o '%T' -j "$1" 2>/dev/null || true; }
wait_state() { # wait_state ID SECONDS STATE...: until the job (one task) is in one of STATE
  local id="$1" limit="$2" i s
  shift 2
  for i in $(seq 1 $((limit * 5))); do
    s="$(state_of "$id")"
    for want in "$@"; do [ "$s" = "$want" ] && return 0; done
    sleep 0.2
  done
  echo "record.sh: $id is '$s', not one of $* after ${limit}s" >&2
  return 1
}
wait_gone_from_running() { # until no task of the given jobs is pending/running/completing
  local i
  for i in $(seq 1 600); do
    [ -z "$(squeue -h -r -t pending,running,completing,configuring,suspended -o %i -j "$1" 2>/dev/null)" ] && return 0
    sleep 0.2
  done
  return 1
}

cat >sleeper.sh <<'S'
#!/bin/bash
sleep "${1:-3}"
S
cat >outcomes.sh <<'S'
#!/bin/bash
# task 0 succeeds, 1 exits 3, 2 is killed by SIGKILL, 3 sleeps until it is cancelled
case "$SLURM_ARRAY_TASK_ID" in
  0) exit 0 ;;
  1) exit 3 ;;
  2) kill -KILL $$ ;;
  *) sleep 300 ;;
esac
S
cat >preemptible.sh <<'S'
#!/bin/bash
# survives the USR1 of --signal (sent at preemption); Slurm requeues it after GraceTime
trap 'echo USR1' USR1
for i in $(seq 1 240); do sleep 0.5 & wait $!; done
S
cat >requeue_self.sh <<'S'
#!/bin/bash
if [ "${SLURM_RESTART_COUNT:-0}" = 0 ]; then scontrol requeue "$SLURM_JOB_ID"; sleep 30; fi
S

# nothing submitted yet by this script: output of a queue with no jobs of this user
"${SQ[@]}" -u nobody >"$F/squeue-empty.txt"
# squeue on a single id slurmctld does not know: rc 1 and a message on stderr
set +e
"${SQ[@]}" -j 999999 >/dev/null 2>"$F/squeue-invalid-id.stderr"
echo "rc=$?" >>"$F/squeue-invalid-id.stderr"
sacct -X -n -P -o JobID,State,ExitCode >/dev/null 2>"$F/sacct-disabled.stderr"
echo "rc=$?" >>"$F/sacct-disabled.stderr"
set -e
scontrol show config >"$F/scontrol-show-config.txt"

# a job that reaches its 1-minute time limit (takes 60-90 s; runs beside the rest)
timeout_id="$(sbatch --parsable --time=1 -o /dev/null sleeper.sh 200)"

# the array with outcomes; sbatch --parsable prints the array's job id
outcomes="$(sbatch --parsable --array=0-3 -o /dev/null outcomes.sh)"
echo "$outcomes" >"$F/sbatch-parsable.txt"
wait_state "${outcomes}_3" 30 RUNNING
scancel "${outcomes}_3"
wait_gone_from_running "$outcomes"

# a throttled array: 6 tasks, 2 at a time (one CPU is taken by the time-limit job, so 1 runs)
throttled="$(sbatch --parsable --array=0-5%2 -o /dev/null sleeper.sh 4)"
sleep 1
"${SQ[@]}" -j "$throttled" >"$F/squeue-array-throttled.txt"
squeue -h --states=all -o '%i|%T|%r' -j "$throttled" >"$F/squeue-array-ranges.txt"
scontrol show job "$throttled" >"$F/scontrol-show-job-array-pending.txt"
# cancel two of the pending tasks, then all pending tasks of a second array
scancel "${throttled}_4" "${throttled}_5"
pending="$(sbatch --parsable --array=0-2 -o /dev/null sleeper.sh 4)"
sleep 1
squeue -h --states=all -o '%i|%T|%r' -j "$pending" >"$F/squeue-array-pending-range.txt"
scancel --state=PENDING "$pending"

# a job that requeues itself (what a worker does on USR1): REQUEUED, then PENDING (BeginTime)
requeued="$(sbatch --parsable --requeue --open-mode=append -o /dev/null requeue_self.sh)"
for i in $(seq 1 600); do
  s="$(state_of "$requeued")"
  case "$s" in PENDING | REQUEUED) [ "$(scontrol -o show job "$requeued" | grep -o 'Restarts=[0-9]*')" = Restarts=1 ] && break ;; esac
  sleep 0.1
done
[ "$i" -lt 600 ] || { echo "record.sh: job $requeued did not requeue itself within 60 s" >&2; exit 1; }
"${SQ[@]}" -j "$requeued" >"$F/squeue-requeued.txt"
scontrol -o show job "$requeued" >"$F/scontrol-show-job-requeued.txt"
scancel "$requeued"

# suspend and resume a running job
suspended="$(sbatch --parsable -o /dev/null sleeper.sh 30)"
wait_state "$suspended" 30 RUNNING
scontrol suspend "$suspended"
wait_state "$suspended" 10 SUSPENDED
"${SQ[@]}" -j "$suspended" >"$F/squeue-suspended.txt"
scontrol resume "$suspended"
wait_state "$suspended" 10 RUNNING
# requeue a running job and hold it
scontrol requeuehold "$suspended"
sleep 1
"${SQ[@]}" -j "$suspended" >"$F/squeue-requeue-hold.txt"
scontrol -o show job "$suspended" >"$F/scontrol-show-job-requeue-hold.txt"
scancel "$suspended"

wait_gone_from_running "$throttled"
wait_gone_from_running "$timeout_id"

# preemption: a job on all CPUs of "debug" is requeued when one in "high" arrives
cpus="$(scontrol -o show node | grep -o 'CPUTot=[0-9]*' | cut -d= -f2)"
low="$(sbatch --parsable -p debug -c "$cpus" --requeue --open-mode=append --signal=B:USR1@60 -o /dev/null preemptible.sh)"
wait_state "$low" 30 RUNNING
high="$(sbatch --parsable -p high -c "$cpus" -o /dev/null sleeper.sh 2)"
: >"$W/preempt.log"
# every distinct squeue answer from the preemption until the high job has ended
: >"$F/squeue-preemption-timeline.txt"
rm -f "$F/scontrol-show-job-preempted.txt" "$F/squeue-preempted.txt" "$W/last.txt"
for i in $(seq 1 600); do
  "${SQ[@]}" -j "$low,$high" >"$W/now.txt"
  cmp -s "$W/now.txt" "$W/last.txt" || { cat "$W/now.txt" >>"$F/squeue-preemption-timeline.txt"; echo >>"$F/squeue-preemption-timeline.txt"; cp "$W/now.txt" "$W/last.txt"; }
  grep -q "^$low|RUNNING|" "$W/now.txt" || [ -s "$F/scontrol-show-job-preempted.txt" ] \
    || scontrol -o show job "$low" >"$F/scontrol-show-job-preempted.txt"
  grep -q "^$high|COMPLETED|" "$W/now.txt" && break
  sleep 0.1
done
scancel "$low"
wait_gone_from_running "$low"

# cancelling pending array tasks: a task cancelled on its own vanishes from squeue; cancelling
# all pending tasks at once leaves the array's own record, printed as plain JOBID
drain="$(sbatch --parsable --array=0-2%1 -o /dev/null sleeper.sh 300)"
wait_state "${drain}_0" 30 RUNNING
"${SQ[@]}" -j "$drain" >"$F/squeue-drain-0-before.txt"
scancel "${drain}_2"
sleep 1
"${SQ[@]}" -j "$drain" >"$F/squeue-drain-1-task-cancelled.txt"
scancel --state=PENDING "$drain"
sleep 1
"${SQ[@]}" -j "$drain" >"$F/squeue-drain-2-pending-cancelled.txt"
scontrol -o show job "$drain" >"$F/scontrol-show-job-drained.txt"
scancel "$drain"
wait_gone_from_running "$drain"

all="$(ids "$timeout_id" "$outcomes" "$throttled" "$pending" "$requeued" "$suspended" "$low" "$high" "$drain")"
"${SQ[@]}" -j "$all" >"$F/squeue-finished.txt"
scontrol show job "$outcomes" >"$F/scontrol-show-job-array-finished.txt"
scontrol -o show job "$timeout_id" >"$F/scontrol-show-job-timeout.txt"
# no slurmdbd: sacct reads the jobcomp/filetxt file (-c); it logs "Unknown type" lines on stderr
sacct -c -X -n -P -o JobID,State,ExitCode 2>/dev/null >"$F/sacct-c.txt"
echo "recorded into $F" >&2
