"""Learning curve of a training recipe (issue 26, 2b): the ground-truth score against training time.

Trains a config from scratch with the product's trainer in chunks of about `--every` minutes and, after
each, scores the run's export (the EMA) with the ground-truth measure on held-out faces (adding each goal
attribute, eval/ground_truth.py, the model's d scale). One JSON line per point in OUT/curve.jsonl.

    python experiments/learning_curve.py docs/dev/configs/synth64_lineage.yaml --out runs/curve-wgan --minutes 60
    python experiments/learning_curve.py docs/dev/configs/synth64_lineage.yaml --out runs/curve-ns --minutes 60 \
        --set train.adversarial=nonsaturating_r1
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from bridgegan_batch.config import RunConfig, load_yaml
from bridgegan_batch.eval.ground_truth import evaluate_ground_truth, truth_case_sets
from bridgegan_batch.model.translator import Translator
from bridgegan_batch.train.loop import EXPORT_FILE, latest_run_dir
from bridgegan_batch.train.run import train

GOAL = ("Eyeglasses", "Smiling", "Blond_Hair", "Wearing_Hat", "Male")


def point(run: Path, sets, train_seconds: float) -> dict:
    translator = Translator.load(run / EXPORT_FILE, device="cpu")
    result = evaluate_ground_truth(translator, sets)["attributes"]
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    row = {"step": stats[-1]["step"], "train_seconds": round(train_seconds)}
    for name, dirs in result.items():
        e = dirs["add"]
        row |= {f"{name}/label": round(e["label"]["relative"], 3), f"{name}/ref": round(e["reference"]["reduction"], 3),
                f"{name}/style": e["reference"]["style_match"], f"{name}/outside": round(e["label"]["outside_l1"], 4),
                f"{name}/detail": round(e["label"]["detail"], 3)}
    for key in ("label", "ref", "outside"):
        row[f"mean/{key}"] = round(sum(row[f"{n}/{key}"] for n in result) / len(result), 3)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE")
    parser.add_argument("--out", required=True)
    parser.add_argument("--minutes", type=float, default=60, help="training time, evaluation not counted")
    parser.add_argument("--every", type=float, default=10, help="minutes of training between points")
    parser.add_argument("--n", type=int, default=16, help="held-out faces per goal attribute")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--resume", action="store_true", help="continue the run and curve under --out")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    # A curve needs a constant schedule and few writes: the step count only bounds the run.
    overrides = ["train.steps=1000000", "train.checkpoint_every=1000000", "train.sample_every=1000000",
                 *args.overrides]
    config = load_yaml(args.config, RunConfig, tuple(overrides))
    out = Path(args.out)
    curve = out / "curve.jsonl"
    sets = truth_case_sets(GOAL, config.model.attributes, n=args.n, size=config.model.image_size, styles=8,
                           directions=["add"])
    done_seconds, resume = 0.0, args.resume
    if resume:
        last = json.loads(curve.read_text().splitlines()[-1])
        done_seconds = last["train_seconds"]
    while done_seconds < 60 * args.minutes:
        tick = time.time()
        # A first point after 20 steps, then one every --every minutes of the trainer's own clock (a chunk sized in
        # steps from the last chunk's speed misjudges a run whose steps change cost, as the autoencoder warm
        # start's do).
        first = not resume
        minutes = None if first else min(args.every, args.minutes - done_seconds / 60)
        run = train(config, data="synth", out=out, name=Path(args.config).stem, resume=resume, progress=False,
                    max_steps_this_call=20 if first else None, minutes=minutes)
        spent = time.time() - tick
        done_seconds += spent
        resume = True
        row = point(latest_run_dir(out), sets, done_seconds)
        with curve.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
    print(f"curve: {curve} ({run})")


if __name__ == "__main__":
    main()
