"""Eval JSONs side by side: adding each attribute, label fraction / reference reduction / style match (issue 26).

    python experiments/compare_evals.py NAME=EVAL.json [NAME=EVAL.json ...]

Unpaired: the numbers of each model on eval's fixed faces, for the attributes the first JSON has (every JSON must
have them). Paired errors come from eval_noise.py.
"""

from __future__ import annotations

import json
import sys


def cells(truth: dict, attributes: list[str]) -> dict[str, tuple[float, float, float]]:
    rows = {}
    for name in attributes:
        add = truth[name]["add"]
        rows[name] = (add["label"]["relative"], add["reference"]["reduction"], add["reference"]["style_match"])
    rows["mean"] = tuple(sum(row[k] for row in rows.values()) / len(attributes) for k in range(3))
    return rows


def main(arguments: list[str]) -> None:
    models, attributes = {}, []
    for argument in arguments:
        name, _, path = argument.partition("=")
        with open(path) as f:
            truth = json.load(f)["ground_truth"]["attributes"]
        attributes = attributes or list(truth)
        models[name] = cells(truth, attributes)
    print("attribute".ljust(12), *(name.rjust(20) for name in models))
    for row in (*attributes, "mean"):
        print(row.ljust(12), *(f"{m[row][0]:.3f}/{m[row][1]:+.3f}/{m[row][2]:.2f}".rjust(20) for m in models.values()))


if __name__ == "__main__":
    main(sys.argv[1:])
