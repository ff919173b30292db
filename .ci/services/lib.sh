# Shared helpers of the .ci/services scripts (sourced, not run). Logs go to stderr so that a
# script's stdout carries only the env file it prints.

# Seconds since the epoch with nanoseconds, and the seconds elapsed since such a stamp.
svc_now() { date +%s.%N; }
svc_since() { awk -v a="$1" -v b="$(svc_now)" 'BEGIN { printf "%.2f", b - a }'; }

svc_log() { printf '[%s %s] %s\n' "$SVC_NAME" "$(date +%H:%M:%S)" "$*" >&2; }
svc_die() { svc_log "error: $*"; exit 1; }
svc_timing() { svc_log "timing $1=$2s"; }

# svc_wait_for SECONDS CMD...: run CMD every 0.2 s until it succeeds; fails after SECONDS.
svc_wait_for() {
  local limit="$1" t0
  shift
  t0="$(svc_now)"
  until "$@" >/dev/null 2>&1; do
    awk -v a="$t0" -v b="$(svc_now)" -v l="$limit" 'BEGIN { exit !(b - a > l) }' && return 1
    sleep 0.2
  done
}

# svc_port_free PORT: nothing listens on PORT (TCP) on this machine.
svc_port_free() {
  if command -v ss >/dev/null 2>&1; then
    [ -z "$(ss -Htln "sport = :$1" 2>/dev/null)" ]
  else
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

# svc_free_port [EXCLUDE...]: a random TCP port in 20000-32767 (below Linux's ephemeral range)
# that nothing listens on and that is not one of EXCLUDE.
svc_free_port() {
  local p i
  for i in $(seq 1 200); do
    p=$((20000 + RANDOM % 12768))
    case " $* " in *" $p "*) continue ;; esac
    svc_port_free "$p" && { echo "$p"; return 0; }
  done
  svc_die "no free TCP port found in 20000-32767"
}

# svc_stop_pid NAME PIDFILE [SIGNAL]: signal the process whose pid PIDFILE holds (TERM unless
# told), wait up to 10 s for it to end, then SIGKILL it. Removes PIDFILE. Never fails.
svc_stop_pid() {
  local name="$1" file="$2" sig="${3:-TERM}" pid i
  [ -f "$file" ] || return 0
  pid="$(cat "$file" 2>/dev/null || true)"
  rm -f "$file"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -"$sig" "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    svc_log "$name (pid $pid) still alive after 10 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  svc_log "stopped $name (pid $pid)"
}

# svc_alive PIDFILE: the process PIDFILE names is running.
svc_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# svc_apt_install PKG...: install the packages with apt-get (as root, or through sudo).
svc_apt_install() {
  local sudo="" t0
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  t0="$(svc_now)"
  svc_log "installing $*"
  if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
    --no-install-recommends "$@" >&2; then
    # a fresh machine may have no package lists yet
    $sudo apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
      --no-install-recommends "$@" >&2 || svc_die "apt-get install $* failed"
  fi
  svc_timing install "$(svc_since "$t0")"
}
