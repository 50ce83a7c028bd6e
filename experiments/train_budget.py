"""Finish the newest run inside a wall-clock budget: measure its speed, then end it with a linear lr decay.

    python experiments/train_budget.py docs/dev/configs/synth64_lineage.yaml --out runs --seconds 480 \
        [--decay-fraction 0.5]

Made for a lent GPU with a fixed time allowance: a run simply killed at the deadline stops mid-schedule,
at full learning rate. Here a short probe (constant lr) measures steps per second on this machine; the
total step count is then set so that the rest of the budget ends the run, lr decayed linearly to 0 over
the last `--decay-fraction` of the new steps, with its final checkpoint and export written. The chosen
numbers are printed as one JSON line and land in the run's config.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from bridgegan_batch.config import RunConfig, load_yaml, validate
from bridgegan_batch.model.checkpoint import load_state
from bridgegan_batch.train.loop import STATE_FILE, latest_run_dir
from bridgegan_batch.train.run import train


def with_train(config: RunConfig, **changes) -> RunConfig:
    return validate(RunConfig, {**config.model_dump(), "train": {**config.train.model_dump(), **changes}},
                    "train_budget")


def measured_steps_per_second(stats_path: Path, after_step: int, config: RunConfig) -> float:
    """Median speed of the logged intervals past `after_step` (the probe's first interval holds its warm-up)."""
    records = [json.loads(line) for line in stats_path.read_text().splitlines()]
    rates = [r["img_per_s"] for r in records if r["step"] > after_step]
    if not rates:
        raise SystemExit(f"{stats_path}: no logged steps past {after_step}; lengthen --probe-steps")
    images_per_step = config.train.batch_size * config.train.d_steps_per_g_step
    return statistics.median(rates) / images_per_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--out", default="runs")
    parser.add_argument("--data", default="synth")
    parser.add_argument("--seconds", type=float, required=True, help="Wall-clock budget, this script's start to end.")
    parser.add_argument("--decay-fraction", type=float, default=0.5)
    parser.add_argument("--probe-steps", type=int, default=300)
    parser.add_argument("--reserve", type=float, default=30.0, help="Seconds kept for start-up and the final save.")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--loader-workers", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None,
                        help="A GPU runs a larger batch in about the same step time.")
    parser.add_argument("--every", type=int, default=1000, help="Sample-grid and checkpoint interval.")
    args = parser.parse_args()
    began = time.monotonic()

    config = load_yaml(args.config, RunConfig)
    changes = {"sample_every": args.every, "checkpoint_every": args.every, "decay_start": None}
    if args.loader_workers is not None:
        changes["loader_workers"] = args.loader_workers
    if args.batch_size is not None:
        changes["batch_size"] = args.batch_size
    config = with_train(config, **changes)
    run = latest_run_dir(Path(args.out))
    start = int(load_state(run / STATE_FILE)["step"])
    probe_end = start + args.probe_steps
    # The probe runs at constant lr: its steps count as the schedule's flat part.
    train(with_train(config, steps=max(config.train.steps, probe_end)), data=args.data, out=args.out, resume=True,
          device=args.device, progress=False, max_steps_this_call=args.probe_steps)
    per_second = measured_steps_per_second(run / "stats.jsonl", start + config.train.log_every, config)

    left = args.seconds - (time.monotonic() - began) - args.reserve
    new_steps = max(0, int(per_second * left * 0.92))  # sample grids and checkpoints cost a little
    end = probe_end + new_steps
    decay_start = end - int((end - start) * args.decay_fraction)
    plan = {"run": str(run), "start": start, "probe_end": probe_end, "steps_per_second": round(per_second, 2),
            "end": end, "decay_start": decay_start, "seconds_left": round(left, 1)}
    print(json.dumps(plan), flush=True)
    if new_steps:
        train(with_train(config, steps=end, decay_start=max(decay_start, probe_end)), data=args.data, out=args.out,
              resume=True, device=args.device, progress=False)
    print(json.dumps({**plan, "elapsed_s": round(time.monotonic() - began, 1)}), flush=True)


if __name__ == "__main__":
    main()
