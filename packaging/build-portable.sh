#!/bin/bash
# dist/cmrseg-<Version>-linux-amd64.tar.xz, the no-root alternative to the .deb.
#
# `fyne package -os linux` (fyne.io/tools, FYNE=path) makes the desktop entry
# and icon from FyneApp.toml, but its tarball only carries usr/local/bin/<exe>
# and its Makefile installs only that file: the torch shim (lib/libcgotorch.so,
# found through RUNPATH $ORIGIN/lib) and the model would be left behind. So
# this script runs fyne package on the PIE binary and wraps its output: the
# binary, lib/ and model/ stay together in one relocatable folder that runs in
# place, and packaging/Makefile.portable (replacing fyne's Makefile) installs
# that folder as a whole, under ~/.local for a user or PREFIX for root.
# Usage: packaging/build-portable.sh [BINARY [SHIM_DIR [DIST_DIR]]], from the
# repository root (make portable does).
set -euo pipefail
bin=${1:-build/pkg/cmrseg}
shimdir=${2:-build/lib}
dist=${3:-dist}
fyne=${FYNE:-build/tools/fyne}
upstream=$(sed -n 's/^[[:space:]]*Version[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' FyneApp.toml | head -1)
[ -n "$upstream" ] || { echo "build-portable: no Version in FyneApp.toml" >&2; exit 1; }
for f in "$bin" "$shimdir/libcgotorch.so"; do
	[ -f "$f" ] || { echo "build-portable: $f missing (run make portable)" >&2; exit 1; }
done
[ -x "$fyne" ] || { echo "build-portable: fyne not found at $fyne (make portable installs it into build/tools)" >&2; exit 1; }
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
date_man=$(date -u -d "@$SOURCE_DATE_EPOCH" "+%B %Y")
name="cmrseg-$upstream-linux-amd64"
stage=$(cd "$(dirname "$bin")/.." && pwd)/portable
rm -rf "$stage"
umask 022
install -d "$stage/fyne" "$stage/$name/lib"

# 1. fyne package on a copy of the binary named cmrseg (the exe's name is the
# Exec= of the desktop entry); it writes <Name>.tar.xz into the current folder.
install -m 755 "$bin" "$stage/fyne/cmrseg"
abs_stage=$stage
# fyne package rewrites FyneApp.toml (bumps Build, drops comments): keep the
# committed file as it is.
cp FyneApp.toml "$stage/FyneApp.toml.orig"
trap 'cp "$abs_stage/FyneApp.toml.orig" FyneApp.toml' EXIT
(cd "$stage/fyne" && "$fyne" package -os linux --release --src "$OLDPWD" \
	--executable "$abs_stage/fyne/cmrseg" >"$abs_stage/fyne.log" 2>&1) || {
	cat "$stage/fyne.log" >&2; echo "build-portable: fyne package failed" >&2; exit 1; }
fyne_tar=$stage/fyne/cmrseg.tar.xz
[ -f "$fyne_tar" ] || { cat "$stage/fyne.log" >&2; echo "build-portable: fyne package made no $fyne_tar" >&2; exit 1; }
mkdir "$stage/fyne/out"
tar -C "$stage/fyne/out" -xJf "$fyne_tar"
desktop=$(find "$stage/fyne/out" -name 'org.cmrseg.cmrseg.desktop' | head -1)
icon=$(find "$stage/fyne/out" -path '*/pixmaps/org.cmrseg.cmrseg.png' | head -1)
[ -n "$desktop" ] && [ -n "$icon" ] || {
	echo "build-portable: fyne's tarball lacks the desktop entry or icon:" >&2; tar -tJf "$fyne_tar" >&2; exit 1; }

# 2. The relocatable folder: fyne's binary, desktop entry and icon, plus the
# shim, the model and the docs.
install -m 755 "$(find "$stage/fyne/out" -path '*/bin/cmrseg' | head -1)" "$stage/$name/cmrseg"
install -m 644 "$shimdir/libcgotorch.so" "$stage/$name/lib/libcgotorch.so"
strip --strip-unneeded "$stage/$name/cmrseg" "$stage/$name/lib/libcgotorch.so"
patchelf --set-rpath '$ORIGIN/lib' "$stage/$name/cmrseg"
install -m 644 "$desktop" "$stage/$name/org.cmrseg.cmrseg.desktop"
install -m 644 "$icon" "$stage/$name/org.cmrseg.cmrseg.png"
sed -e "s/@UPSTREAM@/$upstream/g" -e "s/@DATE_MAN@/$date_man/g" packaging/cmrseg.1 > "$stage/$name/cmrseg.1"
install -m 644 packaging/Makefile.portable "$stage/$name/Makefile"
# cmrseg looks for <binary folder>/model (segment.go modelDirs).
if [ -f assets/model/model.toml ]; then
	cp -r --no-preserve=ownership assets/model "$stage/$name/model"
	find "$stage/$name/model" -type d -exec chmod 755 {} + -o -type f -exec chmod 644 {} +
	modelnote="model/ is the bundled model (trained on ACDC: research use only under the ACDC terms)."
	echo "build-portable: bundling assets/model as model/"
else
	modelnote="No model is bundled: pass --model DIR to segment/evaluate, or set CMRSEG_MODEL."
	echo "build-portable: NOTE: no assets/model: the tarball ships no model"
fi
sed -e "s/@UPSTREAM@/$upstream/g" -e "s|@MODELNOTE@|$modelnote|g" packaging/README.portable > "$stage/$name/README"

mkdir -p "$dist"
out="$dist/$name.tar.xz"
tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner \
	--mtime="@$SOURCE_DATE_EPOCH" -cJf "$out" "$name"
echo "build-portable: $out ($(du -h "$out" | cut -f1)), from fyne package's $(basename "$fyne_tar") plus lib/ and model/"
