"""Exponential moving average of a module's weights."""

from __future__ import annotations

import torch
from torch import nn


def ema_decay_at(step: int, decay: float, ramp: bool = True) -> float:
    """The decay at `step`: ramps up from 0, so early steps do not keep the random init for long. Without `ramp`
    (the average starts from trained weights: `train --init`) it is `decay` from the first step."""
    return min(decay, (1 + step) / (10 + step)) if ramp else decay


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model, for parameters; buffers are copied."""
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(p.detach(), 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers(), strict=True):
        e.copy_(b)
