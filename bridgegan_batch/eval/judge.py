"""The attribute judge: a small CNN that says which attributes a face has, to score translations."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from bridgegan_batch.config import JudgeConfig, SynthConfig
from bridgegan_batch.data.arrays import SYNTH, load_arrays
from bridgegan_batch.data.attributes import HAIR_COLORS, SYNTH_ATTRIBUTES
from bridgegan_batch.errors import DataError
from bridgegan_batch.eval import degrade
from bridgegan_batch.model.classifier import Judge, JudgeNet
from bridgegan_batch.model.pixels import to_tensor

# (net, images [B, 3, H, W], labels [B, N]) -> images the net is trained on in their place
Perturb = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
HELD_OUT_SEED = 2000  # SynthFaces held out from a judge: seed + this (training faces: seed + 1000)


def train_judge(config: JudgeConfig, images: np.ndarray, labels: np.ndarray, *, epochs: int = 4,
                batch_size: int = 64, lr: float = 2e-3, degraded: float = 0.0, seed: int = 0,
                progress: bool = True, perturb: Perturb | None = None) -> Judge:
    """Fit a judge on uint8 images [M, H, W, 3] with labels [M, N] (one-cycle lr, horizontal flips; a
    `degraded` fraction of each batch through eval.degrade's trained families; `perturb(net, x, y)`, if given,
    replaces each batch before the step: adversarial training)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = JudgeNet(len(config.attributes), config.channels)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * (len(images) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    gen = torch.Generator().manual_seed(seed)
    y_all = torch.from_numpy(labels.astype(np.float32))
    bar = tqdm(total=steps, unit="it", desc="judge", disable=not progress)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=gen)
        for i in range(len(images) // batch_size):
            idx = order[i * batch_size : (i + 1) * batch_size]
            batch = images[idx.numpy()]  # [B, H, W, 3] uint8
            x = to_tensor(degrade.degrade_randomly(batch, rng, degraded) if degraded else batch)  # [B, 3, H, W]
            flip = torch.rand(len(idx), generator=gen) < 0.5
            x[flip] = x[flip].flip(-1)  # faces are left-right symmetric in their labels
            if perturb is not None:
                x = perturb(net, x, y_all[idx])
            loss = F.binary_cross_entropy_with_logits(net(x), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update()
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    return Judge(net, config)


def unit_l2(g: torch.Tensor) -> torch.Tensor:
    """Each sample scaled to L2 norm 1. [B, ...] -> [B, ...]"""
    return g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * (g.dim() - 1))


def into_l2_ball(delta: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """Each sample's change shrunk into its L2 ball. [B, 3, H, W], [B] -> [B, 3, H, W]"""
    norm = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
    return delta * (radius / norm).clamp(max=1).view(-1, 1, 1, 1)


def walk_in_l2_ball(net: nn.Module, x: torch.Tensor, y: torch.Tensor, radius: torch.Tensor, steps: int,
                    sign: float) -> torch.Tensor:
    """`steps` normalised gradient steps of 2.5 radius / steps on the net's BCE toward labels y, up (sign +1: the
    faces that fool it most, PGD) or down (-1: the faces it finds most like y), each face kept within its L2 ball
    (the net sees them clipped to [-1, 1]). x: [B, 3, H, W], y: [B, N], radius: [B] -> [B, 3, H, W]"""
    delta, size = torch.zeros_like(x), 2.5 * radius.view(-1, 1, 1, 1) / steps
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = F.binary_cross_entropy_with_logits(net((x + delta).clamp(-1, 1)), y)
        (grad,) = torch.autograd.grad(loss, delta)
        delta = into_l2_ball(delta.detach() + sign * size * unit_l2(grad), radius)
    return (x + delta).clamp(-1, 1).detach()


def worst_within(eps: float, steps: int = 3) -> Perturb:
    """The perturb hook of adversarial training (PGD, Madry et al. 2018): each face moved, within L2 `eps` on the
    [-1, 1] scale, to where the judge's loss is highest. A judge trained on these keeps its answer near every face,
    so its gradient asks for what the attribute looks like rather than for noise (Santurkar et al. 2019), which is
    what a generator trained against it needs (docs/dev/issue26.md, twenty-first session)."""
    def perturb(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return walk_in_l2_ball(net, x, y, torch.full((len(x),), eps, device=x.device), steps, sign=1.0)
    return perturb


def accuracy(judge: Judge, images: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Held-out accuracy per attribute."""
    return _accuracy_of(judge, to_tensor(images), labels)


def _accuracy_of(judge: Judge, x: torch.Tensor, labels: np.ndarray) -> dict[str, float]:
    """Accuracy per attribute of the judge on images x [M, 3, H, W] in [-1, 1] with labels [M, N]."""
    predicted = judge.predict(x).numpy()
    return {name: float((predicted[:, k] == labels[:, k]).mean()) for k, name in enumerate(judge.config.attributes)}


def robustness(judge: Judge, images: np.ndarray, labels: np.ndarray) -> dict[str, dict]:
    """Per fixed degradation (and clean): the fraction of faces with every attribute right, the attribute
    most often wrong, and whether degraded training leaves the family out. images: [M, H, W, 3] uint8,
    labels: [M, N]"""
    result = {}
    variants = {"clean": images} | {name: degrade.apply(images, fn, s) for name, (fn, s) in degrade.FIXED.items()}
    for name, variant in variants.items():
        wrong = judge.predict(to_tensor(variant)).numpy() != labels  # [M, N]
        worst = int(wrong.mean(axis=0).argmax())
        result[name] = {"all_correct": float((~wrong.any(axis=1)).mean()),
                        "worst": judge.config.attributes[worst], "worst_error": float(wrong[:, worst].mean()),
                        "held_out": name in degrade.HELD_OUT}
    return result


def balanced_synth_config() -> SynthConfig:
    """SynthFaces with every attribute at 50 % (hair colours 20 % each): a judge sees both states."""
    return SynthConfig(priors={**{a: 0.5 for a in SYNTH_ATTRIBUTES}, **{h: 0.2 for h in HAIR_COLORS}})


def fit_judge(data: str | Sequence[str], *, attributes: Sequence[str], n: int, val_n: int, epochs: int,
              size: int = 64, degraded: float = 0.0, adversarial_eps: float = 0.0, seed: int = 0, workers: int = 1,
              progress: bool = True) -> tuple[Judge, dict]:
    """Train a judge on `data` ('synth' or shard patterns) and measure it on held-out faces; with
    `adversarial_eps`, adversarially (worst_within), and measured under that attack too.

    SynthFaces: trains on balanced faces (stream seed+1000), reports accuracy on held-out faces at
    the default priors (seed+2000). Shards: the last `val_n` of the first n+val_n faces are held out.
    """
    config = JudgeConfig(attributes=tuple(attributes), image_size=size)
    if data == SYNTH:
        x, y = load_arrays(data, n=n, size=size, attributes=attributes, seed=seed + 1000,
                           synth=balanced_synth_config(), workers=workers)
        xv, yv = load_arrays(data, n=val_n, size=size, attributes=attributes, seed=seed + HELD_OUT_SEED,
                             workers=workers)
    else:
        x, y = load_arrays(data, n=n + val_n, size=size, attributes=attributes)
        if len(x) <= val_n:
            raise DataError(f"{data}: {len(x)} labelled faces, need more than --val-n {val_n}")
        x, y, xv, yv = x[:-val_n], y[:-val_n], x[-val_n:], y[-val_n:]
    perturb = worst_within(adversarial_eps) if adversarial_eps else None
    judge = train_judge(config, x, y, epochs=epochs, degraded=degraded, seed=seed, progress=progress,
                        perturb=perturb)
    report = {"train_samples": len(x), "val_samples": len(xv), "epochs": epochs, "degraded": degraded,
              "adversarial_eps": adversarial_eps, "val_accuracy": accuracy(judge, xv, yv),
              "robustness": robustness(judge, xv, yv)}
    if adversarial_eps:
        report["val_accuracy_under_attack"] = accuracy_under_attack(judge, xv[:512], yv[:512], adversarial_eps)
    return judge, report


def accuracy_under_attack(judge: Judge, images: np.ndarray, labels: np.ndarray, eps: float,
                          steps: int = 10) -> dict[str, float]:
    """Held-out accuracy per attribute on faces each moved within L2 `eps` to fool the judge (PGD, `steps`)."""
    attacked = worst_within(eps, steps)(judge.net, to_tensor(images).to(judge.device),
                                        torch.from_numpy(labels.astype(np.float32)).to(judge.device))
    return _accuracy_of(judge, attacked, labels)
