#!/usr/bin/env bash
# A single-node Slurm cluster (munged + slurmctld + slurmd) in a temp dir, for tracker's tests.
#
#   .ci/services/slurm.sh start    install what is missing, start, wait until the node is idle,
#                                  print the env file to source (also kept as $DIR/env)
#   .ci/services/slurm.sh stop     cancel the jobs, stop the daemons by pid, delete the dir
#   .ci/services/slurm.sh status   say what runs; exit 0 only if the controller answers
#
# stop and status find the cluster through TRACKER_SLURM_DIR (set by the env file) or a
# directory given as second argument. stop is idempotent and never fails, so it fits an EXIT
# trap:
#   .ci/services/slurm.sh start > /tmp/slurm.env && source /tmp/slurm.env
#   trap '.ci/services/slurm.sh stop' EXIT
#
# Runs as root (the daemons run as root; no systemd, no cgroups), listens on 127.0.0.1 only and
# changes nothing in /etc. Knobs: TRACKER_SLURM_DIR (default: a new mktemp -d),
# TRACKER_SLURM_CTLD_PORT and TRACKER_SLURM_SLURMD_PORT (default: free ports),
# TRACKER_SLURM_CPUS (default: nproc), TRACKER_SLURM_MAX_ARRAY_SIZE (default 1001, Slurm's),
# TRACKER_SLURM_KEEP=1 (stop keeps the dir and its logs).
#
# The cluster: partition "debug" (default, PriorityTier=1, jobs preempted by requeue, 10 s
# GraceTime) and "high" (PriorityTier=10): a job in "high" preempts and requeues jobs in "debug".
# cred_expire=10 and sched_interval=2 let a requeued job start again within ~15 s (defaults:
# 120 s and 60 s). Finished jobs stay in squeue/scontrol for MinJobAge=3600 s. No slurmdbd, so
# plain sacct says "accounting storage is disabled"; `sacct -c` reads the jobcomp/filetxt file.
set -euo pipefail
SVC_NAME=slurm
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ACTION="${1:-}"
NODE="$(hostname -s)"

install_missing() {
  local b
  for b in munged slurmctld slurmd sbatch squeue sacct scontrol scancel sinfo; do
    command -v "$b" >/dev/null 2>&1 || { svc_apt_install slurm-wlm slurm-client munge; return; }
  done
}

