#!/usr/bin/env bash
# Train the demo model, or fine-tune the bundled one, then choose its d scales by ground truth into the package.
#   scripts/train_demo.sh [TOTAL_STEPS] [-- TRAIN_ARGS...]              configs/synth64.yaml from scratch
#   scripts/train_demo.sh --continue MINUTES [CONFIG] [-- TRAIN_ARGS...]  the bundled model, fine-tuned for MINUTES
#                                                                       (CONFIG: configs/synth64_finetune.yaml)
# TRAIN_ARGS go to `bridgegan-batch train` (e.g. --set train.precision=bfloat16). Every step is a product command:
# train (--init for a fine-tune), then choose-d-scale writes bridgegan_batch/models/synth64.safetensors.
set -euo pipefail
cd "$(dirname "$0")/.."
bgb=${BGB:-.venv/bin/bridgegan-batch}
model=bridgegan_batch/models/synth64.safetensors
out=${OUT:-runs/demo}
if [ "${1:-}" = "--continue" ]; then
  minutes=${2:?--continue needs MINUTES}
  shift 2
  config=configs/synth64_finetune.yaml
  if [ $# -gt 0 ] && [ "$1" != "--" ]; then config=$1; shift; fi
  # A copy: choose-d-scale overwrites the bundled file at the end, and init.json should name what stays put.
  mkdir -p "$out"
  cp "$model" "$out/init.safetensors"
  train=("$config" --init "$out/init.safetensors" --minutes "$minutes" --steps 1000000)
else
  steps=${1:-20000}
  shift $(( $# > 0 ? 1 : 0 ))
  train=(configs/synth64.yaml --steps "$steps")
fi
[ "${1:-}" = "--" ] && shift
"$bgb" train "${train[@]}" --data synth --out "$out" "$@"
run=$(ls -d "$out"/[0-9][0-9][0-9][0-9][0-9]-* | tail -n 1)
# The test-time d scales, per attribute and direction, chosen on validation SynthFaces (not eval's faces).
"$bgb" choose-d-scale "$run/model.safetensors" --out "$model" --json "$run/d_scale.json"
echo "wrote $model from $run"
