import pytest
import torch
from torch import nn

from bridgegan_batch.config import TrainConfig
from bridgegan_batch.train.ema import ema_decay_at, update_ema
from bridgegan_batch.train.schedule import autoencoding, latent_weight_scale, learning_rate


def test_learning_rate_warmup_constant_decay():
    config = TrainConfig(lr=1e-3, steps=100, warmup_steps=10, decay_start=50)
    assert learning_rate(0, config) == pytest.approx(1e-4)
    assert learning_rate(9, config) == pytest.approx(1e-3)
    assert learning_rate(30, config) == 1e-3
    assert learning_rate(75, config) == pytest.approx(5e-4)
    assert learning_rate(100, config) == 0.0
    assert learning_rate(12345, TrainConfig(lr=2e-4)) == 2e-4  # the authors': constant


def test_latent_warmup():
    assert latent_weight_scale(0, TrainConfig()) == 1.0
    config = TrainConfig(latent_warmup_steps=100)
    assert [latent_weight_scale(s, config) for s in (0, 50, 100, 500)] == [0.0, 0.5, 1.0, 1.0]


def test_ema_ramps_up_then_averages():
    assert ema_decay_at(0, 0.999) == pytest.approx(0.1)
    assert ema_decay_at(10**6, 0.999) == 0.999
    assert ema_decay_at(0, 0.999, ramp=False) == 0.999  # the average starts from trained weights (train --init)
    model, ema = nn.Linear(2, 2), nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.fill_(1.0)
        ema.weight.fill_(0.0)
    update_ema(ema, model, 0.75)
    assert torch.allclose(ema.weight, torch.full((2, 2), 0.25))


def test_autoencoder_warm_start_covers_its_first_steps_only():
    assert [autoencoding(s, TrainConfig(autoencoder_steps=2)) for s in range(4)] == [True, True, False, False]
    assert not autoencoding(0, TrainConfig())
