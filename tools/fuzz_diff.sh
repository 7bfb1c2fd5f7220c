#!/bin/sh
# fuzz_diff.sh — the differential check behind the fuzzer: every program
# cnnc accepts must give C that compiles with -Wall -Wextra -Werror and,
# built with ASan and UBSan (runtime embedded, so it is checked too), runs
# a training step (tests/harness/model_main.c: trace 1) without a report.
# Inference-only programs are compiled, not run.
# Usage: tools/fuzz_diff.sh BUILD_DIR N DIR...   checks up to N accepted
# programs from the files in the DIRs (the fuzzer's corpora), in name order;
# models needing more than 256 MiB are skipped.  Exit 1 on any finding.
B=$1
n=$2
shift 2
work=$(mktemp -d "${TMPDIR:-/tmp}/cnnc-diff-XXXXXX")
trap 'rm -rf "$work"' EXIT
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
checked=0 tried=0 bad=0 skipped=0
for f in $(find "$@" -type f 2>/dev/null | sort); do
    [ "$checked" -ge "$n" ] && break
    tried=$((tried + 1))
    rm -rf "$work/m" && mkdir "$work/m"
    "$B/cnnc" --embed-runtime --batch 2 "$f" -o "$work/m/m.c" 2>/dev/null || continue
    name=$(sed -n 's/^typedef struct \([A-Za-z0-9_]*\) \1;$/\1/p' "$work/m/m.h")
    bytes=$(sed -n 's/^#define [A-Za-z0-9_]*_MEMORY_BYTES *\([0-9]*\).*/\1/p' "$work/m/m.h")
    if [ -z "$name" ] || [ "${bytes:-0}" -gt 268435456 ]; then
        skipped=$((skipped + 1))
        continue
    fi
    checked=$((checked + 1))
    upper=$(echo "$name" | tr a-z A-Z)
    if ! grep -q "_backward(" "$work/m/m.h"; then
        cc -std=c99 -Wall -Wextra -Werror -c "$work/m/m.c" -o "$work/m/m.o" 2>"$work/m/cc.txt" && continue
        echo "fuzz-diff: $f: accepted, but its C does not compile:"; head -n 5 "$work/m/cc.txt"
        bad=$((bad + 1)); continue
    fi
    if ! cc -std=c99 -O1 -g -Wall -Wextra -Werror $san -I"$work/m" -DMODEL="$name" \
            -DMODEL_UC="$upper" '-DMODEL_H="m.h"' -o "$work/m/prog" tests/harness/model_main.c \
            "$work/m/m.c" -lm 2>"$work/m/cc.txt"; then
        echo "fuzz-diff: $f: accepted, but its C does not compile:"; head -n 5 "$work/m/cc.txt"
        bad=$((bad + 1)); continue
    fi
    if ! timeout 120 "$work/m/prog" trace 1 2 >/dev/null 2>"$work/m/run.txt"; then
        echo "fuzz-diff: $f: a training step fails:"; head -n 12 "$work/m/run.txt"
        bad=$((bad + 1))
    fi
done
echo "fuzz-diff: $checked accepted programs checked ($tried files read, $skipped too large), $bad finding(s)"
[ "$bad" -eq 0 ]
