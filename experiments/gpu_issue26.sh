#!/usr/bin/env bash
# Issue 26 on one lent GPU (15 minutes of device time, one call): side by side on the one H200, two runs of
# scripts/gpu_session.sh (the product's train, then choose-d-scale and eval):
#   A. CONFIG (default configs/synth64.yaml, the bundled model's recipe) from scratch at batch 256, with the GPU
#      benchmarks (item 5), into OUT/a;
#   B. the bundled model fine-tuned with CONFIG_B (default CONFIG) at batch 64 (train --init), into OUT/b: a CPU
#      session fine-tunes a few thousand steps at batch 8; does a GPU's tens of thousands turn the bands into glasses?
# Each brings back trained.safetensors, model.safetensors (chosen d scales), small.tar and its session.log (8 files).
#   experiments/gpu_issue26.sh OUT [MINUTES] [CONFIG] [CONFIG_B]   (after scripts/gpu_prepare.sh here; carry .gpu)
set -uo pipefail
cd "$(dirname "$0")/.."
out=$1 minutes=${2:-4.5} config=${3:-configs/synth64.yaml}
config_b=${4:-$config}
mkdir -p "$out/a" "$out/b"
NO_STATE=1 LOADER_WORKERS=${LOADER_WORKERS:-8} scripts/gpu_session.sh "$config" "$out/a" "$minutes" "${BATCH:-256}" \
  > "$out/a/session.log" 2>&1 &
session=$!
INIT=bridgegan_batch/models/synth64.safetensors NO_STATE=1 SKIP_BENCH=1 LOADER_WORKERS=${WARM_WORKERS:-5} \
  scripts/gpu_session.sh "$config_b" "$out/b" "$minutes" "${WARM_BATCH:-64}" > "$out/b/session.log" 2>&1
wait "$session"
tail -n 3 "$out/a/session.log" "$out/b/session.log"
