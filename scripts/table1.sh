#!/usr/bin/env bash
# Table 1 at equal budget (issue 16): trains every row of assets/table1/ from
# scratch with the same epochs per model, derives the baselines the paper
# compares, and scores all of them on the same validation patients.
# Resumable: rerun it after an interruption (kill -9 included); finished runs
# are kept, an unfinished one continues from its last complete epoch.
#
#   scripts/table1.sh OUT_DIR [CMRSEG]      (runs go to /var/tmp/cmrseg-runs/table1-*)
set -euo pipefail
out=${1:?output folder}; bin=${2:-build/cmrseg}
runs=/var/tmp/cmrseg-runs
mkdir -p "$out"
# Cyclical first: four rows come from it, so a partial table is already useful.
for row in cyclical poly-seed1 dropout poly-seed2 poly-seed3; do
  dir=$runs/table1-$row
  if [ -f "$dir/bundle/model.toml" ]; then continue; fi
  start=$(date +%s)
  if [ -f "$dir/state.bin" ]; then
    nice -n 19 "$bin" train --resume --run "$dir" --f16 --val-every 100
  else
    nice -n 19 "$bin" train --config "assets/table1/$row.toml" --f16 --val-every 100
  fi
  echo "$row $(( $(date +%s) - start ))" >> "$out/train-seconds.txt"
done
c=$runs/table1-cyclical; p1=$runs/table1-poly-seed1
[ -f "$out/single/model.toml" ] || "$bin" baseline single --from "$c" --out "$out/single"
[ -f "$out/swa/model.toml" ] || "$bin" baseline swa --from "$c" --out "$out/swa"
[ -f "$out/single-modal/model.toml" ] || "$bin" baseline single-modal --from "$c" --out "$out/single-modal"
[ -f "$out/temperature/model.toml" ] || "$bin" baseline temperature --from "$p1" --out "$out/temperature"
[ -f "$out/mc-dropout/model.toml" ] || "$bin" baseline mc-dropout --samples 9 --from "$runs/table1-dropout" --out "$out/mc-dropout"
[ -f "$out/deep-ensemble/model.toml" ] || "$bin" baseline deep-ensemble \
  --from "$p1,$runs/table1-poly-seed2,$runs/table1-poly-seed3" --out "$out/deep-ensemble"
"$bin" evaluate --split-from "$c" \
  --model "$p1,$out/temperature,$out/swa,$out/mc-dropout,$out/deep-ensemble,$out/single-modal,$c" \
  --json "$out/evaluate.json" --calibrate-qc --calibrate-postprocessing | tee "$out/evaluate.txt"
