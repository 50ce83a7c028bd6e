"""Residual blocks shared by the networks: plain/instance-norm down and up blocks, and SPADE."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SLOPE = 0.2  # LeakyReLU slope everywhere


def tile(d: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """An attribute vector as constant feature maps. [B, N] -> [B, N, H, W]"""
    return d[:, :, None, None].expand(-1, -1, height, width)


class ConditionalInstanceNorm(nn.Module):
    """IN(x) * (1 + gamma(v)) + beta(v): instance norm whose scale and shift come from a vector.

    A vector tiled over an image and concatenated to it reaches the first conv as a constant per
    channel, which the next instance norm subtracts; this carries it past every norm instead.
    """

    def __init__(self, channels: int, cond_dim: int):
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.film = nn.Linear(cond_dim, 2 * channels)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        # x: [B, C, H, W], cond: [B, K] -> [B, C, H, W]
        gamma, beta = self.film(cond)[:, :, None, None].chunk(2, dim=1)
        return self.norm(x) * (1 + gamma) + beta


class ResBlock(nn.Module):
    """Pre-activation residual block, optionally halving or doubling the resolution.

    With `cond_dim`, its norms are conditional on a vector passed to forward (the encoder's d).
    """

    def __init__(self, c_in: int, c_out: int, *, resample: str = "none", norm: bool = True, cond_dim: int = 0):
        super().__init__()
        if resample not in ("none", "down", "up"):
            raise ValueError(f"resample must be none, down or up, got {resample!r}")
        self.resample = resample
        self.conditional = cond_dim > 0
        if self.conditional:
            self.norm1: nn.Module = ConditionalInstanceNorm(c_in, cond_dim)
            self.norm2: nn.Module = ConditionalInstanceNorm(c_out, cond_dim)
        else:
            self.norm1 = nn.InstanceNorm2d(c_in, affine=True) if norm else nn.Identity()
            self.norm2 = nn.InstanceNorm2d(c_out, affine=True) if norm else nn.Identity()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1, bias=False) if c_in != c_out else nn.Identity()

    def _resample(self, x: torch.Tensor) -> torch.Tensor:
        if self.resample == "down":
            return F.avg_pool2d(x, 2)
        if self.resample == "up":
            return F.interpolate(x, scale_factor=2, mode="nearest")
        return x

    def _norm(self, norm: nn.Module, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        return norm(x, cond) if self.conditional else norm(x)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        # x: [B, Cin, H, W], cond: [B, K] when conditional -> [B, Cout, H', W']
        h = self.conv1(self._resample(F.leaky_relu(self._norm(self.norm1, x, cond), SLOPE)))
        h = self.conv2(F.leaky_relu(self._norm(self.norm2, h, cond), SLOPE))
        return (h + self.skip(self._resample(x))) / math.sqrt(2)


class SPADE(nn.Module):
    """x <- IN(x) * (1 + gamma(S)) + beta(S), with S resized (nearest) to x's resolution.

    With `at_code_resolution`, gamma and beta are computed at S's own resolution when x is larger,
    then resized (nearest): the same piecewise-constant modulation for a fraction of the cost.
    """

    def __init__(self, channels: int, code_channels: int, hidden: int, at_code_resolution: bool = False):
        super().__init__()
        self.at_code_resolution = at_code_resolution
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.shared = nn.Sequential(nn.Conv2d(code_channels, hidden, 3, padding=1), nn.ReLU())
        self.gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        # x: [B, C, H, W], code: [B, Cs, Hs, Ws] -> [B, C, H, W]
        size = x.shape[-2:]
        if self.at_code_resolution and code.shape[-1] < size[-1]:
            h = self.shared(code)  # [B, hidden, Hs, Ws]
            gamma = F.interpolate(self.gamma(h), size=size, mode="nearest")  # [B, C, H, W]
            beta = F.interpolate(self.beta(h), size=size, mode="nearest")
        else:
            h = self.shared(F.interpolate(code, size=size, mode="nearest"))  # [B, hidden, H, W]
            gamma, beta = self.gamma(h), self.beta(h)
        return self.norm(x) * (1 + gamma) + beta


class SPADEResBlock(nn.Module):
    """Residual block whose normalisations are SPADE, driven by the latent code."""

    def __init__(self, c_in: int, c_out: int, code_channels: int, hidden: int, *, upsample: bool,
                 spade_at_code_resolution: bool = False):
        super().__init__()
        self.upsample = upsample
        self.spade1 = SPADE(c_in, code_channels, hidden, spade_at_code_resolution)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.spade2 = SPADE(c_out, code_channels, hidden, spade_at_code_resolution)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1, bias=False) if c_in != c_out else nn.Identity()

    def _up(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="nearest") if self.upsample else x

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        # x: [B, Cin, H, W], code: [B, Cs, Hs, Ws] -> [B, Cout, H', W']
        h = self.conv1(self._up(F.leaky_relu(self.spade1(x, code), SLOPE)))
        h = self.conv2(F.leaky_relu(self.spade2(h, code), SLOPE))
        return (h + self.skip(self._up(x))) / math.sqrt(2)
