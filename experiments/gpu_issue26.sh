#!/usr/bin/env bash
# Issue 26 on one lent GPU (15 minutes of device time, one call): side by side on the one H200,
#   - scripts/gpu_session.sh: the product recipe (configs/synth64.yaml) trained from scratch at batch 256,
#     then the GPU benchmarks, choose-d-scale and eval (item 5);
#   - two capacity probes (experiments/capacity_probe.py): the bundled E, M and G fine-tuned toward the true
#     counterfactuals with the edit region weighted and a conditional patch discriminator at weights 0.1
#     and 0.5: given a GPU's steps, do they draw sharp glasses, or smears as in 20 CPU-minutes?
#   experiments/gpu_issue26.sh OUT [MINUTES]     (after scripts/gpu_prepare.sh here; carry .gpu)
set -uo pipefail
cd "$(dirname "$0")/.."
out=$1 minutes=${2:-4}
source scripts/gpu_env.sh
mkdir -p "$out"
probes=$(mktemp -d)
device=cpu
"$py" -c 'import torch; raise SystemExit(not torch.cuda.is_available())' && device=cuda
LOADER_WORKERS=${LOADER_WORKERS:-8} scripts/gpu_session.sh configs/synth64.yaml "$out" "$minutes" "${BATCH:-256}" \
  > "$probes/session.log" 2>&1 &
session=$!
pids=()
for weight in 0.1 0.5; do
  timeout $((${minutes%.*} * 60 + 120)) "$py" experiments/capacity_probe.py --init bridgegan_batch/models/synth64.safetensors \
    --out "$probes/adv$weight" --minutes "$(awk "BEGIN { print $minutes - 0.5 }")" --eval-every 2 --edit-weight 4 \
    --adversarial "$weight" --batch "${PROBE_BATCH:-64}" --pool "${PROBE_POOL:-400}" --workers 3 --device "$device" \
    > "$probes/adv$weight.log" 2>&1 &
  pids+=($!)
done
wait "${pids[@]}"
tar cf "$out/probes.tar" -C "$probes" .  # now, in case the call is cut short; again with session.log
wait "$session"
tar cf "$out/probes.tar" -C "$probes" .
tail -n 2 "$probes"/*.log
