"""SynthFaces rendering speed on one core, at 64 and 128 px, with and without PNG encoding.

    python scripts/bench_synthfaces.py [--n 2000] [--out docs/bench_synthfaces.md]

Pins itself to one core so the figure is per core. Goal: >= 300 images/s at 64 px (render only).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe, emit  # noqa: E402

from bridgegan_batch.data.images import encode_image  # noqa: E402
from bridgegan_batch.data.synthfaces import render, sample_record  # noqa: E402

GOAL_64 = 300.0


def rate(n: int, size: int, encode: bool) -> float:
    records = [sample_record(1, i) for i in range(n)]
    for record in records[:50]:  # warm up
        render(record, size)
    start = time.perf_counter()
    for record in records:
        pixels = render(record, size)
        if encode:
            encode_image(pixels, "png")
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--out", default=None, help="also write the table as Markdown here")
    args = parser.parse_args()
    machine = describe()  # before pinning, so it reports the machine's cores
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    rows = [(size, encode, rate(args.n, size, encode)) for size in (64, 128) for encode in (False, True)]
    lines = [
        "# SynthFaces rendering speed (one core)",
        "",
        f"Machine: {machine}. Pinned to one core; {args.n} faces per row; "
        "`python scripts/bench_synthfaces.py`.",
        "",
        "| size | work | images/s |",
        "|---|---|---|",
        *[f"| {s} px | {'render + PNG encode' if e else 'render'} | {r:,.0f} |" for s, e, r in rows],
        "",
    ]
    r64 = rows[0][2]
    verdict = "met" if r64 >= GOAL_64 else "NOT met"
    lines.append(f"Goal: >= {GOAL_64:.0f} images/s at 64 px (render): {r64:,.0f} — {verdict}.")
    emit("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
