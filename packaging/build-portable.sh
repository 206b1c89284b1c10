#!/bin/bash
# dist/cmrseg-<Version>-linux-amd64.tar.xz: binary + lib/ + icon + desktop
# file + man page + README, relocatable (RUNPATH $ORIGIN/lib).
# Usage: packaging/build-portable.sh [BUILD_DIR [DIST_DIR]], from the repository root.
set -euo pipefail
build=${1:-build}
dist=${2:-dist}
upstream=$(sed -n 's/^[[:space:]]*Version[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' FyneApp.toml | head -1)
[ -n "$upstream" ] || { echo "build-portable: no Version in FyneApp.toml" >&2; exit 1; }
for f in "$build/cmrseg" "$build/lib/libcgotorch.so"; do
	[ -f "$f" ] || { echo "build-portable: $f missing (run make build)" >&2; exit 1; }
done
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
date_man=$(date -u -d "@$SOURCE_DATE_EPOCH" "+%B %Y")
name="cmrseg-$upstream-linux-amd64"
stage="$build/portable"
rm -rf "$stage"
umask 022
install -d "$stage/$name/lib"
install -m 755 "$build/cmrseg" "$stage/$name/cmrseg"
install -m 644 "$build/lib/libcgotorch.so" "$stage/$name/lib/libcgotorch.so"
strip --strip-unneeded "$stage/$name/cmrseg" "$stage/$name/lib/libcgotorch.so"
patchelf --set-rpath '$ORIGIN/lib' "$stage/$name/cmrseg"
install -m 644 assets/icon.png "$stage/$name/org.cmrseg.cmrseg.png"
install -m 644 packaging/org.cmrseg.cmrseg.desktop "$stage/$name/"
sed -e "s/@UPSTREAM@/$upstream/g" -e "s/@DATE_MAN@/$date_man/g" packaging/cmrseg.1 > "$stage/$name/cmrseg.1"
sed -e "s/@UPSTREAM@/$upstream/g" packaging/README.portable > "$stage/$name/README"
if [ -d assets/model ]; then cp -r assets/model "$stage/$name/model"; fi
mkdir -p "$dist"
out="$dist/$name.tar.xz"
tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner \
	--mtime="@$SOURCE_DATE_EPOCH" -cJf "$out" "$name"
echo "build-portable: $out"
