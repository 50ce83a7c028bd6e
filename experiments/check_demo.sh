#!/usr/bin/env bash
# Export the newest synth64 training run into the package as the demo model, then measure it:
# `eval` (success / preservation per attribute) and the glasses job judged on its output.
#   experiments/check_demo.sh [RUN_DIR] [JUDGE]
# Writes docs/results/eval_synth64.json, docs/results/glasses_aug_judge.json and their tables
# (docs/results/*.md); regenerate the judge first if it is missing:
#   bridgegan-batch train-judge --out runs/judge-synth64.safetensors
set -euo pipefail
cd "$(dirname "$0")/.."
bgb=${BGB:-.venv/bin/bridgegan-batch}
run=${1:-$(ls -d runs/[0-9][0-9][0-9][0-9][0-9]-synth64 | tail -n 1)}
judge=${2:-runs/judge-synth64.safetensors}
model=bridgegan_batch/models/synth64.safetensors
mkdir -p docs/results bridgegan_batch/models

"$bgb" export "$run" --out "$model"
ls -l "$model"
"$bgb" eval --model "$model" --judge "$judge" --n 500 --json docs/results/eval_synth64.json \
  | tee docs/results/eval_synth64.md

rm -rf out/glasses_aug
start=$(date +%s)
"$bgb" run jobs/glasses_aug.yaml --no-progress
echo "glasses job: $(( $(date +%s) - start )) s (demo input already rendered: $( [ -d data/synthfaces-demo ] && echo yes ))"
"$bgb" judge out/glasses_aug --judge "$judge" --attribute Eyeglasses --attribute Smiling --attribute Male \
  --json docs/results/glasses_aug_judge.json | tee docs/results/glasses_aug_judge.md
