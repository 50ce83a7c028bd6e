"""How the test-time scale of d trades success against preservation, per translation path.

    python experiments/sweep_d_scale.py [--model EXPORT] [--attribute Eyeglasses] [--scales 1 1.5 2 2.5 3]
                                    [--n 200] [--out docs/results/d_scale_sweep.md]

The authors scale d by 1.5 at test time; a job sets it with `model.d_scale`. On the counterfactual
suite's held-out sources that lack the attribute, this adds it by the label path (S_rand), the
reference path (S_ref, a reference that has it) and their midpoint (alpha 0.5), at each scale, and
scores every output with the judge: success (it sees the attribute) and preservation (it sees every
other attribute as on the source), as `bridgegan-batch eval` does. It also reports the model's own
attribute head, for the gap between the two. One JSON line per (scale, path), then a table.

Last, at the authors' scale, it asks whether a reference-path failure follows the source or the
reference: each source is translated again with another case's reference (rolled by one).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from bridgegan_batch.eval.counterfactual import make_cases
from bridgegan_batch.eval.judge import Judge
from bridgegan_batch.eval.suite import translate
from bridgegan_batch.eval.translation import judged_change
from bridgegan_batch.model.pixels import to_tensor
from bridgegan_batch.model.translator import AUTHORS_D_SCALE, DEFAULT_MODEL, Translator

PATHS = ("label", "reference", "interpolate")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--judge", default="runs/judge-synth64.safetensors")
    parser.add_argument("--attribute", default="Eyeglasses")
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 1.5, 2.0, 2.5, 3.0])
    parser.add_argument("--n", type=int, default=200, help="Counterfactual cases (those that add it are kept).")
    parser.add_argument("--out", default=None, help="Also write the table (markdown) here.")
    args = parser.parse_args()

    judge = Judge.load(args.judge)
    base = Translator.load(args.model, device="cpu", d_scale=AUTHORS_D_SCALE)
    names = [a for a in base.attributes if a in judge.config.attributes]
    columns = [judge.config.attributes.index(a) for a in names]
    cases = make_cases([args.attribute], base.attributes, n=args.n)
    cases = cases.subset(cases.value == 1)  # the sources that lack it
    k = base.attributes.index(args.attribute)
    seen_src = judge.predict(to_tensor(cases.source))[:, columns]  # [M, K]
    rows, seen_target = [], {}
    for scale in args.scales:
        translator = Translator.load(args.model, device="cpu", d_scale=scale)
        for path in PATHS:
            out = translate(translator, cases, path)  # interpolate: alpha 0.5
            hit, kept = judged_change(translator, names, seen_src, judge.predict(out)[:, columns], args.attribute, 1)
            own = (translator.predict_labels(out)[:, k] == 1).float().mean().item()
            row = {"d_scale": scale, "path": path, "n": len(cases), "success": round(hit.float().mean().item(), 3),
                   "preservation": round(kept.float().mean().item(), 3), "own_head_success": round(own, 3)}
            rows.append(row)
            seen_target[scale, path] = hit
            print(json.dumps(row), flush=True)
    # Does a failure follow the source? The same sources with other references, at the authors' scale.
    column = columns[names.index(args.attribute)]
    other = replace(cases, reference=np.roll(cases.reference, 1, axis=0),
                    reference_labels=np.roll(cases.reference_labels, 1, axis=0))
    first = seen_target.get((base.d_scale, "reference"))
    if first is None:  # the authors' scale was not among --scales
        first = judge.predict(translate(base, cases, "reference"))[:, column] == 1
    again = judge.predict(translate(base, other, "reference"))[:, column] == 1
    swap = {"d_scale": base.d_scale, "path": "reference, another reference",
            "success": round(again.float().mean().item(), 3),
            "fails_again_after_a_failure": round((~again[~first]).float().mean().item(), 3),
            "fails_after_a_success": round((~again[first]).float().mean().item(), 3)}
    print(json.dumps(swap), flush=True)
    table = [f"Adding {args.attribute} to {len(cases)} held-out SynthFaces sources, by the model "
             f"`{Path(args.model).name}`; success / preservation by the judge, then the model's own head's success.",
             "", "| d scale | " + " | ".join(PATHS) + " |", "|---|" + "---|" * len(PATHS)]
    for scale in args.scales:
        cells = [" / ".join(f"{100 * r[key]:.1f} %" for key in ("success", "preservation", "own_head_success"))
                 for r in rows if r["d_scale"] == scale]
        table.append(f"| {scale:g} | " + " | ".join(cells) + " |")
    table += ["", f"Reference path at d scale {swap['d_scale']:g}, each source again with another case's reference: "
              f"it fails again on {100 * swap['fails_again_after_a_failure']:.1f} % of the sources that failed, and on "
              f"{100 * swap['fails_after_a_success']:.1f} % of those that succeeded (were the reference to blame, "
              "the two would be close)."]
    text = "\n".join(table) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
