import json

import numpy as np
import pytest

from bridgegan_batch.config import DEFAULT_SYNTH_PRIORS as DEFAULT_PRIORS
from bridgegan_batch.config import SynthConfig
from bridgegan_batch.data.attributes import HAIR_COLORS, SYNTH_ATTRIBUTES
from bridgegan_batch.data.synthfaces import (
    FaceRecord,
    eye_band_mask,
    render,
    sample_record,
    with_attributes,
    with_styles_from,
)


def test_record_is_deterministic_in_seed_and_index():
    assert sample_record(3, 11) == sample_record(3, 11)
    assert sample_record(3, 11) != sample_record(3, 12)
    assert sample_record(3, 11) != sample_record(4, 11)


@pytest.mark.parametrize("size", [64, 128])
def test_render_same_record_gives_identical_bytes(size):
    record = sample_record(0, 5)
    a, b = render(record, size), render(FaceRecord.from_dict(json.loads(json.dumps(record.to_dict()))), size)
    assert a.shape == (size, size, 3) and a.dtype == np.uint8
    assert a.tobytes() == b.tobytes()


def test_record_json_round_trip_and_strictness():
    record = sample_record(1, 2)
    data = json.loads(json.dumps(record.to_dict()))
    assert FaceRecord.from_dict(data) == record
    data["glasses"]["sparkle"] = 1
    with pytest.raises(ValueError, match="sparkle"):
        FaceRecord.from_dict(data)


def test_default_priors_match_celeba_within_one_point():
    n = 20_000
    counts = dict.fromkeys(SYNTH_ATTRIBUTES, 0)
    for i in range(n):
        for name, value in sample_record(2026, i).attributes.items():
            counts[name] += value
    for name in SYNTH_ATTRIBUTES:
        assert abs(counts[name] / n - DEFAULT_PRIORS[name]) < 0.01, name


def test_hair_colours_are_exclusive_when_sampled_and_changed():
    for i in range(500):
        record = sample_record(9, i)
        assert sum(record.attributes[h] for h in HAIR_COLORS) <= 1
    blond = with_attributes(sample_record(9, 0), {"Black_Hair": 1, "Blond_Hair": 0})
    blond = with_attributes(blond, {"Blond_Hair": 1})
    assert blond.attributes["Blond_Hair"] == 1 and blond.attributes["Black_Hair"] == 0
    with pytest.raises(ValueError, match="exclusive"):
        with_attributes(blond, {"Black_Hair": 1, "Gray_Hair": 1})


def test_configurable_priors():
    config = SynthConfig(priors={"Eyeglasses": 0.5})
    rate = np.mean([sample_record(0, i, config).attributes["Eyeglasses"] for i in range(2000)])
    assert 0.45 < rate < 0.55
    with pytest.raises(ValueError, match="Wings"):
        SynthConfig(priors={"Wings": 0.5})
    with pytest.raises(ValueError, match="exclusive"):
        SynthConfig(priors={"Black_Hair": 0.6, "Blond_Hair": 0.6})


@pytest.mark.parametrize("size", [64, 128])
def test_adding_glasses_changes_only_the_eye_band(size):
    changed_somewhere = 0
    for i in range(40):
        record = with_attributes(sample_record(11, i), {"Eyeglasses": 0})
        plain, glasses = render(record, size), render(with_attributes(record, {"Eyeglasses": 1}), size)
        diff = np.any(plain != glasses, axis=-1)  # [S, S]
        band = eye_band_mask(record, size)
        assert not np.any(diff & ~band), f"face {i}: pixels changed outside the eye band"
        assert band.mean() < 0.5  # the mask is a band, not the whole image
        changed_somewhere += diff.sum() > 0.01 * size * size
    assert changed_somewhere == 40  # and glasses are visible every time


def test_other_attributes_change_the_image():
    record = sample_record(5, 3)
    base = render(record)
    for name in SYNTH_ATTRIBUTES:
        flipped = with_attributes(record, {name: 1 - record.attributes[name]})
        assert np.abs(render(flipped).astype(int) - base).mean() > 0.3, name


def test_styles_from_reference_gives_its_exact_glasses():
    source = with_attributes(sample_record(1, 0), {"Eyeglasses": 1})
    reference = sample_record(1, 1)
    assert source.glasses != reference.glasses
    out = with_styles_from(source, reference, ["Eyeglasses"])
    assert out.glasses == reference.glasses
    assert out.face == source.face and out.hair == source.hair and out.pose == source.pose
    shade = with_styles_from(source, reference, ["Blond_Hair"])
    assert shade.hair.shade == reference.hair.shade and shade.hair.length == source.hair.length
    # the counterfactual differs from wearing one's own glasses, inside the eye band only
    a, b = render(source), render(out)
    diff = np.any(a != b, axis=-1)
    assert diff.any() and not np.any(diff & ~eye_band_mask(source))
