"""Issue 26's A/B readings from eval_noise.py's JSON: the tenth session's ship lines 1-4, or an arm against its control.

    python experiments/ship_rule.py ship NOISE.json CANDIDATE_EVAL.json CANDIDATE   # NOISE's base: the shipped model
    python experiments/ship_rule.py versus NOISE.json                              # every model against NOISE's base

`ship` prints each of the lines (docs/dev/issue26.md, tenth session): 1, the means (label and reference at least
+0.03, style no lower by two paired errors); 2, every attribute's column no lower by two paired errors unless at or
above 0.5; 3, outside the edit at most 0.04 on additions; 4, removals' mean label fraction at least 0.10, outside at
most 0.04. `versus` prints each model's per-attribute and mean differences to the base, with their paired errors.
"""

from __future__ import annotations

import argparse
import json


def ship(noise: dict, evaluation: dict, candidate: str) -> bool:
    attributes, columns = noise["attributes"], noise["columns"]
    model = noise["models"][candidate]
    verdicts = []

    def line(name: str, passed: bool, text: str) -> None:
        verdicts.append(passed)
        print(f"{'PASS' if passed else 'FAIL'} {name}: {text}")

    dm, sm = model["mean_minus_base"]["value"], model["mean_minus_base"]["se"]
    line("1 means", dm[0] >= 0.03 and dm[1] >= 0.03 and dm[2] >= -2 * sm[2],
         f"label {dm[0]:+.3f}±{sm[0]:.3f} (≥+0.03), ref {dm[1]:+.3f}±{sm[1]:.3f} (≥+0.03), "
         f"style {100 * dm[2]:+.1f}±{100 * sm[2]:.1f} pts (≥ -2 se)")
    for a in attributes:
        value, diff = model["per_attribute"][a]["value"], model["per_attribute_minus_base"][a]
        for k, column in enumerate(columns):
            above = k < 2 and value[k] >= 0.5
            passed = diff["value"][k] >= -2 * diff["se"][k] or above
            if not passed or diff["value"][k] < 0:
                line(f"2 {a} {column}", passed, f"{value[k]:.3f} ({diff['value'][k]:+.3f} ± {diff['se'][k]:.3f}"
                                                 f"{'; at/above 0.5' if above else ''})")
    truth = evaluation["ground_truth"]["attributes"]
    outside = max(max(truth[a]["add"][p]["outside_l1"] for p in ("label", "reference")) for a in attributes)
    line("3 outside (additions)", outside <= 0.04, f"max {outside:.3f}")
    removals = sum(truth[a]["remove"]["label"]["relative"] for a in attributes) / len(attributes)
    removal_outside = max(max(truth[a]["remove"][p]["outside_l1"] for p in ("label", "reference")) for a in attributes)
    line("4 removals", removals >= 0.10 and removal_outside <= 0.04,
         f"mean label fraction {removals:.3f} (≥0.10), outside max {removal_outside:.3f}")
    print("lines 1-4:", "all hold" if all(verdicts) else "FAIL")
    return all(verdicts)


def versus(noise: dict) -> None:
    base, *others = noise["models"]
    for name in others:
        model = noise["models"][name]
        print(f"{name} - {base}  ({' / '.join(noise['columns'])}, ± paired error)")
        rows = [(a, model["per_attribute_minus_base"][a]) for a in noise["attributes"]]
        for a, diff in [*rows, ("mean", model["mean_minus_base"])]:
            print(f"  {a:12s} " + "  ".join(f"{v:+.3f}±{s:.3f}" for v, s in zip(diff["value"], diff["se"],
                                                                              strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ship_parser = sub.add_parser("ship")
    ship_parser.add_argument("noise")
    ship_parser.add_argument("evaluation")
    ship_parser.add_argument("candidate")
    sub.add_parser("versus").add_argument("noise")
    args = parser.parse_args()
    with open(args.noise) as f:
        noise = json.load(f)
    if args.command == "ship":
        with open(args.evaluation) as f:
            ship(noise, json.load(f), args.candidate)
    else:
        versus(noise)


if __name__ == "__main__":
    main()
