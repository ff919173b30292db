# Shared by the bench scripts, sourced from the repository root.

# Sets (and exports) TRACKER_BIN, the release binary to time: the one already named by
# $TRACKER_BIN, else a release build in $SCRATCH_PATH (default .build-release), built now unless
# SKIP_BUILD=1 (then the last build is reused).
use_release_binary() {
    if [ -z "${TRACKER_BIN:-}" ]; then
        local scratch=${SCRATCH_PATH:-.build-release}
        if [ "${SKIP_BUILD:-0}" != 1 ]; then
            echo "== release build ($scratch)" >&2
            swift build -c release --scratch-path "$scratch" --product tracker >&2
        fi
        case $scratch in
            /*) TRACKER_BIN=$scratch/release/tracker ;;
            *) TRACKER_BIN=$PWD/$scratch/release/tracker ;;
        esac
    fi
    if [ ! -x "$TRACKER_BIN" ]; then
        echo "bench: no tracker binary at $TRACKER_BIN; build one (unset SKIP_BUILD) or set TRACKER_BIN" >&2
        exit 1
    fi
    export TRACKER_BIN
}
