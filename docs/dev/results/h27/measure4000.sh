#!/usr/bin/env bash
# Measure H3R10 at step 4 000, both seeds (docs/dev/issue26.md, twenty-seventh session). Output: runs/m27/<arm>-4000/.
# Needs measure.sh's step-2 500 exports in runs/m27/<arm>/.
set -euo pipefail
root=$(pwd) py=$root/.venv/bin/python bgb=$root/.venv/bin/bridgegan-batch
shipped=$root/bridgegan_batch/models/synth64.safetensors out=$root/runs/m27
arms=(h3r10-s0 h3r10-s1)
mkdir -p /tmp/nojudge
for arm in "${arms[@]}"; do
  run=$(ls -d "$root"/runs/$arm/*/ | tail -1) dir=$out/$arm-4000
  mkdir -p "$dir"
  (cd /tmp/nojudge && OMP_NUM_THREADS=1 "$bgb" choose-d-scale "$run/model.safetensors" --out "$dir/scaled.safetensors" \
     --json "$dir/d_scale.json" && OMP_NUM_THREADS=1 "$bgb" eval --model "$dir/scaled.safetensors" \
     --attributes Eyeglasses,Smiling,Blond_Hair,Wearing_Hat,Male --n 128 --json "$dir/eval.json") \
     > "$dir/measure.log" 2>&1 &
done
wait; echo "$(date +%T) evaluated"
# Paired over the same 256 faces: each seed's step 4 000 against the shipped model, then against its own step 2 500.
for arm in "${arms[@]}"; do
  OMP_NUM_THREADS=1 "$py" experiments/eval_noise.py "$shipped" "$out/$arm-4000/scaled.safetensors" \
    --n 256 --json "$out/$arm-4000/noise.json" > "$out/$arm-4000/noise.log" 2>&1 &
done
wait
for arm in "${arms[@]}"; do
  OMP_NUM_THREADS=1 "$py" experiments/eval_noise.py "$out/$arm/scaled.safetensors" "$out/$arm-4000/scaled.safetensors" \
    --n 256 --json "$out/$arm-4000/noise_vs_2500.json" > "$out/$arm-4000/noise_vs_2500.log" 2>&1 &
done
wait; echo "$(date +%T) noise"
for arm in "${arms[@]}"; do
  echo "== $arm step 4 000 against the shipped model"
  "$py" experiments/ship_rule.py ship "$out/$arm-4000/noise.json" "$out/$arm-4000/eval.json" \
    "$out/$arm-4000/scaled.safetensors" || true
  "$py" experiments/ship_rule.py versus "$out/$arm-4000/noise.json"
  echo "== $arm step 4 000 against its step 2 500"
  "$py" experiments/ship_rule.py versus "$out/$arm-4000/noise_vs_2500.json"
done
for arm in "${arms[@]}"; do
  OMP_NUM_THREADS=1 "$py" scripts/make_demo_grid.py --model "$out/$arm-4000/scaled.safetensors" \
    --attributes Eyeglasses,Wearing_Hat --rows 8 --out "$out/$arm-4000/glasses-hats.png" > /dev/null 2>&1 &
done
wait; echo "$(date +%T) done"
