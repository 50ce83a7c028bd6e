"""Fixtures for the engine tests: a tiny real export over the SynthFaces attributes."""

from __future__ import annotations

import pytest
import torch

from bridgegan_batch.config import ModelConfig
from bridgegan_batch.data.attributes import SYNTH_ATTRIBUTES
from bridgegan_batch.model.bridge import BridgeGenerator, build_discriminator
from bridgegan_batch.model.checkpoint import save_export

TINY = dict(image_size=32, code_size=8, code_channels=4, encoder_channels=8, mapping_channels=16,
            generator_channels=(8, 16, 16), spade_hidden=8, disc_channels=8, disc_max_channels=16)


def write_tiny_export(path, info: dict | None = None) -> str:
    """The tiny export's weights (seed 0) at `path`, with `info` in its metadata."""
    torch.manual_seed(0)
    config = ModelConfig(attributes=SYNTH_ATTRIBUTES, **TINY)
    save_export(path, {"bridge": BridgeGenerator(config), "discriminator": build_discriminator(config)}, config,
                info)
    return str(path)


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory) -> str:
    """An untrained export over the SynthFaces attributes: real weights, real file, fast."""
    return write_tiny_export(tmp_path_factory.mktemp("model") / "tiny.safetensors")


@pytest.fixture(scope="session")
def tiny_export_scaled(tmp_path_factory) -> str:
    """The same weights, recording a test-time d scale (adding Eyeglasses: 1.25) that a job setting none takes."""
    return write_tiny_export(tmp_path_factory.mktemp("model_scaled") / "tiny.safetensors",
                 {"d_scale": {"add": {"Eyeglasses": 1.25}}})
