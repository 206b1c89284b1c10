#!/usr/bin/env bash
# Evaluates a finished `cmrseg train` run the way the README's model section
# reports it: derives the baselines from the same run, scores all of them on
# the run's validation patients (Dice, ECE, failure AUROC; calibrates the QC
# threshold into each bundle), scores them on the Sunnybrook contours, and
# times the bundle on one ED+ES pair.
#
#   scripts/evaluate-bundle.sh RUN_DIR OUT_DIR [CMRSEG]
set -euo pipefail
run=${1:?run folder}; out=${2:?output folder}; bin=${3:-build/cmrseg}
data=${DATA:-../shared/data}
mkdir -p "$out"
for kind in single swa single-modal; do
  [ -f "$out/$kind/model.toml" ] || "$bin" baseline "$kind" --from "$run" --out "$out/$kind"
done
"$bin" evaluate --split-from "$run" --model "$run" --json "$out/evaluate.json" --png-dir "$out/reliability" \
  --calibrate-temperature --calibrate-qc --calibrate-postprocessing | tee "$out/evaluate.txt"
"$bin" evaluate --split-from "$run" --model "$out/single,$out/swa,$out/single-modal" \
  --json "$out/evaluate-baselines.json" --png-dir "$out/reliability" --calibrate-qc --calibrate-postprocessing | tee "$out/evaluate-baselines.txt"
"$bin" evaluate-contours --model "$run,$out/single,$out/swa" \
  --dicom "$data/sunnybrook/SCD0000101" --contours "$data/sunnybrook/contours/SC-HF-I-1" \
  --json "$out/sunnybrook.json" | tee "$out/sunnybrook.txt"
# One ED+ES pair (ACDC patient 001: two frames), the bundle's default settings.
rm -rf "$out/timing"
/usr/bin/time -v "$bin" segment --model "$run/bundle" --out "$out/timing" "$data/acdc/training/patient001" \
  2> "$out/timing.txt" | tee -a "$out/timing.txt"
grep -E 'Elapsed|Maximum resident' "$out/timing.txt"
