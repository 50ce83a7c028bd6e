import pytest
import torch

from bridgegan_batch.config import TrainConfig
from bridgegan_batch.train.diff_augment import cutout, diff_augment, translate


def _images(b=4, c=3, size=16):
    return torch.arange(b * c * size * size, dtype=torch.float).view(b, c, size, size) + 1  # no zeros


def test_translation_shifts_each_image_whole_and_fills_with_zero():
    x = _images()
    out = translate(x, torch.Generator().manual_seed(0), ratio=0.25)
    for i in range(len(x)):
        # Find the shift: the output's non-zero block is the input moved by (dy, dx).
        rows, cols = (out[i, 0] != 0).nonzero(as_tuple=True)
        top, left = rows.min().item(), cols.min().item()
        dy = top if top > 0 else -(16 - 1 - rows.max().item())
        dx = left if left > 0 else -(16 - 1 - cols.max().item())
        assert abs(dy) <= 4 and abs(dx) <= 4
        expected = torch.zeros_like(x[i])
        ys, xs = slice(max(dy, 0), 16 + min(dy, 0)), slice(max(dx, 0), 16 + min(dx, 0))
        ys_src, xs_src = slice(max(-dy, 0), 16 + min(-dy, 0)), slice(max(-dx, 0), 16 + min(-dx, 0))
        expected[:, ys, xs] = x[i][:, ys_src, xs_src]
        assert torch.equal(out[i], expected)


def test_cutout_zeros_at_most_a_square_of_the_ratio_and_keeps_the_rest():
    x = _images(b=64)
    out = cutout(x, torch.Generator().manual_seed(0), ratio=0.5)
    holes = out == 0  # [B, C, H, W]
    assert torch.equal(out[~holes], x[~holes])
    per_image = holes[:, 0].flatten(1).sum(1)  # [B]
    assert per_image.max().item() == 8 * 8  # a square fully inside for some images
    assert per_image.min().item() > 0 and (per_image <= 64).all()  # at least a corner of it always lands
    assert torch.equal(holes[:, 0], holes[:, 2])  # the same hole in every channel


def test_augmentation_is_a_function_of_its_seed_and_passes_gradients():
    x = torch.randn(8, 3, 32, 32, requires_grad=True)
    a = diff_augment(x, ("translation", "cutout"), torch.Generator().manual_seed(3))
    b = diff_augment(x, ("translation", "cutout"), torch.Generator().manual_seed(3))
    c = diff_augment(x, ("translation", "cutout"), torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    a.sum().backward()
    assert x.grad is not None and 0 < (x.grad != 0).float().mean() < 1  # hidden pixels get no gradient


def test_config_names_the_unknown_policy():
    assert TrainConfig(diff_augment=["translation"]).diff_augment == ("translation",)
    with pytest.raises(ValueError, match="diff_augment"):
        TrainConfig(diff_augment=["flip"])
