#!/usr/bin/env bash
# Measure H3R10 at seeds 0 and 1 (docs/dev/issue26.md, twenty-seventh session). Output: runs/m27/.
set -euo pipefail
root=$(pwd) py=$root/.venv/bin/python bgb=$root/.venv/bin/bridgegan-batch
shipped=$root/bridgegan_batch/models/synth64.safetensors out=$root/runs/m27
arms=(h3r10-s0 h3r10-s1)
mkdir -p "$out" /tmp/nojudge
for arm in "${arms[@]}"; do
  run=$(ls -d "$root"/runs/$arm/*/ | tail -1)
  mkdir -p "$out/$arm"
  (cd /tmp/nojudge && OMP_NUM_THREADS=1 "$bgb" choose-d-scale "$run/model.safetensors" --out "$out/$arm/scaled.safetensors" \
     --json "$out/$arm/d_scale.json" && OMP_NUM_THREADS=1 "$bgb" eval --model "$out/$arm/scaled.safetensors" \
     --attributes Eyeglasses,Smiling,Blond_Hair,Wearing_Hat,Male --n 128 --json "$out/$arm/eval.json") \
     > "$out/$arm/measure.log" 2>&1 &
done
wait; echo "$(date +%T) evaluated"
# Each seed paired against the shipped model over the same 256 faces, one process per seed.
for arm in "${arms[@]}"; do
  OMP_NUM_THREADS=1 "$py" experiments/eval_noise.py "$shipped" "$out/$arm/scaled.safetensors" \
    --n 256 --json "$out/$arm/noise.json" > "$out/$arm/noise.log" 2>&1 &
done
wait; echo "$(date +%T) noise"
for arm in "${arms[@]}"; do
  echo "== $arm against the shipped model"
  "$py" experiments/ship_rule.py ship "$out/$arm/noise.json" "$out/$arm/eval.json" "$out/$arm/scaled.safetensors" || true
  "$py" experiments/ship_rule.py versus "$out/$arm/noise.json"
done
for arm in "${arms[@]}"; do
  OMP_NUM_THREADS=1 "$py" scripts/make_demo_grid.py --model "$out/$arm/scaled.safetensors" \
    --attributes Eyeglasses,Wearing_Hat --rows 8 --out "$out/$arm/glasses-hats.png" > /dev/null 2>&1 &
done
wait; echo "$(date +%T) done"
