"""Ground-truth cases and scores: outputs whose answer is known score as they must, and a plain numpy
re-implementation of the measure agrees with the library's."""

import numpy as np
import pytest
import torch

from bridgegan_batch.config import JudgeConfig, ModelConfig
from bridgegan_batch.data.attributes import SYNTH_ATTRIBUTES
from bridgegan_batch.errors import UserError
from bridgegan_batch.eval.ground_truth import (
    detail_ratio,
    evaluate_ground_truth,
    make_truth_cases,
    markdown,
    pooled_detail,
    reductions,
    score_label,
    score_reference,
    truth_case_sets,
)
from bridgegan_batch.eval.judge import Judge, JudgeNet
from bridgegan_batch.model.bridge import BridgeGenerator
from bridgegan_batch.model.pixels import to_tensor
from bridgegan_batch.model.translator import Translator
from tests.conftest import TINY

ATTRIBUTES = ("Eyeglasses", "Smiling", "Blond_Hair", "Black_Hair", "Wearing_Hat")


@pytest.fixture(scope="module")
def glasses():
    return make_truth_cases("Eyeglasses", 1, ATTRIBUTES, n=6, size=64, styles=4)


def test_cases_add_the_attribute_and_render_its_truth_in_every_style(glasses):
    assert glasses.source.shape == (6, 64, 64, 3) and glasses.style_truths.shape == (6, 4, 64, 64, 3)
    k = ATTRIBUTES.index("Eyeglasses")
    assert (glasses.source_labels[:, k] == 0).all() and (glasses.target_labels[:, k] == 1).all()
    assert (glasses.reference_labels[:, k] == 1).all()
    others = [i for i in range(len(ATTRIBUTES)) if i != k]
    assert (glasses.source_labels[:, others] == glasses.target_labels[:, others]).all()
    # Every truth differs from the source, and the styles differ from one another.
    for truths in (glasses.style_truths, glasses.unseen_truth[:, None], glasses.reference_truth[:, None]):
        assert all(not np.array_equal(s, t) for s, row in zip(glasses.source, truths, strict=True) for t in row)
    assert not np.array_equal(glasses.style_truths[:, 0], glasses.style_truths[:, 1])


def test_removal_has_one_truth_whatever_the_style():
    removed = make_truth_cases("Eyeglasses", 0, ATTRIBUTES, n=3, size=64, styles=3)
    assert (removed.source_labels[:, 0] == 1).all() and (removed.target_labels[:, 0] == 0).all()
    for i in range(3):
        assert all(np.array_equal(removed.unseen_truth[i], t) for t in removed.style_truths[i])


def test_hair_colour_change_keeps_the_group_exclusive():
    blond = make_truth_cases("Blond_Hair", 1, ATTRIBUTES, n=8, size=64, styles=1)
    assert (blond.target_labels[:, ATTRIBUTES.index("Black_Hair")] == 0).all()


def test_reduction_is_one_for_the_truth_zero_for_the_source_and_nan_without_an_edit(glasses):
    x, truth = to_tensor(glasses.source), to_tensor(glasses.reference_truth)
    assert torch.allclose(reductions(truth, x, truth), torch.ones(6))
    assert torch.allclose(reductions(x, x, truth), torch.zeros(6))
    halfway = (x + truth) / 2
    assert torch.allclose(reductions(halfway, x, truth), torch.full((6,), 0.5), atol=1e-5)
    assert reductions(x, x, x).isnan().all()


def test_a_perfect_model_scores_one_and_the_source_zero(glasses):
    perfect = score_label(to_tensor(glasses.unseen_truth), glasses)
    assert perfect["relative"] == pytest.approx(1.0) and perfect["outside_l1"] == pytest.approx(0.0, abs=1e-6)
    assert 0 < perfect["perfect_reduction"] < 1  # an unseen style is not any of the rendered ones
    lazy = score_label(to_tensor(glasses.source), glasses)
    assert lazy["reduction"] == pytest.approx(0.0, abs=1e-6) and lazy["relative"] == pytest.approx(0.0, abs=1e-6)
    assert not lazy["made"].any() and perfect["made"].mean() >= 0.5
    # Drawing one of the rendered styles exactly beats the perfect model's unseen style.
    exact = score_label(to_tensor(glasses.style_truths[:, 2]), glasses)
    assert exact["reduction"] == pytest.approx(1.0) and exact["relative"] > 1


def test_reference_scores_know_whose_style_was_drawn(glasses):
    own = score_reference(to_tensor(glasses.reference_truth), glasses)
    assert own["reduction"] == pytest.approx(1.0) and own["style_match"] == 1.0 and own["made"].all()
    rival = score_reference(to_tensor(glasses.rival_truth), glasses)
    assert rival["style_match"] == 0.0 and rival["style_n"] == own["style_n"] > 0
    lazy = score_reference(to_tensor(glasses.source), glasses)
    assert lazy["reduction"] == pytest.approx(0.0, abs=1e-6) and lazy["outside_l1"] == pytest.approx(0.0, abs=1e-6)


def test_detail_tells_a_sharp_edit_from_a_blur_of_the_same_colour(glasses):
    hats = make_truth_cases("Wearing_Hat", 1, ATTRIBUTES, n=6, size=64, styles=2)
    x, truth = to_tensor(hats.source), to_tensor(hats.reference_truth)
    assert torch.allclose(detail_ratio(truth, x, truth), torch.ones(6))
    blur = torch.nn.functional.avg_pool2d(truth, 5, stride=1, padding=2, count_include_pad=False)
    assert (reductions(blur, x, truth) > 0.7).all()  # a hat-coloured smear passes the reduction's line of 0.5
    assert (detail_ratio(blur, x, truth) < 0.65).all()  # and the detail says it is a smear
    assert detail_ratio(x, x, x).isnan().all()  # no edit region
    assert score_reference(truth, hats)["detail"] == pytest.approx(1.0)
    assert score_reference(blur, hats)["detail"] < 0.65
    label = score_label(to_tensor(glasses.style_truths[:, 1]), glasses)
    assert label["detail"] == pytest.approx(1.0)  # against its nearest style: itself


