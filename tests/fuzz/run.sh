#!/bin/sh
# run.sh — runs each libFuzzer target for a fixed time from its committed
# seed corpus and says how far it got; fails on the first finding.
# Usage: tests/fuzz/run.sh BUILD_DIR SECONDS TARGET...   (from the repository root)
# FUZZ_TIMEOUT=S (default 20) is the wall-clock limit per input: raise it
# for long runs at a low priority on a busy machine.
# FUZZ_SEED=N fixes libFuzzer's seed, so that a run from the same corpus
# tries the same inputs in the same order (CI: a finding is reproducible,
# not luck).
# New inputs collect in BUILD_DIR/corpus/TARGET (kept between runs, so a
# later run starts where the last stopped); a finding is saved as
# BUILD_DIR/crash-TARGET-* and its log is shown.
B=$1
secs=$2
shift 2
status=0
# ONNX's own conformance models (Debian's libonnx-testdata) seed the onnx
# target beside the committed corpus, when installed (read, never written)
onnx_seeds=/usr/share/libonnx-testdata/data/node
for t in "$@"; do
    mkdir -p "$B/corpus/$t"
    extra=
    [ "$t" = onnx ] && [ -d "$onnx_seeds" ] && extra=$onnx_seeds
    log="$B/fuzz_$t.log"
    "$B/fuzz_$t" -max_total_time="$secs" ${FUZZ_SEED:+-seed=$FUZZ_SEED} -timeout=${FUZZ_TIMEOUT:-20} -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$B/crash-$t-" \
        "$B/corpus/$t" "tests/fuzz/corpus/$t" $extra >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | sed -E 's/.*(cov: [0-9]+ ft: [0-9]+ corp: [0-9]+).*/\1/')
    if [ "$rc" -ne 0 ]; then
        echo "fuzz_$t: FINDING after ${runs:-?} inputs (exit $rc); log $log"
        grep -E 'ERROR|SUMMARY|runtime error|Test unit written|==[0-9]+==' "$log" | head -n 20
        status=1
    else
        echo "fuzz_$t: ${runs:-?} inputs in ${secs} s, no finding ($cov)"
    fi
done
exit $status
