#!/bin/sh
# bench_threads.sh — `make bench`'s scaling table: training images/s of the
# generated LeNet-5 and VGG-style nets (batch 64, -O2) at 1, 2 and 4 kernel
# threads (CNNRT_THREADS; past the CPUs of the affinity mask the extra
# threads only show the pool's overhead), with speedup and efficiency
# against 1 thread, and the load balance: each thread's seconds inside
# split kernels (cnnrt_thread_busy), their mean over their maximum, and
# the share of the run thread 0 spent in split kernels at all (the rest is
# serial: small kernels, conv's dw unfolding, the optimizer's bookkeeping).
# Usage: tools/bench_threads.sh BUILD.  The MPI rows (ranks) go below.
set -e
cpus=$(nproc)             # the affinity mask's, as cnnrt_cpus()
B=${1:-build}
D=$B/bench && mkdir -p $D
CNNC=${CNNC:-$B/cnnc} SECS=${BENCH_SECONDS:-3}
echo
echo "scaling ($cpus CPUs in the affinity mask; results are bit-identical at every count)"
printf "%-7s %-28s %8s %8s %6s  %s\n" net run img/s speedup eff "busy s per thread: balance, split share"
for net in lenet5 vggs; do
    U=$(echo $net | tr a-z A-Z)
    $CNNC -O2 examples/$net.cnn -o $D/$net-thr.c
    cc -std=c99 -O2 -Iruntime/include -I$D -DMODEL=$net -DMODEL_UC=$U "-DMODEL_H=\"$net-thr.h\"" -DTRAIN \
        -o $D/$net-thr tools/bench_main.c $D/$net-thr.c $B/libcnnrt.a -lm -lpthread
    base=
    for t in 1 2 4; do
        r=$(CNNRT_THREADS=$t BENCH_BUSY=1 $D/$net-thr train $SECS)
        [ -n "$base" ] || base=${r%% *}
        over=; [ $t -gt $cpus ] && over=" (oversubscribed)"
        echo "$r" | awk -v net=$net -v t=$t -v base=$base -v over="$over" '{
            n = NF - 2; max = 0; sum = 0; list = ""
            for (i = 2; i <= NF - 1; i++) {
                sum += $i; if ($i > max) max = $i
                list = list sprintf("%s%.2f", i > 2 ? " " : "", $i)
            }
            bal = max > 0 ? sum / n / max : 1
            printf "%-7s %-28s %8d %8.2f %5.0f%%  %s: %.0f%%, %.0f%%\n", net, "threads " t over, $1,
                   $1 / base, 100 * $1 / base / t, list, 100 * bal, 100 * $2 / $NF }'
    done
    # ranks: the MPI trainer (issue 11, s3-11b) adds its rows here
done
