#!/bin/bash
# Stage and build dist/cmrseg_<version>_amd64.deb from the packaged binary
# (make pkg-bin: PIE), the torch shim and packaging/.
# Usage: packaging/build-deb.sh [BINARY [SHIM_DIR [DIST_DIR]]], from the
# repository root (make package does).
# VARIANT=cuda LIBTORCH_LIB=DIR makes cmrseg-cuda instead: the same binary
# with a shim built against the libtorch in DIR (its RUNPATH), which the
# package does not contain and does not depend on (packaging/README.cuda.md).
set -euo pipefail

bin=${1:-build/pkg/cmrseg}
shimdir=${2:-build/lib}
dist=${3:-dist}
variant=${VARIANT:-}
pkg=cmrseg${variant:+-$variant}
arch=amd64
maint="cmrseg developers <dev@cmrseg.invalid>"

# Version and Build come from FyneApp.toml: Debian version <Version>-<Build>.
toml_get() { sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"\{0,1\}\([^\"]*\)\"\{0,1\}[[:space:]]*$/\1/p" FyneApp.toml | head -1; }
upstream=$(toml_get Version)
rev=$(toml_get Build)
[ -n "$upstream" ] || { echo "build-deb: no Version in FyneApp.toml" >&2; exit 1; }
version="$upstream-${rev:-1}"

for f in "$bin" "$shimdir/libcgotorch.so" assets/icon.png; do
	[ -f "$f" ] || { echo "build-deb: $f missing (run make package)" >&2; exit 1; }
done
if [ -n "$variant" ]; then
	[ -n "${LIBTORCH_LIB:-}" ] && [ -f "$LIBTORCH_LIB/libc10.so" ] || {
		echo "build-deb: VARIANT=$variant needs LIBTORCH_LIB, the lib folder of the libtorch the shim was built against (make package LIBTORCH=DIR VARIANT=$variant)" >&2; exit 1; }
	LIBTORCH_LIB=$(cd "$LIBTORCH_LIB" && pwd)
fi
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

work="build/deb${variant:+-$variant}"
rm -rf "$work"
# dpkg-shlibdeps wants debian/control and treats debian/<pkg> as the package tree.
root="$work/debian/$pkg"
umask 022
install -d "$root/DEBIAN" "$root/usr/bin" "$root/usr/lib/$pkg/lib" \
	"$root/usr/share/applications" "$root/usr/share/metainfo" \
	"$root/usr/share/icons/hicolor/512x512/apps" "$root/usr/share/icons/hicolor/256x256/apps" \
	"$root/usr/share/man/man1" "$root/usr/share/doc/$pkg"

# Both variants install the same paths (/usr/lib/cmrseg, whatever the package
# name): the binary finds its shim through RUNPATH $ORIGIN/lib, and
# 'cmrseg doctor' reports <binary folder>/lib/libcgotorch.so.
inst=/usr/lib/cmrseg
install -d "$root$inst/lib"
# Binary and shim, stripped of debug info; RUNPATH stays $ORIGIN/lib only.
install -m 755 "$bin" "$root$inst/cmrseg"
install -m 644 "$shimdir/libcgotorch.so" "$root$inst/lib/libcgotorch.so"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root$inst/cmrseg"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root$inst/lib/libcgotorch.so"
patchelf --set-rpath '$ORIGIN/lib' "$root$inst/cmrseg"
# PIE: lintian's hardening-no-pie looks for an ELF of type DYN.
readelf -h "$root$inst/cmrseg" | grep -q 'Type:.*DYN' || {
	echo "build-deb: $bin is not position-independent (go build -buildmode=pie; make pkg-bin)" >&2; exit 1; }
shim_dyn=$(readelf -d "$root$inst/lib/libcgotorch.so")
if [ -z "$variant" ]; then
	# The package depends on Debian's libtorch1.13: a shim built against another
	# libtorch (LIBTORCH=DIR gives it a RUNPATH) does not belong in it.
	if echo "$shim_dyn" | grep -q -E 'RPATH|RUNPATH' || ! echo "$shim_dyn" | grep -q 'libtorch_cpu.so.1.13'; then
		echo "build-deb: $shimdir/libcgotorch.so is not built against Debian's libtorch 1.13 (make shim LIBTORCH=/usr)" >&2
		exit 1
	fi
	torch_pkg=libtorch1.13 torch_dir=
