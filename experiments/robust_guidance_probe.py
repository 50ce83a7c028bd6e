"""Does an adversarially trained attribute classifier's gradient point at the true edit (issue 26)?

The unpaired recipe's only pull toward an attribute is a classifier's gradient (D's attribute head), and the
model learnt the smudges that classifiers pass. A classifier trained to hold its answer within an L2 ball
(PGD, Madry et al. 2018) is known to have gradients that look like the class's features (Santurkar et al.
2019). This probe asks it of SynthFaces before any generator is trained on it: two classifiers of the judge's
shape, one trained plainly and one adversarially, each climbed in pixel space from unseen sources toward
adding one attribute (the other labels held), inside an L2 ball as large as the true edit's median size. The
climbed images are scored as the label path is (the nearest of 16 rendered styles, as a fraction of a
perfect model's), and shown.

    python experiments/robust_guidance_probe.py --out runs/rg21 [--n 20000 --epochs 3 --eps 1.0 --cases 32]

A guide that knows the band (the second probe): `--classifiers robust,band --negatives MODEL --climb-from MODEL`
trains a robust classifier that also sees MODEL's label-path translations as not having what they add, and climbs
from MODEL's translations instead of the sources.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from bridgegan_batch.config import JudgeConfig
from bridgegan_batch.data.arrays import SYNTH, load_arrays
from bridgegan_batch.data.attributes import SYNTH_ATTRIBUTES
from bridgegan_batch.eval.ground_truth import make_truth_cases, score_label
from bridgegan_batch.eval.judge import (
    Judge,
    accuracy,
    accuracy_under_attack,
    balanced_synth_config,
    train_judge,
    walk_in_l2_ball,
    worst_within,
)
from bridgegan_batch.model.pixels import to_pixels, to_tensor
from bridgegan_batch.model.translator import Translator

ADDITIONS = ("Eyeglasses", "Smiling", "Blond_Hair", "Wearing_Hat", "Male")
TRAIN_SEED, VAL_SEED = 31_3131, 32_3232  # streams no model, judge or eval reads


def climb(net: nn.Module, source: torch.Tensor, target: torch.Tensor, radius: torch.Tensor,
          steps: int = 60) -> torch.Tensor:
    """Normalised gradient descent on the loss toward `target` labels, from `source`, inside each sample's L2
    ball. [B, 3, H, W], [B, N], [B] -> [B, 3, H, W]"""
    return walk_in_l2_ball(net, source, target, radius, steps, sign=-1.0)


def band_negatives(model: str, x: np.ndarray, y: np.ndarray, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`model`'s label-path translations of the first `n` faces, each adding one of ADDITIONS it lacks, labelled with
    its source's labels: what the model draws for an attribute, as not having it. uint8 [M, H, W, 3], [M, N]"""
    translator = Translator.load(model, device="cpu")
    if translator.attributes != SYNTH_ATTRIBUTES:
        raise SystemExit(f"{model}: needs the SynthFaces attributes in their order, has {translator.attributes}")
    rng = np.random.default_rng(seed)
    chosen = {}
    for i in range(min(n, len(x))):
        lacks = [a for a in ADDITIONS if y[i, SYNTH_ATTRIBUTES.index(a)] == 0]
        if lacks:
            chosen.setdefault(lacks[rng.integers(len(lacks))], []).append(i)
    images, labels = [], []
    for name, rows in chosen.items():
        for start in range(0, len(rows), 250):
            idx = np.array(rows[start : start + 250])
            source = torch.from_numpy(y[idx])
            out = translator.label(to_tensor(x[idx]), source, translator.targets(source, {name: 1}),
                                   seeds=range(start, start + len(idx)))
            images.append(to_pixels(out))
            labels.append(y[idx])
    return np.concatenate(images), np.concatenate(labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="classifiers already there are loaded, not trained")
    parser.add_argument("--classifiers", default="plain,robust", help="of plain, robust, band (robust, trained also "
                        "on --negatives' translations as not having what they add)")
    parser.add_argument("--negatives", default=None, help="the model whose label path gives band's negatives")
    parser.add_argument("--n-negatives", type=int, default=6000)
    parser.add_argument("--climb-from", default=None, help="start the climbs from this model's label-path "
                        "translations of the cases (the ball around them), not from the sources")
    parser.add_argument("--tag", default="", help="suffix of the report and grids")
    parser.add_argument("--n", type=int, default=20000, help="training faces (balanced priors)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--eps", type=float, default=1.0, help="the robust classifier's L2 ball ([-1, 1] scale)")
    parser.add_argument("--pgd-steps", type=int, default=3)
    parser.add_argument("--cases", type=int, default=32, help="unseen sources per addition")
    parser.add_argument("--radii", default="0.5,1", help="ball sizes, as multiples of the true edit's median")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    attributes = SYNTH_ATTRIBUTES
    config = JudgeConfig(attributes=attributes)
    names = args.classifiers.split(",")
    classifiers, report = {}, {"args": {k: str(v) for k, v in vars(args).items()}}
    missing = [name for name in names if not (args.out / f"{name}.safetensors").exists()]
    if missing:
        x, y = load_arrays(SYNTH, n=args.n, size=64, attributes=attributes, seed=TRAIN_SEED,
                           synth=balanced_synth_config(), workers=args.workers)
        xv, yv = load_arrays(SYNTH, n=2000, size=64, attributes=attributes, seed=VAL_SEED, workers=args.workers)
    for name in names:
        path = args.out / f"{name}.safetensors"
        if path.exists():
            classifiers[name] = Judge.load(path)
            print(name, "loaded", path, flush=True)
            continue
        started = time.time()
        images, labels = x, y
        if name == "band":
            if not args.negatives:
                raise SystemExit("--classifiers band needs --negatives MODEL")
            bx, by = band_negatives(args.negatives, x, y, args.n_negatives)
            images, labels = np.concatenate([x, bx]), np.concatenate([y, by])
        perturb = None if name == "plain" else worst_within(args.eps, args.pgd_steps)
        judge = train_judge(config, images, labels, epochs=args.epochs, perturb=perturb, progress=False)
        judge.save(path)
        report[name] = {"minutes": (time.time() - started) / 60, "val_accuracy": accuracy(judge, xv, yv),
                        f"accuracy_under_pgd10_eps{args.eps}": accuracy_under_attack(judge, xv[:512], yv[:512],
                                                                                     args.eps)}
        classifiers[name] = judge
        print(name, json.dumps(report[name]), flush=True)
    start_model = Translator.load(args.climb_from, device="cpu") if args.climb_from else None
    radii = [float(r) for r in args.radii.split(",")]
    rows = []
    for addition in ADDITIONS:
        cases = make_truth_cases(addition, 1, attributes, n=args.cases, workers=args.workers)
        source, target = to_tensor(cases.source), torch.from_numpy(cases.target_labels)
        size = (to_tensor(cases.unseen_truth) - source).flatten(1).norm(dim=1).median()
        k = attributes.index(addition)
        start = source
        if start_model is not None:
            start = start_model.label(source, torch.from_numpy(cases.source_labels), target,
                                     seeds=range(len(source))).clone()  # out of inference mode
            rows.append({"addition": addition, "classifier": "start", **_scores(start, cases, classifiers, k)})
            print(json.dumps(rows[-1]), flush=True)
        for scale in radii:
            radius = torch.full((len(source),), float(size) * scale)
            for name, judge in classifiers.items():
                out = climb(judge.net, start, target, radius)
                rows.append({"addition": addition, "radius_scale": scale, "radius": float(radius[0]),
                             "classifier": name, **_scores(out, cases, classifiers, k)})
                print(json.dumps(rows[-1]), flush=True)
                if scale == radii[-1]:
                    _grid_row(addition, name, out[:8])
        _grid_row(addition, "source", source[:8])
        _grid_row(addition, "truth", to_tensor(cases.unseen_truth[:8]))
        if start_model is not None:
            _grid_row(addition, "start", start[:8])
    report["climbs"] = rows
    (args.out / f"report{args.tag}.json").write_text(json.dumps(report, indent=1))
    _save_grids(args.out, ["source", "truth", "start", *names], args.tag)


