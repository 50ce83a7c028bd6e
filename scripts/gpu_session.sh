#!/usr/bin/env bash
# One lent-GPU session (docs/dev/issue26.md, "On a lent GPU"): the product's own commands, timed, on the GPU machine.
#   1. train CONFIG from scratch for MINUTES at BATCH (a batch that fills the GPU), checkpointing as it goes;
#   2. choose-d-scale on the result (ground truth on validation faces), then eval --json (ground truth);
#   3. scripts/bench_pipeline.py on the GPU.
# Everything comes back under OUT in at most 8 files of at most 16 MB: the export, the resume state in
# parts, and small.tar (logs, stats, config, eval and d-scale JSON, benchmark, nvidia-smi samples).
#   scripts/gpu_session.sh CONFIG OUT [MINUTES] [BATCH]      (after scripts/gpu_prepare.sh here)
# SKIP_BENCH=1 leaves out step 3 (a smoke run on a CPU).
set -uo pipefail
cd "$(dirname "$0")/.."
config=$1 out=$2 minutes=${3:-9} batch=${4:-512}
py=${PYTHON:-python3}
site=$(mktemp -d)
if [ -d .gpu ]; then
  "$py" -m pip install --quiet --no-deps --no-index --target "$site" .gpu/wheels/*.whl
  tar xJf .gpu/ray-slim.tar.xz -C "$site"
fi
export PYTHONPATH="$PWD:$site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
bgb=("$py" -m bridgegan_batch.cli)
small=$(mktemp -d) runs=$(mktemp -d)
mkdir -p "$out"

smi=""
if command -v nvidia-smi > /dev/null; then  # utilisation through the training, every 5 s
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$small/smi.csv"
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -l 5 >> "$small/smi.csv" &
  smi=$!
fi
"${bgb[@]}" train "$config" --out "$runs" --minutes "$minutes" --set "train.batch_size=$batch" \
  --set train.checkpoint_every=500 --set train.sample_every=500 --set train.loader_workers=12 \
  > "$small/train.log" 2>&1
echo "train rc=$?" >> "$small/train.log"
[ -z "$smi" ] || kill "$smi"
run=$(ls -d "$runs"/[0-9]*-* | tail -n 1)
"${bgb[@]}" choose-d-scale "$run/model.safetensors" --out "$out/model.safetensors" \
  --json "$small/d_scale_choice.json" > "$small/choose_d_scale.log" 2>&1
"${bgb[@]}" eval --model "$out/model.safetensors" --json "$small/eval.json" > "$small/eval.log" 2>&1
[ -n "${SKIP_BENCH:-}" ] || timeout 240 "$py" scripts/bench_pipeline.py --model "$out/model.safetensors" --out "$small/bench_pipeline.md" \
  > "$small/bench.log" 2>&1
cp -r "$run/stats.jsonl" "$run/config.json" "$run/samples" "$small/"
split -b 15M "$run/state.pt" "$out/state.pt."
tar cf "$out/small.tar" -C "$small" .
tail -n 3 "$small/train.log" "$small/eval.log"
