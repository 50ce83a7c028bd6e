"""Sample grids during training: source, label-driven per attribute, reference-driven, interpolated."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from bridgegan_batch.model.bridge import BridgeGenerator
from bridgegan_batch.model.pixels import to_pixels
from bridgegan_batch.train.targets import flip_one


@torch.no_grad()
def sample_grid(model: BridgeGenerator, x: torch.Tensor, labels: torch.Tensor, groups: list[list[int]],
                noise_seed: int = 0) -> Image.Image:
    """Columns are faces. Rows: source; each attribute flipped (label path); the next face's labels
    through the reference path (that face as reference); the same, interpolated at alpha 0.5.

    x: [B, 3, H, W] in [-1, 1], labels: [B, N]
    """
    model.eval()
    b, n = labels.shape
    gen = torch.Generator().manual_seed(noise_seed)
    r = torch.randn(b, model.noise_dim, generator=gen).to(x.device)
    rows = [x]
    for k in range(n):
        d = flip_one(labels, torch.full((b,), k, dtype=torch.long, device=x.device), groups) - labels
        rows.append(model(x, model.source_code(x, d) + model.label_code(r, d)))
    perm = torch.roll(torch.arange(b, device=x.device), 1)
    x_ref, d = x[perm], labels[perm] - labels
    src, lab, ref = model.source_code(x, d), model.label_code(r, d), model.reference_code(x_ref, d)
    rows.append(model(x, src + ref))
    rows.append(model(x, src + 0.5 * lab + 0.5 * ref))
    model.train()
    tiles = [to_pixels(row) for row in rows]  # each [B, H, W, 3]
    grid = np.concatenate([np.concatenate(list(t), axis=1) for t in tiles], axis=0)
    return Image.fromarray(grid)
