#!/usr/bin/env bash
# issue 26, twenty-first session: G (robust guide at 10) or C (control), from the shipped export.
set -euo pipefail
cd /work/main
arm=$1
extra=()
if [ "$arm" = g ]; then extra=(--set train.guide=runs/guide-synth64.safetensors --set train.losses.attribute_guide=10); fi
OMP_NUM_THREADS=1 exec .venv/bin/bridgegan-batch train configs/synth64_finetune.yaml \
  --init bridgegan_batch/models/synth64.safetensors --out runs/${arm}21 --data synth --steps 2500 --minutes 100 \
  --set train.loader_workers=0 "${extra[@]}"