def _scores(out: torch.Tensor, cases, classifiers: dict, k: int) -> dict:
    """Ground truth as the label path is scored, and each classifier's P(attribute k)."""
    scores = score_label(out, cases)
    with torch.no_grad():
        probs = {f"p_{name}": torch.sigmoid(judge.net(out)[:, k]).mean().item() for name, judge in classifiers.items()}
    return {"relative": scores["relative"], "reduction": scores["reduction"], "outside_l1": scores["outside_l1"],
            "detail": scores["detail"], **probs}


_ROWS: dict[str, dict[str, np.ndarray]] = {}


def _grid_row(addition: str, name: str, images: torch.Tensor) -> None:
    _ROWS.setdefault(addition, {})[name] = np.concatenate(list(to_pixels(images)), axis=1)  # [H, 8W, 3]


def _save_grids(out: Path, order: list[str], tag: str = "") -> None:
    """One picture per addition: rows source, truth (a style no row was scored against), the climbs' start when it is
    not the source, then each classifier's climb."""
    for addition, rows in _ROWS.items():
        stack = [rows[k] for k in order if k in rows]
        Image.fromarray(np.concatenate(stack, axis=0)).resize((8 * 128, len(stack) * 128), Image.NEAREST).save(
            out / f"grid-{addition}{tag}.png")


if __name__ == "__main__":
    main()
