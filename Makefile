# Makefile — builds cnnc (the compiler), the runtime (libcnnrt_core.a,
# libcnnrt_data.a, libcnnrt_train.a and their union libcnnrt.a), the tests,
# and runs the demo and benchmarks.  GNU make; everything lands in build/.
#
#   make            cnnc and the runtime libraries (build/libcnnrt*.a)
#   make check      unit suites (Check), golden diagnostics, generated-code tests
#   make asan       the same suite under AddressSanitizer and UBSan
#   make demo       LeNet-5 on Fashion-MNIST, end to end
#   make bench      throughput against PyTorch, measured in the same run;
#                   scaling over threads (tools/bench_threads.sh)

.DEFAULT_GOAL := all
CC      ?= cc
CFLAGS  ?= -O2 -g
RTOPT   ?= -O3 -fno-math-errno
WARN     = -Wall -Wextra
B       ?= build
CPPFLAGS += -D_POSIX_C_SOURCE=200809L -I. -Iruntime/include -I$(B)
SAN     ?=
LDLIBS   = -lm

# Debian packages the build, the tests and the demo need.
DEPS_BIN = flex:flex bison:bison
DEPS_PKG = check libstb-dev dataset-fashion-mnist

SUP_SRC = $(wildcard support/*.c)
FE_SRC  = $(wildcard frontend/*.c)
IR_SRC  = $(wildcard ir/*.c)
PS_SRC  = $(wildcard passes/*.c)
LW_SRC  = $(wildcard lower/*.c)
CG_SRC  = $(wildcard codegen/*.c)
GEN_SRC = $(B)/parser.c $(B)/lexer.c $(B)/rtsrc.c $(B)/rtmain.c $(B)/rtsyms.c

# The LLVM backend (codegen/llvm/) when llvm-config is found (Debian's
# llvm-dev; `make LLVM_CONFIG=` builds without it): then cnnc links
# libLLVM, and its kernel table is read from cnnrt.h at build time.
LLVM_CONFIG ?= $(shell command -v llvm-config 2>/dev/null)
ifneq ($(LLVM_CONFIG),)
LLVM_SRC    = $(filter-out codegen/llvm/nollvm.c,$(wildcard codegen/llvm/*.c))
LLVM_GEN    = $(B)/kernel_sigs.o
LLVM_CFLAGS = $(shell $(LLVM_CONFIG) --cflags)
LLVM_LIBS   = $(shell $(LLVM_CONFIG) --ldflags --libs)
# `cnnc run` JITs models against the runtime inside cnnc: all of it, exported
CNNC_RT     = -rdynamic -Wl,--whole-archive $(B)/libcnnrt.a -Wl,--no-whole-archive -lpthread
CNNC_RTDEP  = $(B)/libcnnrt.a
else
LLVM_SRC    = codegen/llvm/nollvm.c
endif

CNNC_OBJ = $(patsubst %.c,$(B)/%.o,$(SUP_SRC) $(FE_SRC) $(IR_SRC) $(PS_SRC) $(LW_SRC) $(CG_SRC) $(LLVM_SRC)) \
           $(B)/parser.o $(B)/lexer.o $(B)/rtsrc.o $(B)/rtmain.o $(B)/rtsyms.o $(LLVM_GEN)
include onnx/onnx.mk

# What generated code calls (kernels, init, optimizers, .cnnw files): the
# core of the runtime, and the part --embed-runtime copies into the model's
# C file (headers first).
RT_CORE = $(addprefix runtime/include/,cnnrt_abi.h cnnrt.h cnnrt_det.h) \
          $(addprefix runtime/core/,gemm.h threads.h gemm.c gemm_par.c conv.c conv_dw.c convdepth.c convdirect.c convrow.c convwino.c dense.c activ.c pool.c \
          norm.c loss.c fold.c rng.c init.c optim.c sched.c cnnw.c file.c safefile.c yolox.c detect.c threads.c prof.c)

# The runtime, in three layers (each may use the ones before it): core is
# what generated code calls (libc, libm, pthreads; exactly the part
# --embed-runtime copies, so its file list is RT_CORE); data reads
# data sets (pthreads, stb_image); train is cnnrt_main and its progress.
RT_CORE_OBJ  = $(patsubst %.c,$(B)/%.o,$(filter %.c,$(RT_CORE)))
RT_DATA_OBJ  = $(patsubst %.c,$(B)/%.o,$(wildcard runtime/data/*.c))
RT_TRAIN_OBJ = $(patsubst %.c,$(B)/%.o,$(wildcard runtime/train/*.c))
RT_OBJ       = $(RT_CORE_OBJ) $(RT_DATA_OBJ) $(RT_TRAIN_OBJ)
RT_LIBS      = $(B)/libcnnrt_core.a $(B)/libcnnrt_data.a $(B)/libcnnrt_train.a

all: $(B)/cnnc $(B)/libcnnrt.a $(RT_LIBS)

# The data-parallel trainer (runtime/mpi/, `cnnc --main --mpi`), built with
# mpicc when Open MPI is installed (Debian's libopenmpi-dev, openmpi-bin;
# `make MPICC=` builds without it): libcnnrt_mpi.a, the only part of the
# runtime that needs MPI.  Models link it before libcnnrt.a, with mpicc.
MPICC ?= $(shell command -v mpicc 2>/dev/null)
ifneq ($(MPICC),)
RT_MPI = $(B)/libcnnrt_mpi.a
all: $(RT_MPI)
endif
$(B)/libcnnrt_mpi.a: $(patsubst %.c,$(B)/%.o,$(wildcard runtime/mpi/*.c))
	@rm -f $@
	ar rcs $@ $^
$(B)/runtime/mpi/%.o: runtime/mpi/%.c runtime/include/*.h runtime/*/*.h | $(B)
	@mkdir -p $(dir $@)
	$(MPICC) $(CPPFLAGS) $(CFLAGS) $(RTOPT) $(WARN) $(SAN) -c -o $@ $<

$(B)/cnnc: $(B)/driver.o $(B)/libcnnc.a $(B)/libcnnrt_core.a $(CNNC_RTDEP)
	$(CC) $(SAN) -o $@ $(B)/driver.o $(B)/libcnnc.a $(CNNC_RT) $(B)/libcnnrt_core.a $(LLVM_LIBS) $(LDLIBS) $(ONNX_LIBS)

# ./cnnc is the default build's compiler (other B= builds keep their own)
ifeq ($(B),build)
all: cnnc
cnnc: $(B)/cnnc
	ln -sf $(B)/cnnc cnnc
endif

$(B)/libcnnc.a: $(CNNC_OBJ)
	@rm -f $@
	ar rcs $@ $^

# libcnnrt.a: the union of the three, so users link one library
$(B)/libcnnrt_core.a: $(RT_CORE_OBJ)
$(B)/libcnnrt_data.a: $(RT_DATA_OBJ)
$(B)/libcnnrt_train.a: $(RT_TRAIN_OBJ)
$(B)/libcnnrt.a: $(RT_OBJ)
$(B)/libcnnrt.a $(RT_LIBS):
	@rm -f $@
	ar rcs $@ $^

$(B)/parser.c $(B)/parser.h: frontend/parser.y | $(B)
	bison -Wall -Werror -o $(B)/parser.c --defines=$(B)/parser.h $<

$(B)/lexer.c $(B)/lexer.h: frontend/lexer.l | $(B)
	flex -o $(B)/lexer.c --header-file=$(B)/lexer.h $<

# The runtime's source text, for --embed-runtime (RT_CORE, above).
$(B)/rtsrc.c: $(RT_CORE) tools/embed.sh | $(B)
	sh tools/embed.sh $(RT_CORE) > $@

# the runtime's function types, for the LLVM backend's declarations
$(B)/kernel_sigs.c: runtime/include/cnnrt.h runtime/include/cnnrt_det.h tools/kernel_sigs.sh | $(B)
	sh tools/kernel_sigs.sh runtime/include/cnnrt.h runtime/include/cnnrt_det.h > $@
$(patsubst %.c,$(B)/%.o,$(LLVM_SRC)): CPPFLAGS += $(LLVM_CFLAGS)

$(B)/parser.o: $(B)/parser.c $(B)/lexer.h
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SAN) -c -o $@ $<
$(B)/lexer.o: $(B)/lexer.c $(B)/parser.h
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SAN) -Wno-unused-function -c -o $@ $<
$(B)/rtsrc.o $(B)/rtmain.o $(B)/rtsyms.o: $(B)/%.o: $(B)/%.c
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# --embed-runtime --main adds the data and train layers, stb inlined
# (tools/stb_inline.sh), and every embedded global symbol is renamed with
# the model's prefix from the lists rtsyms.sh takes from the objects.
STBDIR  ?= /usr/include/stb
NM      ?= nm
RT_MAIN  = $(addprefix runtime/include/,cnnrt_data.h cnnrt_train.h) runtime/data/data.h runtime/train/dettrain.h \
           $(B)/stb_inline.c $(filter-out runtime/data/stb.c,$(wildcard runtime/data/*.c)) \
           runtime/train/log.h runtime/train/trainer.h $(wildcard runtime/train/*.c)
$(B)/stb_inline.c: runtime/data/stb.c tools/stb_inline.sh | $(B)
	sh tools/stb_inline.sh $(STBDIR) $< > $@
$(B)/rtmain.c: $(RT_MAIN) tools/embed.sh
	sh tools/embed.sh -n cnnc_runtime_main $(RT_MAIN) > $@
$(B)/rtsyms.c: $(RT_OBJ) tools/rtsyms.sh
	sh tools/rtsyms.sh $(NM) core $(RT_CORE_OBJ) -- main $(RT_DATA_OBJ) $(RT_TRAIN_OBJ) > $@

$(B)/runtime/%.o: runtime/%.c runtime/include/*.h runtime/*/*.h | $(B)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(RTOPT) $(WARN) $(SAN) -c -o $@ $<

$(B)/%.o: %.c $(B)/parser.h $(B)/lexer.h $(wildcard */*.h runtime/include/*.h) ir/ops.def | $(B)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(SAN) -c -o $@ $<

$(B):
	@mkdir -p $(B)

# ---- dependencies: install when root, else print the line to run ----
deps:
	@sh tools/deps.sh $(DEPS_PKG) $(ONNX_DEPS) flex bison llvm-dev openmpi-bin libopenmpi-dev

# ---- tests ----
# tests/unit/<stage>/test_*.c -> $(B)/tests/test_*; each runtime stage's
# tests link only that stage's library and those below it.
test_bins  = $(patsubst %.c,$(B)/tests/%,$(notdir $(wildcard tests/unit/$(1)/test_*.c)))
TESTS_RT   = $(call test_bins,core) $(call test_bins,data) $(call test_bins,train)
TESTS_CC   = $(call test_bins,compiler)
TESTS_UNIT = $(TESTS_RT) $(TESTS_CC)
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lpthread) -lm

# core tests may look at core's internal gemm.h
TEST_CC = $(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) $(WARN) $(SAN)
$(B)/tests/%: tests/unit/core/%.c $(B)/libcnnrt_core.a
	@mkdir -p $(dir $@)
	$(TEST_CC) -Iruntime/core -o $@ $< $(B)/libcnnrt_core.a $(CHECK_LIBS)
$(B)/tests/%: tests/unit/data/%.c $(B)/libcnnrt_data.a $(B)/libcnnrt_core.a
	@mkdir -p $(dir $@)
	$(TEST_CC) -o $@ $< $(B)/libcnnrt_data.a $(B)/libcnnrt_core.a $(CHECK_LIBS)
$(B)/tests/%: tests/unit/train/%.c $(RT_LIBS)
	@mkdir -p $(dir $@)
	$(TEST_CC) -o $@ $< $(B)/libcnnrt_train.a $(B)/libcnnrt_data.a $(B)/libcnnrt_core.a $(CHECK_LIBS)
$(B)/tests/%: tests/unit/compiler/%.c $(B)/libcnnc.a $(B)/libcnnrt.a
	@mkdir -p $(dir $@)
	$(TEST_CC) -o $@ $< $(B)/libcnnc.a $(B)/libcnnrt.a $(CHECK_LIBS) $(ONNX_LIBS) $(LLVM_LIBS)

check: deps all $(TESTS_UNIT)
	@CNNC_SAN="$(SAN)" sh tests/run.sh $(B) $(TESTS_UNIT)

asan:
	$(MAKE) B=build/asan CC=gcc CFLAGS="-O1 -g -fno-omit-frame-pointer" \
	    SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" check

# ---- the demo: LeNet-5 on Fashion-MNIST ----
FMNIST  ?= /usr/share/datasets/fashion-mnist
EPOCHS  ?= 2
demo: deps all
	$(B)/cnnc --main examples/lenet5.cnn -o $(B)/lenet5.c
	$(CC) -std=c99 -O2 $(WARN) -Iruntime/include -o $(B)/lenet5 $(B)/lenet5.c $(B)/libcnnrt.a -lm -lpthread
	$(B)/lenet5 train --train $(FMNIST)/train-images-idx3-ubyte.gz \
	    --val $(FMNIST)/t10k-images-idx3-ubyte.gz --epochs $(EPOCHS) --save $(B)/lenet5.cnnw
	$(B)/lenet5 eval --weights $(B)/lenet5.cnnw $(FMNIST)/t10k-images-idx3-ubyte.gz

# PyTorch for the ratios (installed as root; without it, no ratios)
bench: deps all
	@sh tools/deps.sh python3-torch || echo "bench: no python3-torch: our figures only"
	@CNNC=$(B)/cnnc sh tools/bench.sh $(B)
	@CNNC=$(B)/cnnc sh tools/bench_threads.sh $(B)
	@CNNC=$(B)/cnnc sh tools/bench_data.sh $(B)
	@CNNC=$(B)/cnnc sh tools/bench_mpi.sh $(B)

clean:
	rm -rf build cnnc

.PHONY: all check asan demo bench clean deps

include tools/install.mk

# ---- image folder example (issue 5) ----
# folder-demo: Fashion-MNIST written out as PNG class folders by
# examples/fashion_png.c (FOLDER_TRAIN / FOLDER_TEST images), the net of
# examples/fashion_folder.cnn trained from them with flip, crop and mixup,
# evaluated, and its first augmented samples dumped as pictures.
# boxes-demo: colour pictures of boxed items as a YOLO list, the YOLOX input
# stage (hsv, flip, mosaic, mixup) dumped as pictures with their boxes, and
# an epoch of training.  bench-data: the data pipeline's throughput.
FOLDER_TRAIN ?= 10000
FOLDER_TEST  ?= 2000
FOLDER_DIR    = $(B)/fashion-folder
BOXES_DIR     = $(B)/fashion-boxes
MODEL_CC      = $(CC) -std=c99 -O2 $(WARN) -Iruntime/include

$(B)/fashion_png: examples/fashion_png.c $(B)/libcnnrt.a
	$(CC) $(CPPFLAGS) -std=c99 -O2 $(WARN) -o $@ $< $(B)/libcnnrt.a -lm -lpthread

$(FOLDER_DIR)/.made: $(B)/fashion_png
	$(B)/fashion_png folder $(FMNIST)/train-images-idx3-ubyte.gz $(FOLDER_TRAIN) $(FOLDER_DIR)/train
	$(B)/fashion_png folder $(FMNIST)/t10k-images-idx3-ubyte.gz $(FOLDER_TEST) $(FOLDER_DIR)/test
	@touch $@

$(BOXES_DIR)/.made: $(B)/fashion_png
	$(B)/fashion_png boxes $(FMNIST)/train-images-idx3-ubyte.gz 4000 $(BOXES_DIR)/train
	$(B)/fashion_png boxes $(FMNIST)/t10k-images-idx3-ubyte.gz 1000 $(BOXES_DIR)/test
	@touch $@

$(B)/fashion_folder $(B)/fashion_boxes $(B)/fashion_det: $(B)/%: examples/%.cnn $(B)/cnnc $(B)/libcnnrt.a
	$(B)/cnnc --main $< -o $@.c
	$(MODEL_CC) -o $@ $@.c $(B)/libcnnrt.a -lm -lpthread

folder-demo: deps all $(B)/fashion_folder $(FOLDER_DIR)/.made
	$(B)/fashion_folder train --train $(FOLDER_DIR)/train --val $(FOLDER_DIR)/test \
	    --epochs $(EPOCHS) --save $(B)/fashion_folder.cnnw
	$(B)/fashion_folder eval --weights $(B)/fashion_folder.cnnw $(FOLDER_DIR)/test
	$(B)/fashion_folder train --train $(FOLDER_DIR)/train --dump-aug $(B)/fashion-folder-aug 16

boxes-demo: deps all $(B)/fashion_boxes $(BOXES_DIR)/.made
	$(B)/fashion_boxes train --train $(BOXES_DIR)/train/list.txt --dump-aug $(B)/fashion-boxes-aug 16
	$(B)/fashion_boxes train --train $(BOXES_DIR)/train/list.txt --val $(BOXES_DIR)/test/list.txt \
	    --epochs 1 --save $(B)/fashion_boxes.cnnw

# detect-demo: the detector of examples/fashion_det.cnn trained from scratch
# on DET_TRAIN boxes pictures (mosaic + mixup, DET_EPOCHS epochs), its COCO
# mAP on the 1000 held-out ones (the same as boxes-demo's), and its
# detections of the first DET_DRAW held-out pictures, printed and drawn
# into build/fashion-det-drawn.
DET_TRAIN  ?= 20000
DET_EPOCHS ?= 16
DET_DRAW   ?= 16
DET_DIR     = $(B)/fashion-det-data
$(DET_DIR)/.made: $(B)/fashion_png
	$(B)/fashion_png boxes $(FMNIST)/train-images-idx3-ubyte.gz $(DET_TRAIN) $(DET_DIR)/train
	$(B)/fashion_png boxes $(FMNIST)/t10k-images-idx3-ubyte.gz 1000 $(DET_DIR)/test
	@touch $@

detect-demo: deps all $(B)/fashion_det $(DET_DIR)/.made
	$(B)/fashion_det train --train $(DET_DIR)/train/list.txt --val $(DET_DIR)/test/list.txt \
	    --epochs $(DET_EPOCHS) --save $(B)/fashion_det.cnnw
	$(B)/fashion_det eval --weights $(B)/fashion_det.cnnw $(DET_DIR)/test/list.txt
	head -n $(DET_DRAW) $(DET_DIR)/test/list.txt > $(DET_DIR)/test/first.txt
	$(B)/fashion_det predict --weights $(B)/fashion_det.cnnw --names $(DET_DIR)/test/names.txt \
	    --draw $(B)/fashion-det-drawn $(DET_DIR)/test/first.txt

bench-data: deps all
	@CNNC=$(B)/cnnc sh tools/bench_data.sh $(B)

# stb_image_write's JPEG writer (which only the tests use, to make JPEG
# files) shifts signed ints past their width; keep UBSan's shift check
# for everything but the stb translation unit.
$(B)/runtime/data/stb.o: override SAN := $(SAN)$(if $(SAN), -fno-sanitize=shift)

.PHONY: folder-demo boxes-demo detect-demo bench-data

# ---- fuzzing (issue 16) ----
# make fuzz [FUZZ_SECONDS=N]: builds the libFuzzer targets of tests/fuzz/
# with clang (ASan + UBSan) in build/fuzz and runs each for N seconds from
# its committed seed corpus (tests/fuzz/corpus/NAME; new inputs go to
# build/fuzz/corpus/NAME).  make fuzz-diff [FUZZ_DIFF_N=N]: the
# differential check on N programs cnnc accepts (tools/fuzz_diff.sh).
FUZZ_SECONDS ?= 60
FUZZ_DIFF_N  ?= 20
FUZZ_TARGETS  = cnn cnnw idx yolo image $(if $(filter 1,$(HAVE_ONNX)),onnx)
FUZZ_B        = build/fuzz
FUZZ_SAN      = -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_BINS     = $(addprefix $(FUZZ_B)/fuzz_,$(FUZZ_TARGETS))

fuzz-deps:
	@sh tools/deps.sh clang libclang-rt-14-dev

$(FUZZ_B)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_util.h $(FUZZ_B)/libcnnc.a $(FUZZ_B)/libcnnrt.a
	clang $(CPPFLAGS) -I$(FUZZ_B) -O1 -g -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $< \
	    $(FUZZ_B)/libcnnc.a $(FUZZ_B)/libcnnrt.a -lm -lpthread $(ONNX_LIBS)

fuzz-build: fuzz-deps
	$(MAKE) B=$(FUZZ_B) CC=clang CFLAGS="-O1 -g -fno-omit-frame-pointer" \
	    SAN="-fsanitize=fuzzer-no-link $(FUZZ_SAN)" $(FUZZ_BINS)

fuzz: fuzz-build
	FUZZ_SEED=$(FUZZ_SEED) sh tests/fuzz/run.sh $(FUZZ_B) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-diff: deps all
	sh tools/fuzz_diff.sh build $(FUZZ_DIFF_N) tests/fuzz/corpus/cnn $(FUZZ_B)/corpus/cnn

.PHONY: fuzz fuzz-build fuzz-deps fuzz-diff
