"""The paper's ablation on SynthFaces: LEM only, REM only, and both paths with their links.

    python scripts/run_ablation.py train [--steps 1200] [--root runs/ablation]
    python scripts/run_ablation.py eval [--root runs/ablation] [--n 200] [--out docs/results]

`train` trains the three synth64 variants for the same steps and seed, side by side (one
single-thread process each, so they finish together), into ROOT/{label,reference,both}/.
`eval` scores each variant's export against the ground truth first (adding each goal attribute on
held-out SynthFaces: the label path's reduction as a fraction of a perfect model's, the reference
path's reduction, style match, change outside the edit; docs/EVAL.md), each on the path it has; then,
when the judge file exists, with the judged evaluation suite. Writes ablation.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from bridgegan_batch.config import RunConfig, load_yaml, validate

VARIANTS = {"label": "LEM only", "reference": "REM only", "both": "both, with closeness and cycle (full)"}


def variant_config(base: RunConfig, paths: str, steps: int) -> RunConfig:
    """synth64 shortened to `steps`: latent warm-up and lr decay scaled to the run, so each variant
    ends with its links at full weight and its lr decayed."""
    train = {**base.train.model_dump(), "paths": paths, "steps": steps, "latent_warmup_steps": steps // 4,
             "decay_start": steps // 2, "sample_every": max(steps // 4, 1), "checkpoint_every": max(steps // 4, 1),
             "loader_workers": 0}
    return validate(RunConfig, {**base.model_dump(), "train": train}, f"ablation {paths}")


def train_all(args: argparse.Namespace) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    procs = {paths: subprocess.Popen([sys.executable, __file__, "train-one", paths, "--steps", str(args.steps),
                                      "--root", args.root, "--config", args.config], env=env)
             for paths in VARIANTS}
    failed = [paths for paths, proc in procs.items() if proc.wait() != 0]
    if failed:
        raise SystemExit(f"ablation training failed for {failed}")


def train_one(args: argparse.Namespace) -> None:
    import torch

    from bridgegan_batch.train.run import train

    torch.set_num_threads(1)
    config = variant_config(load_yaml(args.config, RunConfig), args.paths, args.steps)
    resume = (Path(args.root) / args.paths).exists()
    train(config, data="synth", out=Path(args.root) / args.paths, name=f"ablation-{args.paths}", resume=resume,
          device="cpu", progress=False)


GOAL = ("Eyeglasses", "Smiling", "Blond_Hair", "Wearing_Hat", "Male")


def eval_all(args: argparse.Namespace) -> None:
    from bridgegan_batch.eval.ground_truth import evaluate_ground_truth, truth_case_sets
    from bridgegan_batch.eval.judge import Judge
    from bridgegan_batch.eval.suite import evaluate_model, markdown_ablation
    from bridgegan_batch.model.translator import Translator
    from bridgegan_batch.train.loop import EXPORT_FILE, latest_run_dir

    judge = Judge.load(args.judge) if Path(args.judge).exists() else None
    rows, sets = {}, None
    for paths, title in VARIANTS.items():
        run = latest_run_dir(Path(args.root) / paths)
        translator = Translator.load(run / EXPORT_FILE, device="cpu")
        kinds = ["label", "reference"] if paths == "both" else [paths]
        if sets is None:
            sets = truth_case_sets([a for a in GOAL if a in translator.attributes], translator.attributes,
                                   n=args.truth_n, size=translator.config.image_size, styles=args.styles,
                                   directions=["add"])
        truth = evaluate_ground_truth(translator, sets, kinds=kinds)
        steps = json.loads((run / "config.json").read_text())["train"]["steps"]
        rows[paths] = {"title": title, "run": str(run), "steps": steps, "ground_truth": truth}
        if judge is not None:
            rows[paths] |= evaluate_model(translator, judge, n=args.n, kinds=kinds)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ablation.json").write_text(json.dumps({"variants": rows}, indent=2) + "\n")
    table = truth_table(rows) + ("\n\nJudged (the evaluation suite):\n\n" + markdown_ablation(rows) if judge else "")
    (out / "ablation.md").write_text(table + "\n")
    print(table)


def truth_table(rows: dict) -> str:
    """One row per (variant, path): ground-truth means over the goal additions."""
    lines = ["| variant | path | label: fraction of a perfect model's | reference: reduction | style match | "
             "outside L1 |", "|---|---|---|---|---|---|"]
    for row in rows.values():
        added = [dirs["add"] for dirs in row["ground_truth"]["attributes"].values()]
        for kind in ("label", "reference"):
            if kind not in added[0]:
                continue
            scores = [e[kind] for e in added]
            mean = {key: sum(s[key] for s in scores) / len(scores) for key in ("reduction", "outside_l1")}
            label = f"{sum(s['relative'] for s in scores) / len(scores):.2f}" if kind == "label" else "—"
            reference = f"{mean['reduction']:.2f}" if kind == "reference" else "—"
            styles = [s["style_match"] for s in scores if s.get("style_match") is not None]
            style = f"{100 * sum(styles) / len(styles):.1f} %" if styles else "—"
            lines.append(f"| {row['title']} | {kind} | {label} | {reference} | {style} | {mean['outside_l1']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("train", "train-one", "eval"):
        p = sub.add_parser(name)
        if name == "train-one":
            p.add_argument("paths", choices=list(VARIANTS))
        p.add_argument("--root", default="runs/ablation")
        p.add_argument("--config", default="configs/synth64.yaml")
        p.add_argument("--steps", type=int, default=1200)
        p.add_argument("--judge", default="runs/judge-synth64.safetensors")
        p.add_argument("--n", type=int, default=200, help="judged suite cases per attribute")
        p.add_argument("--truth-n", type=int, default=64, help="ground-truth faces per goal attribute")
        p.add_argument("--styles", type=int, default=16)
        p.add_argument("--out", default="docs/results")
    args = parser.parse_args()
    {"train": train_all, "train-one": train_one, "eval": eval_all}[args.command](args)


if __name__ == "__main__":
    main()
