#!/usr/bin/env bash
# Issue 26's rate arms (docs/dev/issue26.md, twenty-fifth session): the shipped export continued 2 500 steps with
# glasses, hats and blond on three training faces in ten (h3), and the same with restoration's dose 15 (h3r) or 10
# (h3r10, twenty-seventh session).
#
#   [THREADS=1] [PRECISION=bfloat16] [SEED=0] experiments/rates_arms.sh h3|h3r|h3r10 [--resume] [train options ...]
#
# Writes runs/<arm>-s<SEED>/<numbered run>/. PRECISION=float32 on a CPU without bf16 instructions (train warns).
set -euo pipefail
arm=${1:?h3, h3r or h3r10}
seed=${SEED:-0}
shift
case $arm in
  h3) extra=() ;;
  h3r) extra=(--set train.losses.reference_restoration=15) ;;
  h3r10) extra=(--set train.losses.reference_restoration=10) ;;
  *) echo "unknown arm: $arm (h3, h3r or h3r10)" >&2; exit 2 ;;
esac
bgb=${BGB:-$(pwd)/.venv/bin/bridgegan-batch}
init=()
[[ " $* " == *" --resume "* ]] || init=(--init bridgegan_batch/models/synth64.safetensors)
OMP_NUM_THREADS=${THREADS:-1} exec "$bgb" train configs/synth64_finetune.yaml "${init[@]}" --steps 2500 \
  --data synth --out "runs/$arm-s$seed" --name "$arm" \
  --set train.loader_workers=0 --set "train.seed=$seed" --set "train.precision=${PRECISION:-bfloat16}" \
  --set train.synth.priors.Eyeglasses=0.3 --set train.synth.priors.Wearing_Hat=0.3 \
  --set train.synth.priors.Blond_Hair=0.3 "${extra[@]}" "$@"