def test_pooled_detail_weighs_each_case_by_the_detail_its_truth_asks_for():
    hats = make_truth_cases("Wearing_Hat", 1, ATTRIBUTES, n=4, size=64, styles=2)
    x, truth = to_tensor(hats.source), to_tensor(hats.reference_truth)
    out = truth.clone()
    out[0] = truth[0] + 3 * (truth[0] - x[0])  # case 0 over-drawn: its own ratio far above 1
    ratios = detail_ratio(out, x, truth)
    assert ratios[0] > 2 and torch.allclose(ratios[1:], torch.ones(3))

    def energy(image: torch.Tensor, case: int) -> float:  # |d/dx| + |d/dy| inside the edit region, in numpy
        img, src, tru = (t[case].numpy().astype(np.float64) for t in (image, x, truth))
        region = (np.abs(tru - src).max(axis=0) > 2 / 255)[:-1, :-1]
        grad = (np.abs(img[:, :-1, 1:] - img[:, :-1, :-1]) + np.abs(img[:, 1:, :-1] - img[:, :-1, :-1])).mean(axis=0)
        return grad[region].sum()

    expected = sum(energy(out, i) for i in range(4)) / sum(energy(truth, i) for i in range(4))
    pooled = pooled_detail(out, x, truth)
    assert pooled == pytest.approx(expected, rel=1e-4)
    assert 1 < pooled < ratios.mean().item()  # case 0 counts by the energy its truth asks for
    assert np.isnan(pooled_detail(x, x, x))  # no edit region


def _numpy_reduction(out: np.ndarray, source: np.ndarray, truth: np.ndarray) -> float:
    """The measure as the issue states it, on uint8 images: 1 - L1(out, truth) / L1(source, truth) inside
    the pixels where truth differs from source by more than one grey level in any channel."""
    out, source, truth = (a.astype(np.float64) / 127.5 - 1 for a in (out, source, truth))
    region = (np.abs(truth - source).max(axis=-1) > 2 / 255)[..., None].repeat(3, axis=-1)
    return 1 - np.abs(out - truth)[region].mean() / np.abs(source - truth)[region].mean()


def test_an_independent_numpy_measure_agrees(glasses):
    # Outputs that are partly right: a blend of the source and another style's truth.
    out = ((glasses.source.astype(np.float64) + glasses.style_truths[:, 1]) / 2).round().astype(np.uint8)
    scores = score_label(to_tensor(out), glasses)
    best = [max(_numpy_reduction(o, s, t) for t in styles)
            for o, s, styles in zip(out, glasses.source, glasses.style_truths, strict=True)]
    perfect = [max(_numpy_reduction(u, s, t) for t in styles)
               for u, s, styles in zip(glasses.unseen_truth, glasses.source, glasses.style_truths, strict=True)]
    assert scores["reduction"] == pytest.approx(np.mean(best), abs=1e-5)
    assert scores["relative"] == pytest.approx(np.mean(best) / np.mean(perfect), abs=1e-5)
    ref = score_reference(to_tensor(out), glasses)
    expected = np.mean([_numpy_reduction(o, s, t) for o, s, t in zip(out, glasses.source, glasses.reference_truth,
                                                                      strict=True)])
    assert ref["reduction"] == pytest.approx(expected, abs=1e-5)


def test_bad_changes_are_named():
    with pytest.raises(UserError, match="Wings"):
        truth_case_sets(["Wings"], ATTRIBUTES, n=2)
    with pytest.raises(UserError, match="Male"):
        truth_case_sets(["Male"], ATTRIBUTES, n=2)
    with pytest.raises(UserError, match="sideways"):
        truth_case_sets(["Smiling"], ATTRIBUTES, n=2, directions=["sideways"])


def test_evaluates_a_real_model_on_both_paths():
    torch.manual_seed(0)
    config = ModelConfig(attributes=SYNTH_ATTRIBUTES, **{**TINY, "image_size": 64, "code_size": 16})
    translator = Translator(BridgeGenerator(config), config)
    with pytest.raises(UserError, match="32 px"):
        truth_case_sets(["Eyeglasses"], translator.attributes, n=2, size=32)
    sets = truth_case_sets(["Eyeglasses", "Smiling"], translator.attributes, n=3, size=64, styles=2)
    names = ("Eyeglasses", "Smiling")
    judge = Judge(JudgeNet(2, (8, 8, 8)), JudgeConfig(attributes=names, channels=(8, 8, 8)))
    result = evaluate_ground_truth(translator, sets, judge=judge)
    assert result["n"] == 3 and result["styles"] == 2
    for name in names:
        assert set(result["attributes"][name]) == {"add", "remove"}
        for entry in result["attributes"][name].values():
            for kind in ("label", "reference"):
                scores = entry[kind]
                assert np.isfinite(scores["reduction"]) and scores["outside_l1"] >= 0
                assert 0 <= scores["judge"]["agreement"] <= 1 and 0 <= scores["made_rate"] <= 1
    table = markdown(result)
    assert "add Eyeglasses" in table and "remove Smiling" in table
