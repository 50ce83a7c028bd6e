"""The downstream benchmark: known-answer metrics and data, a classifier that learns, and quick mode end to end."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from downstream import (
    CONDITIONS,
    Faces,
    Settings,
    balanced_accuracy,
    balanced_record,
    goal_check,
    jitter,
    mean_std,
    minority_recall,
    oversample,
    predict,
    read_faces,
    render_balanced,
    run_downstream,
    train_classifier,
    write_train_set,
)

from bridgegan_batch.config import GLASSES_SHAPES
from bridgegan_batch.errors import ConfigError, DataError

# ----------------------------------------------------------------------------- metrics


def test_metrics_on_hand_made_predictions():
    y_true = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    y_pred = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    assert minority_recall(y_true, y_pred) == pytest.approx(1 / 4)
    assert balanced_accuracy(y_true, y_pred) == pytest.approx((1 / 4 + 5 / 6) / 2)
    # A constant guess scores 0.5 whatever the class balance; plain accuracy here would be 0.6.
    assert balanced_accuracy(y_true, np.zeros(10, int)) == 0.5
    assert minority_recall(y_true, np.zeros(10, int)) == 0.0
    assert balanced_accuracy(y_true, y_true) == 1.0 and minority_recall(y_true, y_true) == 1.0


@pytest.mark.parametrize(("y_true", "y_pred", "message"), [
    ([1, 0], [1], "same length"),
    ([1, 0, 2], [1, 0, 0], "y_true: every value"),
    ([1, 0], [1, -1], "y_pred: every value"),
    ([0, 0], [0, 1], "holds no 1s"),
    ([1, 1], [0, 1], "holds no 0s"),
])
def test_metrics_reject_bad_input(y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        balanced_accuracy(np.array(y_true), np.array(y_pred))


def test_mean_std_and_goal_check_known_answers():
    assert mean_std([0.7, 0.8, 0.9]) == pytest.approx({"mean": 0.8, "std": 0.1})
    assert mean_std([0.5]) == {"mean": 0.5, "std": 0.0}

    def conditions(a, b, c, d):
        values = zip(CONDITIONS, (a, b, c, d), strict=True)
        return {name: {"balanced_accuracy": {"mean": v, "std": 0.0}} for name, v in values}

    goal = goal_check(conditions(0.6, 0.7, 0.8, 0.9))
    assert goal["fraction_closed"] == pytest.approx(2 / 3) and goal["holds"]
    goal = goal_check(conditions(0.6, 0.7, 0.65, 0.9))  # closes 1/6 of the gap and loses to (b)
    assert goal["fraction_closed"] == pytest.approx(1 / 6)
    assert not goal["bridgegan_beats_oversample"] and not goal["closes_half_the_gap"] and not goal["holds"]
    goal = goal_check(conditions(0.6, 0.5, 0.7, 0.6))  # (d) does not beat (a): no gap to close
    assert goal["fraction_closed"] is None and not goal["holds"]
    spread = conditions(0.6, 0.7, 0.8, 0.9)
    spread["oversample"]["balanced_accuracy"]["std"] = 0.06  # a lead of 0.1 within twice the seeds' spread
    goal = goal_check(spread)
    assert goal["two_std"] == pytest.approx(0.12) and not goal["bridgegan_beats_oversample"] and not goal["holds"]
    with pytest.raises(ValueError, match="bridgegan"):
        goal_check({"imbalanced": {}, "oversample": {}})


# ----------------------------------------------------------------------------- data


def test_oversample_makes_a_50_50_set_from_jittered_minority_copies():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(20, 8, 8, 3), dtype=np.uint8)
    labels = np.zeros(20, dtype=np.int64)
    labels[[2, 5, 11]] = 1
    out = oversample(Faces(images, labels), seed=1)
    assert len(out) == 34 and out.labels.sum() == 17
    assert np.array_equal(out.images[:20], images) and np.array_equal(out.labels[:20], labels)  # originals first
    copies = out.images[20:]
    assert (out.labels[20:] == 1).all()
    # Each copy comes from a minority face: close to it, or to its mirror image, after jitter.
    minority = images[[2, 5, 11]].astype(float)
    for copy in copies.astype(float):
        gaps = [np.abs(copy - m).mean() for m in minority] + [np.abs(copy - m[:, ::-1]).mean() for m in minority]
        assert min(gaps) < 40
    assert not any(np.array_equal(c, images[i]) for c in copies for i in (2, 5, 11))  # jittered, not copied
    assert np.array_equal(oversample(Faces(images, labels), seed=1).images, out.images)  # seeded
    with pytest.raises(ValueError, match="needs both classes"):
        oversample(Faces(images, np.zeros(20, dtype=np.int64)), seed=1)


def test_jitter_flips_and_keeps_colour_statistics_near():
    rng = np.random.default_rng(3)
    image = np.zeros((1, 4, 4, 3), dtype=np.uint8)
    image[0, :, 0] = 200  # a bright left column
    outs = np.concatenate([jitter(image, rng) for _ in range(40)])
    left, right = outs[:, :, 0].mean(axis=(1, 2)), outs[:, :, -1].mean(axis=(1, 2))
    assert (left > right).any() and (right > left).any()  # some flipped, some not
    assert outs.dtype == np.uint8 and outs.shape == (40, 4, 4, 3)


def test_imbalanced_set_has_about_5_percent_glasses_in_the_training_shapes(tmp_path):
    settings = dataclasses.replace(Settings.quick(), n_train=400, shard_size=200)
    write_train_set(tmp_path / "train", settings, shapes=("round", "rect"))
    faces, ops = read_faces(str(tmp_path / "train"), 64)
    assert len(faces) == 400 and ops == {"input": 400}
    assert faces.images.shape == (400, 64, 64, 3)
    assert 0.025 <= faces.positive_fraction <= 0.085, faces.positive_fraction  # 5 % ± 3 sigma
    from bridgegan_batch.data.reader import DatasetReader

    shapes = {s.meta["synthfaces"]["glasses"]["shape"] for s in DatasetReader(str(tmp_path / "train"))}
    assert shapes <= {"round", "rect"}


def test_balanced_faces_are_exactly_half_glasses_with_the_given_shapes():
    faces = render_balanced(10, stream=5, shapes=("aviator",), size=64)
    assert faces.images.shape == (10, 64, 64, 3) and faces.labels.tolist() == [0, 1] * 5
    from bridgegan_batch.config import SynthConfig

    config = SynthConfig(glasses_shapes=("aviator",))
    records = [balanced_record(i, stream=5, config=config) for i in range(10)]
    assert [r.attributes["Eyeglasses"] for r in records] == [0, 1] * 5
    assert {r.glasses.shape for r in records} == {"aviator"}


# ----------------------------------------------------------------------------- classifier and settings


def test_classifier_learns_an_easy_task_and_is_seeded():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 120, size=(160, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(160, dtype=np.int64) % 2
    images[labels == 1, 12:16, 4:28] = 255  # a bright bar across the eyes: "glasses"
    settings = dataclasses.replace(Settings.quick(), epochs=4, batch_size=16)
    net = train_classifier(Faces(images[:120], labels[:120]), settings, seed=0)
    pred = predict(net, images[120:])
    assert balanced_accuracy(labels[120:], pred) >= 0.9
    again = train_classifier(Faces(images[:120], labels[:120]), settings, seed=0)
    assert all(np.array_equal(p.detach().numpy(), q.detach().numpy())
               for p, q in zip(net.parameters(), again.parameters(), strict=True))


@pytest.mark.parametrize(("changes", "field"), [
    ({"n_train": 0}, "n_train"),
    ({"n_test": 101}, "n_test"),
    ({"glasses_fraction": 0.5}, "glasses_fraction"),
    ({"seeds": ()}, "seeds"),
    ({"seeds": (1, 1)}, "seeds"),
    ({"held_out_shapes": ("hexagon",)}, "held_out_shapes"),
    ({"held_out_shapes": GLASSES_SHAPES}, "held_out_shapes"),
    ({"test_stream": 101}, "train_stream"),
    ({"lr": 0.0}, "lr"),
])
def test_settings_reject_bad_values_naming_the_field(changes, field):
    with pytest.raises(ValueError, match=f"Settings.{field}"):
        dataclasses.replace(Settings.full(), **changes)


def test_settings_train_shapes_are_the_rest():
    assert Settings.full().train_shapes == ("round", "oval", "rect")


def test_run_downstream_refuses_bad_paths_before_doing_anything(tmp_path):
    settings = Settings.quick()
    with pytest.raises(ConfigError, match="nope.yaml"):
        run_downstream(settings, None, tmp_path / "w", job_path=tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="missing.safetensors"):
        run_downstream(settings, str(tmp_path / "missing.safetensors"), tmp_path / "w")
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "x").write_text("")
    with pytest.raises(DataError, match="workdir"):
        run_downstream(settings, None, tmp_path / "w")


# ----------------------------------------------------------------------------- end to end


def _check_conditions(conditions: dict) -> None:
    assert set(conditions) == set(CONDITIONS)
    for name in CONDITIONS:
        assert set(conditions[name]) == {"balanced_accuracy", "minority_recall"}
        for metric in conditions[name].values():
            assert set(metric) == {"mean", "std"}
            assert 0.0 <= metric["mean"] <= 1.0 and 0.0 <= metric["std"] <= 1.0 and not math.isnan(metric["std"])


@pytest.mark.slow
def test_quick_mode_end_to_end_writes_the_schema(quick_results):
    """scripts/bench_downstream.py --quick, as make_results runs it: real shards on disk, the real job (its own
    Ray) twice, 4 conditions x 2 seeds."""
    out = quick_results / "results"
    result = json.loads((out / "downstream.json").read_text())
    assert result["seeds"] == [0, 1]
    _check_conditions(result["conditions"])
    _check_conditions(result["held_out_style"]["conditions"])
    for run in (result["all_shapes"], result["held_out_style"]):
        ops = run["job"]["output_ops"]
        assert ops["original"] == 200 and min(ops["label"], ops["reference"], ops["interpolate"]) > 0
        assert run["training_faces"]["bridgegan"] == sum(ops.values()) == run["training_faces"]["balanced_real"]
        assert run["training_glasses_fraction"]["oversample"] == 0.5
        assert abs(run["training_glasses_fraction"]["bridgegan"] - 0.5) <= 0.02
        for name in CONDITIONS:
            assert len(run["per_seed"][name]["balanced_accuracy"]) == 2
    assert result["held_out_style"]["test_shapes"] == ["aviator", "cateye"]
    assert "never saw the shapes" in result["held_out_style"]["note"]
    text = (out / "downstream.md").read_text()
    assert "(c) + BridgeGAN job" in text and "Held-out frame style" in text and "gap closed" in text
    # The training set the job read is the one on disk, and its output holds the originals.
    assert (quick_results / "work" / "downstream" / "all_shapes" / "job" / "manifest.json").is_file()