else
	# The variant's shim finds the site's libtorch through its RUNPATH, which must
	# be that libtorch's lib folder on the workstations too.
	echo "$shim_dyn" | grep -q "RUNPATH.*\[$LIBTORCH_LIB\]" || {
		echo "build-deb: $shimdir/libcgotorch.so has no RUNPATH $LIBTORCH_LIB" >&2; exit 1; }
	torch_pkg= torch_dir=$LIBTORCH_LIB
	if [ -n "$(find "$LIBTORCH_LIB" -maxdepth 1 -name 'libtorch_cuda.so*' -print -quit)" ]; then
		echo "$shim_dyn" | grep -q 'NEEDED.*libtorch_cuda' || {
			echo "build-deb: $LIBTORCH_LIB has libtorch_cuda but the shim does not link it (CUDA would report unavailable)" >&2; exit 1; }
	else
		echo "build-deb: warning: $LIBTORCH_LIB has no libtorch_cuda.so: this $pkg runs on the CPU only" >&2
	fi
fi
sed -e "s|@TORCH_PKG@|$torch_pkg|g" -e "s|@TORCH_DIR@|$torch_dir|g" -e "s|@PKG@|$pkg|g" packaging/cmrseg.sh > "$root/usr/bin/cmrseg"
chmod 755 "$root/usr/bin/cmrseg"

# The bundled model, once assets/model exists.
# cmrseg looks for it in /usr/share/cmrseg/model (segment.go modelDirs).
model=
if [ -f assets/model/model.toml ]; then
	install -d "$root/usr/share/cmrseg"
	cp -r --no-preserve=ownership,timestamps assets/model "$root/usr/share/cmrseg/model"
	find "$root/usr/share/cmrseg/model" -type d -exec chmod 755 {} + -o -type f -exec chmod 644 {} +
	model=yes
	echo "build-deb: bundling assets/model as /usr/share/cmrseg/model ($(du -sh assets/model | cut -f1))"
elif [ -e assets/model ]; then
	echo "build-deb: assets/model has no model.toml: not a model bundle" >&2; exit 1
else
	echo "build-deb: NOTE: no assets/model: the package ships no model (cmrseg segment needs --model DIR; the window uses the demo segmenter)"
fi

install -m 644 packaging/org.cmrseg.cmrseg.desktop "$root/usr/share/applications/"
subst packaging/org.cmrseg.cmrseg.metainfo.xml > "$root/usr/share/metainfo/org.cmrseg.cmrseg.metainfo.xml"
install -m 644 assets/icon.png "$root/usr/share/icons/hicolor/512x512/apps/org.cmrseg.cmrseg.png"
convert assets/icon.png -resize 256x256 -strip -define png:exclude-chunks=date,time \
	"$root/usr/share/icons/hicolor/256x256/apps/org.cmrseg.cmrseg.png"
subst packaging/cmrseg.1 | gzip -9n > "$root/usr/share/man/man1/cmrseg.1.gz"
{
	cat packaging/copyright
	# The model's own terms, only when it is bundled.
	if [ -n "$model" ]; then cat packaging/copyright.model; fi
} > "$root/usr/share/doc/$pkg/copyright"
subst packaging/changelog | gzip -9n > "$root/usr/share/doc/$pkg/changelog.Debian.gz"
# Tags that do not apply to this package, each with its reason.
install -d "$root/usr/share/lintian/overrides"
sed -e "s|@TORCH_DIR@|$torch_dir|g" "packaging/lintian-overrides.$pkg" > "$root/usr/share/lintian/overrides/$pkg"
if [ -n "$variant" ]; then
	install -m 644 packaging/README.cuda.md "$root/usr/share/doc/$pkg/README.cuda.md"
