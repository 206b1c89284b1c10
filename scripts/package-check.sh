#!/usr/bin/env bash
# Installs dist/cmrseg_*_amd64.deb into a fresh `debootstrap --variant=minbase
# bookworm` chroot (only deb.debian.org reachable; nothing of the build tree
# copied in but the .deb) and checks the installed files there:
#   1. apt-get install ./cmrseg_*.deb, then ldd and the libraries GLFW opens
#      at run time, before anything else is installed;
#   2. cmrseg doctor; cmrseg info and segment on real studies (/data is
#      ../shared/data, read-only), with the model the package ships, else the
#      bundle in $CHECK_MODEL (copied in), else it records that it has none;
#   3. the window under Xvfb (the host's Xvfb on display $DISP; only its
#      socket folder is bound into the chroot): open -> segment -> export
#      (Ctrl+R, Ctrl+E through xdotool from outside), screenshots;
#   4. privacy: (2) and (3) run under strace -f -e trace=socket,connect,sendto,
#      sendmsg, and every connect must be AF_UNIX to the X server's socket;
#      then again inside `unshare -n` (a network namespace with only lo down);
#   5. apt-get purge cmrseg: every file the package installed is gone, and
#      the user's ~/.local/share/cmrseg and ~/.config/cmrseg are still there.
# Run as root on a Debian machine with debootstrap, Xvfb, xdotool, strace and
# ImageMagick: scripts/package-check.sh [DEB]. Logs and screenshots go to
# $OUT (default /tmp/package-check); exits non-zero when a check fails.
# The pristine debootstrap tree is kept as a tarball ($BASE) so that a rerun
# starts from a fresh copy without debootstrapping again.
set -uo pipefail
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
deb=${1:-$(ls "$repo"/dist/cmrseg_*_amd64.deb 2>/dev/null | tail -1)}
out=${OUT:-/tmp/package-check}
base=${BASE:-/var/tmp/cmrseg-pkgcheck-base.tar}
root=${ROOTFS:-/var/tmp/cmrseg-pkgcheck}
shared=${SHARED_DATA:-$(cd "$repo/.." && pwd)/shared/data}
mirror=http://deb.debian.org/debian
DISP=${DISP:-87}
uid=4242
[ -f "$deb" ] || { echo "package-check: no .deb (make package, or pass its path)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "package-check: run as root (chroot, mounts)" >&2; exit 2; }
for t in debootstrap Xvfb xdotool strace import unshare; do
	command -v $t >/dev/null || { echo "package-check: $t not found" >&2; exit 2; }
done
deb=$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")
rm -rf "$out"; mkdir -p "$out"
log=$out/check.log
fails=0
say() { echo "== $*" | tee -a "$log"; }
ok() { echo "PASS: $*" | tee -a "$log"; }
bad() { echo "FAIL: $*" | tee -a "$log"; fails=$((fails + 1)); }

# 0. A fresh root file system.
if [ ! -f "$base" ]; then
	say "debootstrap --variant=minbase bookworm ($mirror)"
	rm -rf "$root.base"
	nice -n 10 debootstrap --variant=minbase bookworm "$root.base" "$mirror" >"$out/debootstrap.log" 2>&1 ||
		{ bad "debootstrap failed (see $out/debootstrap.log)"; exit 1; }
	tar -C "$root.base" -cf "$base" . && rm -rf "$root.base"
fi
umount_all() {
	for m in tmp/.X11-unix data proc sys dev/pts dev; do umount -l "$root/$m" 2>/dev/null; done
}
trap 'umount_all; [ -n "${xvfb:-}" ] && kill "$xvfb" 2>/dev/null' EXIT
umount_all
rm -rf "$root"; mkdir -p "$root"
tar -C "$root" -xf "$base"
mount --bind /dev "$root/dev"; mount --bind /dev/pts "$root/dev/pts"
mount -t proc proc "$root/proc"; mount -t sysfs sys "$root/sys"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# The chroot sees Debian's archive and nothing else of this machine.
echo "deb $mirror bookworm main" >"$root/etc/apt/sources.list"
mkdir -p "$root/data" "$root/tmp/.X11-unix" "$root/pkg"
mount --bind -o ro "$shared" "$root/data" && mount -o remount,bind,ro "$root/data"
cp "$deb" "$root/pkg/"
{
	echo "date: $(date -u)"
	echo "deb: $deb ($(stat -c %s "$deb") bytes, sha256 $(sha256sum "$deb" | cut -c1-16))"
	echo "Installed-Size: $(dpkg-deb -f "$deb" Installed-Size) KiB"
	echo "Depends: $(dpkg-deb -f "$deb" Depends)"
} | tee -a "$log"

# A shell in the chroot with a clean environment, as root or as the
# unprivileged user 'reader': "${AS_ROOT[@]}" CMD, "${AS_USER[@]}" CMD (plain
# commands, so strace and unshare can run them).
envpath=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
AS_ROOT=(chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 $envpath /bin/bash -c)
AS_USER=(chroot --userspec=$uid:$uid "$root" /usr/bin/env -i HOME=/home/reader USER=reader LANG=C.UTF-8 $envpath /bin/bash -c)
run_in() { if [ "$1" = --user ]; then "${AS_USER[@]}" "$2"; else "${AS_ROOT[@]}" "$1"; fi; }

# 1. Install.
say "apt-get install ./$(basename "$deb")"
run_in "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q ./pkg/$(basename "$deb")" \
	>"$out/apt-install.log" 2>&1 && ok "apt-get install (log: apt-install.log)" || { bad "apt-get install"; tail -20 "$out/apt-install.log"; exit 1; }
grep -E '^(Need to get|After this operation)' "$out/apt-install.log" | tee -a "$log"
run_in "dpkg -L cmrseg" >"$out/dpkg-L.txt"
run_in "useradd -m -u $uid -s /bin/bash reader"
[ -e "$root/work" ] && bad "the chroot has /work (build tree)" || ok "no build tree in the chroot (/work absent)"
if run_in "ldd /usr/lib/cmrseg/cmrseg /usr/lib/cmrseg/lib/libcgotorch.so" >"$out/ldd.txt" 2>&1 &&
	! grep -q 'not found' "$out/ldd.txt"; then ok "ldd: every NEEDED library resolves"; else bad "ldd: $(grep 'not found' "$out/ldd.txt" | tr '\n' ' ')"; fi
# GLFW and Mesa open these with dlopen, so ldd does not list them.
missing=
for so in libX11.so.6 libX11-xcb.so.1 libXcursor.so.1 libXrandr.so.2 libXinerama.so.1 libXi.so.6 \
	libXxf86vm.so.1 libXrender.so.1 libGL.so.1 libGLX_mesa.so.0 dri/swrast_dri.so; do
	[ -e "$root/usr/lib/x86_64-linux-gnu/$so" ] || missing="$missing $so"
done
[ -z "$missing" ] && ok "run-time dlopen libraries present (X11, Xcursor, Xrandr, Xinerama, Xi, Xxf86vm, Xrender, GL, swrast)" || bad "missing:$missing"

# 2. doctor, info, segment (as the user, traced).
strace_to() { strace -f -qq -e trace=socket,connect,sendto,sendmsg -o "$1" "${@:2}"; }
# (strace runs the chroot command, so it follows the app from outside; nothing
# is installed in the chroot for it.)
say "cmrseg doctor"
strace_to "$out/strace-doctor.log" "${AS_USER[@]}" "cmrseg doctor" >"$out/doctor.txt" 2>&1 && ok "cmrseg doctor" || bad "cmrseg doctor"
cat "$out/doctor.txt" | tee -a "$log"
study=/data/acdc/training/patient001
run_in --user "cmrseg info $study /data/sunnybrook/SCD0000101" >"$out/info.txt" 2>&1 && ok "cmrseg info on ACDC patient001 and Sunnybrook SCD0000101" || bad "cmrseg info"
model_flag=
if [ -f "$root/usr/share/cmrseg/model/model.toml" ]; then
	say "the package ships a model: /usr/share/cmrseg/model"
elif [ -n "${CHECK_MODEL:-}" ] && [ -f "$CHECK_MODEL/model.toml" ]; then
	cp -r "$CHECK_MODEL" "$root/home/reader/check-model" && chown -R $uid:$uid "$root/home/reader/check-model"
	model_flag="--model /home/reader/check-model"
	say "the package ships no model: using CHECK_MODEL=$CHECK_MODEL (copied to ~reader/check-model), NOT a shipped model"
else
	say "the package ships no model and CHECK_MODEL is unset: segment can only report that it has none"
fi
say "cmrseg segment $model_flag --out ~/seg $study"
if strace_to "$out/strace-segment.log" "${AS_USER[@]}" "cmrseg segment $model_flag --out ~/seg $study && ls -l ~/seg" >"$out/segment.txt" 2>&1; then
	ok "cmrseg segment wrote: $(grep -o '[^ ]*\.nii\.gz' "$out/segment.txt" | sort -u | tr '\n' ' ')"
else
	if grep -q 'no model bundle found' "$out/segment.txt"; then
		bad "cmrseg segment: no model installed ($(head -c 300 "$out/segment.txt"))"
	else bad "cmrseg segment (see segment.txt)"; fi
fi

# 3. The window. The host's Xvfb, no TCP; its socket folder is bound into the
# chroot so the app also reaches it from a network namespace of its own.
say "GUI under Xvfb :$DISP"
Xvfb :$DISP -screen 0 1400x900x24 -nolisten tcp >"$out/xvfb.log" 2>&1 &
xvfb=$!
sleep 2
mount --bind /tmp/.X11-unix "$root/tmp/.X11-unix"
export DISPLAY=:$DISP
gui_env="DISPLAY=:$DISP CMRSEG_QUIT_AFTER=900s CMRSEG_DEBUG=1 CMRSEG_EXPORT_DIR=/home/reader/exports"
# gui_run NAME "WRAPPER WORDS" ARGS [ENV]: start the window, then from outside
# Ctrl+R (segment), wait for the app's "segmented" debug line, screenshot,
# Ctrl+E (export all to CMRSEG_EXPORT_DIR), Ctrl+Q.
gui_run() {
	local name=$1 wrap=$2 args=$3 extra=${4:-} wid
	$wrap "${AS_USER[@]}" "export $gui_env $extra; rm -rf ~/exports; cmrseg gui $args" >"$out/gui-$name.log" 2>&1 &
	local pid=$!
	for _ in $(seq 360); do   # up to 3 min: a loaded machine starts it slowly
		wid=$(xdotool search --onlyvisible --name 'cmrseg' 2>/dev/null | head -1)
		[ -n "$wid" ] && break; sleep 0.5
	done
	if [ -z "$wid" ]; then bad "gui-$name: no window appeared"; wait $pid; return; fi
	sleep 4
	xdotool windowfocus --sync "$wid" 2>/dev/null || true
	local before=$(grep -c '^cmrseg-debug: segmented' "$out/gui-$name.log")
	xdotool key --window "$wid" ctrl+r
	for _ in $(seq 600); do   # the shipped model on 2 CPU cores: up to 10 min
		[ "$(grep -c '^cmrseg-debug: segmented' "$out/gui-$name.log")" -gt "$before" ] && break; sleep 1
	done
	sleep 2
	import -window root "$out/gui-$name.png"
	xdotool key --window "$wid" ctrl+e; sleep 5
	xdotool key --window "$wid" ctrl+q
	wait $pid; local rc=$?
	[ $rc = 0 ] && ok "gui-$name: exited 0 (Ctrl+Q)" || bad "gui-$name: exit $rc"
	ls -l "$root/home/reader/exports" >"$out/gui-$name-exports.txt" 2>&1 &&
		[ -n "$(ls "$root/home/reader/exports" 2>/dev/null)" ] && ok "gui-$name: exported $(ls "$root/home/reader/exports" | tr '\n' ' ')" ||
		bad "gui-$name: nothing exported"
	if grep -q 'Error in Fyne call thread' "$out/gui-$name.log"; then bad "gui-$name: Fyne thread errors"; fi
}
tracer="strace -f -qq -e trace=socket,connect,sendto,sendmsg -o"
# The demo study with the demo segmenter (fast); a real study with the shipped model.
gui_run demo "$tracer $out/strace-gui-demo.log" "" CMRSEG_MODEL=demo
gui_run acdc "$tracer $out/strace-gui-acdc.log" "$study/patient001_frame01.nii.gz"

# 4. Privacy: every connect is AF_UNIX to the X socket; no inet socket at all.
# glibc's NSS lookups (getpwuid: chroot --userspec, libX11) also try the local
# name-service cache daemon's socket, /var/run/nscd/socket (AF_UNIX; absent
# here, ENOENT): counted apart, as it never leaves the machine.
say "privacy: connects in the strace logs"
for f in "$out"/strace-*.log; do
	n=$(grep -c 'connect(' "$f")
	other=$(grep 'connect(' "$f" | grep -v -E "sa_family=AF_UNIX, sun_path=(@?\"/tmp/\.X11-unix/X$DISP\"|\"/var/run/nscd/socket\")" || true)
	inet=$(grep -E 'socket\((AF_INET|AF_INET6|AF_PACKET)' "$f" || true)
	sends=$(grep -E 'send(to|msg)\(' "$f" | grep -v -E 'sendto\([0-9]+, .*, NULL, 0\)' | grep -E 'AF_INET|sin_' || true)
	echo "$(basename "$f"): $n connect(s): $(grep -o 'connect([0-9]*, {sa_family=[A-Z_0-9]*, sun_path=[^}]*' "$f" | sed 's/connect([0-9]*, //' | sort | uniq -c | tr '\n' ';')" | tee -a "$log"
	if [ -z "$other" ] && [ -z "$inet" ] && [ -z "$sends" ]; then ok "$(basename "$f"): only AF_UNIX connects, to the X server's socket (and glibc's nscd socket)"
	else bad "$(basename "$f"): other connections: $other $inet $sends"; fi
done
say "privacy: again in a network namespace without interfaces (unshare -n)"
unshare -n ip -o link 2>/dev/null | tee -a "$log" || true
unshare -n "${AS_USER[@]}" "cmrseg doctor" >"$out/unshare-doctor.txt" 2>&1 && ok "unshare -n: cmrseg doctor" || bad "unshare -n: cmrseg doctor"
unshare -n "${AS_USER[@]}" "cmrseg segment $model_flag --out ~/seg-netns $study" >"$out/unshare-segment.txt" 2>&1 &&
	ok "unshare -n: cmrseg segment" || bad "unshare -n: cmrseg segment ($(head -c 200 "$out/unshare-segment.txt"))"
gui_run netns "unshare -n" "" CMRSEG_MODEL=demo

# 5. Uninstall: what the package added goes, the user's data stays.
say "apt-get purge cmrseg"
run_in --user "mkdir -p ~/.local/share/cmrseg ~/.config/cmrseg && echo mine > ~/.local/share/cmrseg/keep-me && echo mine > ~/.config/cmrseg/keep-me"
find "$root/home/reader/.local/share/cmrseg" "$root/home/reader/.config/cmrseg" -type f | sed "s|^$root||" >"$out/user-files-before.txt"
run_in "DEBIAN_FRONTEND=noninteractive apt-get purge -y -q cmrseg" >"$out/apt-purge.log" 2>&1 && ok "apt-get purge cmrseg" || bad "apt-get purge"
left=
while read -r p; do
	case "$p" in /usr/lib/cmrseg*|/usr/share/cmrseg*|/usr/bin/cmrseg|/usr/share/doc/cmrseg*|*org.cmrseg*|*/man1/cmrseg*|*/overrides/cmrseg) [ -e "$root$p" ] && left="$left $p" ;; esac
done <"$out/dpkg-L.txt"
[ -z "$left" ] && ok "purge removed every file and folder the package owned ($(wc -l <"$out/dpkg-L.txt") paths)" || bad "left after purge:$left"
find "$root/home/reader/.local/share/cmrseg" "$root/home/reader/.config/cmrseg" -type f 2>/dev/null | sed "s|^$root||" >"$out/user-files-after.txt"
if cmp -s "$out/user-files-before.txt" "$out/user-files-after.txt" && [ -s "$out/user-files-after.txt" ]; then
	ok "user data kept: $(tr '\n' ' ' <"$out/user-files-after.txt")"
else bad "user data changed by purge"; fi

say "done: $fails failure(s); logs and screenshots in $out"
exit $((fails > 0))
