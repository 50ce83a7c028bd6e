"""The cost of `edit: residual` against `direct`: translations per second of each path, in one run.

    python scripts/bench_edit.py [--model FILE] [--batch 64] [--repeats 5] [--threads 1,2] [--out docs/bench_edit.md]

Workload: the translator alone on faces already in memory (no I/O; `eval.suite.translate`), the
counterfactual suite's Eyeglasses cases (64 px SynthFaces, the attribute added or removed), on
this machine's CPU. Each (threads, path) pair alternates the two modes repeat by repeat, so drift
in the machine's speed hits both; the figure is the median rate and the ratio residual / direct.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe, emit  # noqa: E402

from bridgegan_batch.config import EDIT_MODES  # noqa: E402
from bridgegan_batch.eval.counterfactual import make_cases  # noqa: E402
from bridgegan_batch.eval.suite import translate  # noqa: E402
from bridgegan_batch.model.translator import DEFAULT_MODEL, Translator  # noqa: E402

PATHS = ("label", "reference", "interpolate")


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    translators = {mode: Translator.load(args.model, device="cpu", edit=mode) for mode in EDIT_MODES}
    model = translators["direct"]
    cases = make_cases(["Eyeglasses"], model.attributes, n=args.batch, size=model.config.image_size)
    rows = []
    for threads in [int(n) for n in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for path in PATHS:
            rates: dict[str, list[float]] = {mode: [] for mode in EDIT_MODES}
            for mode in EDIT_MODES:  # warm-up: first calls allocate and pick kernels
                translate(translators[mode], cases, path, batch_size=args.batch)
            for _ in range(args.repeats):
                for mode in EDIT_MODES:
                    start = time.perf_counter()
                    translate(translators[mode], cases, path, batch_size=args.batch)
                    rates[mode].append(args.batch / (time.perf_counter() - start))
            direct, residual = statistics.median(rates["direct"]), statistics.median(rates["residual"])
            rows.append(f"| {threads} | {path} | {direct:.1f} | {residual:.1f} | {residual / direct:.2f} |")
    text = "\n".join([
        "# Cost of the residual edit", "",
        f"Machine: {describe()}, torch {torch.__version__}.", "",
        f"Model: `{Path(args.model).name}`; batch {args.batch}; median of {args.repeats} timed batches per cell, "
        "the two modes alternating; the translator alone on the suite's Eyeglasses cases, no I/O.", "",
        "| torch threads | path | direct (img/s) | residual (img/s) | residual / direct |",
        "|---|---|---|---|---|", *rows, ""])
    emit(text, args.out)
    return text


if __name__ == "__main__":
    main()
