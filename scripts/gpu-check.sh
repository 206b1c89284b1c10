#!/usr/bin/env bash
# GPU check of cmrseg's ensemble inference, for a machine that has PyTorch 2.x
# with CUDA (python3 -c 'import torch' works) but no Go toolchain.
#
# It needs there: g++ and make (to compile the C++ shim against the CUDA
# libtorch inside the PyTorch install), python3 with torch and numpy, and
# this repository with two build products carried from a machine with Go:
#
#   build/cmrseg                 the Go binary (`make build`); its only torch
#                                dependency is libcgotorch.so found in
#                                $ORIGIN/lib, so it runs on any libtorch
#   build/gotorch-src/cgotorch   gotorch's C++ sources, which the Makefile
#                                normally finds through `go mod download`
#                                (prepare both with: scripts/gpu-check.sh --prepare)
#
# Steps, each logged to $OUT (default ./gpu-out):
#   1. torch / CUDA / ABI facts and nvidia-smi
#   2. make shim LIBTORCH=<torch dir> into build-cuda/lib (a separate folder:
#      build/lib keeps the CPU shim); the binary is copied to build-cuda/ so
#      its $ORIGIN/lib is the CUDA shim
#   3. cmrseg doctor
#   4. cmrseg bench segment --device cuda: Go vs PyTorch, 1/3/9 checkpoints,
#      with and without mirroring
#   5. CPU vs CUDA agreement of the same ensemble (max |Δp| ≤ 1e-3)
# The study is ACDC patient001 when ../shared/data exists, else the
# synthetic phantom. Steps go on after a failure; the exit status is the
# number of failed steps.
set -u
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--prepare" ]; then
	# On the Go machine: build the binary and copy gotorch's C++ sources.
	set -e
	make build
	src=$(go list -m -f '{{.Dir}}' github.com/wangkuiyi/gotorch)
	rm -rf build/gotorch-src && mkdir -p build/gotorch-src
	cp -r "$src/cgotorch" build/gotorch-src/
	chmod -R u+w build/gotorch-src
	echo "ready: carry build/cmrseg and build/gotorch-src"
	exit 0
fi

OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu-check.log") 2>&1
PY=${PYTHON:-$(command -v python3)}
failed=0
step() { # step NAME COMMAND...: run, log to $OUT/NAME.txt, count failures
	local name=$1
	shift
	echo "=== $name: $*"
	local t0=$SECONDS
	"$@" >"$OUT/$name.txt" 2>&1
	local rc=$?
	cat "$OUT/$name.txt"
	echo "=== $name: exit $rc after $((SECONDS - t0)) s"
	[ $rc -eq 0 ] || failed=$((failed + 1))
	return $rc
}

for f in build/cmrseg build/gotorch-src/cgotorch/cgotorch.h; do
	[ -e "$f" ] || { echo "missing $f: run scripts/gpu-check.sh --prepare on the Go machine and carry build/cmrseg and build/gotorch-src"; exit 99; }
done
command -v g++ >/dev/null && command -v make >/dev/null || { echo "g++ and make are needed to build the shim"; exit 99; }

TORCH_DIR=$("$PY" -c 'import torch, os; print(os.path.dirname(torch.__file__))')
step torch "$PY" -c '
import torch, platform
print("python", platform.python_version(), "torch", torch.__version__, "cuda", torch.version.cuda)
print("cuda available", torch.cuda.is_available(), "devices", torch.cuda.device_count())
if torch.cuda.is_available(): print("device 0:", torch.cuda.get_device_name(0))
print("cxx11 abi", torch._C._GLIBCXX_USE_CXX11_ABI)'
command -v nvidia-smi >/dev/null && step nvidia-smi nvidia-smi
step glibc ldd --version

# 2. The shim against the CUDA libtorch. GOTORCH_DIR and GO on the command
# line keep make from calling go; TORCH_ABI is what torch reports (the
# Makefile would otherwise read it off libc10's symbols); the Makefile adds
# torch_cuda/c10_cuda with --no-as-needed when libtorch_cuda.so is there.
# gotorch's CUDA stream API is compiled out (no -DWITH_CUDA), so no CUDA
# toolkit headers are needed.
ABI=$("$PY" -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
step shim make -j"$(nproc)" shim LIBTORCH="$TORCH_DIR" TORCH_ABI="$ABI" BUILD=build-cuda \
	GOTORCH_DIR="$PWD/build/gotorch-src" GO=true
mkdir -p build-cuda && cp build/cmrseg build-cuda/cmrseg
BIN=build-cuda/cmrseg
step ldd ldd "$BIN"
step doctor "$BIN" doctor

STUDY=()
[ -d ../shared/data/acdc/training/patient001 ] || STUDY=(--study phantom)
BENCH=("$BIN" bench segment --threads "$(nproc)" --python "$PY" --reference inference/reference/unet_ref.py "${STUDY[@]}")
step bench-cuda "${BENCH[@]}" --device cuda --counts 1,3,9 --iters 5 --rounds 2
step agreement "$BIN" bench segment --agreement --counts 9 --threads "$(nproc)" "${STUDY[@]}"
step bench-cuda-tta "${BENCH[@]}" --device cuda --counts 1,9 --iters 4 --rounds 2 --tta
step agreement-tta "$BIN" bench segment --agreement --counts 3 --tta --threads "$(nproc)" "${STUDY[@]}"
# A CPU baseline on the same machine, for comparing timings on one machine.
step bench-cpu "${BENCH[@]}" --device cpu --counts 1,9 --iters 3 --rounds 1

echo "failed steps: $failed (results in $OUT)"
exit $failed
