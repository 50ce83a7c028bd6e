"""The attribute classifier's network and its file: the judge that scores translations, or a guide that trains G."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from bridgegan_batch.config import JudgeConfig
from bridgegan_batch.model.checkpoint import CheckpointError, load_export, save_export


class JudgeNet(nn.Module):
    """[B, 3, H, W] in [-1, 1] -> [B, N] attribute logits."""

    def __init__(self, num_attributes: int, channels: Sequence[int]):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(),
                       nn.Conv2d(c, c, 3, stride=2, padding=1), nn.BatchNorm2d(c), nn.ReLU()]
            c_in = c
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, num_attributes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features, for feature-space distances. [B, 3, H, W] -> [B, C]"""
        return self.features(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))  # [B, N]


class Judge:
    """A trained JudgeNet with its config: predicts 0/1 attributes for image batches."""

    def __init__(self, net: JudgeNet, config: JudgeConfig, device: str | torch.device = "cpu"):
        self.net, self.config, self.device = net.to(device).eval(), config, torch.device(device)

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> Judge:
        modules, config, _ = load_export(path, JudgeConfig)
        net = JudgeNet(len(config.attributes), config.channels)
        try:
            net.load_state_dict(modules["judge"])
        except (KeyError, RuntimeError) as exc:
            raise CheckpointError(f"{path}: weights do not fit its config ({str(exc)[:300]})") from exc
        return cls(net, config, device)

    def save(self, path: str | Path, info: dict | None = None) -> Path:
        return save_export(path, {"judge": self.net}, self.config, info)

    @torch.inference_mode()
    def logits(self, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """[B, 3, H, W] in [-1, 1] -> [B, N] logits."""
        return torch.cat([self.net(x[i : i + batch_size].to(self.device)).cpu()
                          for i in range(0, len(x), batch_size)])

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] in [-1, 1] -> [B, N] in {0, 1}."""
        return (self.logits(x) > 0).float()
