import torch

from bridgegan_batch.data.attributes import group_indices
from bridgegan_batch.train.targets import flip_one, sample_targets, second_references

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


def test_second_references_share_the_changed_attributes_and_differ_from_the_first():
    labels = torch.randint(0, 2, (64, 4), generator=torch.Generator().manual_seed(5)).float()
    target, first = sample_targets(labels, torch.Generator().manual_seed(3), 0.5, GROUPS)
    second = second_references(labels, target, first, torch.Generator().manual_seed(4))
    assert torch.equal(second, second_references(labels, target, first, torch.Generator().manual_seed(4)))
    changed = target != labels
    assert ((labels[second] == target) | ~changed).all()
    other = second != first
    assert other.float().mean() > 0.5  # most rows find another face: single flips always do at B = 64
    # A row whose changed attributes no other face has keeps its one reference.
    lone = torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    target = torch.tensor([[0.0, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    picked = second_references(lone, target, torch.tensor([1, 0, 1]), torch.Generator().manual_seed(0))
    assert picked[1] == 0  # only face 0 wears attribute 0: no second
    assert picked[0] == 2  # rows 1 and 2 both lack attribute 0; 1 is the first reference
    assert picked[2] in (0, 2)  # nothing changes: any face but the first reference
