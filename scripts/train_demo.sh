#!/usr/bin/env bash
# Train (or continue) the demo model, export it, and choose its d scales by ground truth into the package.
#   scripts/train_demo.sh [TOTAL_STEPS]
# Continues training/synth64/ (the committed resume state) when it exists, so a long CPU
# training can proceed in pieces across sessions; on a GPU machine the same command uses it.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-20000}
bgb=${BGB:-.venv/bin/bridgegan-batch}
resume=()
if [ -f training/synth64/state.pt ]; then
  mkdir -p runs/00000-synth64
  cp training/synth64/state.pt training/synth64/stats.jsonl runs/00000-synth64/
  resume=(--resume)
fi
"$bgb" train configs/synth64.yaml --data synth --out runs --steps "$steps" "${resume[@]}"
run=$(ls -d runs/[0-9][0-9][0-9][0-9][0-9]-synth64 | tail -n 1)
mkdir -p training/synth64 bridgegan_batch/models
cp "$run/state.pt" "$run/stats.jsonl" "$run/config.json" training/synth64/
"$bgb" export "$run" --out "$run/model.safetensors"
# The test-time d scales, per attribute and direction, chosen on validation SynthFaces (not eval's faces).
"$bgb" choose-d-scale "$run/model.safetensors" --out bridgegan_batch/models/synth64.safetensors
