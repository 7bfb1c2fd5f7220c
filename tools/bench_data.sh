#!/bin/sh
# bench_data.sh — the input pipeline's throughput (`make bench-data`, and
# from `make bench`): the loader alone (tools/bench_data.c) on in-memory
# IDX data and on a PNG folder, with and without augmentation, with and
# without its thread; then LeNet-5 training, as train_step alone (no data
# at all, tools/bench_main.c) next to the generated trainer on the same
# 10k images, as IDX and as PNG files, with --no-augment and with the
# model's augmentations, with and without the loader thread.  When the
# trainer keeps up with train_step, the data pipeline costs nothing.
# Usage: tools/bench_data.sh BUILD   (run from the repository root;
# $CNNC is the compiler, BUILD/cnnc by default)
set -e
B=${1:-build}
CNNC=${CNNC:-$B/cnnc}
SECS=${BENCH_SECONDS:-3}
FMNIST=${FMNIST:-/usr/share/datasets/fashion-mnist}
D=$B/bench
mkdir -p $D
TRAIN=$FMNIST/train-images-idx3-ubyte.gz
TEST=$FMNIST/t10k-images-idx3-ubyte.gz
[ -f $TRAIN ] || { echo "bench_data: $TRAIN missing (dataset-fashion-mnist)"; exit 1; }

CC=${CC:-cc}
$CC -std=c99 -O2 -D_POSIX_C_SOURCE=200809L -Iruntime/include -o $D/bench_data tools/bench_data.c \
    $B/libcnnrt.a -lm -lpthread
$CC -std=c99 -O2 -D_POSIX_C_SOURCE=200809L -Iruntime/include -o $D/fashion_png examples/fashion_png.c \
    $B/libcnnrt.a -lm -lpthread
FOLDER=$D/fashion-png
[ -d $FOLDER ] || $D/fashion_png folder $TEST 10000 $FOLDER >/dev/null

loader() {  # loader LABEL DATA THREADS AUG...
    label=$1; data=$2; threads=$3; shift 3
    r=$($D/bench_data $data 1 28 28 10 64 $threads $SECS "$@")
    printf "%-10s %-48s %10s\n" loader "$label" $r
}

printf "%-10s %-48s %10s\n" what "data, augmentations, threads" "img/s"
loader "idx, none, 0 threads" $TRAIN 0
loader "idx, none, 1 thread" $TRAIN 1
loader "idx, flip crop mixup, 0 threads" $TRAIN 0 flip:0.5 crop:2 mixup:0.2,0.5
loader "idx, flip crop mixup, 1 thread" $TRAIN 1 flip:0.5 crop:2 mixup:0.2,0.5
loader "idx, flip crop mixup, 2 threads" $TRAIN 2 flip:0.5 crop:2 mixup:0.2,0.5
loader "idx, mosaic mixup, 1 thread" $TRAIN 1 mosaic:1,0.5,1.5 mixup:0.2,0.5
loader "png folder (decode), none, 1 thread" $FOLDER 1
loader "png folder (decode), none, 2 threads" $FOLDER 2

# LeNet-5: train_step alone against the trainer over the 10k test images
$CNNC --main examples/lenet5.cnn -o $D/lenet5-main.c
$CC -std=c99 -O2 -Iruntime/include -o $D/lenet5-main $D/lenet5-main.c $B/libcnnrt.a -lm -lpthread
$CNNC -O2 examples/lenet5.cnn -o $D/lenet5-step.c
$CC -std=c99 -O2 -Iruntime/include -I$D -DMODEL=lenet5 -DMODEL_UC=LENET5 '-DMODEL_H="lenet5-step.h"' \
    -DTRAIN -o $D/lenet5-step tools/bench_main.c $D/lenet5-step.c $B/libcnnrt.a -lm -lpthread
printf "%-10s %-48s %10s\n" train "lenet5 train_step only, no data" "$($D/lenet5-step train $SECS)"
trainer() {  # trainer LABEL DATA THREADS ARGS...
    label=$1; data=$2; threads=$3; shift 3
    r=$(CNNRT_LOADER_THREADS=$threads $D/lenet5-main train --train $data --epochs 1 \
        --save $D/lenet5-bench.cnnw "$@" | sed -n 's/.* \([0-9]*\) img\/s.*/\1/p' | tail -n 1)
    printf "%-10s %-48s %10s\n" train "$label" $r
}
trainer "trainer, idx, --no-augment, loader thread" $TEST 1 --no-augment
trainer "trainer, idx, --no-augment, no thread" $TEST 0 --no-augment
trainer "trainer, idx, flip mixup, loader thread" $TEST 1
trainer "trainer, idx, flip mixup, no thread" $TEST 0
trainer "trainer, png folder, flip mixup, loader thread" $FOLDER 1
trainer "trainer, png folder, flip mixup, no thread" $FOLDER 0
rm -f $D/lenet5-bench.cnnw
