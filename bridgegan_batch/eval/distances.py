"""Distances for evaluation: per-image L1 and PSNR, and distribution distances (Fréchet, KID) between feature sets."""

from __future__ import annotations

import numpy as np
import torch


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference per image, on the [-1, 1] scale. [B, 3, H, W] x2 -> [B]"""
    return (a - b).abs().flatten(1).mean(dim=1)


def masked_l1(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference over the masked pixels of each image (NaN where none is masked).

    a, b: [B, 3, H, W]; mask: [B, 1, H, W] bool -> [B]
    """
    weight = mask.float()
    total = ((a - b).abs() * weight).flatten(1).sum(dim=1)
    count = weight.flatten(1).sum(dim=1) * a.shape[1]
    return torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, float("nan")))


def changed_pixels(a: torch.Tensor, b: torch.Tensor, threshold: float = 2 / 255) -> torch.Tensor:
    """Where two images differ in any channel by more than `threshold`. [B, 3, H, W] x2 -> [B, 1, H, W] bool"""
    return (a - b).abs().amax(dim=1, keepdim=True) > threshold


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio per image in dB, peak 2 (the [-1, 1] range). -> [B]"""
    mse = (a - b).pow(2).flatten(1).mean(dim=1).clamp(min=1e-10)
    return 10 * torch.log10(4.0 / mse)


def mean_pairwise(values: torch.Tensor) -> float:
    """Mean distance between every two of K variants of each item, averaged over items.

    values: [M, K, D] (K variants of M items, flattened) -> mean over items and pairs of mean |a - b|
    """
    m, k, _ = values.shape
    if k < 2:
        raise ValueError("diversity needs at least two variants per item")
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    dists = torch.stack([(values[:, i] - values[:, j]).abs().mean(dim=1) for i, j in pairs], dim=1)  # [M, P]
    return dists.mean().item()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (FID's formula). a: [Na, D], b: [Nb, D]

    ||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)); the trace of the square root is computed as
    the sum of the square roots of the eigenvalues of S_a^(1/2) S_b S_a^(1/2), which is symmetric,
    so no complex matrix square root is needed.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    _check_features(a, b)
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root_a = _sqrt_psd(s_a)
    middle = np.linalg.eigvalsh(root_a @ s_b @ root_a)
    trace_sqrt = np.sqrt(np.clip(middle, 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * trace_sqrt)


def kernel_inception_distance(a: np.ndarray, b: np.ndarray, *, subsets: int = 50, subset_size: int = 100,
                              seed: int = 0) -> tuple[float, float]:
    """KID: unbiased MMD^2 with the cubic polynomial kernel (x.y / D + 1)^3, averaged over random
    subsets. a: [Na, D], b: [Nb, D] -> (mean, std over subsets)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    _check_features(a, b)
    size = min(subset_size, len(a), len(b))
    rng = np.random.default_rng(seed)
    dim = a.shape[1]
    values = []
    for _ in range(subsets):
        x, y = a[rng.choice(len(a), size, replace=False)], b[rng.choice(len(b), size, replace=False)]
        k_xx, k_yy, k_xy = ((x @ x.T / dim + 1) ** 3, (y @ y.T / dim + 1) ** 3, (x @ y.T / dim + 1) ** 3)
        off = size * (size - 1)
        values.append((k_xx.sum() - np.trace(k_xx)) / off + (k_yy.sum() - np.trace(k_yy)) / off
                      - 2 * k_xy.mean())
    return float(np.mean(values)), float(np.std(values))


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(matrix)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def _check_features(a: np.ndarray, b: np.ndarray) -> None:
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets must be [N, D] with the same D, got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("each feature set needs at least two rows")
