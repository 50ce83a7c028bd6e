"""What G paints behind its keep mask (issue 26): for adding each attribute, G's own image, the mask and the blend.

    python experiments/own_image.py [--model EXPORT] [--out grid.png] [--n 32] [--attributes Eyeglasses,Wearing_Hat]

A keep-mask G returns m * x + (1 - m) * its own image, so every loss sees its image only where the mask opens.
Per attribute (label path, the model's d scale, held-out faces): rows source, G's own image, the mask (white:
kept), the output, the truth in the reference's style; and, on stdout, G's own image against the source
outside the edit region and against the truth inside it, the mask's mean in and out of the region, and the
same faces reconstructed (d = 0): how far G's own image is from the face it keeps.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from PIL import Image

from bridgegan_batch.eval.distances import changed_pixels, masked_l1
from bridgegan_batch.eval.ground_truth import make_truth_cases
from bridgegan_batch.model.networks import keep_blend
from bridgegan_batch.model.pixels import to_pixels, to_tensor
from bridgegan_batch.model.translator import DEFAULT_MODEL, Translator


def region_mean(values: torch.Tensor, where: torch.Tensor) -> float:
    """Mean of [B, 1, H, W] values over the True pixels of `where`."""
    return ((values * where).sum() / where.sum().clamp_min(1)).item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--out", default="own_image.png")
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--faces", type=int, default=8, help="columns of the grid")
    parser.add_argument("--attributes", default="Eyeglasses,Wearing_Hat")
    args = parser.parse_args()
    torch.set_num_threads(1)
    translator = Translator.load(args.model, device="cpu")
    g, config = translator.model, translator.config
    if not config.generator_keep_mask:
        raise SystemExit(f"{args.model}: G has no keep mask; its own image is its output")
    rows = []
    for name in args.attributes.split(","):
        cases = make_truth_cases(name, 1, config.attributes, n=args.n, styles=1)
        x, truth = to_tensor(cases.source), to_tensor(cases.reference_truth)  # [n, 3, H, W]
        d = translator.scaled_d(torch.from_numpy(cases.source_labels), torch.from_numpy(cases.target_labels))
        zero = torch.zeros_like(d)
        r = torch.randn(len(x), config.noise_dim, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            own, keep = g.draw(x, g.source_code(x, d) + g.label_code(r, d))
            out = keep_blend(x, own, keep)
            own0, keep0 = g.draw(x, g.source_code(x, zero) + g.label_code(r, zero))
        edit = changed_pixels(x, truth)  # [n, 1, H, W]
        print(f"{name}: own image L1 to the source outside the edit {masked_l1(own, x, ~edit).nanmean():.3f}, "
              f"to the truth inside it {masked_l1(own, truth, edit).nanmean():.3f} (the source's: "
              f"{masked_l1(x, truth, edit).nanmean():.3f}); mask mean outside {region_mean(keep, ~edit):.2f}, "
              f"inside {region_mean(keep, edit):.2f}; reconstructing (d = 0): own image L1 to the source "
              f"{(own0 - x).abs().mean():.3f}, mask mean {keep0.mean():.2f}")
        f = slice(0, args.faces)
        for images in (cases.source[f], to_pixels(own[f]), to_pixels(keep[f].expand(-1, 3, -1, -1) * 2 - 1),
                       to_pixels(out[f]), cases.reference_truth[f]):
            rows.append(np.concatenate(list(images), axis=1))
    Image.fromarray(np.concatenate(rows, axis=0)).save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
