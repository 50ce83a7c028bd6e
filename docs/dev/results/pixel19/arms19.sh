#!/usr/bin/env bash
# Issue 26, nineteenth session: the recipe as shipped forked from the export (new optimisers), with (px) or without
# (c) E's pixel branch, side by side on one thread each. runs/ is not kept: this script is how to redo it.
#   docs/dev/results/pixel19/arms19.sh px|c [resume]
cd "$(dirname "$0")/../../../.."
arm=$1 set=()
[ "$arm" = px ] && set=(--set model.encoder_pixel_branch=true)
start=(--init bridgegan_batch/models/synth64.safetensors)
[ "${2:-}" = resume ] && start=(--resume)
echo "$(date +%T) starting $arm ${start[*]}"
OMP_NUM_THREADS=${THREADS:-1} .venv/bin/bridgegan-batch train configs/synth64_finetune.yaml --out "runs/${arm}19" \
  --data synth "${start[@]}" --minutes 240 --steps "${STEPS:-2500}" --set train.loader_workers=0 "${set[@]}" \
  >> "runs/${arm}19.log" 2>&1
echo "$(date +%T) $arm trained, rc $?"
