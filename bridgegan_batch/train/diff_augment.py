"""Differentiable augmentation of everything D sees (DiffAugment, Zhao et al. 2020): translation, cutout.

Applied alike to real and fake images, so D's critic and attribute head learn from shifted, partly
hidden faces. An attribute head that must read blond hair with any quarter of the face missing cannot
rest on one small patch, and G's attribute loss then has to make the whole change. Gradients flow
through both transforms to G.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def translate(x: torch.Tensor, generator: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to `ratio` of its size in x and y, filling with 0. [B,C,H,W] -> same"""
    b, _, h, w = x.shape
    sy, sx = int(h * ratio), int(w * ratio)
    dy = torch.randint(-sy, sy + 1, (b, 1, 1), generator=generator).to(x.device)
    dx = torch.randint(-sx, sx + 1, (b, 1, 1), generator=generator).to(x.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1) - dy  # [B, H, 1]: source row of each output row
    xs = torch.arange(w, device=x.device).view(1, 1, w) - dx  # [B, 1, W]
    # Rows and columns outside the image land on the zero border of the padded copy.
    padded = F.pad(x, (1, 1, 1, 1))  # [B, C, H+2, W+2]
    rows = (ys.clamp(-1, h) + 1).expand(b, h, w)
    cols = (xs.clamp(-1, w) + 1).expand(b, h, w)
    flat = (rows * (w + 2) + cols).flatten(1)  # [B, H*W]
    return padded.flatten(2).gather(2, flat[:, None, :].expand(-1, x.shape[1], -1)).view_as(x)


def cutout(x: torch.Tensor, generator: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    """Zero one square of `ratio` of the image size per image, centred anywhere. [B,C,H,W] -> same"""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio), int(w * ratio)
    top = torch.randint(0, h, (b, 1, 1), generator=generator).to(x.device) - ch // 2  # may start outside
    left = torch.randint(0, w, (b, 1, 1), generator=generator).to(x.device) - cw // 2
    ys = torch.arange(h, device=x.device).view(1, h, 1) - top  # [B, H, 1]: row inside the square
    xs = torch.arange(w, device=x.device).view(1, 1, w) - left  # [B, 1, W]
    hole = (ys >= 0) & (ys < ch) & (xs >= 0) & (xs < cw)  # [B, H, W]
    return x * (~hole)[:, None].to(x.dtype)


_TRANSFORMS = {"translation": translate, "cutout": cutout}
POLICIES = tuple(_TRANSFORMS)


def check_policy(policy: Sequence[str]) -> tuple[str, ...]:
    unknown = [p for p in policy if p not in _TRANSFORMS]
    if unknown:
        raise ValueError(f"unknown augmentation {unknown}; choose from {list(POLICIES)}")
    return tuple(policy)


def diff_augment(x: torch.Tensor, policy: Sequence[str], generator: torch.Generator) -> torch.Tensor:
    """Each transform of `policy` in order, fresh random parameters per image. [B,C,H,W] -> same"""
    for name in policy:
        x = _TRANSFORMS[name](x, generator)
    return x
