import random

import numpy as np
import pytest
import torch

from bridgegan_batch.config import RunConfig
from bridgegan_batch.errors import ConfigError
from bridgegan_batch.train.data import MAX_COPIES, Oversampler, ShardBatches
from bridgegan_batch.train.run import train


def _stream(rng: np.random.Generator, n: int, base_rates: list[float]):
    for _ in range(n):
        yield None, (rng.random(len(base_rates)) < base_rates).astype(np.float32)


def _shares(items) -> np.ndarray:
    return np.mean([labels for _, labels in items], axis=0)


def test_oversampler_brings_a_rare_attribute_to_its_rate_and_leaves_a_common_one():
    oversampler = Oversampler(["Wearing_Hat", "Smiling"], {"Wearing_Hat": 0.3, "Smiling": 0.3}, random.Random(0))
    out = list(oversampler.stream(_stream(np.random.default_rng(0), 20_000, [0.05, 0.5])))
    hat, smile = _shares(out)
    assert hat == pytest.approx(0.3, abs=0.02)
    # Smiling is above its rate: only the hats' repeats move it, and they are half smiling
    assert smile == pytest.approx(0.5, abs=0.02)
    assert len(out) > 1.3 * 20_000  # the hats were repeated, nothing was dropped


def test_oversampler_never_repeats_one_face_more_than_the_cap():
    oversampler = Oversampler(["Wearing_Hat"], {"Wearing_Hat": 0.9}, random.Random(0))
    for _ in range(5_000):
        oversampler.copies(np.zeros(1, np.float32))
    assert oversampler.copies(np.ones(1, np.float32)) == MAX_COPIES


def test_shard_batches_oversample_glasses_from_real_shards(synth_dirs):
    attributes = ("Eyeglasses", "Smiling", "Male")

    def glasses_share(oversample) -> float:
        stream = iter(ShardBatches(synth_dirs["wds"], batch_size=20, size=64, attributes=attributes,
                                   shuffle_buffer=50, seed=0, oversample=oversample))
        labels = torch.cat([next(stream)[1] for _ in range(40)])  # 800 faces, the 120 of the shards repeated
        return labels[:, 0].mean().item()

    plain, oversampled = glasses_share(None), glasses_share({"Eyeglasses": 0.4})
    assert 0 < plain < 0.15
    assert oversampled == pytest.approx(0.4, abs=0.08)


def test_oversample_refuses_synth_data_before_a_run_folder_exists(tmp_path):
    config = RunConfig.model_validate({"model": {"attributes": ["Eyeglasses"]},
                                       "train": {"oversample": {"Eyeglasses": 0.3}}})
    with pytest.raises(ConfigError, match="train.synth.priors"):
        train(config, data="synth", out=tmp_path / "runs", progress=False)
    assert not (tmp_path / "runs").exists()


def test_oversample_refuses_unknown_attributes_and_rates_outside_0_1():
    with pytest.raises(ValueError, match="not among model.attributes"):
        RunConfig.model_validate({"model": {"attributes": ["Eyeglasses"]}, "train": {"oversample": {"Male": 0.3}}})
    with pytest.raises(ValueError, match=r"a rate in \(0, 1\)"):
        RunConfig.model_validate({"model": {"attributes": ["Eyeglasses"]},
                                  "train": {"oversample": {"Eyeglasses": 1.0}}})
