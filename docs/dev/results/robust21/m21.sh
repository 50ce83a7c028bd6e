#!/usr/bin/env bash
# Measure G (runs/g21) against C (runs/c21): d scales, eval, eval_noise paired, style probe, grids.
set -euo pipefail
cd /work/main
out=runs/m21; mkdir -p $out
nojudge=$(mktemp -d)
for arm in c21 g21; do
  run=$(realpath runs/$arm/00000-synth64_finetune); mkdir -p $out/$arm
  (cd "$nojudge" && OMP_NUM_THREADS=1 /work/main/.venv/bin/bridgegan-batch choose-d-scale "$run/model.safetensors" \
      --out /work/main/$out/$arm/scaled.safetensors --json /work/main/$out/$arm/d_scale.json \
   && OMP_NUM_THREADS=1 /work/main/.venv/bin/bridgegan-batch eval --model /work/main/$out/$arm/scaled.safetensors \
      --attributes Eyeglasses,Smiling,Blond_Hair,Wearing_Hat,Male --n 128 --json /work/main/$out/$arm/eval.json) \
    > $out/$arm/measure.log 2>&1 &
done
wait; echo "$(date +%T) evaluated"
OMP_NUM_THREADS=1 .venv/bin/python experiments/eval_noise.py $out/c21/scaled.safetensors $out/g21/scaled.safetensors \
  --n 256 --json $out/noise.json > $out/noise.log 2>&1 &
OMP_NUM_THREADS=1 .venv/bin/python experiments/style_probe.py $out/c21/scaled.safetensors $out/g21/scaled.safetensors \
  --n 48 --json $out/style.json > $out/style.log 2>&1 &
for arm in c21 g21; do
  OMP_NUM_THREADS=1 .venv/bin/python scripts/make_demo_grid.py --model $out/$arm/scaled.safetensors \
    --attributes Eyeglasses,Smiling,Male --out $out/$arm/grid.png > /dev/null 2>&1
done
wait
.venv/bin/python experiments/ship_rule.py versus $out/noise.json
echo "$(date +%T) done"
