"""Does the reference path carry the reference's style? Two references per source, against two true answers.

    python experiments/probe_reference_style.py [--model EXPORT] [--change Eyeglasses] [--n 60]

For SynthFaces counterfactual cases that add `--change`, each source is translated with its own reference
and with another case's reference (both have the attribute, in other styles). Printed as one JSON line,
means over the pixels the edit changes (L1 in [-1, 1] units):
- `outputs_differ`: between the two outputs, against `truths_differ`, between the truly rendered answers
  for the case's two references: a model that carries style moves its output about as much as the truth.
- the reference codes E(x_ref, d) of the two references: how far apart, against their size; and the label
  path's codes M(r, d) for two noises, the same measure of how much that path's input matters.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from bridgegan_batch.eval.counterfactual import make_cases
from bridgegan_batch.eval.distances import changed_pixels, masked_l1
from bridgegan_batch.model.pixels import to_tensor
from bridgegan_batch.model.translator import DEFAULT_MODEL, Translator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--change", default="Eyeglasses")
    parser.add_argument("--n", type=int, default=60, help="Cases before keeping additions whose references differ.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    translator = Translator.load(args.model, device="cpu")
    cases = make_cases([args.change], translator.attributes, n=args.n, size=translator.config.image_size)
    cases = cases.subset((cases.value == 1) & cases.style_differs)
    if len(cases) < 2:
        raise SystemExit(f"only {len(cases)} additions of {args.change} with distinct reference styles; raise --n")
    x, src, target = (to_tensor(cases.source), torch.from_numpy(cases.source_labels),
                      torch.from_numpy(cases.target_labels))
    # The second reference is the next case's: it has the attribute too, in its own style.
    ref = {"own": to_tensor(cases.reference), "other": to_tensor(np.roll(cases.reference, 1, axis=0))}
    ref_labels = {"own": torch.from_numpy(cases.reference_labels),
                  "other": torch.from_numpy(np.roll(cases.reference_labels, 1, axis=0))}
    out = {k: translator.reference(x, src, ref[k], ref_labels[k], target) for k in ref}  # [M, 3, H, W] each
    truth, rival = to_tensor(cases.reference_truth), to_tensor(cases.rival_truth)
    edit = changed_pixels(x, truth) | changed_pixels(x, rival)  # [M, 1, H, W]

    def edit_l1(a: torch.Tensor, b: torch.Tensor) -> float:
        return torch.nanmean(masked_l1(a, b, edit)).item()

    d = translator.scaled_d(src, target)  # [M, N]
    with torch.inference_mode():
        codes = {k: translator.model.reference_code(ref[k], d) for k in ref}  # [M, Cs, Hs, Ws] each
        gen = torch.Generator().manual_seed(args.seed)
        noises = [torch.randn(len(x), translator.config.noise_dim, generator=gen) for _ in range(2)]
        labels = [translator.model.label_code(r, d) for r in noises]
    print(json.dumps({
        "model": args.model, "change": args.change, "cases": len(cases),
        "outputs_differ": round(edit_l1(out["own"], out["other"]), 4),
        "truths_differ": round(edit_l1(truth, rival), 4),
        "output_to_own_truth": round(edit_l1(out["own"], truth), 4),
        "output_to_rival_truth": round(edit_l1(out["own"], rival), 4),
        "reference_codes_differ": round((codes["own"] - codes["other"]).abs().mean().item(), 4),
        "reference_code_size": round(codes["own"].abs().mean().item(), 4),
        "label_codes_differ": round((labels[0] - labels[1]).abs().mean().item(), 4),
        "label_code_size": round(labels[0].abs().mean().item(), 4),
    }))


if __name__ == "__main__":
    main()
