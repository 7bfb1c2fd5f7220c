#!/bin/sh
# run.sh — runs the test programs given (Check suites), shows each one's
# Check summary line, the full output of any that fail, and a total.
# Usage: tests/run.sh BUILD_DIR PROGRAM...   (run from the repository root)
B=$1
shift
: "${CK_DEFAULT_TIMEOUT:=600}"
CNNC=${CNNC:-$B/cnnc}
export CK_DEFAULT_TIMEOUT CNNC_BUILD="$B" CNNC
passed=0
failed=0
bad=""
log="$B/tests/last.log"
mkdir -p "$B/tests"
for t in "$@"; do
    name=$(basename "$t")
    "$t" >"$log" 2>&1
    rc=$?
    line=$(grep -E '^[0-9]+%: Checks: [0-9]+' "$log" | tail -n 1)
    if [ -z "$line" ]; then
        echo "$name: no Check summary (exit $rc)"
        cat "$log"
        failed=$((failed + 1))
        bad="$bad $name"
        continue
    fi
    echo "$name: $line"
    checks=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
    fails=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
    errs=$(echo "$line" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
    nbad=$((fails + errs))
    passed=$((passed + checks - nbad))
    failed=$((failed + nbad))
    if [ "$rc" -ne 0 ] || [ "$nbad" -ne 0 ]; then
        # Check's failure lines first (file:line:F|E:...), then the output
        grep -E ':[FE]:' "$log" | head -n 20
        grep -vE '^[0-9]+%: Checks|:[FE]:' "$log" | grep -vE '^(grad|accum|io):' | head -n 60
        [ "$nbad" -eq 0 ] && failed=$((failed + 1))
        bad="$bad $name"
    fi
done
echo "check: $passed passed, $failed failed"
[ -z "$bad" ] || { echo "failing:$bad"; exit 1; }
exit 0
