"""Images to the model's tensors and back: uint8 [B, H, W, 3] <-> float [B, 3, H, W] in [-1, 1]."""

from __future__ import annotations

import numpy as np
import torch


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """uint8 images to the model's range. [B, H, W, 3] uint8 -> [B, 3, H, W] float in [-1, 1]"""
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def to_pixels(images: torch.Tensor) -> np.ndarray:
    """The inverse of to_tensor. [B, 3, H, W] in [-1, 1] -> [B, H, W, 3] uint8"""
    return images.detach().float().clamp(-1, 1).add(1).mul(127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
