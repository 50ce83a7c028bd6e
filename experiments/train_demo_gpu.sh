#!/usr/bin/env bash
# One lent-GPU session for the demo model: finish the synth64 run inside a time budget, then
# benchmark training throughput, logging GPU utilisation throughout.
#   experiments/train_demo_gpu.sh RUNS_ROOT OUT_DIR [SECONDS]
# RUNS_ROOT holds the run to continue (00000-synth64 with state.pt); OUT_DIR receives the new
# state (split in 15 MB parts), export, stats, log, sample grids and benchmark tables.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$1 out=$2 seconds=${3:-450}
py=${PYTHON:-python3}
run=$(ls -d "$root"/[0-9][0-9][0-9][0-9][0-9]-synth64 | tail -n 1)
small=$(mktemp -d)

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$small/smi.csv"
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -l 5 >> "$small/smi.csv" &
smi=$!

PYTHONUNBUFFERED=1 timeout $((${seconds%.*} + 60)) "$py" experiments/train_budget.py docs/dev/configs/synth64_lineage.yaml \
  --out "$root" --seconds "$seconds" --loader-workers 4 --probe-steps "${PROBE_STEPS:-300}" --batch-size "${BATCH_SIZE:-32}" > "$out/train.log" 2>&1
echo "train_budget rc=$?" >> "$out/train.log"
kill "$smi"

[ -n "${SKIP_BENCH:-}" ] || timeout 45 "$py" scripts/bench_train.py --steps 10 --out "$small/bench_train.md" >> "$out/train.log" 2>&1
[ -n "${SKIP_BENCH:-}" ] || timeout 45 "$py" scripts/bench_train.py --steps 10 --batch synth64=64,celeba128=16 \
  --out "$small/bench_train_large_batch.md" >> "$out/train.log" 2>&1

split -b 15M "$run/state.pt" "$out/state.pt."
cp "$run/model.safetensors" "$run/stats.jsonl" "$out/"
cp -r "$run/samples" "$run/config.json" "$small/"
tar cf "$out/small.tar" -C "$small" .
tail -n 5 "$out/train.log"
