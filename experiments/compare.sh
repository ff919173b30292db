#!/usr/bin/env bash
# The whole comparison of issue #15 (README "Results"): every experiments/compare-*.toml, run by
# two `tracker worker`s in one workspace, then the README's results section written from its store.
#
#   bash experiments/compare.sh [HOME]            ingest, enqueue, run, write the results (resumable)
#   bash experiments/compare.sh [HOME] results    only rewrite the README's results section
#   bash experiments/compare.sh [HOME] results EXPERIMENT
#                                                 only that experiment's claims and tables, into
#                                                 its own block (after the results section), for
#                                                 a store that holds just that experiment
#   bash experiments/compare.sh [HOME] smoke      every compare file at 2 steps, one seed, 16
#                                                 evaluation episodes, in HOME (use a scratch one)
#
# HOME defaults to .tracker-compare. Resumable: an ingest that is already recorded does no work,
# a run whose resolved config is already in its experiment is not enqueued again, and a run cut
# off by Ctrl-C (the workers put it back in the queue), a crash or a reboot (its lease expires and
# the next worker resumes it from its last checkpoint) continues where it was; so re-running this
# script after any interruption enqueues nothing twice and finishes the rest.
# Uses the release binary (bench/lib.sh: built now unless SKIP_BUILD=1, or TRACKER_BIN).
set -euo pipefail
cd "$(dirname "$0")/.."
HOME_DIR=${1:-.tracker-compare}
WHAT=${2:-all}
WORKERS=${WORKERS:-2}
source bench/lib.sh
use_release_binary
T() { "$TRACKER_BIN" "$@" --home "$HOME_DIR"; }

ingest() {
    # The two corpora the S2 files name: the bundled one (BPE, the default ingest) and Debian's
    # licence texts at byte level with MPL-2.0 and Apache-2.0 held out whole (not GPL-2: about
    # half of its 50-character windows appear verbatim in the other licences).
    T ingest corpora/bundled.tar.xz
    # The same archive with 10% of the documents held out, for the S2 claims on the bundled corpus
    # (compare-s2-bundled-claim.toml): the default 0.5% gives too few windows of 512 tokens.
    T ingest corpora/bundled.tar.xz --name bundled-val10 --val-fraction 0.1
    T ingest /usr/share/common-licenses --name licenses --vocab-size 257 \
        --val-files MPL-2.0 --val-files Apache-2.0 --val-fraction 0
}

workers() {
    T status
    pids=()
    for _ in $(seq "$WORKERS"); do
        "$TRACKER_BIN" worker --until-empty --home "$HOME_DIR" &
        pids+=($!)
    done
    # A worker stopped by SIGTERM puts its run back in the queue (resumed by the next run of this script).
    trap 'kill -TERM "${pids[@]}" 2>/dev/null; wait; exit 130' INT TERM
    wait "${pids[@]}"
    trap - INT TERM
    T status
}

if [ "$WHAT" = smoke ]; then
    # The same files with tiny budgets, so the real run cannot fail on a config error.
    DIR=$(mktemp -d)
    for f in experiments/compare-*.toml; do
        sed -e 's/^steps = .*/steps = 2/' -e 's/^eval_episodes = .*/eval_episodes = 16/' \
            -e 's/^seeds = .*/seeds = [1]/' -e 's/^length_batches = .*/length_batches = 1/' \
            -e 's/^checkpoint_every = .*/checkpoint_every = 1/' -e 's/^log_every = .*/log_every = 1/' \
            "$f" > "$DIR/$(basename "$f")"
    done
    ingest
    for f in "$DIR"/compare-*.toml; do T run "$f" --no-wait; done
    workers
    rm -rf "$DIR"
    T report --state failed || echo "no failed runs"
    exit 0
fi

if [ "$WHAT" = all ]; then
    ingest
    for f in experiments/compare-*.toml; do T run "$f" --no-wait; done
    workers
fi

# The README's results section, between its two marker lines, from the store alone. Headings are
# moved three levels down to sit under "## Results".
# The first line says when, from which store and how complete it was (a suite still running or
# interrupted gives partial results: its queued runs show "-" and claims without runs NOT RUN).
# (status first: it also upgrades a store written by an older tracker, which report, a reader, will not).
# With an EXPERIMENT (a third argument), only that experiment's claims and tables, into a block
# of its own after the section: for an experiment run alone in a store of its own (rewriting the
# whole section from that store would mark every other claim NOT RUN). The next whole rewrite
# drops such blocks, since the section then holds their experiments too.
ONLY=${3:-}
QUEUE=$(T status | head -1)
OUT=$(mktemp)
T report --results experiments/claims.toml ${ONLY:+--experiment "$ONLY"} --workers "$WORKERS" --format markdown -o "$OUT" > /dev/null
python3 - "$OUT" "$(date -u '+%Y-%m-%d %H:%M') UTC" "$QUEUE" "$ONLY" <<'PY'
import re, sys
body = open(sys.argv[1]).read().strip()
when, queue, only = sys.argv[2], sys.argv[3], sys.argv[4]
done = re.search(r"(\d+) queued, (\d+) running", queue)
partial = done and (int(done.group(1)) + int(done.group(2))) > 0
if only:
    begin, end = f"<!-- results:{only}:begin (written by experiments/compare.sh) -->", f"<!-- results:{only}:end -->"
    note = (f"Written {when} by `bash experiments/compare.sh HOME results {only}` from a store holding "
            f"this experiment only ({queue}); the next whole rewrite of the section above takes it in.")
else:
    begin, end = "<!-- results:begin (written by experiments/compare.sh) -->", "<!-- results:end -->"
    note = f"Written {when} by `bash experiments/compare.sh HOME results` from the suite's store ({queue})."
if partial:
    note += " **Partial: the suite has not finished**; re-running `bash experiments/compare.sh HOME` resumes it."
body = note + "\n\n" + body
body = re.sub(r"^(#+) ", lambda m: "#" * (len(m.group(1)) + 2) + " ", body, flags=re.M)
readme = open("README.md").read()
main_end = "<!-- results:end -->"
if "<!-- results:begin" not in readme or main_end not in readme:
    sys.exit("README.md has no results markers; put the two marker lines back under '## Results'")
if not only:
    # the whole section holds every experiment: drop the blocks of single experiments
    readme = re.sub(r"\n*<!-- results:([\w.-]+):begin .*?<!-- results:\1:end -->", "", readme, flags=re.S)
if begin not in readme:
    head, tail = readme.split(main_end, 1)
    readme = head + main_end + "\n\n" + begin + "\n" + end + tail
head, rest = readme.split(begin, 1)
_, tail = rest.split(end, 1)
open("README.md", "w").write(head + begin + "\n\n" + body + "\n\n" + end + tail)
print(f"wrote the results {'of ' + only if only else 'section'} in README.md")
PY
rm -f "$OUT"
