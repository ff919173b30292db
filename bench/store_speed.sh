#!/usr/bin/env bash
# Metric points/s through the store's batched write path (`tracker bench-store --mode batched`:
# TrackerDB.logMetrics in batches of BATCH points, 4 keys) into the workspace's SQLite file and
# into PostgreSQL, side by side in one run, alternating ROUNDS times so both sides see the same
# load; prints the median of each and the ratio. The PostgreSQL server is started here in a temp
# dir with the server's default settings (fsync and synchronous_commit on: NOT
# TRACKER_POSTGRES_FAST) and stopped by pid at exit; SQLite runs as tracker runs it (WAL,
# synchronous=NORMAL). Target: at least 100,000 points/s into PostgreSQL. Release build.
# With BASELINE_BIN (another tracker binary, e.g. main's release build) each round also runs it,
# into the same server (a schema of its own, as its migrations may differ), and the script
# prints this tree's rates over the baseline's: the before/after comparison that stays
# meaningful on a busy machine.
# Usage: bench/store_speed.sh   (env: TRACKER_BIN, SCRATCH_PATH, SKIP_BUILD=1, POINTS=200000,
# BATCH=1000, ROUNDS=3, BENCH_DIR, BASELINE_BIN; TRACKER_BENCH_DATABASE_URL +
# TRACKER_DATABASE_PASSWORD_FILE to use a server of your own instead, without BASELINE_BIN)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${BENCH_DIR:-/tmp/tracker-store-bench}
POINTS=${POINTS:-200000}
BATCH=${BATCH:-1000}
ROUNDS=${ROUNDS:-3}
rm -rf "$WORK"
mkdir -p "$WORK"
source bench/lib.sh
use_release_binary

BASE=${BASELINE_BIN:-}
if [ -n "$BASE" ] && [ ! -x "$BASE" ]; then echo "bench: no baseline tracker binary at $BASE" >&2; exit 1; fi
if [ -n "${TRACKER_BENCH_DATABASE_URL:-}" ]; then
    [ -z "$BASE" ] || { echo "bench: BASELINE_BIN needs the server this script starts (unset TRACKER_BENCH_DATABASE_URL)" >&2; exit 1; }
    url=$TRACKER_BENCH_DATABASE_URL
else
    unset TRACKER_POSTGRES_FAST
    trap 'bash .ci/services/postgres.sh stop >/dev/null 2>&1 || true' EXIT
    (umask 077 && bash .ci/services/postgres.sh start > "$WORK/pg.env" 2>"$WORK/pg.log")
    # shellcheck disable=SC1091
    source "$WORK/pg.env"
    # the password goes to a 0600 file, the URL without it to --store
    python3 -c "import sys, urllib.parse as u; print(u.urlparse(sys.argv[1]).password)" \
        "$TRACKER_TEST_DATABASE_URL" > "$WORK/pgpass"
    chmod 600 "$WORK/pgpass"
    export TRACKER_DATABASE_PASSWORD_FILE=$WORK/pgpass
    url="postgres://tracker@127.0.0.1:$TRACKER_POSTGRES_PORT/trackertest"
    echo "postgres: $(psql -X -At "$TRACKER_TEST_DATABASE_URL" -c "SELECT 'fsync=' || current_setting('fsync') || ' synchronous_commit=' || current_setting('synchronous_commit')")" >&2
    [ -z "$BASE" ] || psql -X -q "$TRACKER_TEST_DATABASE_URL" -c "CREATE SCHEMA baseline"
fi

rate() { python3 -c "import json, sys; print(round(json.loads(sys.stdin.read())['pointsPerSecond']))"; }
batched() { # BIN HOME [--store URL]
    "$1" bench-store --mode batched --points "$POINTS" --batch "$BATCH" --home "$2" "${@:3}" | rate
}
sqlite=() pg=() base_sqlite=() base_pg=()
for r in $(seq "$ROUNDS"); do
    sqlite+=("$(batched "$TRACKER_BIN" "$WORK/sqlite-$r")")
    pg+=("$(batched "$TRACKER_BIN" "$WORK/pg-$r" --store "$url")")
    if [ -n "$BASE" ]; then
        base_sqlite+=("$(batched "$BASE" "$WORK/base-sqlite-$r")")
        base_pg+=("$(batched "$BASE" "$WORK/base-pg-$r" --store "$url?schema=baseline")")
    fi
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }
s=$(median "${sqlite[@]}") p=$(median "${pg[@]}")
echo "load: $(uptime | sed 's/.*load average: //')"
printf '%-22s %14s   %s\n' store "points/s" "rounds"
printf '%-22s %14s   %s\n' SQLite "$s" "${sqlite[*]}"
printf '%-22s %14s   %s\n' PostgreSQL "$p" "${pg[*]}"
python3 -c "print('PostgreSQL / SQLite: %.2f' % ($p / $s))"
if [ -n "$BASE" ]; then
    bs=$(median "${base_sqlite[@]}") bp=$(median "${base_pg[@]}")
    printf '%-22s %14s   %s\n' "baseline SQLite" "$bs" "${base_sqlite[*]}"
    printf '%-22s %14s   %s\n' "baseline PostgreSQL" "$bp" "${base_pg[*]}"
    python3 -c "print('this tree / baseline: SQLite %.2fx, PostgreSQL %.2fx' % ($s / $bs, $p / $bp))"
fi
[ "$p" -ge 100000 ] && echo "target met: >= 100,000 points/s into PostgreSQL" || echo "target missed: < 100,000 points/s into PostgreSQL"

# The figures for bench/all.sh's summary (bench/lib.sh: bench_results).
python3 - "$s" "$p" "${bs:-0}" "${bp:-0}" "$BATCH" "$ROUNDS" <<'PY' | bench_results
import json, sys
s, p, bs, bp = map(int, sys.argv[1:5])
print(json.dumps([f"metric points/s into PostgreSQL, fsync on, batches of {sys.argv[5]} (median of {sys.argv[6]} rounds)",
                  f"{p:,}", f"SQLite in the same rounds {s:,}", f"{p / s:.2f} of SQLite", ">= 100,000 points/s",
                  "yes" if p >= 100000 else "no"]))
if bs:
    print(json.dumps(["metric points/s against BASELINE_BIN in the same rounds", f"SQLite {s:,}, PostgreSQL {p:,}",
                      f"baseline SQLite {bs:,}, PostgreSQL {bp:,}", f"{s / bs:.2f}x, {p / bp:.2f}x", "", ""]))
PY
