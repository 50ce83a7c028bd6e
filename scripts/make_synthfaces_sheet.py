"""The SynthFaces pictures in docs/: a contact sheet of 64 faces, and a counterfactual strip.

    python scripts/make_synthfaces_sheet.py [--out docs]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from bridgegan_batch.data.synthfaces import render, sample_record, with_attributes, with_styles_from


def grid(rows: list[list[np.ndarray]], gap: int = 2) -> Image.Image:
    """Tile equally sized [S, S, 3] images row by row, with white gaps."""
    s = rows[0][0].shape[0]
    n_cols = max(len(r) for r in rows)
    out = np.full((len(rows) * (s + gap) - gap, n_cols * (s + gap) - gap, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            out[i * (s + gap) : i * (s + gap) + s, j * (s + gap) : j * (s + gap) + s] = image
    return Image.fromarray(out)


def contact_sheet(seed: int = 0, size: int = 128) -> Image.Image:
    faces = [render(sample_record(seed, i), size) for i in range(64)]
    return grid([faces[r * 8 : (r + 1) * 8] for r in range(8)])


def counterfactual_strip(seed: int = 0, size: int = 128) -> Image.Image:
    """Rows: a face | +glasses | +the next face's glasses | blond | smile toggled | hat | older."""
    rows = []
    for i in range(4):
        face = with_attributes(sample_record(seed, 100 + i), {"Eyeglasses": 0, "Wearing_Hat": 0, "Young": 1})
        reference = sample_record(seed, 200 + i)
        glasses = with_attributes(face, {"Eyeglasses": 1})
        rows.append([render(r, size) for r in (
            face,
            glasses,
            with_styles_from(glasses, reference, ["Eyeglasses"]),
            with_attributes(face, {"Blond_Hair": 1}),
            with_attributes(face, {"Smiling": 1 - face.attributes["Smiling"]}),
            with_attributes(face, {"Wearing_Hat": 1}),
            with_attributes(face, {"Young": 0}),
        )])
    return grid(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, image in (("synthfaces.png", contact_sheet()),
                        ("synthfaces_counterfactuals.png", counterfactual_strip())):
        # 256 colours keep the docs images small (sensor noise makes full-colour PNGs large).
        image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            out / name, optimize=True)
    print(f"wrote {out / 'synthfaces.png'} and {out / 'synthfaces_counterfactuals.png'}")


if __name__ == "__main__":
    main()
