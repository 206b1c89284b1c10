#!/usr/bin/env bash
# Runs the README's two set-up commands from a clean clone inside a fresh
# `debootstrap --variant=minbase bookworm` chroot, with only Debian's archive
# and the Go module proxy reachable, and ../shared/data bind-mounted read-only
# beside the clone. Run as root on a Debian machine:
#   scripts/fresh-machine-check.sh [ROOTFS_DIR] [test|run|both]
# Leaves its log in ROOTFS_DIR/fresh-check.log.
set -euo pipefail
root=${1:-/var/tmp/cmrseg-fresh}
what=${2:-both}
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
shared=$(cd "$repo/.." && pwd)/shared

command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap
if [ ! -x "$root/usr/bin/apt-get" ]; then
  debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian
fi
cleanup() {
  for m in work/shared proc sys dev/pts dev; do umount "$root/$m" 2>/dev/null || true; done
}
trap cleanup EXIT
mount --bind /dev "$root/dev"; mount --bind /dev/pts "$root/dev/pts"
mount -t proc proc "$root/proc"; mount -t sysfs sys "$root/sys"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# A site whose egress proxy re-signs TLS (as this workplace's does) needs its
# local CAs in the chroot too; ca-certificates picks them up when installed.
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
  chroot "$root" sh -c 'command -v update-ca-certificates >/dev/null && update-ca-certificates >/dev/null || true'
fi
mkdir -p "$root/work/shared"
mount --bind -o ro "$shared" "$root/work/shared"
rm -rf "$root/work/main"
git clone -q "$repo" "$root/work/main"   # a clean clone of what is committed

run_in() { chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin CI=true bash -c "cd /work/main && $1"; }
{
  echo "== $(date -u) fresh bookworm chroot at $root, commit $(git -C "$repo" rev-parse --short HEAD)"
  if [ "$what" = test ] || [ "$what" = both ]; then
    run_in "$(sed -n '2p' "$repo/README.md" | sed 's/#.*//')"
    echo "== test command: exit $?"
  fi
  if [ "$what" = run ] || [ "$what" = both ]; then
    # The app command opens a window: give it a virtual display, and have the
    # app close itself (CMRSEG_QUIT_AFTER) so the command returns.
    run_in "apt-get install -y -q --no-install-recommends xvfb xauth >/dev/null &&
      (Xvfb :42 -screen 0 1400x900x24 >/dev/null 2>&1 &) && sleep 2 &&
      export DISPLAY=:42 CMRSEG_QUIT_AFTER=20s && $(sed -n '1p' "$repo/README.md" | sed 's/#.*//')"
    echo "== run command: exit $?"
  fi
} 2>&1 | tee "$root/fresh-check.log"
