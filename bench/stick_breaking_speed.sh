#!/usr/bin/env bash
# Stick-breaking against softmax_rope: training and generation tokens/s at contexts 256..2048,
# with the early stop (the default) and without it (every key visited, with the probs_cache_mib
# budget that keeps its weights and sigmoids for backward at T = 2048), relative to softmax_rope
# at the same context. The README's targets: at least 0.8x softmax training speed, 0.9x without
# the early stop at T = 2048. This used to be a timing test in Tests/AttentionTests (run with
# ATTENTION_TIMING=1); tests hold no timings.
# The measuring is bench/attention_speed.sh's, on these three cases (its results go to
# bench/out/attention_speed).
# Usage: bash bench/stick_breaking_speed.sh [timed steps per case, default 5; the median counts]
#        CONTEXTS=... TRACKER_BIN=... SKIP_BUILD=1 work as for bench/attention_speed.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CASES=${CASES:-softmax_rope,stick_breaking,stick_breaking:early_stop=false,probs_cache_mib=66} exec bash bench/attention_speed.sh "$@"
