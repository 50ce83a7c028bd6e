"""Target labels and references for a training batch: pure functions of (labels, generator)."""

from __future__ import annotations

import torch


def flip_one(labels: torch.Tensor, which: torch.Tensor, groups: list[list[int]]) -> torch.Tensor:
    """`labels` with attribute `which[i]` flipped in row i; turning a group member on clears the rest.

    labels: [B, N] in {0, 1}; which: [B] long -> [B, N]
    """
    target = labels.clone()
    rows = torch.arange(labels.shape[0], device=labels.device)
    new = 1 - labels[rows, which]  # [B]
    for group in groups:
        member = torch.zeros_like(which, dtype=torch.bool)
        for g in group:
            member |= which == g
        clear = member & (new == 1)  # [B]
        for g in group:
            target[clear, g] = 0
    target[rows, which] = new
    return target


def pick_at_random(candidates: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Per row, a random column among its candidates, or a random column where it has none.
    candidates: [B, C] bool -> [B] long"""
    scores = torch.rand(candidates.shape, generator=generator) + candidates.float()  # candidates score in [1, 2)
    return scores.argmax(dim=1)


def sample_targets(labels: torch.Tensor, generator: torch.Generator, single_flip_fraction: float,
                   groups: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets and reference indices for a batch.

    A `single_flip_fraction` of the rows change one random attribute; the others take the labels
    of another face of the batch (a permutation, as StarGAN and the authors do). Every row's
    reference is a face of the batch that has the row's target value on each changed attribute
    when one exists (always true for permuted rows: the reference is the face whose labels were
    taken), else a random face.

    labels: [B, N] float {0,1} -> target [B, N] float, reference index [B] long
    """
    b, n = labels.shape
    perm = torch.randperm(b, generator=generator)
    which = torch.randint(0, n, (b,), generator=generator)
    single = torch.rand(b, generator=generator) < single_flip_fraction  # [B]
    flipped = flip_one(labels, which, groups)
    target = torch.where(single[:, None], flipped, labels[perm])
    # For single flips, any face whose label on the flipped attribute equals the target serves.
    ok = target[torch.arange(b), which][:, None] == labels[:, which].T  # [B, B]: row i, candidate j
    chosen = pick_at_random(ok, generator)  # a random candidate, or a random face if none qualifies
    reference = torch.where(single, chosen, perm)
    return target, reference


def second_references(labels: torch.Tensor, target: torch.Tensor, reference: torch.Tensor,
                      generator: torch.Generator) -> torch.Tensor:
    """For each row, another face of the batch that has the row's target value on every attribute the row changes,
    chosen at random; the row's own reference where no other face qualifies (the two then draw the same output).

    labels, target: [B, N] float {0,1}; reference: [B] long -> [B] long
    """
    b = labels.shape[0]
    changed = target != labels  # [B, N]
    # fits[i, j]: face j has row i's target value on each attribute row i changes
    fits = ((labels[None, :, :] == target[:, None, :]) | ~changed[:, None, :]).all(dim=2)  # [B, B]
    fits[torch.arange(b), reference] = False
    return torch.where(fits.any(dim=1), pick_at_random(fits, generator), reference)
