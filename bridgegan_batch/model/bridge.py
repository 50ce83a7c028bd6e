"""The generator side of BridgeGAN (E, M, G) as one module: what is trained, averaged and exported."""

from __future__ import annotations

import torch
from torch import nn

from bridgegan_batch.config import ModelConfig
from bridgegan_batch.model.networks import Discriminator, Encoder, Generator, Mapping


class BridgeGenerator(nn.Module):
    """E, M and G, with the code arithmetic of the two paths."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        n = len(config.attributes)
        self.noise_dim = config.noise_dim
        self.reference_code_pooled = config.reference_code_pooled
        self.encoder = Encoder(n, config.image_size, config.code_size, config.code_channels,
                               config.encoder_channels, config.encoder_blocks, config.encoder_pixel_branch)
        self.mapping = Mapping(n, config.noise_dim, config.code_size, config.code_channels,
                               config.mapping_channels)
        self.generator = Generator(tuple(config.generator_channels), config.code_channels, config.spade_hidden,
                                   config.spade_at_code_resolution, config.generator_skips,
                                   config.generator_keep_mask)

    def source_code(self, x: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """E(x_s, -d): what of the source must go. [B,3,H,W],[B,N] -> [B,Cs,Hs,Ws]"""
        return self.encoder(x, -d)

    def label_code(self, r: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """M(r, d): what must come, from noise. [B,R],[B,N] -> [B,Cs,Hs,Ws]"""
        return self.mapping(r, d)

    def reference_code(self, x_ref: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """E(x_ref, d): what must come, from a reference face. -> [B,Cs,Hs,Ws]"""
        return self.as_reference(self.encoder(x_ref, d))

    def as_reference(self, code: torch.Tensor) -> torch.Tensor:
        """An encoder code in the reference's role: with `model.reference_code_pooled`, its mean over the grid,
        spread back over it; else itself. [B,Cs,Hs,Ws] -> [B,Cs,Hs,Ws]"""
        if not self.reference_code_pooled:
            return code
        return code.mean(dim=(2, 3), keepdim=True).expand_as(code)

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """G(x, S). [B,3,H,W],[B,Cs,Hs,Ws] -> [B,3,H,W]"""
        return self.generator(x, code)

    def draw(self, x: torch.Tensor, code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """G's own image and its keep mask (None without one). -> [B,3,H,W], [B,1,H,W]"""
        return self.generator.draw(x, code)


def build_discriminator(config: ModelConfig) -> Discriminator:
    return Discriminator(len(config.attributes), config.image_size, config.disc_channels, config.disc_max_channels,
                         config.disc_separate_attribute_trunk, config.disc_projection, config.disc_twin_attribute_head,
                         config.disc_patch_critic)
