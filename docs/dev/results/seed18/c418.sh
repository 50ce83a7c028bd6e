#!/usr/bin/env bash
# C4: the recipe as shipped with seed 2, from the shipped state: a second draw of training's spread (issue26.md, 18th).
cd /work/main
start=(--init runs/r5b-a/00000-synth64_finetune/state.pt)
[ "$1" = resume ] && start=(--resume)
echo "$(date +%T) starting c4 ${start[*]}"
OMP_NUM_THREADS=${THREADS:-2} .venv/bin/bridgegan-batch train configs/synth64_finetune.yaml --out runs/c418 --data synth \
  "${start[@]}" --minutes 240 --steps ${STEPS:-2500} --set train.loader_workers=0 --set train.seed=2 >> runs/c418.log 2>&1
echo "$(date +%T) c4 trained, rc $?"
