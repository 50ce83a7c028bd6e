"""Schedules: pure functions of the step (learning rate, latent-loss warm-up, the autoencoder warm start)."""

from __future__ import annotations

from bridgegan_batch.config import TrainConfig


def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warm-up, constant, then linear decay to 0 from `decay_start` to `steps`."""
    lr = config.lr
    if config.warmup_steps and step < config.warmup_steps:
        return lr * (step + 1) / config.warmup_steps
    if config.decay_start is not None and step >= config.decay_start:
        remaining = max(config.steps - config.decay_start, 1)
        return lr * max(0.0, 1.0 - (step - config.decay_start) / remaining)
    return lr


def latent_weight_scale(step: int, config: TrainConfig) -> float:
    """Factor on the closeness and latent-cycle weights: linear from 0 to 1 over the warm-up."""
    if config.latent_warmup_steps == 0:
        return 1.0
    return min(1.0, step / config.latent_warmup_steps)


def autoencoding(step: int, config: TrainConfig) -> bool:
    """Whether `step` is in the autoencoder warm start (reconstruction alone, no D)."""
    return step < config.autoencoder_steps
