import numpy as np
import pytest

from bridgegan_batch.config import JudgeConfig, SynthConfig
from bridgegan_batch.data.arrays import load_arrays
from bridgegan_batch.eval import degrade
from bridgegan_batch.eval.judge import Judge, accuracy, robustness, train_judge
from bridgegan_batch.model.pixels import to_tensor

NAMES = ("Pale_Skin", "Blond_Hair")
EASY = SynthConfig(priors={"Pale_Skin": 0.5, "Blond_Hair": 0.5})


@pytest.fixture(scope="module")
def faces():
    train = load_arrays("synth", n=500, size=64, attributes=NAMES, seed=1, synth=EASY)
    held_out = load_arrays("synth", n=200, size=64, attributes=NAMES, seed=2, synth=EASY)
    return train, held_out


def test_judge_learns_salient_attributes_and_round_trips(faces, tmp_path):
    (x, y), (xv, yv) = faces
    config = JudgeConfig(attributes=NAMES, channels=(8, 16, 32, 32))
    judge = train_judge(config, x, y, epochs=3, batch_size=32, progress=False)
    acc = accuracy(judge, xv, yv)
    assert acc["Pale_Skin"] > 0.9 and acc["Blond_Hair"] > 0.85, acc
    judge.save(tmp_path / "j.safetensors", {"note": "test"})
    again = Judge.load(tmp_path / "j.safetensors")
    assert np.array_equal(again.predict(to_tensor(xv)).numpy(), judge.predict(to_tensor(xv)).numpy())


def test_degraded_training_and_the_robustness_report(faces):
    (x, y), (xv, yv) = faces
    config = JudgeConfig(attributes=NAMES, channels=(8, 16, 32, 32))
    judge = train_judge(config, x, y, epochs=3, batch_size=32, degraded=0.5, progress=False)
    assert accuracy(judge, xv, yv)["Pale_Skin"] > 0.9
    report = robustness(judge, xv, yv)
    assert list(report) == ["clean", *degrade.FIXED]
    assert all(0 <= r["all_correct"] <= 1 and r["worst"] in NAMES for r in report.values())
    assert [name for name, r in report.items() if r["held_out"]] == list(degrade.HELD_OUT)
    clean = judge.predict(to_tensor(xv)).numpy()
    assert report["clean"]["all_correct"] == pytest.approx((clean == yv).all(axis=1).mean())


def test_worst_within_stays_in_its_ball_and_raises_the_loss(faces):
    import torch
    import torch.nn.functional as F

    from bridgegan_batch.eval.judge import accuracy_under_attack, worst_within

    (x, y), (xv, yv) = faces
    config = JudgeConfig(attributes=NAMES, channels=(8, 16, 32, 32))
    judge = train_judge(config, x, y, epochs=1, batch_size=32, progress=False, perturb=worst_within(0.5))
    images, labels = to_tensor(xv[:64]), torch.from_numpy(yv[:64])
    moved = worst_within(2.0, steps=5)(judge.net, images, labels)
    assert (moved - images).flatten(1).norm(dim=1).max().item() <= 2.0 + 1e-4
    assert moved.abs().max() <= 1
    with torch.no_grad():
        assert F.binary_cross_entropy_with_logits(judge.net(moved), labels) > \
            F.binary_cross_entropy_with_logits(judge.net(images), labels)
    attacked = accuracy_under_attack(judge, xv[:64], yv[:64], 2.0)
    assert set(attacked) == set(NAMES) and all(0 <= a <= 1 for a in attacked.values())
    assert sum(attacked.values()) <= sum(accuracy(judge, xv[:64], yv[:64]).values())
