#!/bin/sh
# bench_mpi.sh — the data-parallel trainer's scaling rows of `make bench`:
# LeNet-5 built with `cnnc --main --mpi`, one epoch on the 10,000
# Fashion-MNIST test images (global batch 64, no validation) under
# `mpirun -np 1` and `-np 2`: images/s as the trainer reports them,
# speedup and efficiency (images/s over N times one rank's).  Then the
# overlap: the 2-rank run's forward+backward time per step and the time
# it waits for the gradient sums afterwards, with the sums started during
# the backward pass (the default) and after it (CNNRT_MPI_OVERLAP=0).
# Skips with a message without mpirun, mpicc or BUILD/libcnnrt_mpi.a.
# Usage: tools/bench_mpi.sh BUILD   (run from the repository root)
set -e
B=${1:-build}
CNNC=${CNNC:-$B/cnnc}
FMNIST=${FMNIST:-/usr/share/datasets/fashion-mnist}
DATA=$FMNIST/t10k-images-idx3-ubyte.gz
D=$B/bench
mkdir -p $D
if ! command -v mpirun >/dev/null || ! command -v mpicc >/dev/null || [ ! -f $B/libcnnrt_mpi.a ]; then
    echo "bench_mpi: skipped: needs mpirun, mpicc (openmpi-bin, libopenmpi-dev) and $B/libcnnrt_mpi.a"
    exit 0
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
$CNNC --main --mpi examples/lenet5.cnn -o $D/lenet5-mpi.c
mpicc -std=c99 -O2 -Iruntime/include -o $D/lenet5-mpi $D/lenet5-mpi.c $B/libcnnrt_mpi.a \
    $B/libcnnrt.a -lm -lpthread

run() {     # run NP [mpirun options]: the trainer's output
    np=$1; shift
    mpirun -np $np --mca mpi_yield_when_idle 0 "$@" $D/lenet5-mpi train --train $DATA --epochs 1 \
        --save $D/lenet5-mpi.cnnw
}
rate() { sed -n 's/.*images seen (\([0-9]*\) images\/s).*/\1/p'; }
r1=$(run 1 | rate)
out2=$(run 2)
r2=$(echo "$out2" | rate)
seq=$(run 2 -x CNNRT_MPI_OVERLAP=0 | grep '^mpi:' || true)

echo "scaling: lenet5 training, 10000 images, global batch 64, one epoch"
printf "%-24s %10s %9s %11s\n" workers "img/s" speedup efficiency
for n in 1 2; do
    r=$([ $n = 1 ] && echo $r1 || echo $r2)
    awk -v n=$n -v r=$r -v r1=$r1 'BEGIN { printf "%-24s %10d %9.2f %10.0f%%\n", "mpi ranks " n, r, r / r1, 100 * r / (n * r1) }'
done
echo "overlap, 2 ranks (per step):"
echo "  $(echo "$out2" | grep '^mpi:' | sed 's/^mpi: //')"
echo "  $(echo "$seq" | sed 's/^mpi: //')"