fi
# The receiving DICOM node (issue 17): a systemd unit installed disabled (no
# postinst enables it), its configuration as a conffile, and the user and
# inbox folder it needs (sysusers.d, tmpfiles.d; created by postinst).
install -d "$root/etc/cmrseg" "$root/usr/lib/systemd/system" "$root/usr/lib/sysusers.d" "$root/usr/lib/tmpfiles.d"
install -m 644 packaging/dicom-node.conf "$root/etc/cmrseg/dicom-node.conf"
install -m 644 packaging/cmrseg-dicom-node.service "$root/usr/lib/systemd/system/cmrseg-dicom-node.service"
install -m 644 packaging/cmrseg.sysusers "$root/usr/lib/sysusers.d/$pkg.conf"
install -m 644 packaging/cmrseg.tmpfiles "$root/usr/lib/tmpfiles.d/$pkg.conf"
sed -e "s|/usr/lib/sysusers.d/cmrseg.conf|/usr/lib/sysusers.d/$pkg.conf|" -e "s|/usr/lib/tmpfiles.d/cmrseg.conf|/usr/lib/tmpfiles.d/$pkg.conf|" \
	packaging/postinst > "$root/DEBIAN/postinst"
chmod 755 "$root/DEBIAN/postinst"
echo /etc/cmrseg/dicom-node.conf > "$root/DEBIAN/conffiles"
chmod 644 "$root/DEBIAN/conffiles"
chmod 644 "$root"/usr/share/*/*/*.gz "$root"/usr/share/metainfo/* "$root"/usr/share/icons/hicolor/*/apps/* \
	"$root/usr/share/doc/$pkg/copyright" "$root/usr/share/lintian/overrides/$pkg"

# Depends: dpkg-shlibdeps on the binary and the shim (libcgotorch.so resolves
# inside the package tree), plus what GLFW dlopens and what libtorch needs at
# run time without a NEEDED entry.
cat > "$work/debian/control" <<CTL
Source: $pkg
Maintainer: $maint

Package: $pkg
Architecture: $arch
CTL
# The variant's libtorch belongs to no package: dpkg-shlibdeps finds it
# (-l) and is told that it has no dependency information.
shlibdeps_opts=()
if [ -n "$variant" ]; then shlibdeps_opts=(-l"$LIBTORCH_LIB" --ignore-missing-info); fi
(cd "$work" && dpkg-shlibdeps -O -l"debian/$pkg$inst/lib" "${shlibdeps_opts[@]}" \
	"debian/$pkg$inst/cmrseg" "debian/$pkg$inst/lib/libcgotorch.so") > "$work/substvars"
shlibs=$(sed -n 's/^shlibs:Depends=//p' "$work/substvars")
extra="libxcursor1, libxrandr2, libxinerama1, libxi6, libxxf86vm1, libx11-xcb1, libxrender1, libgl1-mesa-dri"
[ -n "$variant" ] || extra="$extra, libtorch1.13, libopenblas0-pthread"
depends=$( (echo "$shlibs" | tr ',' '\n'; echo "$extra" | tr ',' '\n') | sed 's/^ *//;s/ *$//' | grep -v '^$' \
	| awk '{n=$1} !(n in seen) {seen[n]=1; print}' | paste -sd, | sed 's/,/, /g')
# A bare name added after a versioned one of the same package is dropped above.

relations=
if [ -n "$variant" ]; then
	# Same files as cmrseg: one or the other is installed.
	relations="Source: cmrseg
Provides: cmrseg (= $version)
Conflicts: cmrseg
Replaces: cmrseg
"
fi
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
subst > "$root/DEBIAN/control" <<CTL
Package: $pkg
${relations}Version: $version
Architecture: $arch
Maintainer: $maint
Installed-Size: $size
Depends: $depends
Suggests: dcmtk
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
 for clinical diagnosis.${variant:+
 .
 This is the $variant variant: its torch shim was built against the libtorch
 in $torch_dir, which it needs on this machine at that path (not part of the
 package; see /usr/share/doc/$pkg/README.cuda.md).}
CTL
# The variant warns at install time when its libtorch is not there yet.
if [ -n "$variant" ]; then
	cat > "$root/DEBIAN/postinst" <<POST
#!/bin/sh
set -e
if [ "\$1" = configure ] && [ ! -e "$torch_dir/libc10.so" ]; then
	echo "$pkg: warning: libtorch not found in $torch_dir; cmrseg will not start until it is installed there (/usr/share/doc/$pkg/README.cuda.md)" >&2
fi
exit 0
POST
	chmod 755 "$root/DEBIAN/postinst"
fi
(cd "$root" && find usr -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
chmod 644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$dist"
out="$dist/${pkg}_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$out"
echo "build-deb: $out (Installed-Size $size KiB)"
echo "build-deb: Depends: $depends"
