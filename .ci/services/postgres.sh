#!/usr/bin/env bash
# A PostgreSQL server in a temp dir on loopback, for tracker's tests.
#
#   .ci/services/postgres.sh start    install what is missing, initdb, start, wait for
#                                     pg_isready, create role and database, print the env
#                                     file to source (also kept as $DIR/env, mode 0600)
#   .ci/services/postgres.sh stop     stop the postmaster by pid (fast shutdown), delete the dir
#   .ci/services/postgres.sh status   say whether it runs; exit 0 only if it accepts connections
#
# stop and status find the server through TRACKER_POSTGRES_DIR (set by the env file) or a
# directory given as second argument; stop is idempotent and never fails (fit for an EXIT trap):
#   .ci/services/postgres.sh start > /tmp/pg.env && source /tmp/pg.env
#   trap '.ci/services/postgres.sh stop' EXIT
#
# The env file sets TRACKER_TEST_DATABASE_URL=postgres://tracker:PASSWORD@127.0.0.1:PORT/trackertest
# (a random password; TCP connections need it, SCRAM-SHA-256) and TRACKER_POSTGRES_SOCKET_DIR
# (unix socket, same port). Runs as root (the server itself runs as the `postgres` user: initdb
# refuses root), listens on 127.0.0.1 only, touches nothing under /etc/postgresql or
# /var/lib/postgresql. Knobs: TRACKER_POSTGRES_DIR (default: a new mktemp -d),
# TRACKER_POSTGRES_PORT (default: a free port), TRACKER_POSTGRES_FAST=1 (fsync,
# synchronous_commit and full_page_writes off: quicker tests, but not for benchmarks; default:
# the server's own settings), TRACKER_POSTGRES_KEEP=1 (stop keeps the dir and its log).
set -euo pipefail
SVC_NAME=postgres
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ACTION="${1:-}"
ROLE=tracker
DB=trackertest

# the newest installed server's bin dir (initdb, pg_ctl and postgres are not on PATH)
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

install_missing() {
  local b
  b="$(pg_bin)"
  if [ -z "$b" ] || [ ! -x "$b/initdb" ] || ! command -v psql >/dev/null 2>&1 || ! command -v pg_isready >/dev/null 2>&1; then
    svc_apt_install postgresql
  fi
  b="$(pg_bin)"
  [ -n "$b" ] && [ -x "$b/initdb" ] || svc_die "PostgreSQL's server binaries are missing after apt-get install postgresql"
}

as_postgres() { runuser -u postgres -- "$@"; }

start() {
  [ "$(id -u)" -eq 0 ] || svc_die "run as root: the script starts the server as the postgres user"
  install_missing
  local bin d port password t_all t0
  bin="$(pg_bin)"
  d="${TRACKER_POSTGRES_DIR:-}"
  if [ -n "$d" ] && svc_alive "$d/postgres.pidof"; then svc_die "a server already runs from $d: stop it first"; fi
  port="${TRACKER_POSTGRES_PORT:-$(svc_free_port)}"
  svc_port_free "$port" || svc_die "port $port is in use: set TRACKER_POSTGRES_PORT to a free one"
  [ -n "$d" ] || d="$(mktemp -d /tmp/tracker-postgres.XXXXXX)"
  mkdir -p "$d"
  rm -rf "$d/data" "$d/sock"
  mkdir -p "$d/data" "$d/sock"
  chown -R postgres:postgres "$d"
  chmod 700 "$d"
  export TRACKER_POSTGRES_DIR="$d"
  trap 'TRACKER_POSTGRES_KEEP=1 stop' EXIT
  t_all="$(svc_now)"

  t0="$(svc_now)"
  as_postgres "$bin/initdb" -D "$d/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$d/initdb.log" 2>&1 \
    || svc_die "initdb failed: $(tail -3 "$d/initdb.log" | tr '\n' ' ')"
  svc_timing initdb "$(svc_since "$t0")"

  local fast=""
  [ "${TRACKER_POSTGRES_FAST:-0}" = 1 ] && fast="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  t0="$(svc_now)"
  as_postgres "$bin/pg_ctl" -D "$d/data" -l "$d/server.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $d/sock $fast" >/dev/null \
    || svc_die "the server did not start: see $d/server.log ($(tail -2 "$d/server.log" 2>/dev/null | tr '\n' ' '))"
  head -1 "$d/data/postmaster.pid" >"$d/postgres.pidof"
  svc_wait_for 30 pg_isready -q -h 127.0.0.1 -p "$port" || svc_die "pg_isready fails: see $d/server.log"
  svc_timing server_up "$(svc_since "$t0")"

  t0="$(svc_now)"
  password="$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  # through stdin, so the password never shows in a process list
  psql -q -h "$d/sock" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 >/dev/null <<SQL \
    || svc_die "could not create role $ROLE and database $DB: see $d/server.log"
CREATE ROLE $ROLE LOGIN PASSWORD '$password';
CREATE DATABASE $DB OWNER $ROLE;
SQL
  svc_timing create_database "$(svc_since "$t0")"
  svc_timing start_total "$(svc_since "$t_all")"

  (
    umask 077
    cat >"$d/env" <<ENV
export TRACKER_POSTGRES_DIR='${d}'
export TRACKER_POSTGRES_SOCKET_DIR='${d}/sock'
export TRACKER_POSTGRES_PORT='${port}'
export TRACKER_TEST_DATABASE_URL='postgres://${ROLE}:${password}@127.0.0.1:${port}/${DB}'
ENV
  )
  trap - EXIT
  svc_log "up: postmaster pid $(cat "$d/postgres.pidof") on 127.0.0.1:$port, dir $d"
  cat "$d/env"
}

server_dir() {
  local d="${1:-${TRACKER_POSTGRES_DIR:-}}"
  [ -n "$d" ] && [ -d "$d" ] && echo "$d"
}

stop() {
  local d t0
  d="$(server_dir "${1:-}")" || { svc_log "nothing to stop (TRACKER_POSTGRES_DIR is not set or gone)"; return 0; }
  t0="$(svc_now)"
  # SIGINT is PostgreSQL's fast shutdown: roll back open transactions, disconnect, checkpoint
  svc_stop_pid postmaster "$d/postgres.pidof" INT
  svc_timing stop_total "$(svc_since "$t0")"
  if [ "${TRACKER_POSTGRES_KEEP:-0}" = 1 ]; then svc_log "kept $d"; else rm -rf "$d"; fi
  return 0
}

status() {
  local d port
  d="$(server_dir "${1:-}")" || { echo "postgres: not started (TRACKER_POSTGRES_DIR is not set or gone)"; return 3; }
  if svc_alive "$d/postgres.pidof"; then echo "postmaster: running (pid $(cat "$d/postgres.pidof"))"; else echo "postmaster: stopped"; fi
  port="$(sed -n "s/^export TRACKER_POSTGRES_PORT='\(.*\)'$/\1/p" "$d/env" 2>/dev/null)"
  if [ -n "$port" ] && pg_isready -q -h 127.0.0.1 -p "$port"; then
    echo "server: accepts connections on 127.0.0.1:$port"
  else
    echo "server: does not accept connections"
    return 1
  fi
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
