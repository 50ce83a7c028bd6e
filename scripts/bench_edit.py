"""The cost of `edit: residual` against `direct`: translations per second of each path, in one run.

    python scripts/bench_edit.py [--model FILE] [--batch 64] [--repeats 5] [--threads 1,2] [--out docs/bench_edit.md]

Workload: the translator alone on decoded tensors already in memory (no I/O), adding Eyeglasses to
64 px SynthFaces, on this machine's CPU. Each (threads, path) pair alternates the two modes
repeat by repeat, so drift in the machine's speed hits both; the figure is the median rate and
the ratio residual / direct.
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
from bridgegan_batch.model.translator import DEFAULT_MODEL, Translator  # noqa: E402
from bridgegan_batch.train.data import load_arrays, to_tensor  # noqa: E402

PATHS = ("label", "reference", "interpolate")


def translate(t: Translator, path: str, x: torch.Tensor, src: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    target = t.targets(src, {"Eyeglasses": 1})
    seeds = range(len(x))
    if path == "label":
        return t.label(x, src, target, seeds)
    if path == "reference":
        return t.reference(x, src, ref, target, target)
    return t.interpolate(x, src, ref, target, target, seeds, alpha=0.5)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    translators = {mode: Translator.load(args.model, device="cpu", edit=mode) for mode in EDIT_MODES}
    names = list(translators["direct"].attributes)
    images, labels = load_arrays("synth", n=2 * args.batch, size=translators["direct"].config.image_size,
                                 attributes=names, seed=31_337)
    x, ref = to_tensor(images[: args.batch]), to_tensor(images[args.batch :])  # [B, 3, H, W] each
    src = torch.from_numpy(labels[: args.batch]).float()
    rows = []
    for threads in [int(n) for n in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for path in PATHS:
            rates: dict[str, list[float]] = {mode: [] for mode in EDIT_MODES}
            for mode in EDIT_MODES:  # warm-up: first calls allocate and pick kernels
                translate(translators[mode], path, x, src, ref)
            for _ in range(args.repeats):
                for mode in EDIT_MODES:
                    start = time.perf_counter()
                    translate(translators[mode], path, x, src, ref)
                    rates[mode].append(args.batch / (time.perf_counter() - start))
            direct, residual = statistics.median(rates["direct"]), statistics.median(rates["residual"])
            rows.append(f"| {threads} | {path} | {direct:.1f} | {residual:.1f} | {residual / direct:.2f} |")
    text = "\n".join([
        "# Cost of the residual edit", "",
        f"Machine: {describe()}, torch {torch.__version__}.", "",
        f"Model: `{Path(args.model).name}`; batch {args.batch}; median of {args.repeats} timed batches per cell, "
        "the two modes alternating; the translator alone, no I/O.", "",
        "| torch threads | path | direct (img/s) | residual (img/s) | residual / direct |",
        "|---|---|---|---|---|", *rows, ""])
    emit(text, args.out)
    return text


if __name__ == "__main__":
    main()
