#!/bin/bash
# Stage and build dist/cmrseg_<version>_amd64.deb from build/ (make build) and
# packaging/. Usage: packaging/build-deb.sh [BUILD_DIR [DIST_DIR]]
# Run from the repository root (make package does).
set -euo pipefail

build=${1:-build}
dist=${2:-dist}
pkg=cmrseg
arch=amd64
maint="cmrseg developers <dev@cmrseg.invalid>"

# Version and Build come from FyneApp.toml: Debian version <Version>-<Build>.
toml_get() { sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"\{0,1\}\([^\"]*\)\"\{0,1\}[[:space:]]*$/\1/p" FyneApp.toml | head -1; }
upstream=$(toml_get Version)
rev=$(toml_get Build)
[ -n "$upstream" ] || { echo "build-deb: no Version in FyneApp.toml" >&2; exit 1; }
version="$upstream-${rev:-1}"

for f in "$build/cmrseg" "$build/lib/libcgotorch.so" assets/icon.png; do
	[ -f "$f" ] || { echo "build-deb: $f missing (run make build)" >&2; exit 1; }
done
for tool in dpkg-deb dpkg-shlibdeps convert gzip patchelf; do
	command -v "$tool" >/dev/null || { echo "build-deb: $tool not found (apt-get install dpkg-dev imagemagick patchelf)" >&2; exit 1; }
done

# Reproducible timestamps: the last commit's date unless SOURCE_DATE_EPOCH is set.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
date_iso=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)
date_rfc=$(date -u -d "@$SOURCE_DATE_EPOCH" -R)
date_man=$(date -u -d "@$SOURCE_DATE_EPOCH" "+%B %Y")
subst() { sed -e "s/@VERSION@/$version/g" -e "s/@UPSTREAM@/$upstream/g" -e "s/@DATE@/$date_iso/g" \
	-e "s/@DATE_RFC@/$date_rfc/g" -e "s/@DATE_MAN@/$date_man/g" "$@"; }

work="$build/deb"
rm -rf "$work"
# dpkg-shlibdeps wants debian/control and treats debian/<pkg> as the package tree.
root="$work/debian/$pkg"
umask 022
install -d "$root/DEBIAN" "$root/usr/bin" "$root/usr/lib/$pkg/lib" \
	"$root/usr/share/applications" "$root/usr/share/metainfo" \
	"$root/usr/share/icons/hicolor/512x512/apps" "$root/usr/share/icons/hicolor/256x256/apps" \
	"$root/usr/share/man/man1" "$root/usr/share/doc/$pkg"

# Binary and shim, stripped of debug info; RUNPATH stays $ORIGIN/lib only.
install -m 755 "$build/cmrseg" "$root/usr/lib/$pkg/cmrseg"
install -m 644 "$build/lib/libcgotorch.so" "$root/usr/lib/$pkg/lib/libcgotorch.so"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/lib/$pkg/cmrseg"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/lib/$pkg/lib/libcgotorch.so"
patchelf --set-rpath '$ORIGIN/lib' "$root/usr/lib/$pkg/cmrseg"
# The package depends on Debian's libtorch1.13: a shim built against another
# libtorch (LIBTORCH=DIR gives it a RUNPATH) does not belong in it.
if readelf -d "$root/usr/lib/$pkg/lib/libcgotorch.so" | grep -q -E 'RPATH|RUNPATH' ||
	! readelf -d "$root/usr/lib/$pkg/lib/libcgotorch.so" | grep -q 'libtorch_cpu.so.1.13'; then
	echo "build-deb: $build/lib/libcgotorch.so is not built against Debian's libtorch 1.13 (make shim LIBTORCH=/usr)" >&2
	exit 1
fi
install -m 755 packaging/cmrseg.sh "$root/usr/bin/cmrseg"

