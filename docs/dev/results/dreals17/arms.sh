#!/usr/bin/env bash
# B: the shipped recipe with D's reals taken from the references; C3: the recipe as shipped, seed 1. Both from the
# shipped state; CS (runs/cs16) is the seed-0 control.
cd /work/main
arm=${1:-b}
extra=(--set train.d_reals=references)
[ "$arm" = c3 ] && extra=(--set train.seed=1)
start=(--init runs/r5b-a/00000-synth64_finetune/state.pt)
[ "$2" = resume ] && start=(--resume)
echo "$(date +%T) starting $arm ${start[*]}"
OMP_NUM_THREADS=1 .venv/bin/bridgegan-batch train configs/synth64_finetune.yaml --out runs/${arm}17 --data synth \
  "${start[@]}" --minutes 240 --steps ${STEPS:-2500} --set train.loader_workers=0 "${extra[@]}" >> runs/${arm}17.log 2>&1
echo "$(date +%T) $arm trained, rc $?"
