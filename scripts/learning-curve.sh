#!/usr/bin/env bash
# The learning curve of the bundled model's cyclical training (issue 16):
# validation Dice and ECE of each cycle's last checkpoint alone, and of each
# stage's 9-checkpoint ensemble, over all stages, and the figure of it
# (docs/figures/learning-curve.png, by scripts/learningcurve). Stages 1–3 are
# the bundles committed at each stage (git history of assets/model), the later
# ones the runs named (default: those of assets/train-acdc-cpu-4-control.toml,
# -5.toml, -6.toml and -7-control.toml to -10-control.toml).
#
#   scripts/learning-curve.sh OUT_DIR [CMRSEG] [RUN ...]
set -euo pipefail
out=${1:?output folder}; bin=${2:-build/cmrseg}
shift $(($# < 2 ? $# : 2))
runs=("$@")
[ ${#runs[@]} -gt 0 ] || runs=(/var/tmp/cmrseg-runs/acdc-cpu-4-control /var/tmp/cmrseg-runs/acdc-cpu-5 /var/tmp/cmrseg-runs/acdc-cpu-6 /var/tmp/cmrseg-runs/acdc-cpu-7-control /var/tmp/cmrseg-runs/acdc-cpu-8-control /var/tmp/cmrseg-runs/acdc-cpu-9-control /var/tmp/cmrseg-runs/acdc-cpu-10-control)
mkdir -p "$out"
stages=()
for c in f706b6a fbcff42 9c980ca; do # the commits of stages 1, 2, 3
  d=$out/stage-$c
  [ -f "$d/assets/model/model.toml" ] || { mkdir -p "$d"; git archive "$c" assets/model | tar -x -C "$d"; }
  stages+=("$d/assets/model")
done
for r in "${runs[@]}"; do stages+=("$r/bundle"); done
models=()
for i in "${!stages[@]}"; do
  s=${stages[$i]}
  for e in 15 31 47; do # each cycle's last epoch
    b=$out/s$((i + 1))-epoch$e
    [ -f "$b/model.toml" ] || "$bin" baseline single --epoch "$e" --from "$s" --out "$b" > /dev/null
    models+=("$b")
  done
  models+=("$s")
done
"$bin" evaluate --data ../shared/data/acdc/training --cases "$(grep -o 'patient[0-9]*' <<< "$(grep val_cases "${stages[0]}/model.toml")" | paste -sd,)" \
  --model "$(IFS=,; echo "${models[*]}")" --json "$out/learning-curve.json" | tee "$out/learning-curve.txt"
go run ./scripts/learningcurve "$out/learning-curve.json" "$out/learning-curve.png"
