import numpy as np
import pytest
import torch

from bridgegan_batch.config import JudgeConfig
from bridgegan_batch.data.arrays import load_arrays
from bridgegan_batch.eval.judge import Judge, JudgeNet
from bridgegan_batch.eval.translation import evaluate_label_translations, markdown_table
from bridgegan_batch.model.pixels import to_tensor
from bridgegan_batch.model.translator import Translator

NAMES = ("Eyeglasses", "Black_Hair", "Blond_Hair", "Smiling")


class IdentityTranslator(Translator):
    """Returns its input: success can only come from the judge's errors, and nothing else changes."""

    def __init__(self):
        self.config = type("C", (), {"attributes": NAMES, "image_size": 64})()
        from bridgegan_batch.data.attributes import EXCLUSIVE_GROUPS, group_indices

        self.groups = group_indices(NAMES, EXCLUSIVE_GROUPS)
        self.discriminator, self.edit = None, "direct"

    def label(self, x, src_labels, target_labels, seeds):
        return x.clone()


def test_metrics_of_a_translator_that_changes_nothing():
    torch.manual_seed(0)
    judge = Judge(JudgeNet(len(NAMES), (8, 8, 8, 8)), JudgeConfig(attributes=NAMES))
    images, labels = load_arrays("synth", n=60, size=64, attributes=NAMES, seed=5)
    result = evaluate_label_translations(IdentityTranslator(), judge, images, labels)
    seen = judge.predict(to_tensor(images)).numpy()
    glasses = result["attributes"]["Eyeglasses"]
    sources = labels[:, 0] == 0
    assert glasses["add"]["n"] == sources.sum()
    assert glasses["add"]["success"] == np.mean(seen[sources, 0] == 1)
    assert glasses["add"]["preservation"] == 1.0  # nothing else changed
    # Turning a black-haired face blond must also clear Black_Hair: an unchanged face fails that.
    blond = result["attributes"]["Blond_Hair"]["add"]
    rows = labels[:, 2] == 0
    assert blond["preservation"] == np.mean(seen[rows, 1] == 0)
    assert set(result) >= {"attributes", "mean_success", "mean_preservation"}
    assert "| Eyeglasses |" in markdown_table(result)
    assert "own_head_success" not in glasses["add"] and "own head" not in markdown_table(result)
    assert result["no_change"]["kept"] == 1.0 and set(result["no_change"]["changed"].values()) == {0.0}


class SwapsFaces(IdentityTranslator):
    """Returns the next face of its batch: asked to change nothing, it changes what the faces differ in."""

    def label(self, x, src_labels, target_labels, seeds):
        return x.roll(1, 0)


class KnowsTheFaces(Judge):
    """A perfect judge of unaltered faces: looks each image up among the faces it was given."""

    def __init__(self, images, labels):
        self.config = JudgeConfig(attributes=NAMES)
        self.known = {to_tensor(images[i : i + 1]).numpy().tobytes(): labels[i] for i in range(len(images))}

    def predict(self, x):
        return torch.tensor(np.stack([self.known[row[None].numpy().tobytes()] for row in x]))


def test_the_no_change_translation_counts_every_attribute_the_judge_sees_change():
    images, labels = load_arrays("synth", n=50, size=64, attributes=NAMES, seed=5)
    result = evaluate_label_translations(SwapsFaces(), KnowsTheFaces(images, labels), images, labels, batch_size=50)
    changed = np.roll(labels, 1, axis=0) != labels  # [50, 4]
    kept, smiling = np.mean(~changed.any(axis=1)), np.mean(changed[:, 3])
    assert 0.0 < kept < 1.0 and smiling > 0.0
    assert result["no_change"]["kept"] == pytest.approx(kept)
    assert result["no_change"]["changed"]["Smiling"] == pytest.approx(smiling)
    assert "Asked to change nothing (a no-change translation), the judge sees every attribute kept on" in \
        markdown_table(result)


class FooledHead(IdentityTranslator):
    """Changes nothing, yet its own attribute head sees every attribute on every output."""

    def __init__(self):
        super().__init__()
        self.discriminator = object()

    def predict_labels(self, x):
        return torch.ones(len(x), len(NAMES))


def test_the_models_own_head_is_reported_beside_the_judge():
    torch.manual_seed(0)
    judge = Judge(JudgeNet(len(NAMES), (8, 8, 8, 8)), JudgeConfig(attributes=NAMES))
    images, labels = load_arrays("synth", n=40, size=64, attributes=NAMES, seed=5)
    result = evaluate_label_translations(FooledHead(), judge, images, labels)
    smiling = result["attributes"]["Smiling"]  # both directions have sources
    assert smiling["add"]["own_head_success"] == 1.0 and smiling["remove"]["own_head_success"] == 0.0
    assert smiling["add"]["n"] and smiling["remove"]["n"]
    table = markdown_table(result)
    assert "| attribute | add: judge | add: own head |" in table
    assert f"| Smiling | {100 * smiling['add']['success']:.1f} % | 100.0 % |" in table


def test_the_breakdown_names_what_broke_preservation():
    # An unchanged black-haired face "turned blond" still shows Black_Hair: the only attribute that broke.
    images, labels = load_arrays("synth", n=50, size=64, attributes=NAMES, seed=5)
    result = evaluate_label_translations(IdentityTranslator(), KnowsTheFaces(images, labels), images, labels)
    blond = result["attributes"]["Blond_Hair"]["add"]
    black_left_on = np.mean(labels[labels[:, 2] == 0, 1] == 1)
    assert black_left_on > 0 and blond["changed"]["Black_Hair"] == pytest.approx(black_left_on)
    assert blond["changed"]["Smiling"] == 0.0 and "Blond_Hair" not in blond["changed"]
    assert "| Blond_Hair | add | Black_Hair" in markdown_table(result)
