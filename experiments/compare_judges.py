"""How well each judge sees through attribute-preserving degradations, side by side on the same faces.

    python experiments/compare_judges.py JUDGE [JUDGE ...] [--n 2000] [--out docs/dev/results/judge_robustness.md]

The faces are the judge's own held-out stream (SynthFaces seed 2000, the default priors), so the clean
column is its held-out accuracy. Each cell: the faces with every attribute right; then the attribute most
often wrong. Families marked * are never trained on.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "scripts"))  # scripts/machine.py
from machine import emit  # noqa: E402

from bridgegan_batch.data.arrays import load_arrays
from bridgegan_batch.eval.judge import HELD_OUT_SEED, Judge, robustness  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("judges", nargs="+")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--out", default=None, help="write the Markdown here (and the JSON beside it)")
    args = parser.parse_args(argv)
    judges = {path: Judge.load(path) for path in args.judges}
    config = next(iter(judges.values())).config
    if any((j.config.attributes, j.config.image_size) != (config.attributes, config.image_size)
           for j in judges.values()):
        raise SystemExit("the judges must judge the same attributes, in the same order, at the same size")
    images, labels = load_arrays("synth", n=args.n, size=config.image_size, attributes=config.attributes,
                                 seed=HELD_OUT_SEED)
    results = {path: robustness(judge, images, labels) for path, judge in judges.items()}
    variants = list(next(iter(results.values())))
    lines = [f"Every attribute right on {args.n} held-out SynthFaces, clean and degraded; then the attribute most "
             "often wrong. * marks the families a degraded-trained judge never trains on (a flip-only judge, "
             "`--degraded 0`, trains on none).", "",
             "| faces | " + " | ".join(f"`{Path(p).name}`" for p in judges) + " |",
             "|---|" + "---|" * len(judges)]
    for v in variants:
        mark = " *" if results[args.judges[0]][v]["held_out"] else ""
        cells = [f"{100 * r[v]['all_correct']:.2f} % ({r[v]['worst']} {100 * r[v]['worst_error']:.1f} %)"
                 for r in results.values()]
        lines.append(f"| {v}{mark} | " + " | ".join(cells) + " |")
    emit("\n".join(lines) + "\n", args.out)
    if args.out:
        Path(args.out).with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
