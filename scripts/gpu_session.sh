#!/usr/bin/env bash
# One lent-GPU session (docs/dev/issue26.md, "On a lent GPU"): the product's own commands, timed, on the GPU machine.
#   1. train CONFIG from scratch (or, with INIT=EXPORT, fine-tune that export: train --init) for MINUTES at BATCH
#      (a batch that fills the GPU), checkpointing as it goes;
#   2. the benchmarks on the GPU: scripts/bench_train.py at BATCH and 4 x BATCH (model FLOPs utilisation),
#      scripts/bench_pipeline.py with the engine's actors sharing the GPU;
#   3. choose-d-scale on the result (ground truth on validation faces), then eval --json (ground truth).
#      Last, since a CPU can redo them from the export if the call runs out of time.
# Everything comes back under OUT in at most 8 files of at most 16 MB: the trained export (trained.safetensors),
# the export with the chosen d scales (model.safetensors), the resume state in parts, and small.tar (logs,
# stats, config, eval and d-scale JSON, benchmarks, nvidia-smi samples), re-packed after every step.
#   scripts/gpu_session.sh CONFIG OUT [MINUTES] [BATCH]      (after scripts/gpu_prepare.sh here)
# LOADER_WORKERS (default 12) render SynthFaces for the trainer; SKIP_BENCH=1 leaves out step 2 (a smoke run
# on a CPU); NO_STATE=1 leaves the resume state behind; CHOOSE_N and EVAL_N size step 3's validation and
# test sets (default 32 and 64). TRAIN_SET="KEY=VALUE ..." passes more settings to train (--set each).
set -uo pipefail
cd "$(dirname "$0")/.."
config=$1 out=$2 minutes=${3:-9} batch=${4:-512}
source scripts/gpu_env.sh
bgb=("$py" -m bridgegan_batch.cli)
small=$(mktemp -d) runs=$(mktemp -d)
mkdir -p "$out"
pack() { tar cf "$out/small.tar" -C "$small" .; }  # after every step: a call cut short still returns what was done

smi=""
if command -v nvidia-smi > /dev/null; then  # utilisation through the training, every 5 s
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$small/smi.csv"
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -l 5 >> "$small/smi.csv" &
  smi=$!
fi
start=$SECONDS
train_args=()
[ -z "${INIT:-}" ] || train_args=(--init "$INIT" --set train.latent_warmup_steps=0)  # a trained model needs no warm-up
for setting in ${TRAIN_SET:-}; do train_args+=(--set "$setting"); done
timeout $((${minutes%.*} * 60 + 150)) "${bgb[@]}" train "$config" --out "$runs" --minutes "$minutes" "${train_args[@]}" \
  --set "train.batch_size=$batch" --set train.checkpoint_every=500 --set train.sample_every=500 \
  --set "train.loader_workers=${LOADER_WORKERS:-12}" > "$small/train.log" 2>&1
echo "train rc=$? after $((SECONDS - start)) s" >> "$small/train.log"
[ -z "$smi" ] || kill "$smi"
run=$(ls -d "$runs"/[0-9]*-* | tail -n 1)
cp -r "$run/stats.jsonl" "$run/config.json" "$run/samples" "$small/"
[ ! -f "$run/init.json" ] || cp "$run/init.json" "$small/"  # which export a fine-tune began from
cp "$run/model.safetensors" "$out/trained.safetensors"
[ -n "${NO_STATE:-}" ] || split -b 15M "$run/state.pt" "$out/state.pt."
pack

if [ -z "${SKIP_BENCH:-}" ]; then
  timeout 90 "$py" scripts/bench_train.py --configs synth64 --steps 5 --batch "synth64=$batch" \
    --out "$small/bench_train.md" > "$small/bench.log" 2>&1
  timeout 90 "$py" scripts/bench_train.py --configs synth64 --steps 5 --batch "synth64=$((batch * 4))" \
    --out "$small/bench_train_4x.md" >> "$small/bench.log" 2>&1
  timeout 180 "$py" scripts/bench_pipeline.py --samples 3000 --rss 3000 \
    --gpus-per-actor 0.25 --cpus-per-actor 2 --out "$small/bench_pipeline.md" >> "$small/bench.log" 2>&1
  echo "benchmarks done at $((SECONDS - start)) s" >> "$small/bench.log"
  pack
fi
timeout 300 "${bgb[@]}" choose-d-scale "$out/trained.safetensors" --out "$out/model.safetensors" --n "${CHOOSE_N:-32}" \
  --json "$small/d_scale_choice.json" > "$small/choose_d_scale.log" 2>&1
echo "choose-d-scale rc=$? at $((SECONDS - start)) s" >> "$small/choose_d_scale.log"
timeout 300 "${bgb[@]}" eval --model "$out/model.safetensors" --n "${EVAL_N:-64}" --json "$small/eval.json" \
  > "$small/eval.log" 2>&1
echo "eval rc=$? at $((SECONDS - start)) s" >> "$small/eval.log"
pack

tail -n 3 "$small/train.log" "$small/eval.log"
