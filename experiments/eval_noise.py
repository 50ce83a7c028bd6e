"""How much of an A/B's difference is the eval's face sample? Bootstrap standard errors of eval's headline (issue 26).

`bridgegan-batch eval` scores every model on one fixed set of SynthFaces sources. Resampling those faces (with
replacement, B times) gives the standard error of each model's numbers, and, resampling the same faces for two
models at once, the standard error of their difference: the noise an A/B rule's thresholds must clear. Training's own
randomness (another seed, another run) is not in it: that needs more runs than a CPU session has.

Adding each attribute, the eval's own cases and scores (eval/ground_truth.py): label fraction of a perfect model's
(ratio of the means), reference reduction, style match. The first model is the baseline of the paired differences.

    python experiments/eval_noise.py BASE.safetensors [MODEL ...] [--n 128] [--boot 2000] [--json OUT]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from bridgegan_batch.eval.distances import l1
from bridgegan_batch.eval.ground_truth import (
    _best,
    _per_style,
    _to_tensor5,
    best_style_reduction,
    make_truth_cases,
    reductions,
)
from bridgegan_batch.eval.suite import translate
from bridgegan_batch.model.pixels import to_tensor
from bridgegan_batch.model.translator import Translator

ATTRIBUTES = ("Eyeglasses", "Smiling", "Blond_Hair", "Wearing_Hat", "Male")


@torch.inference_mode()
def per_face(translator: Translator, cases) -> dict[str, np.ndarray]:
    """One row per source face: the label path's best-style reduction and a perfect model's, the reference path's
    reduction, and whether it is nearer its own reference's truth (NaN where the two truths render alike)."""
    x, styles = to_tensor(cases.source), _to_tensor5(cases.style_truths)
    label_out = translate(translator, cases, "label")
    ref_out = translate(translator, cases, "reference")
    truth, rival = to_tensor(cases.reference_truth), to_tensor(cases.rival_truth)
    differs = (truth != rival).flatten(1).any(dim=1)
    nearer = (l1(ref_out, truth) < l1(ref_out, rival)).float()
    return {"label": _best(_per_style(label_out, x, styles)).numpy(),
            "perfect": best_style_reduction(to_tensor(cases.unseen_truth), x, styles).numpy(),
            "reference": reductions(ref_out, x, truth).numpy(),
            "style": torch.where(differs, nearer, torch.nan).numpy()}


def headline(rows: dict[str, np.ndarray], pick: np.ndarray) -> np.ndarray:
    """(label fraction, reference reduction, style match) of the faces `pick` (indices, repeats allowed)."""
    return np.array([np.nanmean(rows["label"][pick]) / np.nanmean(rows["perfect"][pick]),
                     np.nanmean(rows["reference"][pick]),
                     np.nanmean(rows["style"][pick])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--n", type=int, default=128)
    parser.add_argument("--boot", type=int, default=2000)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    translators = [Translator.load(path, device="cpu") for path in args.models]
    attributes = translators[0].attributes
    rows = {}  # model -> attribute -> per-face arrays
    for name in ATTRIBUTES:
        cases = make_truth_cases(name, 1, attributes, n=args.n)  # eval's own sources and references
        for path, t in zip(args.models, translators, strict=True):
            rows.setdefault(path, {})[name] = per_face(t, cases)
        print("scored", name, flush=True)
    rng = np.random.default_rng(0)
    picks = [rng.integers(0, args.n, args.n) for _ in range(args.boot)]
    everyone = np.arange(args.n)
    # [model, draw, attribute, 3]; draw 0 is the faces as they are, then the resamples (the same for every model)
    draws = np.array([[[headline(rows[path][name], pick) for name in ATTRIBUTES] for pick in [everyone, *picks]]
                      for path in args.models])
    means = draws.mean(axis=2)  # [model, draw, 3]: the five additions' mean
    result = {"n": args.n, "boot": args.boot, "attributes": ATTRIBUTES, "columns": ["label", "reference", "style"],
              "models": {}}
    for i, path in enumerate(args.models):
        entry = {"per_attribute": {name: {"value": draws[i, 0, a].tolist(), "se": draws[i, 1:, a].std(0).tolist()}
                                   for a, name in enumerate(ATTRIBUTES)},
                 "mean": {"value": means[i, 0].tolist(), "se": means[i, 1:].std(0).tolist()}}
        if i:
            diff = means[i] - means[0]
            entry["mean_minus_base"] = {"value": diff[0].tolist(), "se": diff[1:].std(0).tolist()}
            per = draws[i] - draws[0]
            entry["per_attribute_minus_base"] = {name: {"value": per[0, a].tolist(), "se": per[1:, a].std(0).tolist()}
                                                 for a, name in enumerate(ATTRIBUTES)}
        result["models"][path] = entry
        print(path, json.dumps({k: v for k, v in entry.items() if k != "per_attribute"}), flush=True)
        for name, v in entry["per_attribute"].items():
            print("  ", name, np.round(v["value"], 3).tolist(), "se", np.round(v["se"], 3).tolist(), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
