"""Feature networks for realism and diversity: the attribute judge's pooled features, or a user's TorchScript Inception.

Nothing is downloaded: the standard FID needs Inception weights the user already has, as a
TorchScript file in the convention of StyleGAN2-ADA's `inception-2015-12-05.pt` (uint8 NCHW in,
`model(x, return_features=True)` -> [B, 2048] out). Such a file runs its own TorchScript code, so
pass only one you trust.
"""

from __future__ import annotations

from pathlib import Path

import torch

from bridgegan_batch.eval.judge import Judge
from bridgegan_batch.model.checkpoint import CheckpointError


class JudgeFeatures:
    """The judge's pooled last-stage features. [B, 3, H, W] in [-1, 1] -> [B, C]"""

    name = "judge"

    def __init__(self, judge: Judge):
        self.judge = judge

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        net, device = self.judge.net, self.judge.device
        return torch.cat([net.embed(x[i : i + batch_size].to(device)).float().cpu()
                          for i in range(0, len(x), batch_size)])


class InceptionFeatures:
    """Inception-v3 pool features from a TorchScript file. [B, 3, H, W] in [-1, 1] -> [B, 2048]"""

    name = "inception"

    def __init__(self, path: str | Path, device: str = "cpu"):
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"Inception weights {path} not found (a TorchScript file such as "
                                  "inception-2015-12-05.pt; nothing is downloaded)")
        try:
            self.model = torch.jit.load(str(path), map_location=device).eval()
        except RuntimeError as exc:
            raise CheckpointError(f"{path}: not a TorchScript Inception ({str(exc)[:200]})") from exc
        self.device = torch.device(device)

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        out = []
        for i in range(0, len(x), batch_size):
            pixels = x[i : i + batch_size].clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)  # [b, 3, H, W]
            out.append(self.model(pixels.to(self.device), return_features=True).float().cpu())
        return torch.cat(out)
