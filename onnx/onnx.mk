# onnx/onnx.mk — ONNX import and export (included by the Makefile).
#
# The C bindings are generated at build time by protoc-c from the onnx.proto
# that Debian's libonnx-dev installs; the schema is not kept here.  Without
# protobuf-c, cnnc builds with onnx/none.c instead, whose `cnnc import` and
# `--emit=onnx` say which packages to install.
ONNX_PROTO ?= /usr/include/onnx/onnx.proto
ONNX_DEPS   = libprotobuf-c-dev protobuf-c-compiler libonnx-dev libonnx-testdata
HAVE_ONNX  := $(shell command -v protoc-c >/dev/null 2>&1 && test -f $(ONNX_PROTO) && \
                test -f /usr/include/protobuf-c/protobuf-c.h && echo 1)

ifeq ($(HAVE_ONNX),1)
ONNX_SRC   = onnx/pb.c onnx/import.c onnx/window.c onnx/write.c onnx/export.c
ONNX_OBJ   = $(patsubst %.c,$(B)/%.o,$(ONNX_SRC)) $(B)/onnx/onnx.pb-c.o
ONNX_LIBS  = -lprotobuf-c
CPPFLAGS  += -DCNNC_HAVE_ONNX=1

# one protoc-c run writes both files (the .c comes with the .h, so that
# make -j runs it once)
$(B)/onnx/onnx.pb-c.h: $(ONNX_PROTO)
	@mkdir -p $(B)/onnx
	protoc-c --c_out=$(B)/onnx -I$(dir $(ONNX_PROTO)) $(ONNX_PROTO)
$(B)/onnx/onnx.pb-c.c: $(B)/onnx/onnx.pb-c.h
	@test -f $@
$(B)/onnx/onnx.pb-c.o: $(B)/onnx/onnx.pb-c.c
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SAN) -c -o $@ $<
$(patsubst %.c,$(B)/%.o,$(ONNX_SRC)): $(B)/onnx/onnx.pb-c.h
else
ONNX_OBJ   = $(B)/onnx/none.o
ONNX_LIBS  =
endif

CNNC_OBJ  += $(ONNX_OBJ)
