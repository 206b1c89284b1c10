#!/usr/bin/env bash
# Screenshots of the training tab under Xvfb before, during and after a
# small training run on three ACDC patients:
#   /tmp/screens/training-before.png   data scanned, tiny preset, schedule plot
#   /tmp/screens/training-during.png   live loss / Dice / LR plots, ETA, timeline
#   /tmp/screens/training-after.png    finished run, evaluation, "Use this model"
# Usage: scripts/screens-training.sh [ACDC_TRAINING_DIR]   (after make build)
# Everything the app writes goes to a temporary XDG_DATA_HOME/XDG_CONFIG_HOME.
# The clicks are screen coordinates of the window (1400 wide, about 1030
# tall: the review tab's minimum) at the origin of a 1400×1100 screen;
# they follow ui/training.go's layout.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
acdc=${1:-$repo/../shared/data/acdc/training}
out=${SCREENS:-/tmp/screens}
disp=${SCREENS_DISPLAY:-99}
for tool in Xvfb xdotool import; do
  command -v "$tool" >/dev/null || { echo "screens-training: $tool is not installed" >&2; exit 1; }
done
[ -x "$repo/build/cmrseg" ] || { echo "screens-training: build/cmrseg missing; run make build" >&2; exit 1; }
work=$(mktemp -d /tmp/cmrseg-screens.XXXXXX)
mkdir -p "$out" "$work/acdc"
for p in patient001 patient021 patient061; do
  [ -d "$acdc/$p" ] || { echo "screens-training: $acdc/$p missing" >&2; exit 1; }
  ln -s "$(readlink -f "$acdc/$p")" "$work/acdc/$p"
done
export XDG_DATA_HOME=$work/data XDG_CONFIG_HOME=$work/config DISPLAY=:$disp
runs=$XDG_DATA_HOME/cmrseg/training-runs
app= xvfb=
cleanup() {
  # The training child runs in its own session (it outlives the window by
  # design): stop it by the pid its job recorded.
  for j in "$runs"/*/job.json; do
    [ -f "$j" ] || continue
    pid=$(sed -n 's/.*"pid": *\([0-9][0-9]*\).*/\1/p' "$j")
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  [ -n "$app" ] && kill "$app" 2>/dev/null || true
  [ -n "$xvfb" ] && kill "$xvfb" 2>/dev/null || true
  if grep -q "Error in Fyne call thread" "$work/app.log" 2>/dev/null; then
    echo "screens-training: wrong-thread widget updates, see $work/app.log" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
Xvfb ":$disp" -screen 0 1400x1100x24 >/dev/null 2>&1 & xvfb=$!
sleep 2
"$repo/build/cmrseg" gui >"$work/app.log" 2>&1 & app=$!
win=$(xdotool search --sync --name "^cmrseg" | head -1)
# Wait until the window has drawn (a black screen has mean 0).
waitdrawn() { [ "$(import -window root -format '%[fx:int(mean*1000)]' info: 2>/dev/null || echo 0)" -gt 20 ]; }
for _ in $(seq 120); do waitdrawn && break; sleep 1; done
sleep 5
# Without a window manager GLFW takes clicks only once the window has focus.
xdotool windowfocus --sync "$win"

click() { # x y [seconds to wait after]
  xdotool mousemove "$1" "$2"; sleep 0.3; xdotool mousedown 1; sleep 0.15; xdotool mouseup 1; sleep "${3:-1}"
}
typein() { # x y text: replace an entry's text
  click "$1" "$2" 0.3; xdotool key ctrl+a; xdotool type --delay 30 "$3"; sleep 0.5
}
shot() { import -window root "$out/training-$1.png"; echo "$out/training-$1.png"; }
waitfor() { # seconds command...: poll until the command succeeds
  local n=$1; shift
  for _ in $(seq "$n"); do "$@" && return 0; sleep 1; done
  echo "screens-training: timed out waiting for: $*" >&2; return 1
}
iterations() { [ "$(cat "$runs"/*/events.jsonl 2>/dev/null | grep -c '"kind":"iteration"')" -ge "$1" ]; }
finished() { grep -q '"kind":"done"' "$runs"/*/events.jsonl 2>/dev/null && [ -f "$(ls -d "$runs"/*/ | head -1)evaluation.json" ]; }

click 96 43 3                                  # the Training tab
typein 204 145 "$work/acdc"                    # data set folder
click 551 146 40                               # Scan (reads 6 frames and labels)
click 46 396 2                                 # Preset …
click 55 492 3                                 # … Tiny (minutes): 4 epochs × 25 iterations
shot before
click 670 114 2                                # Train from scratch
waitfor 600 iterations 35
sleep 2
shot during
waitfor 900 finished
sleep 4
click 670 748 10                               # Use this model
shot after
