"""Schedules: pure functions of the step (learning rate, loss-weight warm-ups, which networks train)."""

from __future__ import annotations

from typing import Literal, NamedTuple

from bridgegan_batch.config import TrainConfig


class WeightScales(NamedTuple):
    """Factors on groups of G's loss weights at one step, each ramped by its own warm-up."""

    latent: float = 1.0  # closeness and latent cycle (train.latent_warmup_steps)
    restraint: float = 1.0  # minimal change, keep area and keep agreement (train.restraint_warmup_steps)


FULL_WEIGHTS = WeightScales()  # past every warm-up


def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warm-up, constant, then linear decay to 0 from `decay_start` to `steps`."""
    lr = config.lr
    if config.warmup_steps and step < config.warmup_steps:
        return lr * (step + 1) / config.warmup_steps
    if config.decay_start is not None and step >= config.decay_start:
        remaining = max(config.steps - config.decay_start, 1)
        return lr * max(0.0, 1.0 - (step - config.decay_start) / remaining)
    return lr


def _ramp(step: int, warmup_steps: int) -> float:
    """Linear from 0 at step 0 to 1 at `warmup_steps`, then 1 (always 1 without a warm-up)."""
    return 1.0 if warmup_steps == 0 else min(1.0, step / warmup_steps)


def weight_scales(step: int, config: TrainConfig) -> WeightScales:
    """The loss-weight warm-ups at `step`."""
    return WeightScales(latent=_ramp(step, config.latent_warmup_steps),
                        restraint=_ramp(step, config.restraint_warmup_steps))


StepPhase = Literal["autoencode", "discriminator", "both"]


def step_phase(step: int, config: TrainConfig) -> StepPhase:
    """Who trains at `step`: G alone on self-reconstruction (the autoencoder warm start), then D alone against the
    G as it is (the discriminator warm-up), then both."""
    if step < config.autoencoder_steps:
        return "autoencode"
    if step < config.autoencoder_steps + config.discriminator_warmup_steps:
        return "discriminator"
    return "both"
