"""Known answers for the evaluation distances."""

import numpy as np
import pytest
import torch

from bridgegan_batch.eval.distances import (
    changed_pixels,
    frechet_distance,
    kernel_inception_distance,
    l1,
    masked_l1,
    mean_pairwise,
    psnr,
)


def test_l1_and_psnr_known_values():
    a = torch.zeros(2, 3, 4, 4)
    b = torch.stack([torch.zeros(3, 4, 4), torch.full((3, 4, 4), 0.2)])
    assert l1(a, b).tolist() == pytest.approx([0.0, 0.2])
    # MSE 0.04 with peak 2: 10 log10(4 / 0.04) = 20 dB
    assert psnr(a, b)[1].item() == pytest.approx(20.0, abs=1e-4)


def test_masked_l1_counts_only_masked_pixels_and_is_nan_without_any():
    a, b = torch.zeros(2, 3, 2, 2), torch.zeros(2, 3, 2, 2)
    b[:, :, 0, 0] = 1.0
    mask = torch.zeros(2, 1, 2, 2, dtype=torch.bool)
    mask[0, :, 0, 0] = True
    out = masked_l1(a, b, mask)
    assert out[0].item() == pytest.approx(1.0) and torch.isnan(out[1])
    assert changed_pixels(a, b).sum().item() == 2  # one pixel in each image


def test_mean_pairwise_of_identical_and_spread_variants():
    same = torch.ones(5, 3, 10)
    assert mean_pairwise(same) == 0.0
    spread = torch.stack([torch.zeros(10), torch.ones(10), 2 * torch.ones(10)])[None]  # pairs at 1, 2, 1
    assert mean_pairwise(spread) == pytest.approx(4 / 3)
    with pytest.raises(ValueError, match="two variants"):
        mean_pairwise(torch.ones(2, 1, 3))


def test_frechet_distance_known_answers():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20_000, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # A mean shift of 0.5 in each of 3 dims adds 3 * 0.25.
    assert frechet_distance(a, a + 0.5) == pytest.approx(0.75, abs=1e-6)
    # 1-D N(0, 1) vs N(0, 4): 1 + 4 - 2 * sqrt(4) = 1.
    x, y = rng.normal(size=(50_000, 1)), 2 * rng.normal(size=(50_000, 1))
    assert frechet_distance(x, y) == pytest.approx(1.0, abs=0.05)
    with pytest.raises(ValueError, match="same D"):
        frechet_distance(a, a[:, :2])


def test_kid_is_near_zero_for_one_distribution_and_positive_for_another():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(1000, 8)), rng.normal(size=(1000, 8))
    same, same_std = kernel_inception_distance(a, b)
    shifted, _ = kernel_inception_distance(a, b + 1.0)
    assert abs(same) < 3 * same_std + 1e-3
    assert shifted > 20 * max(abs(same), same_std)
