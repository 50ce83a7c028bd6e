"""Feature networks: the judge's features, and a user's TorchScript Inception (a stand-in here: no weights)."""

import pytest
import torch
from torch import nn

from bridgegan_batch.config import JudgeConfig
from bridgegan_batch.eval.features import InceptionFeatures, JudgeFeatures
from bridgegan_batch.eval.judge import Judge, JudgeNet
from bridgegan_batch.model.checkpoint import CheckpointError


class FakeInception(nn.Module):
    """Inception's calling convention: uint8 NCHW in, `return_features=True` -> [B, 2048]."""

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        assert x.dtype == torch.uint8
        pooled = x.float().mean(dim=(2, 3))  # [B, 3]
        return pooled.repeat(1, 683)[:, :2048] if return_features else pooled[:, :1]


def test_inception_features_follow_the_torchscript_convention(tmp_path):
    path = tmp_path / "inception.pt"
    torch.jit.script(FakeInception()).save(str(path))
    features = InceptionFeatures(path)
    x = torch.stack([torch.full((3, 8, 8), -1.0), torch.full((3, 8, 8), 1.0)])
    out = features(x)
    assert out.shape == (2, 2048)
    assert out[0, 0].item() == 0.0 and out[1, 0].item() == 255.0  # [-1, 1] became uint8 pixels


def test_missing_or_wrong_inception_file_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        InceptionFeatures(tmp_path / "absent.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torchscript archive")
    with pytest.raises(CheckpointError, match="bad.pt"):
        InceptionFeatures(bad)


def test_judge_features_are_its_pooled_embedding():
    config = JudgeConfig(attributes=("Eyeglasses",), channels=(4, 4, 4, 8))
    judge = Judge(JudgeNet(1, config.channels), config)
    x = torch.rand(5, 3, 64, 64) * 2 - 1
    out = JudgeFeatures(judge)(x, batch_size=2)
    assert out.shape == (5, 8)
    assert torch.allclose(out, judge.net.embed(x).detach(), atol=1e-6)
