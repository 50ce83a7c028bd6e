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


def noise(paths: list[str], attributes: tuple[str, ...] = ATTRIBUTES, n: int = 128, boot: int = 2000) -> dict:
    """Each model's headline per attribute and over the attributes, with bootstrap standard errors, and each later
    model's difference from the first with paired ones (the same resampled faces for both)."""
    translators = [Translator.load(path, device="cpu") for path in paths]
    rows = {}  # model -> attribute -> per-face arrays
    for name in attributes:
        cases = make_truth_cases(name, 1, translators[0].attributes, n=n)  # eval's own sources and references
        for path, t in zip(paths, translators, strict=True):
            rows.setdefault(path, {})[name] = per_face(t, cases)
        print("scored", name, flush=True)
    rng = np.random.default_rng(0)
    picks = [np.arange(n), *(rng.integers(0, n, n) for _ in range(boot))]  # the faces as they are, then resamples
    draws = np.array([[[headline(rows[path][name], pick) for name in attributes] for pick in picks]
                      for path in paths])  # [model, 1 + boot, attribute, 3]
    means = draws.mean(axis=2)  # [model, 1 + boot, 3]: over the attributes
    result = {"n": n, "boot": boot, "attributes": list(attributes), "columns": ["label", "reference", "style"],
              "models": {}}
    for i, path in enumerate(paths):
        entry = {"per_attribute": _summary(draws[i], attributes), "mean": _summary(means[i])}
        if i:
            entry["per_attribute_minus_base"] = _summary(draws[i] - draws[0], attributes)
            entry["mean_minus_base"] = _summary(means[i] - means[0])
        result["models"][path] = entry
    return result


def _summary(draws: np.ndarray, attributes: tuple[str, ...] | None = None) -> dict:
    """[1 + boot, (attribute,) 3] -> {value, se} (per attribute when named)"""
    if attributes is not None:
        return {name: _summary(draws[:, a]) for a, name in enumerate(attributes)}
    return {"value": draws[0].tolist(), "se": draws[1:].std(axis=0).tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--n", type=int, default=128)
    parser.add_argument("--boot", type=int, default=2000)
    parser.add_argument("--attributes", default=",".join(ATTRIBUTES))
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    result = noise(args.models, tuple(args.attributes.split(",")), args.n, args.boot)
    print(json.dumps(result["models"], indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
