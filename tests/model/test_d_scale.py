import pytest

from bridgegan_batch.model.d_scale import DScale, d_scale_json, parse_d_scale

NAMES = ("Eyeglasses", "Smiling", "Gray_Hair")


def test_a_number_scales_every_component_and_stays_a_number():
    assert parse_d_scale(1.25, "x") == 1.25 and isinstance(parse_d_scale(2, "x"), float)
    assert parse_d_scale({"default": 1.25}, "x") == 1.25  # no attribute of its own: just the number
    add, remove = DScale.of(1.25).vectors(NAMES)
    assert add.tolist() == remove.tolist() == [1.25] * 3


def test_each_attribute_and_direction_has_its_scale():
    scale = parse_d_scale({"add": {"Eyeglasses": 1.125}, "remove": {"Gray_Hair": 1.75}}, "x")
    assert isinstance(scale, DScale) and scale.default == 1.5
    add, remove = scale.vectors(NAMES)
    assert add.tolist() == [1.125, 1.5, 1.5] and remove.tolist() == [1.5, 1.5, 1.75]
    assert scale.factor("Eyeglasses", 1) == 1.125 and scale.factor("Eyeglasses", -1) == 1.5
    assert scale.factor("Gray_Hair", -1) == 1.75 and scale.factor("Smiling", 1) == 1.5
    assert scale.describe() == "1.5; add Eyeglasses 1.125; remove Gray_Hair 1.75"
    assert DScale.of(d_scale_json(scale)) == scale and d_scale_json(1.25) == 1.25


@pytest.mark.parametrize("value, message", [
    (0, "default"), (-1.0, "default"), (float("inf"), "default"), (True, "neither a number"), ("strong", "neither"),
    ({"add": {"Eyeglasses": 0}}, "add.Eyeglasses"), ({"add": {"Eyeglasses": "big"}}, "add.Eyeglasses"),
    ({"strength": 2}, "strength"), ({"add": [1.2]}, "add"),
])
def test_bad_scales_are_refused_naming_the_place(value, message):
    with pytest.raises(ValueError, match=rf"model.d_scale: .*{message}"):
        parse_d_scale(value, "model.d_scale")


def test_attributes_the_model_does_not_know_are_named():
    scale = DScale(add={"Wings": 1.2}, remove={"Eyeglasses": 1.2})
    with pytest.raises(ValueError, match=r"unknown attributes \['Wings'\]"):
        scale.vectors(NAMES)

