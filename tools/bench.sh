#!/bin/sh
# bench.sh — `make bench`: training throughput and batch-1 latency of the
# generated LeNet-5 and VGG-style nets, at -O0 and -O2, each next to
# PyTorch measured in the same run (../shared/bench, Debian python3-torch),
# and against the machine: its one-thread FMA peak (tools/peak.c, built
# with -march=native, measured before and after the models; the higher
# counts) and each figure's GFLOP/s and % of that peak.  FLOPs come from
# `cnnc --stats` (2 per mult-add of conv and dense layers): a forward is
# 2*M, a training step 3 products per layer (forward, dw, dx) less the dx
# of the first layer, whose input is the image.
# Prints a table of absolute figures and ratios.  Usage: tools/bench.sh BUILD
# Our figures here are one thread (CNNRT_THREADS=1, the % of the
# one-thread peak); tools/bench_threads.sh measures the threads.
set -e
export CNNRT_THREADS=1
B=${1:-build}
SECS=${BENCH_SECONDS:-3}
CNNC=${CNNC:-$B/cnnc}
D=$B/bench
mkdir -p $D
PY=/usr/bin/python3
REF=../shared/bench/pytorch_reference.py
have_torch=0
[ -f $REF ] && $PY -c 'import torch' 2>/dev/null && have_torch=1
[ $have_torch = 1 ] || echo "bench: PyTorch (python3-torch) or $REF missing: no ratios"

build() {   # build NAME CNNFILE TAG FLAGS CDEFS [EXT: c, or o for the LLVM backend]
    X=${6:-c}
    if [ $X = o ]; then $CNNC --emit=obj $4 $2 -o $D/$1-$3.o; else $CNNC $4 $2 -o $D/$1-$3.c; fi
    U=$(echo $1 | tr a-z A-Z)
    cc -std=c99 -O2 -Iruntime/include -I$D -DMODEL=$1 -DMODEL_UC=$U "-DMODEL_H=\"$1-$3.h\"" $5 \
        -o $D/$1-$3 tools/bench_main.c $D/$1-$3.$X $B/libcnnrt.a -lm -lpthread
}
# the LLVM backend (--emit=obj) beside the C, when cnnc has it
llvm=0
$CNNC --emit=llvm examples/lenet5.cnn -o /dev/null 2>/dev/null && llvm=1

cc -O2 -march=native -o $D/peak tools/peak.c
peak1=$($D/peak 1)

# FLOPs per image of the forward and of a training step, from --stats
flops() {   # flops CNNFILE fwd|train
    $CNNC --stats $1 | awk -v what=$2 '
        $1 == "total" { tot = $NF; gsub(",", "", tot) }
        $NF ~ /^[0-9,]+$/ && $1 != "total" { m = $NF; gsub(",", "", m); if (m > 0 && first == "") first = m }
        END { printf "%.0f", what == "fwd" ? 2 * tot : 6 * tot - 2 * first }'
}
# gflops FLOPS_PER_IMAGE (img/s | -us): GFLOP/s, then % of $peak
gflops() { awk -v f=$1 -v r=$2 -v p=$peak 'BEGIN { g = r < 0 ? f / -r * 1e-3 : f * r * 1e-9; printf "%8.1f %6.1f%%", g, 100 * g / p }'; }
row() {     # row NET MEASURE OURS PYTORCH RATIO FLOPS (img/s | -us)
    printf "%-8s %-22s %12s %12s %8s %s\n" "$1" "$2" "$3" "$4" "$5" "$(gflops $6 $7)"
}

rows=$D/rows.txt
: > $rows
for net in lenet5 vggs; do
    build $net examples/$net.cnn O2 "-O2" -DTRAIN
    build $net examples/$net.cnn O0 "-O0" -DTRAIN
    build $net examples/$net.cnn inf "--inference --batch 1" ""
    t2=$($D/$net-O2 train $SECS)
    t0=$($D/$net-O0 train $SECS)
    li=$($D/$net-inf infer $SECS)
    if [ $have_torch = 1 ]; then
        pt=$($PY $REF $net train $SECS | awk '{ printf "%.0f", $1 }')
        pi=$($PY $REF $net infer $SECS | awk '{ printf "%.1f", $1 }')
    else
        pt=0; pi=0
    fi
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
    ft=$(flops examples/$net.cnn train); ff=$(flops examples/$net.cnn fwd)
    echo "$net \"train img/s -O2\" $t2 $pt $(ratio $t2 $pt) $ft $t2" >> $rows
    echo "$net \"train img/s -O0\" $t0 $pt $(ratio $t0 $pt) $ft $t0" >> $rows
    echo "$net \"infer b=1 us\" $li $pi $(ratio $pi $li) $ff -$li" >> $rows
    if [ $llvm = 1 ]; then
        build $net examples/$net.cnn llvm "-O2" -DTRAIN o
        build $net examples/$net.cnn llvminf "--inference --batch 1" "" o
        t2=$($D/$net-llvm train $SECS)
        li=$($D/$net-llvminf infer $SECS)
        echo "$net \"train img/s llvm obj\" $t2 $pt $(ratio $t2 $pt) $ft $t2" >> $rows
        echo "$net \"infer b=1 us llvm obj\" $li $pi $(ratio $pi $li) $ff -$li" >> $rows
    fi
done
peak2=$($D/peak 1)
peak=$(awk -v a=$peak1 -v b=$peak2 'BEGIN { print (a > b ? a : b) }')
echo "one-thread FMA peak: $peak GFLOP/s (before the models $peak1, after $peak2)"
printf "%-8s %-22s %12s %12s %8s %8s %7s\n" net measure cnnc pytorch ratio GFLOP/s "% peak"
eval "set -- $(cat $rows | tr '\n' ' ')"
while [ $# -ge 7 ]; do
    row "$1" "$2" "$3" "$4" "$5" "$6" "$7"
    shift 7
done
echo "(ratio: ours / PyTorch's throughput, so for latency PyTorch's us / ours)"
