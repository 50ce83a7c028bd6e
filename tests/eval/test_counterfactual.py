"""Counterfactual cases, and the suite's scores on outputs whose answer is known."""

import numpy as np
import pytest
import torch

from bridgegan_batch.errors import UserError
from bridgegan_batch.eval.counterfactual import make_cases, real_faces
from bridgegan_batch.eval.suite import style_match
from bridgegan_batch.model.pixels import to_tensor

ATTRIBUTES = ("Eyeglasses", "Smiling", "Blond_Hair", "Black_Hair")


@pytest.fixture(scope="module")
def cases():
    return make_cases(["Eyeglasses", "Blond_Hair"], ATTRIBUTES, n=12, size=64)


def test_each_case_flips_one_attribute_and_its_truth_shows_it(cases):
    assert len(cases) == 24 and cases.source.shape == (24, 64, 64, 3)
    rows = np.arange(24)
    flipped = cases.target_labels[rows, cases.changed]
    assert (flipped == cases.value).all() and (cases.source_labels[rows, cases.changed] == 1 - cases.value).all()
    glasses = cases.changed == ATTRIBUTES.index("Eyeglasses")
    # Only the changed attribute (and, for a hair colour, the exclusive other colours) differs.
    assert (cases.target_labels[glasses][:, 1:] == cases.source_labels[glasses][:, 1:]).all()
    # The references have the target value, and every truth differs from its source.
    assert (cases.reference_labels[rows, cases.changed] == cases.value).all()
    assert all(not np.array_equal(s, t) for s, t in zip(cases.source, cases.label_truth, strict=True))


def test_reference_truth_wears_the_reference_style(cases):
    added = (cases.changed == ATTRIBUTES.index("Eyeglasses")) & (cases.value == 1)
    assert added.any()
    # Two references' glasses almost always differ; removed glasses look the same in both truths.
    assert cases.style_differs[added].mean() > 0.8
    removed = cases.value == 0
    assert not cases.style_differs[removed & (cases.changed == 0)].any()


def test_style_match_of_known_outputs(cases):
    own = style_match(to_tensor(cases.reference_truth), cases)
    rival = style_match(to_tensor(cases.rival_truth), cases)
    assert own["n"] == cases.style_differs.sum() > 0
    assert own["rate"] == 1.0 and rival["rate"] == 0.0


def test_bad_requests_name_the_attribute():
    with pytest.raises(UserError, match="Male"):
        make_cases(["Male"], ATTRIBUTES, n=1)
    with pytest.raises(UserError, match="Mustache"):
        make_cases(["Eyeglasses"], ("Eyeglasses", "Mustache"), n=1)


def test_real_faces_are_deterministic():
    a, b = real_faces(3, 64), real_faces(3, 64)
    assert a.shape == (3, 64, 64, 3) and np.array_equal(a, b) and torch.is_tensor(to_tensor(a))


def test_subset_keeps_the_chosen_cases_in_every_field(cases):
    adds = cases.subset(cases.value == 1)
    assert 0 < len(adds) < len(cases) and (adds.value == 1).all()
    assert np.array_equal(adds.source, cases.source[cases.value == 1])
    assert np.array_equal(adds.reference_labels, cases.reference_labels[cases.value == 1])
    assert adds.attributes == cases.attributes
