#!/usr/bin/env bash
# Finishes the model trained on all 100 ACDC patients the way nnU-Net's
# "decide on the split, ship the model trained on everything" asks: copies
# its twin's calibration (temperature, post-processing, QC threshold, all
# chosen by scripts/evaluate-bundle.sh on the twin's 20 held-out patients)
# into it, then scores both on the one data set neither trained on
# (Sunnybrook SCD0000101's expert contours) and times one ED+ES pair.
# Its own scores on the 20 are training-set scores, printed only as a
# check that nothing broke.
#
#   scripts/final-bundle.sh TWIN_RUN ALL_RUN OUT_DIR [CMRSEG]
set -euo pipefail
twin=${1:?twin run folder (80/20, calibrated)}; all=${2:?run folder trained on all patients}
out=${3:?output folder}; bin=${4:-build/cmrseg}
data=${DATA:-../shared/data}
mkdir -p "$out"
"$bin" calibrate-from --twin "$twin" --model "$all" | tee "$out/calibrate-from.txt"
"$bin" evaluate-contours --model "$all,$twin" \
  --dicom "$data/sunnybrook/SCD0000101" --contours "$data/sunnybrook/contours/SC-HF-I-1" \
  --json "$out/sunnybrook.json" | tee "$out/sunnybrook.txt"
# The twin's held-out cases, from its model.toml (a bundle keeps no split file).
manifest="$twin/model.toml"; [ -f "$manifest" ] || manifest="$twin/bundle/model.toml"
cases=$(python3 -c 'import sys, tomllib; print(",".join(tomllib.load(open(sys.argv[1], "rb"))["training"]["val_cases"]))' "$manifest")
"$bin" evaluate --cases "$cases" --data "$data/acdc/training" --model "$all" --json "$out/evaluate-training-set.json" | tee "$out/evaluate-training-set.txt"
rm -rf "$out/timing"
/usr/bin/time -v "$bin" segment --model "$all/bundle" --out "$out/timing" "$data/acdc/training/patient001" \
  2> "$out/timing.txt" | tee -a "$out/timing.txt"
grep -E 'Elapsed|Maximum resident' "$out/timing.txt"
