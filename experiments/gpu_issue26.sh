#!/usr/bin/env bash
# Issue 26 on one lent GPU (15 minutes of device time, one call): side by side on the one H200, two runs of
# scripts/gpu_session.sh (the product's train, then choose-d-scale and eval) and one lab probe:
#   A. CONFIG (default configs/synth64.yaml, the bundled model's recipe) from scratch at batch 256, with the GPU
#      benchmarks (item 5), into OUT/a;
#   B. the bundled model fine-tuned with CONFIG_B (default CONFIG) at batch 64 (train --init), into OUT/b: a CPU
#      session fine-tunes a few thousand steps at batch 8; does a GPU's tens of thousands turn the bands into glasses?
#      With GUIDE=FILE (a judge file from `train-judge --adversarial-eps 1`, carried with the tree), B is instead
#      CONFIG_B from scratch with that guide at weight GUIDE_WEIGHT (default 10), at A's batch: the twenty-second
#      session's SG, which from scratch on the CPU reached the bundled model's label numbers in 3 800 steps as blurs.
#   C. the supervised capacity probe from the bundled model (experiments/capacity_probe.py, into OUT/c): shown the
#      answers for tens of thousands of steps, does the reference path ever draw another face's glasses? (CPU
#      sessions reached 0.13 at 1 387 steps; docs/dev/issue26.md, nineteenth and twentieth sessions.)
# A and B each bring back trained.safetensors, model.safetensors (chosen d scales), small.tar and its session.log;
# C its log.jsonl (a reading every PROBE_EVAL_EVERY minutes), grid.png, model_config.json and probe.log (12 files).
#   experiments/gpu_issue26.sh OUT [MINUTES] [CONFIG] [CONFIG_B]   (after scripts/gpu_prepare.sh here; carry .gpu)
# PROBE_MINUTES, PROBE_EVAL_EVERY, PROBE_EVAL_N, PROBE_BATCH, PROBE_POOL and PROBE_DEVICE size C (a CPU smoke run).
set -uo pipefail
cd "$(dirname "$0")/.."
out=$1 minutes=${2:-4.5} config=${3:-configs/synth64.yaml}
config_b=${4:-$config}
mkdir -p "$out/a" "$out/b" "$out/c"
source scripts/gpu_env.sh  # installs .gpu/ once, here, before the three runs that need it start side by side
NO_STATE=1 LOADER_WORKERS=${LOADER_WORKERS:-8} scripts/gpu_session.sh "$config" "$out/a" "$minutes" "${BATCH:-256}" \
  > "$out/a/session.log" 2>&1 &
session=$!
"$py" experiments/capacity_probe.py --init bridgegan_batch/models/synth64.safetensors --device "${PROBE_DEVICE:-cuda}" \
  --edit-weight 4 --out "$out/c" --minutes "${PROBE_MINUTES:-$minutes}" --eval-every "${PROBE_EVAL_EVERY:-1}" \
  --eval-n "${PROBE_EVAL_N:-64}" --batch "${PROBE_BATCH:-64}" --pool "${PROBE_POOL:-600}" --workers 3 --threads 2 \
  > "$out/c/probe.log" 2>&1 &
probe=$!
if [ -n "${GUIDE:-}" ]; then  # B from scratch with the guide, at A's batch
  b_init="" b_set="train.guide=$GUIDE train.losses.attribute_guide=${GUIDE_WEIGHT:-10}" b_batch=${BATCH:-256}
else  # B fine-tunes the bundled model
  b_init=bridgegan_batch/models/synth64.safetensors b_set="" b_batch=${WARM_BATCH:-64}
fi
INIT=$b_init TRAIN_SET=$b_set NO_STATE=1 SKIP_BENCH=1 LOADER_WORKERS=${WARM_WORKERS:-5} \
  scripts/gpu_session.sh "$config_b" "$out/b" "$minutes" "$b_batch" > "$out/b/session.log" 2>&1
wait "$session" "$probe"
rm -f "$out/c/probe.pt"  # the weights stay on the device; the readings and the grid are the answer
tail -n 3 "$out/a/session.log" "$out/b/session.log" "$out/c/probe.log"
