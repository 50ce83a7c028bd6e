#!/usr/bin/env bash
# Measure H3 and H3R (docs/dev/issue26.md, twenty-sixth session). Output: runs/m26/.
set -euo pipefail
root=$(pwd) py=$root/.venv/bin/python bgb=$root/.venv/bin/bridgegan-batch
shipped=$root/bridgegan_batch/models/synth64.safetensors out=$root/runs/m26
mkdir -p "$out" /tmp/nojudge
for arm in h3 h3r; do
  run=$(ls -d "$root"/runs/$arm/*/ | tail -1)
  mkdir -p "$out/$arm"
  (cd /tmp/nojudge && OMP_NUM_THREADS=1 "$bgb" choose-d-scale "$run/model.safetensors" --out "$out/$arm/scaled.safetensors" \
     --json "$out/$arm/d_scale.json" && OMP_NUM_THREADS=1 "$bgb" eval --model "$out/$arm/scaled.safetensors" \
     --attributes Eyeglasses,Smiling,Blond_Hair,Wearing_Hat,Male --n 128 --json "$out/$arm/eval.json") \
     > "$out/$arm/measure.log" 2>&1 &
done
wait; echo "$(date +%T) evaluated"
OMP_NUM_THREADS=1 "$py" experiments/eval_noise.py "$shipped" "$out/h3/scaled.safetensors" "$out/h3r/scaled.safetensors" \
  --n 256 --json "$out/noise.json" > "$out/noise.log" 2>&1 &
OMP_NUM_THREADS=1 "$py" experiments/eval_noise.py "$out/h3/scaled.safetensors" "$out/h3r/scaled.safetensors" \
  --n 256 --json "$out/noise_h3r_vs_h3.json" > "$out/noise_h3r_vs_h3.log" 2>&1 &
wait; echo "$(date +%T) noise"
for arm in h3 h3r; do
  echo "== $arm against the shipped model"
  "$py" experiments/ship_rule.py ship "$out/noise.json" "$out/$arm/eval.json" "$out/$arm/scaled.safetensors" || true
done
echo "== H3R against H3"; "$py" experiments/ship_rule.py versus "$out/noise_h3r_vs_h3.json"
for arm in h3 h3r; do
  OMP_NUM_THREADS=1 "$py" scripts/make_demo_grid.py --model "$out/$arm/scaled.safetensors" \
    --attributes Eyeglasses,Wearing_Hat --rows 8 --out "$out/$arm/glasses-hats.png" > /dev/null 2>&1 &
done
wait; echo "$(date +%T) done"
