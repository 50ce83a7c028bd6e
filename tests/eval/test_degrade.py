import numpy as np
import pytest

from bridgegan_batch.data.arrays import load_arrays
from bridgegan_batch.eval import degrade


@pytest.fixture(scope="module")
def images():
    return load_arrays("synth", n=6, size=64, attributes=("Eyeglasses",), seed=3)[0]  # [6, 64, 64, 3] uint8


@pytest.mark.parametrize("name", list(degrade.FIXED))
def test_each_fixed_degradation_changes_pixels_and_is_repeatable(images, name):
    fn, strength = degrade.FIXED[name]
    once, twice = degrade.apply(images, fn, strength), degrade.apply(images, fn, strength)
    assert once.shape == images.shape and once.dtype == np.uint8
    assert np.array_equal(once, twice)
    assert np.abs(once.astype(int) - images).mean() > 0.5  # it is not the identity


def test_held_out_families_are_never_trained_on():
    trained = {fn for fn, _, _ in degrade.TRAINED.values()}
    assert set(degrade.HELD_OUT) <= set(degrade.FIXED)
    assert all(degrade.FIXED[name][0] not in trained for name in degrade.HELD_OUT)
    assert all(degrade.FIXED[name][0] in trained for name in degrade.FIXED if name not in degrade.HELD_OUT)


def test_random_degradation_follows_its_fraction_and_seed(images):
    none = degrade.degrade_randomly(images, np.random.default_rng(0), fraction=0.0)
    assert np.array_equal(none, images) and none is not images
    every = degrade.degrade_randomly(images, np.random.default_rng(0), fraction=1.0)
    assert all(not np.array_equal(a, b) for a, b in zip(every, images, strict=True))
    again = degrade.degrade_randomly(images, np.random.default_rng(0), fraction=1.0)
    assert np.array_equal(every, again)
