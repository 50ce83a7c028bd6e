"""Judge several job outputs with several judges, side by side: what the target attribute looks like, and
whether the other labels still hold, per operation.

    python scripts/judge_jobs.py OUTPUT [OUTPUT ...] --judge J [--judge J ...] --attribute Eyeglasses
        [--out docs/results/NAME.md]

Each OUTPUT is a `bridgegan-batch run` output directory; each judge a `train-judge` file. Several judges
trained alike (other seeds) show how much of a difference between outputs is the judge's own spread.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe, emit  # noqa: E402

from bridgegan_batch.eval.judge import Judge  # noqa: E402
from bridgegan_batch.eval.output import judge_output  # noqa: E402

OPS = ("label", "interpolate", "reference")
WATCHED = ("Smiling", "Male")  # the labels a glasses-balanced classifier set most needs kept


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def row(name: str, judge: str, result: dict, attribute: str) -> str:
    ops = [op for op in OPS if op in result["per_op"]]
    per_op = result["per_op"]
    seen = " / ".join(_pct(per_op[op][attribute]["judged"]) for op in ops)
    cells = [f"{_pct(result['overall'][attribute]['judged'])} % ({seen})"]
    for watched in WATCHED:
        cells.append(" / ".join(_pct(per_op[op][watched]["agreement"]) for op in ops) + " %")
    others = [[v["agreement"] for k, v in per_op[op].items() if k not in ("samples", attribute)] for op in ops]
    cells.append(" / ".join(_pct(sum(o) / len(o)) for o in others) + " %")
    return f"| {name} | {judge} | " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outputs", nargs="+")
    parser.add_argument("--judge", action="append", required=True)
    parser.add_argument("--attribute", default="Eyeglasses")
    parser.add_argument("--out", default=None, help="write the Markdown here (and the JSON beside it)")
    args = parser.parse_args(argv)
    for kind, names in (("outputs", [Path(o).name for o in args.outputs]),
                        ("judges", [Path(j).stem for j in args.judge])):
        if len(set(names)) < len(names):
            raise SystemExit(f"{kind} are told apart by file name; these repeat: {sorted(names)}")
    judges = {Path(path).stem: Judge.load(path) for path in args.judge}
    results = {Path(out).name: {name: judge_output(out, judge) for name, judge in judges.items()}
               for out in args.outputs}
    lines = [f"| output | judge | {args.attribute} judged (label / interpolate / reference) | "
             + " | ".join(f"{w} agreement" for w in WATCHED) + " | the other attributes, mean agreement |",
             "|---|---|---|" + "---|" * (len(WATCHED) + 1)]
    lines += [row(out, name, result, args.attribute) for out, by_judge in results.items()
              for name, result in by_judge.items()]
    emit("\n".join(lines + ["", f"Judged on: {describe()}."]) + "\n", args.out)
    if args.out:
        Path(args.out).with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    return results


if __name__ == "__main__":
    main()
