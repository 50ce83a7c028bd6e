#!/usr/bin/env bash
# Issue 26 on one lent GPU (15 minutes of device time, one call): side by side on the one H200,
#   A. scripts/gpu_session.sh CONFIG (default the raw-reconstruction candidate recipe) trained from scratch at
#      batch 256, then the GPU benchmarks, choose-d-scale and eval (item 5), into OUT/a;
#   B. the raw-reconstruction warm restart (docs/dev/issue26.md, "G's own image"): the bundled export continued
#      with train.losses.raw_reconstruction for MINUTES + 2 at batch 64, lr decayed to 0 at the end
#      (experiments/train_budget.py), into OUT/b: on a CPU it ran 175 steps; does a GPU's thousands turn the
#      bands and hazes into glasses and hats?
# A's resume state stays there (at most 8 files come back); B's comes back in parts, for a CPU to continue.
#   experiments/gpu_issue26.sh OUT [MINUTES] [CONFIG]     (after scripts/gpu_prepare.sh here; carry .gpu)
set -uo pipefail
cd "$(dirname "$0")/.."
out=$1 minutes=${2:-4.5} config=${3:-docs/dev/configs/synth64_raw_rec.yaml}
source scripts/gpu_env.sh
mkdir -p "$out/a" "$out/b"
device=cpu
"$py" -c 'import torch; raise SystemExit(not torch.cuda.is_available())' && device=cuda
NO_STATE=1 LOADER_WORKERS=${LOADER_WORKERS:-8} scripts/gpu_session.sh "$config" "$out/a" "$minutes" "${BATCH:-256}" \
  > "$out/a/session.log" 2>&1 &
session=$!

warm=$(mktemp -d) blog=$(mktemp -d)
"$py" experiments/fresh_discriminator.py bridgegan_batch/models/synth64.safetensors "$config" --out "$warm" \
  --keep-weights --d-steps 0 --batch-size "${WARM_BATCH:-64}" --device "$device" > "$blog/fresh.log" 2>&1
budget=$(awk "BEGIN { print ($minutes + 2) * 60 }")
"$py" experiments/train_budget.py "$config" --out "$warm" --seconds "$budget" --batch-size "${WARM_BATCH:-64}" \
  --device "$device" --probe-steps "${PROBE_STEPS:-200}" --every 500 --loader-workers "${WARM_WORKERS:-5}" > "$blog/train.log" 2>&1
echo "warm restart rc=$?" >> "$blog/train.log"
run=$(ls -d "$warm"/[0-9]*-* | tail -n 1)  # made by fresh_discriminator.py, continued by train_budget.py
cp "$run/model.safetensors" "$out/b/warm.safetensors"
split -b 15M "$run/state.pt" "$out/b/state.pt."
cp -r "$run/stats.jsonl" "$run/config.json" "$run/samples" "$blog/"
tar cf "$out/b/b.tar" -C "$blog" .

wait "$session"
tail -n 3 "$blog/train.log" "$out/a/session.log"
