#!/usr/bin/env bash
# One lent-GPU session, several demo-model experiments side by side on the one GPU (the synth64 step is
# launch-bound: one run keeps an H200 about a third busy). Each variant warm-starts the generator side
# of STATE with a fresh discriminator (experiments/fresh_discriminator.py), trains to a shared deadline
# (experiments/train_budget.py, lr decayed to 0), then gets a quick judge eval.
#   experiments/train_gpu_variants.sh STATE OUT_DIR SECONDS NAME:CONFIG:BATCH [NAME:CONFIG:BATCH ...]
# OUT_DIR receives each variant's export (NAME.safetensors), the state of the variant with the best
# goal score (mean over Eyeglasses, Blond_Hair and Smiling of min(add success, add preservation)) in
# 15 MB parts, and small.tar (logs, stats, sample grids, evals, nvidia-smi).
set -uo pipefail
cd "$(dirname "$0")/.."
state=$1 out=$2 seconds=$3
shift 3
py=${PYTHON:-python3}
began=$(date +%s)
work=$(mktemp -d) small=$(mktemp -d)
judge=${JUDGE:-runs/judge-synth64.safetensors}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$small/smi.csv" 2>&1
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -l 5 >> "$small/smi.csv" 2>&1 &
smi=$!

variant() {  # NAME CONFIG BATCH
  local name=$1 config=$2 batch=$3 log="$small/$1.log"
  PYTHONUNBUFFERED=1 "$py" experiments/fresh_discriminator.py "$state" "$config" --out "$work/$name" \
    --d-steps "${D_STEPS:-600}" --batch-size "$batch" > "$log" 2>&1 || { echo "fresh_discriminator failed" >> "$log"; return; }
  local left=$((seconds - ($(date +%s) - began) - ${EVAL_RESERVE:-70}))
  PYTHONUNBUFFERED=1 timeout $((left + 60)) "$py" experiments/train_budget.py "$config" --out "$work/$name" \
    --seconds "$left" --loader-workers "${LOADER_WORKERS:-3}" --probe-steps "${PROBE_STEPS:-150}" \
    --batch-size "$batch" >> "$log" 2>&1
  echo "train_budget rc=$?" >> "$log"
  local run=$(ls -d "$work/$name"/[0-9][0-9][0-9][0-9][0-9]-synth64 | tail -n 1)
  cp "$run/model.safetensors" "$out/$name.safetensors"
  cp "$run/stats.jsonl" "$small/$name.stats.jsonl"
  mkdir -p "$small/$name.samples" && cp "$run/samples/"*.png "$small/$name.samples/"
  "$py" -m bridgegan_batch.cli eval --model "$run/model.safetensors" --n "${EVAL_N:-200}" --changes '' \
    --judge "$judge" --json "$small/$name.eval.json" >> "$log" 2>&1 || echo "eval failed" >> "$log"
}

pids=()
for spec in "$@"; do
  IFS=: read -r name config batch <<< "$spec"
  variant "$name" "$config" "$batch" &
  pids+=($!)
done
wait "${pids[@]}"  # not a bare `wait`: that would wait for the nvidia-smi logger too, which never ends
kill "$smi"

best=$("$py" - "$small" "$@" <<'PY'
import json, sys
from pathlib import Path
small, names = Path(sys.argv[1]), [spec.split(":")[0] for spec in sys.argv[2:]]
def score(name):
    try:
        attrs = json.loads((small / f"{name}.eval.json").read_text())["attributes"]
    except (OSError, ValueError, KeyError):
        return -1.0
    return sum(min(attrs[a]["add"]["success"], attrs[a]["add"]["preservation"])
               for a in ("Eyeglasses", "Blond_Hair", "Smiling")) / 3
scores = {name: score(name) for name in names}
print(json.dumps(scores), file=sys.stderr)
print(max(names, key=lambda n: scores[n]))
PY
)
echo "best: $best" | tee "$small/best.txt"
run=$(ls -d "$work/$best"/[0-9][0-9][0-9][0-9][0-9]-synth64 | tail -n 1)
split -b 15M "$run/state.pt" "$out/$best.state.pt."
cp "$run/config.json" "$small/$best.config.json"
tar cf "$out/small.tar" -C "$small" .
tail -n 3 "$small"/*.log
