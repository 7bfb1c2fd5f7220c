# tools/install.mk — `make install` and `make uninstall` (included by the
# Makefile).  GNU conventions: PREFIX (default /usr/local) and DESTDIR for
# staged installs.  What lands where:
#
#   bin/cnnc                          the compiler
#   lib/libcnnrt.a, libcnnrt_*.a      the runtime (union, and its three layers;
#                                     libcnnrt_mpi.a when built with MPI)
#   include/cnnrt/*.h                 the public runtime headers only
#   lib/pkgconfig/cnnrt.pc            -I.../include/cnnrt, -lcnnrt -lm -lpthread
#   lib/cmake/cnnc/cnncConfig.cmake   find_package(cnnc), cnnc_add_model()
#   share/man/man1/cnnc.1             man cnnc
#
# It installs what `make all` built; it does not build (run make first,
# or let the all prerequisite do it).  No shared library: generated models
# are small and usually embedded, and a static runtime keeps a trainer a
# single file to copy.
PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR      = $(PREFIX)/bin
LIBDIR      = $(PREFIX)/lib
INCDIR      = $(PREFIX)/include/cnnrt
MANDIR      = $(PREFIX)/share/man/man1
PUB_HEADERS = $(wildcard runtime/include/cnnrt*.h)
INSTALL    ?= install

install: all
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig \
	    $(DESTDIR)$(LIBDIR)/cmake/cnnc $(DESTDIR)$(INCDIR) $(DESTDIR)$(MANDIR)
	$(INSTALL) -m 755 $(B)/cnnc $(DESTDIR)$(BINDIR)/cnnc
	$(INSTALL) -m 644 $(B)/libcnnrt.a $(RT_LIBS) $(RT_MPI) $(DESTDIR)$(LIBDIR)/
	$(INSTALL) -m 644 $(PUB_HEADERS) $(DESTDIR)$(INCDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(CNNRT_VER)|' tools/cnnrt.pc.in \
	    > $(DESTDIR)$(LIBDIR)/pkgconfig/cnnrt.pc
	$(INSTALL) -m 644 tools/cmake/cnncConfig.cmake $(DESTDIR)$(LIBDIR)/cmake/cnnc/
	sed -e 's|@VERSION@|$(CNNRT_VER)|' tools/cmake/cnncConfigVersion.cmake.in \
	    > $(DESTDIR)$(LIBDIR)/cmake/cnnc/cnncConfigVersion.cmake
	$(INSTALL) -m 644 man/cnnc.1 $(DESTDIR)$(MANDIR)/cnnc.1

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/cnnc $(DESTDIR)$(MANDIR)/cnnc.1
	rm -f $(DESTDIR)$(LIBDIR)/libcnnrt.a $(addprefix $(DESTDIR)$(LIBDIR)/,$(notdir $(RT_LIBS))) \
	    $(DESTDIR)$(LIBDIR)/libcnnrt_mpi.a
	rm -f $(addprefix $(DESTDIR)$(INCDIR)/,$(notdir $(PUB_HEADERS)))
	rm -f $(DESTDIR)$(LIBDIR)/pkgconfig/cnnrt.pc
	rm -f $(DESTDIR)$(LIBDIR)/cmake/cnnc/cnncConfig.cmake $(DESTDIR)$(LIBDIR)/cmake/cnnc/cnncConfigVersion.cmake
	-rmdir $(DESTDIR)$(INCDIR) $(DESTDIR)$(LIBDIR)/cmake/cnnc 2>/dev/null

# the version, from the one place it is written (cnnrt_abi.h)
CNNRT_VER = $(shell sed -n 's/^\#define CNNRT_VERSION "\(.*\)"/\1/p' runtime/include/cnnrt_abi.h)

# examples/make and examples/cmake built against a staged install in
# $(B)/stage (tests/packaging.sh); part of make check.
check-install: all
	@sh tests/packaging.sh $(B)

.PHONY: install uninstall check-install
