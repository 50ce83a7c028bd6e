"""BridgeGAN's four networks: shared encoder E, mapping branch M, SPADE generator G, discriminator D.

Latent codes (DESIGN.md section 2), with d = l_target - l_source in {-1, 0, 1}^N:
    S_rand = E(x_s, -d) + M(r, d)      label path
    S_ref  = E(x_s, -d) + E(x_ref, d)  reference path
    S_int  = a * S_rand + (1 - a) * S_ref
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bridgegan_batch.model.blocks import SLOPE, ResBlock, SPADEResBlock, tile


def _log2(n: int, what: str) -> int:
    k = int(math.log2(n))
    if 2**k != n:
        raise ValueError(f"{what} must be a power of two, got {n}")
    return k


class Encoder(nn.Module):
    """E(x, d): an image and an attribute difference to a spatial code. [B,3,H,W],[B,N] -> [B,Cs,Hs,Ws]

    d is tiled and concatenated to the image (the authors' input) and also conditions every
    residual block's instance norms, which would otherwise subtract it.
    """

    def __init__(self, num_attributes: int, image_size: int, code_size: int, code_channels: int,
                 channels: int, blocks: int, pixel_branch: bool = False):
        super().__init__()
        downs = _log2(image_size // code_size, "image_size / code_size")
        self.pixels = PixelBranch(num_attributes, image_size // code_size, 4 * channels, code_channels) \
            if pixel_branch else None
        self.stem = nn.Conv2d(3 + num_attributes, channels, 3, padding=1)
        layers: list[nn.Module] = []
        c = channels
        for i in range(max(blocks, downs)):
            c_out = min(c * 2, channels * 4) if i < downs else c
            layers.append(ResBlock(c, c_out, resample="down" if i < downs else "none", cond_dim=num_attributes))
            c = c_out
        self.blocks = nn.ModuleList(layers)
        self.out = nn.Sequential(nn.InstanceNorm2d(c, affine=True), nn.LeakyReLU(SLOPE), nn.Conv2d(c, code_channels, 1))

    def forward(self, x: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        h = self.stem(torch.cat([x, tile(d, *x.shape[-2:])], dim=1))  # [B, C, H, W]
        for block in self.blocks:
            h = block(h, d)  # d also drives every norm: see ConditionalInstanceNorm
        code = self.out(h)  # [B, Cs, Hs, Ws]
        return code if self.pixels is None else code + self.pixels(x, d)


class PixelBranch(nn.Module):
    """Each code cell's raw pixels, read by one patch convolution with no normalisation, scaled and shifted by d:
    colours as they are. [B,3,H,W],[B,N] -> [B,Cs,Hs,Ws]

    Instance norm re-expresses every colour against the whole image's statistics, so the colour of a thin thing
    (a glasses frame, a few pixels of a 64 px face) reaches the code only relative to the skin, hair and
    background around it. The oracle probe's patch encoder (docs/dev/issue26.md, fourteenth session) read cells
    this way. The last convolution starts at zero, so the branch adds nothing until training gives it a use and
    `train --init` grows it into a model without one.
    """

    def __init__(self, num_attributes: int, cell: int, hidden: int, code_channels: int):
        super().__init__()
        self.patch = nn.Conv2d(3, hidden, cell, stride=cell)
        self.film = nn.Linear(num_attributes, 2 * hidden)  # which change is asked for: ConditionalInstanceNorm's way
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)
        self.out = nn.Conv2d(hidden, code_channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.film(d)[:, :, None, None].chunk(2, dim=1)  # [B, C, 1, 1] each
        h = F.leaky_relu(self.patch(x), SLOPE) * (1 + gamma) + beta  # [B, C, Hs, Ws]
        return self.out(F.leaky_relu(h, SLOPE))


class Mapping(nn.Module):
    """M(r, d): noise and an attribute difference to a spatial code. [B,R],[B,N] -> [B,Cs,Hs,Ws]"""

    def __init__(self, num_attributes: int, noise_dim: int, code_size: int, code_channels: int, channels: int):
        super().__init__()
        ups = _log2(code_size // 4, "code_size / 4")
        self.channels = channels
        self.fc = nn.Linear(noise_dim + num_attributes, channels * 16)
        layers, c = [], channels
        for _ in range(ups):
            layers.append(ResBlock(c, max(c // 2, code_channels), resample="up"))
            c = max(c // 2, code_channels)
        self.blocks = nn.Sequential(*layers)
        self.out = nn.Sequential(nn.InstanceNorm2d(c, affine=True), nn.LeakyReLU(SLOPE), nn.Conv2d(c, code_channels, 1))

    def forward(self, r: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        h = self.fc(torch.cat([r, d], dim=1)).view(-1, self.channels, 4, 4)  # [B, C, 4, 4]
        return self.out(self.blocks(h))  # [B, Cs, Hs, Ws]


class Generator(nn.Module):
    """G(x, S): a 1x1 stem, instance-norm down blocks, a bottleneck, SPADE up blocks, tanh.

    The second bottleneck block and every up block are SPADE-normalised by the latent code S.
    With `keep_mask`, G also predicts per pixel how much of the source to keep, m in (0, 1), and
    returns m * x + (1 - m) * tanh(...).
    [B,3,H,W], [B,Cs,Hs,Ws] -> [B,3,H,W] in [-1, 1]
    """

    def __init__(self, channels: tuple[int, ...], code_channels: int, spade_hidden: int,
                 spade_at_code_resolution: bool = False, skips: bool = False, keep_mask: bool = False):
        super().__init__()
        stem, *downs = channels  # e.g. (32, 64, 128, 256): stem width, then one per down block
        self.stem = nn.Conv2d(3, stem, 1)
        widths = [stem, *downs]
        self.down = nn.ModuleList(ResBlock(a, b, resample="down") for a, b in zip(widths, widths[1:], strict=False))
        bottom = widths[-1]
        self.bottleneck = ResBlock(bottom, bottom)
        self.bottleneck_spade = SPADEResBlock(bottom, bottom, code_channels, spade_hidden, upsample=False,
                                              spade_at_code_resolution=spade_at_code_resolution)
        rev = widths[::-1]
        self.up = nn.ModuleList(SPADEResBlock(a, b, code_channels, spade_hidden, upsample=True,
                                              spade_at_code_resolution=spade_at_code_resolution)
                                for a, b in zip(rev, rev[1:], strict=False))
        # One per up block, adding the down path's features of the same size; zero at the start, so a
        # generator gaining them computes what it computed before.
        self.skips = nn.ModuleList(_zero_conv(b) for b in rev[1:]) if skips else None
        self.out = nn.Sequential(nn.InstanceNorm2d(stem, affine=True), nn.LeakyReLU(SLOPE), nn.Conv2d(stem, 3, 1))
        self.keep = KeepMask(stem) if keep_mask else None

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        image, keep = self.draw(x, code)
        return image if keep is None else keep_blend(x, image, keep)

    def draw(self, x: torch.Tensor, code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """G's own image and, with a keep mask, the mask (else None). -> [B,3,H,W], [B,1,H,W]"""
        h = self.stem(x)  # [B, C0, H, W]
        down = []  # the down path's features above the bottleneck, kept only for the skips
        for block in self.down:
            if self.skips is not None:
                down.append(h)
            h = block(h)  # halves H, W
        h = self.bottleneck_spade(self.bottleneck(h), code)  # [B, Ck, H/2^k, W/2^k]
        for i, block in enumerate(self.up):
            h = block(h, code)  # doubles H, W
            if self.skips is not None:
                h = h + self.skips[i](down[-1 - i])  # the down path's features at this size
        norm, act, to_rgb = self.out
        features = act(norm(h))  # [B, C0, H, W]
        image = torch.tanh(to_rgb(features))  # [B, 3, H, W]
        return image, None if self.keep is None else self.keep(features)  # [B, 1, H, W]


def keep_blend(x: torch.Tensor, image: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """m * x + (1 - m) * G's image: the source where the mask keeps it. [B,3,H,W], [B,3,H,W], [B,1,H,W]"""
    return keep * x + (1 - keep) * image


class KeepMask(nn.Module):
    """m = sigmoid(gain * conv3x3(features)): how much of the source each pixel keeps. [B,C,H,W] -> [B,1,H,W]

    Starts at m = sigmoid(-4) = 0.018, so a generator gaining the mask starts within 0.036 of its old output
    (|x - G| <= 2). The gain multiplies the head's learning rate: Adam moves a weight by about lr per step
    whatever its gradient, and at gain 1 the mean mask rose from 0.018 to 0.035 in 365 steps (docs/dev/training_log.md),
    too slowly for a warm start to open it.
    """

    def __init__(self, channels: int, gain: float = 10.0, start_logit: float = -4.0):
        super().__init__()
        self.gain = gain
        self.conv = nn.Conv2d(channels, 1, 3, padding=1)
        nn.init.zeros_(self.conv.weight)
        nn.init.constant_(self.conv.bias, start_logit / gain)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.gain * self.conv(features))  # [B, 1, H, W]


def _zero_conv(channels: int) -> nn.Conv2d:
    conv = nn.Conv2d(channels, channels, 1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


def _down_trunk(image_size: int, channels: int, max_channels: int, group_norm: bool) -> tuple[nn.Sequential, int]:
    """A conv stem and residual down blocks to 4x4. -> (module [B,3,H,W] -> [B,C,4,4], C)"""
    downs = _log2(image_size // 4, "image_size / 4")
    layers: list[nn.Module] = [nn.Conv2d(3, channels, 3, padding=1)]
    c = channels
    for _ in range(downs):
        c_out = min(c * 2, max_channels)
        layers.append(ResBlock(c, c_out, resample="down", norm=False))
        if group_norm:
            layers.append(nn.GroupNorm(min(8, c_out), c_out))
        c = c_out
    layers.append(nn.LeakyReLU(SLOPE))
    return nn.Sequential(*layers), c


def _head_in_fp32(head: nn.Conv2d, h: torch.Tensor) -> torch.Tensor:
    """A head's output in float32, even under bf16 autocast. The WGAN loss leaves the critic's offset
    free, and it drifts (to about -14 700 in the demo model's GPU steps); bf16 rounds scores that size
    to steps of 64, which erased the real-fake gap of a few units. [B, C, 4, 4] -> [B, K, 1, 1]"""
    with torch.autocast(h.device.type, enabled=False):
        return head(h.float())


def _patch_head(channels: int) -> nn.Sequential:
    """A 3x3 convolution and a 1x1 one to a score per cell, the last at zero. [B, C, h, w] -> [B, 1, h, w]"""
    last = nn.Conv2d(channels, 1, 1)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return nn.Sequential(nn.LeakyReLU(SLOPE), nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(SLOPE), last)


class Discriminator(nn.Module):
    """D(x): residual down-sampling trunk, a WGAN real/fake head and an N-attribute head.

    With `separate_attribute_trunk`, the attribute head has a trunk of its own (with group norms)
    instead of sharing the critic's, whose gradient penalty keeps it too smooth to learn small
    attributes quickly. With `projection`, the critic also scores an (image, labels) pair: it adds
    <embed(2y - 1), the trunk's pooled features> / sqrt(C) (a projection discriminator), so a fake must look like
    a real face *with* its target attributes, not only please the attribute head. The embedding starts
    at zero: the critic starts unconditional. With `patch_critic`, the critic adds the mean of a patch map read
    from the trunk at H/2 (each cell sees about 16 pixels: one lens and its frame at 64 px), so that a small fake
    edit (a band across the eyes) is judged by features of its own neighbourhood; its last layer starts at zero, so
    the critic starts as it was. [B,3,H,W] (+ [B,N] labels) -> ([B] scores, [B, N] logits)
    """

    patch_downs = 1  # the patch map is read after this many down blocks: H/2 x W/2 cells

    def __init__(self, num_attributes: int, image_size: int, channels: int, max_channels: int,
                 separate_attribute_trunk: bool = False, projection: bool = False, twin_attribute_head: bool = False,
                 patch_critic: bool = False):
        super().__init__()
        self.trunk, c = _down_trunk(image_size, channels, max_channels, group_norm=False)
        self.patch = _patch_head(self.trunk[self.patch_downs].conv2.out_channels) if patch_critic else None
        self.adv = nn.Conv2d(c, 1, 4)
        self.attribute_trunk = (_down_trunk(image_size, channels, max_channels, group_norm=True)[0]
                                if separate_attribute_trunk else None)
        self.cls = nn.Conv2d(c, num_attributes, 4)
        self.twin = nn.Conv2d(c, num_attributes, 4) if twin_attribute_head else None
        self.embed = nn.Linear(num_attributes, c, bias=False) if projection else None
        if self.embed is not None:
            nn.init.zeros_(self.embed.weight)

    def _score(self, h: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        score = _head_in_fp32(self.adv, h).flatten()  # [B]
        if self.embed is None or labels is None:
            return score
        with torch.autocast(h.device.type, enabled=False):
            pooled = h.float().mean(dim=(2, 3))  # [B, C]
            # Mean-pooled and scaled by 1/sqrt(C): summed, the trunk's large features (hundreds) ran the scores
            # to 190 000 within 200 D steps of a warm restart (docs/dev/training_log.md).
            return score + (self.embed(2 * labels.float() - 1) * pooled).sum(dim=1) / pooled.shape[1] ** 0.5

    def _critic_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The trunk's [B, C, 4, 4] features, and the patch critic's mean score ([B]; None without one)."""
        if self.patch is None:
            return self.trunk(x), None
        mid = self.trunk[: self.patch_downs + 1](x)  # [B, C', H/2, W/2]: the stem and one down block
        with torch.autocast(mid.device.type, enabled=False):
            patch = self.patch(mid.float()).mean(dim=(1, 2, 3))  # [B]
        return self.trunk[self.patch_downs + 1 :](mid), patch

    def _critic_score(self, x: torch.Tensor, labels: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        h, patch = self._critic_features(x)
        score = self._score(h, labels)
        return (score if patch is None else score + patch), h  # [B], [B, C, 4, 4]

    def critic(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self._critic_score(x, labels)[0]  # [B]

    def _attribute_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x) if self.attribute_trunk is None else self.attribute_trunk(x)  # [B, C, 4, 4]

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        return _head_in_fp32(self.cls, self._attribute_features(x)).flatten(1)  # [B, N]

    def classify_with_twin(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The attribute head's logits and the twin head's, from one pass of the trunk. -> [B, N], [B, N]"""
        if self.twin is None:
            raise ValueError("this discriminator has no twin attribute head (model.disc_twin_attribute_head)")
        h = self._attribute_features(x)
        return _head_in_fp32(self.cls, h).flatten(1), _head_in_fp32(self.twin, h).flatten(1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.attribute_trunk is not None:
            return self.critic(x, labels), self.classify(x)
        score, h = self._critic_score(x, labels)  # one pass of the trunk for both heads
        return score, _head_in_fp32(self.cls, h).flatten(1)
