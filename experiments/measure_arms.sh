#!/usr/bin/env bash
# Issue 26's measurement of training arms against a control, ground truth first (docs/dev/issue26.md).
#
#   experiments/measure_arms.sh OUT CONTROL ARM_RUN [ARM_RUN ...]
#
# CONTROL: the control's export after choose-d-scale; ARM_RUN: a run folder (its model.safetensors is the export).
# Each arm: choose-d-scale and eval --n 128 (no judge), side by side, into OUT/NAME/ (NAME: the run's root folder).
# Then eval_noise over 256 faces paired (shipped, control, arms) and (control, arms); ship_rule's readings; the style
# probe; D's heads and critic (head_recognition, head_probe); a demo grid of Eyeglasses and Male per arm.
set -euo pipefail
root=$(pwd)
out=$(realpath -m "$1") control=$(realpath "$2")
shift 2
py=${PYTHON:-$root/.venv/bin/python}
bgb=${BGB:-$root/.venv/bin/bridgegan-batch}
n_eval=${N_EVAL:-128} n_noise=${N_NOISE:-256} n_style=${N_STYLE:-48} n_head=${N_HEAD:-64}  # smaller for a dry run
shipped=$root/bridgegan_batch/models/synth64.safetensors
nojudge=$(mktemp -d)  # eval looks for a judge in the working folder; an empty one has none
trap 'rm -rf "$nojudge"' EXIT
mkdir -p "$out"
names=() scaled=() exports=()
for run in "$@"; do
  run=$(realpath "$run")
  name=$(basename "$(dirname "$run")")
  names+=("$name") scaled+=("$out/$name/scaled.safetensors") exports+=("$run/model.safetensors")
  mkdir -p "$out/$name"
  (cd "$nojudge" && OMP_NUM_THREADS=1 "$bgb" choose-d-scale "$run/model.safetensors" \
      --out "$out/$name/scaled.safetensors" --json "$out/$name/d_scale.json" \
   && OMP_NUM_THREADS=1 "$bgb" eval --model "$out/$name/scaled.safetensors" \
      --attributes Eyeglasses,Smiling,Blond_Hair,Wearing_Hat,Male --n "$n_eval" --json "$out/$name/eval.json") \
    > "$out/$name/measure.log" 2>&1 &
done
wait
echo "$(date +%T) evaluated ${names[*]}"
OMP_NUM_THREADS=1 "$py" experiments/eval_noise.py "$shipped" "$control" "${scaled[@]}" --n "$n_noise" --json "$out/noise.json" \
  > "$out/noise.log" 2>&1 &
OMP_NUM_THREADS=1 "$py" experiments/eval_noise.py "$control" "${scaled[@]}" --n "$n_noise" --json "$out/noise_vs_control.json" \
  > "$out/noise_vs_control.log" 2>&1 &
wait
"$py" experiments/ship_rule.py versus "$out/noise_vs_control.json"
for i in "${!names[@]}"; do
  echo "== ${names[$i]} against the shipped model"
  "$py" experiments/ship_rule.py ship "$out/noise.json" "$out/${names[$i]}/eval.json" "${scaled[$i]}"
done
OMP_NUM_THREADS=2 "$py" experiments/style_probe.py "$shipped" "$control" "${scaled[@]}" --n "$n_style" --json "$out/style.json" \
  > "$out/style.log" 2>&1
OMP_NUM_THREADS=2 "$py" experiments/head_recognition.py "$shipped" "${exports[@]}" > "$out/head_recognition.log" 2>&1
OMP_NUM_THREADS=2 "$py" experiments/head_probe.py "$shipped" "${exports[@]}" --n "$n_head" --json "$out/head_probe.json" \
  > "$out/head_probe.log" 2>&1
cat "$out/head_recognition.log" "$out/head_probe.log"
for i in "${!names[@]}"; do
  OMP_NUM_THREADS=1 "$py" scripts/make_demo_grid.py --model "${scaled[$i]}" --attributes Eyeglasses,Male \
    --out "$out/${names[$i]}/grid.png" > /dev/null 2>&1 &
done
wait
echo "$(date +%T) done: $out"
