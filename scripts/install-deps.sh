#!/usr/bin/env bash
# Installs what cmrseg needs on Debian 12 (bookworm), idempotently:
#   install-deps.sh run    build and run the app (Go, g++, libtorch, Fyne's X11/GL headers)
#   install-deps.sh test   the above plus the test oracles and tools (PyTorch, nibabel,
#                          pydicom, dcmtk, GDCM and OpenJPEG tools, dcm2niix, Xvfb, xdotool,
#                          ImageMagick, poppler, npm, Slurm and munge for the single-node Slurm test)
# Go: Debian 12 ships Go 1.19, older than this module needs, so when no Go >= 1.26 is
# found the script installs Debian's Go 1.19 and uses it to fetch the Go 1.26 toolchain
# from the Go module proxy (the same source `go` itself uses for toolchain switches)
# into /usr/local/go.
set -euo pipefail

what=${1:-run}
GO_VERSION=1.26.8

run_pkgs=(ca-certificates git make gcc g++ libc6-dev pkg-config patchelf
  libtorch-dev libopenblas0-pthread
  libgl-dev libx11-dev libxcursor-dev libxrandr-dev libxinerama-dev libxi-dev libxxf86vm-dev
  libgl1-mesa-dri)
test_pkgs=(python3 python3-torch python3-numpy python3-scipy python3-nibabel python3-pydicom
  dcmtk libgdcm-tools libopenjp2-tools dcm2niix dicom3tools xvfb xauth xdotool imagemagick
  poppler-utils slurm-wlm munge)

case $what in
run) pkgs=("${run_pkgs[@]}") ;;
test)
  pkgs=("${run_pkgs[@]}" "${test_pkgs[@]}")
  # Any npm will do (a machine may carry its own Node.js, which conflicts with Debian's npm).
  command -v npm >/dev/null || pkgs+=(npm)
  ;;
*) echo "usage: $0 [run|test]" >&2; exit 2 ;;
esac

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root or install sudo" >&2; exit 1; }
  sudo=sudo
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $sudo apt-get update -q
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

go_ok() { # $1: a go binary; true if it is at least $GO_VERSION's minor
  local v
  v=$("$1" env GOVERSION 2>/dev/null) || return 1
  v=${v#go}
  [ "$(printf '%s\n1.26\n' "${v%.*}" | sort -V | head -n1)" = "1.26" ]
}

if go_ok "$(command -v go 2>/dev/null || echo /nonexistent)" || go_ok /usr/local/go/bin/go; then
  exit 0
fi
echo "install-deps: installing Go $GO_VERSION into /usr/local/go"
dpkg-query -W -f='${Status}' golang-1.19-go 2>/dev/null | grep -q "install ok installed" ||
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends golang-1.19-go
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
mod=golang.org/toolchain@v0.0.1-go$GO_VERSION.linux-$(dpkg --print-architecture)
(cd "$tmp" && GOPATH="$tmp/gopath" GOFLAGS=-modcacherw /usr/lib/go-1.19/bin/go mod download "$mod")
src="$tmp/gopath/pkg/mod/$mod"
$sudo rm -rf /usr/local/go
$sudo cp -r "$src" /usr/local/go
# Module zips carry no exec bits; the go command restores them when it
# switches toolchains, and so do we.
$sudo chmod -R u+w,a+rX /usr/local/go
$sudo find /usr/local/go/bin /usr/local/go/pkg/tool -type f -exec chmod a+x {} +
/usr/local/go/bin/go version
