#!/usr/bin/env bash
# An honest ECE for a temperature fitted on the validation cases (issue 16):
# `cmrseg evaluate --calibrate-temperature` fits the ensemble's shared
# temperature on the very cases it then scores, so its ECE is optimistic.
# Here the validation cases are split in two halves (alternate case IDs: two
# of each ACDC group's four per half); a copy of the bundle is fitted on
# each half and scored on the other, and the per-volume ECEs of both held-out
# halves are averaged (evaluate's ECE is the mean over volumes). A copy at
# T = 1 is scored on the same halves beside them.
#
#   scripts/temperature-crossfit.sh BUNDLE OUT_DIR [CMRSEG]
set -euo pipefail
src=$(readlink -f "${1:?bundle}"); out=${2:?output folder}; bin=${3:-build/cmrseg}
mkdir -p "$out"
data=$(sed -n 's/^  data = "\(.*\)"/\1/p' "$src/model.toml")
mapfile -t val < <(grep val_cases "$src/model.toml" | grep -o 'patient[0-9]*')
a=(); b=()
for i in "${!val[@]}"; do if ((i % 2 == 0)); then a+=("${val[$i]}"); else b+=("${val[$i]}"); fi; done
A=$(IFS=,; echo "${a[*]}"); B=$(IFS=,; echo "${b[*]}")
for half in A B T1; do # copies of the bundle at T = 1: one to fit per half, one to stay untempered
  d=$out/fit$half; rm -rf "$d"; mkdir -p "$d"
  for f in "$src"/*.safetensors; do ln -s "$f" "$d/"; done
  sed 's/^  temperature = .*/  temperature = 1.0/; /^  temperature_calibration = /d' "$src/model.toml" > "$d/model.toml"
done
"$bin" evaluate --data "$data" --cases "$A" --model "$out/fitA" --calibrate-temperature > "$out/fitA.txt"
"$bin" evaluate --data "$data" --cases "$B" --model "$out/fitB" --calibrate-temperature > "$out/fitB.txt"
# Each fitted copy scored on the other half, with the untempered bundle beside it.
"$bin" evaluate --data "$data" --cases "$B" --model "$out/fitA,$out/fitT1" --json "$out/heldout-B.json" > "$out/heldout-B.txt"
"$bin" evaluate --data "$data" --cases "$A" --model "$out/fitB,$out/fitT1" --json "$out/heldout-A.json" > "$out/heldout-A.txt"
python3 - "$out" <<'PY'
import json, math, sys
out = sys.argv[1]
rows = {0: [], 1: []}  # method index 0: fitted on the other half; 1: untempered
temps = []  # heldout-A holds the copy fitted on B, and the reverse
for h in "AB":
    d = json.load(open(f"{out}/heldout-{h}.json"))
    temps.append(d["methods"][0].get("temperature", 1.0))
    for i, m in enumerate(d["methods"]):
        rows[i] += [v["ece_percent"] for v in m["volumes"] if v["ece_percent"] is not None]
mean = lambda xs: sum(xs) / len(xs)
print(f"temperatures fitted on half A / half B: {temps[1]:.4f} / {temps[0]:.4f}")
print(f"held-out ECE over {len(rows[0])} volumes: tempered {mean(rows[0]):.3f} %, untempered {mean(rows[1]):.3f} %")
PY