write_config() {
  local d="$1" ctld_port="$2" slurmd_port="$3" cpus="$4" max_array="$5"
  mkdir -p "$d"/{munge,state,spool,log}
  chmod 700 "$d" "$d/munge"
  # the cluster's own munge key; munged refuses a key others can read
  head -c 1024 /dev/urandom >"$d/munge/munge.key"
  chmod 600 "$d/munge/munge.key"
  cat >"$d/slurm.conf" <<CONF
# Written by tracker's .ci/services/slurm.sh: one node on loopback, everything as root.
ClusterName=trackertest
SlurmctldHost=${NODE}(127.0.0.1)
SlurmctldPort=${ctld_port}
SlurmdPort=${slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# Our own munged socket. cred_expire is also the least time before a requeued job may start
# again (default 120 s).
AuthInfo=socket=${d}/munge/munge.socket,cred_expire=10
StateSaveLocation=${d}/state
SlurmdSpoolDir=${d}/spool
SlurmctldPidFile=${d}/slurmctld.pid
SlurmdPidFile=${d}/slurmd.pid
SlurmctldLogFile=${d}/log/slurmctld.log
SlurmdLogFile=${d}/log/slurmd.log
# No cgroups here: processes are tracked through /proc, tasks are not bound.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
# No slurmdbd: finished jobs are written to a text file that \`sacct -c\` reads.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=${d}/log/jobcomp.txt
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MaxArraySize=${max_array}
ReturnToService=2
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
MinJobAge=3600
JobRequeue=1
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
# send the job's --signal (e.g. B:USR1) when it is preempted, then GraceTime applies
SlurmctldParameters=preempt_send_user_signal
NodeName=${NODE} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP PriorityTier=1 PreemptMode=REQUEUE GraceTime=10
PartitionName=high Nodes=ALL Default=NO MaxTime=INFINITE State=UP PriorityTier=10 PreemptMode=OFF
CONF
  cat >"$d/env" <<ENV
export TRACKER_SLURM_DIR='${d}'
export SLURM_CONF='${d}/slurm.conf'
export TRACKER_SLURM_PARTITION='debug'
export TRACKER_SLURM_HIGH_PARTITION='high'
ENV
}

munge_ok() { munge -S "$1/munge/munge.socket" -n </dev/null | unmunge -S "$1/munge/munge.socket" >/dev/null; }
# the node is listed once per partition
node_idle() { [ "$(sinfo -h -N -o %T 2>/dev/null | sort -u)" = idle ]; }

start() {
  [ "$(id -u)" -eq 0 ] || svc_die "run as root: the single-node cluster runs its daemons as root"
  install_missing
  local d="${TRACKER_SLURM_DIR:-}"
  if [ -n "$d" ] && svc_alive "$d/slurmctld.pidof"; then svc_die "a cluster already runs from $d: stop it first"; fi
  local ctld_port="${TRACKER_SLURM_CTLD_PORT:-$(svc_free_port)}"
  local slurmd_port="${TRACKER_SLURM_SLURMD_PORT:-$(svc_free_port "$ctld_port")}"
  svc_port_free "$ctld_port" || svc_die "port $ctld_port is in use: set TRACKER_SLURM_CTLD_PORT to a free one"
  svc_port_free "$slurmd_port" || svc_die "port $slurmd_port is in use: set TRACKER_SLURM_SLURMD_PORT to a free one"
  [ -n "$d" ] || d="$(mktemp -d /tmp/tracker-slurm.XXXXXX)"
  mkdir -p "$d"
  write_config "$d" "$ctld_port" "$slurmd_port" "${TRACKER_SLURM_CPUS:-$(nproc)}" \
    "${TRACKER_SLURM_MAX_ARRAY_SIZE:-1001}"
  export TRACKER_SLURM_DIR="$d" SLURM_CONF="$d/slurm.conf"
  # a start that fails half-way leaves nothing running (logs stay in $d/log)
  trap 'TRACKER_SLURM_KEEP=1 stop' EXIT

  local t_all t0
  t_all="$(svc_now)"
  t0="$(svc_now)"
  # every daemon runs in the foreground behind '&', so $! is its own pid
  munged --foreground --force --socket="$d/munge/munge.socket" --key-file="$d/munge/munge.key" \
    --pid-file="$d/munge/munged.pid" --log-file="$d/log/munged.log" --seed-file="$d/munge/munged.seed" \
    >>"$d/log/munged.out" 2>&1 &
  echo $! >"$d/munged.pidof"
  svc_wait_for 20 munge_ok "$d" || svc_die "munged did not start: see $d/log/munged.log"
  svc_timing munged_up "$(svc_since "$t0")"

  t0="$(svc_now)"
  slurmctld -D -c -i -f "$SLURM_CONF" >>"$d/log/slurmctld.out" 2>&1 &
  echo $! >"$d/slurmctld.pidof"
  svc_wait_for 30 scontrol ping || svc_die "slurmctld does not answer scontrol ping: see $d/log/slurmctld.log"
  svc_timing slurmctld_up "$(svc_since "$t0")"

  t0="$(svc_now)"
  slurmd -D -f "$SLURM_CONF" -N "$NODE" >>"$d/log/slurmd.out" 2>&1 &
  echo $! >"$d/slurmd.pidof"
  svc_wait_for 60 node_idle || svc_die "node $NODE is not idle after 60 s ($(sinfo -h -N -o '%T %E' 2>&1 | sort -u | tr '\n' ' ')): see $d/log/slurmd.log"
  svc_timing node_idle "$(svc_since "$t0")"
  svc_timing start_total "$(svc_since "$t_all")"
  trap - EXIT
  svc_log "up: controller on 127.0.0.1:$ctld_port, slurmd on :$slurmd_port, dir $d"
  cat "$d/env"
}

cluster_dir() {
  local d="${1:-${TRACKER_SLURM_DIR:-}}"
  [ -n "$d" ] && [ -d "$d" ] && echo "$d"
}

stop() {
  local d
  d="$(cluster_dir "${1:-}")" || { svc_log "nothing to stop (TRACKER_SLURM_DIR is not set or gone)"; return 0; }
  local t0
  t0="$(svc_now)"
  export SLURM_CONF="$d/slurm.conf"
  if svc_alive "$d/slurmctld.pidof" && timeout 5 scontrol ping >/dev/null 2>&1; then
    # end the jobs first so no job step outlives slurmd
    timeout 10 scancel --full --user="$(id -un)" >/dev/null 2>&1 || true
    svc_wait_for 15 sh -c '[ -z "$(squeue -h -t running,completing -o %i)" ]' || svc_log "jobs still running at stop"
  fi
  # the daemons take a second or two each to shut down: stop them side by side
  svc_stop_pid slurmd "$d/slurmd.pidof" &
  svc_stop_pid slurmctld "$d/slurmctld.pidof" &
  svc_stop_pid munged "$d/munged.pidof" &
  wait
  svc_timing stop_total "$(svc_since "$t0")"
  if [ "${TRACKER_SLURM_KEEP:-0}" = 1 ]; then svc_log "kept $d"; else rm -rf "$d"; fi
  return 0
}

status() {
  local d name up=0
  d="$(cluster_dir "${1:-}")" || { echo "slurm: not started (TRACKER_SLURM_DIR is not set or gone)"; return 3; }
  export SLURM_CONF="$d/slurm.conf"
  for name in munged slurmctld slurmd; do
    if svc_alive "$d/$name.pidof"; then echo "$name: running (pid $(cat "$d/$name.pidof"))"; else echo "$name: stopped"; fi
  done
  if timeout 5 scontrol ping >/dev/null 2>&1; then
    up=1
    echo "controller: answers; node: $(sinfo -h -N -o '%N %T' 2>&1)"
  else
    echo "controller: does not answer"
  fi
  [ "$up" = 1 ]
}

case "$ACTION" in
  start) start ;;
  stop) stop "${2:-}" ;;
  status) status "${2:-}" ;;
  *)
    echo "usage: $0 start|stop|status [DIR]" >&2
    exit 2
    ;;
esac