# The bundled model, once assets/model exists.
if [ -d assets/model ]; then
	install -d "$root/usr/share/$pkg"
	cp -r --no-preserve=ownership assets/model "$root/usr/share/$pkg/model"
	find "$root/usr/share/$pkg/model" -type d -exec chmod 755 {} + -o -type f -exec chmod 644 {} +
	echo "build-deb: bundling assets/model as /usr/share/$pkg/model"
else
	echo "build-deb: no assets/model: the package ships no model (cmrseg segment needs --model DIR)"
fi

install -m 644 packaging/org.cmrseg.cmrseg.desktop "$root/usr/share/applications/"
subst packaging/org.cmrseg.cmrseg.metainfo.xml > "$root/usr/share/metainfo/org.cmrseg.cmrseg.metainfo.xml"
install -m 644 assets/icon.png "$root/usr/share/icons/hicolor/512x512/apps/org.cmrseg.cmrseg.png"
convert assets/icon.png -resize 256x256 -strip -define png:exclude-chunks=date,time \
	"$root/usr/share/icons/hicolor/256x256/apps/org.cmrseg.cmrseg.png"
subst packaging/cmrseg.1 | gzip -9n > "$root/usr/share/man/man1/cmrseg.1.gz"
install -m 644 packaging/copyright "$root/usr/share/doc/$pkg/copyright"
subst packaging/changelog | gzip -9n > "$root/usr/share/doc/$pkg/changelog.Debian.gz"
chmod 644 "$root"/usr/share/*/*/*.gz "$root"/usr/share/metainfo/* "$root"/usr/share/icons/hicolor/*/apps/*

# Depends: dpkg-shlibdeps on the binary and the shim (libcgotorch.so resolves
# inside the package tree), plus what GLFW dlopens and what libtorch needs at
# run time without a NEEDED entry.
cat > "$work/debian/control" <<CTL
Source: $pkg
Maintainer: $maint

Package: $pkg
Architecture: $arch
CTL
(cd "$work" && dpkg-shlibdeps -O -l"debian/$pkg/usr/lib/$pkg/lib" \
	"debian/$pkg/usr/lib/$pkg/cmrseg" "debian/$pkg/usr/lib/$pkg/lib/libcgotorch.so") > "$work/substvars"
shlibs=$(sed -n 's/^shlibs:Depends=//p' "$work/substvars")
extra="libxcursor1, libxrandr2, libxinerama1, libxi6, libxxf86vm1, libx11-xcb1, libxrender1, libgl1-mesa-dri, libtorch1.13, libopenblas0-pthread"
depends=$( (echo "$shlibs" | tr ',' '\n'; echo "$extra" | tr ',' '\n') | sed 's/^ *//;s/ *$//' | grep -v '^$' \
	| awk '{n=$1} !(n in seen) {seen[n]=1; print}' | paste -sd, | sed 's/,/, /g')
# A bare name added after a versioned one of the same package is dropped above.

size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
subst > "$root/DEBIAN/control" <<CTL
Package: $pkg
Version: $version
Architecture: $arch
Maintainer: $maint
Installed-Size: $size
Depends: $depends
Section: science
Priority: optional
Homepage: https://cmrseg.invalid/
Description: cardiac cine MRI segmentation with uncertainty (research use only)
 cmrseg segments the right ventricle, myocardium and left ventricle in
 cardiac cine MRI (NIfTI files, DICOM folders, ACDC patient folders) with an
 ensemble of U-Nets run through libtorch, and shows a per-voxel uncertainty
 map in a review window. Command-line tools segment, describe and evaluate
 studies, train checkpoint ensembles and benchmark the runtime.
 .
 Research use only: cmrseg is not a medical device and must not be used
 for clinical diagnosis.
CTL
(cd "$root" && find usr -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
chmod 644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$dist"
out="$dist/${pkg}_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$out"
echo "build-deb: $out (Installed-Size $size KiB)"
echo "build-deb: Depends: $depends"
