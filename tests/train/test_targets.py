import torch

from bridgegan_batch.data.attributes import group_indices
from bridgegan_batch.train.targets import flip_one, sample_targets

NAMES = ["Eyeglasses", "Black_Hair", "Blond_Hair", "Male"]
GROUPS = group_indices(NAMES, [("Black_Hair", "Blond_Hair", "Brown_Hair")])


def test_group_indices_keep_present_members():
    assert GROUPS == [[1, 2]]
    assert group_indices(["Eyeglasses", "Black_Hair"], [("Black_Hair", "Blond_Hair")]) == []


def test_flip_one_keeps_exclusive_groups_consistent():
    labels = torch.tensor([[0.0, 1, 0, 1], [0, 1, 0, 0], [1, 0, 1, 0]])
    out = flip_one(labels, torch.tensor([2, 0, 2]), GROUPS)
    assert out.tolist() == [[0, 0, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]]


def test_sample_targets_is_deterministic_and_references_fit_the_target():
    gen = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    labels = torch.randint(0, 2, (64, 4)).float()
    labels[:, 2] = labels[:, 2] * (1 - labels[:, 1])  # keep the hair group exclusive
    t1, r1 = sample_targets(labels, gen(), 0.5, GROUPS)
    t2, r2 = sample_targets(labels, gen(), 0.5, GROUPS)
    assert torch.equal(t1, t2) and torch.equal(r1, r2)
    assert (t1[:, 1] + t1[:, 2] <= 1).all()
    changed = t1 != labels  # [B, N]
    # the reference has the target value on every attribute that changes (when one exists: here, always)
    fits = (labels[r1] == t1) | ~changed
    assert fits.all()
    singles = changed.sum(1) == 1
    assert 0 < singles.sum() < 64  # a mix of single flips and permutations
