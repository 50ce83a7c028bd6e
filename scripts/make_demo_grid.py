"""The demo model's sample grid in docs/: `--rows` faces (four) per attribute added (glasses, blond hair), each row
source | label-driven (seed 0) | label-driven (seed 1) | reference | reference-driven | interpolated.

    python scripts/make_demo_grid.py [--model FILE] [--edit direct|residual] [--attributes A,B] [--rows N] [--out PNG]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from make_synthfaces_sheet import grid  # noqa: E402

from bridgegan_batch.config import EDIT_MODES  # noqa: E402
from bridgegan_batch.data.arrays import load_arrays
from bridgegan_batch.model.pixels import to_pixels, to_tensor
from bridgegan_batch.model.translator import DEFAULT_MODEL, Translator  # noqa: E402

HELD_OUT_SEED = 424_242  # a SynthFaces stream no training run reads


def block(t: Translator, images: np.ndarray, labels: np.ndarray, attribute: str, rows: int) -> list[list[np.ndarray]]:
    k = t.attributes.index(attribute)
    sources = np.flatnonzero(labels[:, k] == 0)[:rows]
    references = np.flatnonzero(labels[:, k] == 1)[:rows]
    x, src = to_tensor(images[sources]), torch.from_numpy(labels[sources])
    ref_x = to_tensor(images[references])
    target = t.targets(src, {attribute: 1})
    columns = [
        x,
        t.label(x, src, target, seeds=range(rows)),
        t.label(x, src, target, seeds=range(100, 100 + rows)),
        ref_x,
        t.reference(x, src, ref_x, None, target),
        t.interpolate(x, src, ref_x, None, target, seeds=range(rows), alpha=0.5),
    ]
    pixels = [to_pixels(c) for c in columns]  # each [R, H, W, 3]
    return [[p[r] for p in pixels] for r in range(len(sources))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--edit", choices=EDIT_MODES, default="direct")
    parser.add_argument("--attributes", default="Eyeglasses,Blond_Hair", help="comma-separated")
    parser.add_argument("--rows", type=int, default=4, help="faces per attribute")
    parser.add_argument("--out", default="docs/demo_grid.png")
    args = parser.parse_args()
    if args.rows < 1:
        parser.error(f"--rows must be at least 1, got {args.rows}")
    t = Translator.load(args.model, device="cpu", edit=args.edit)
    images, labels = load_arrays("synth", n=300, size=t.config.image_size, attributes=t.attributes,
                                 seed=HELD_OUT_SEED)
    rows = [row for attribute in args.attributes.split(",") for row in block(t, images, labels, attribute, args.rows)]
    image = grid(rows)
    image = image.resize((image.width * 2, image.height * 2), Image.Resampling.NEAREST)
    image.save(args.out, optimize=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
