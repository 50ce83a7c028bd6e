import numpy as np
import pytest
import torch

from bridgegan_batch.config import ModelConfig
from bridgegan_batch.eval.counterfactual import make_cases
from bridgegan_batch.eval.suite import evaluate, markdown, translate
from bridgegan_batch.model.bridge import BridgeGenerator
from bridgegan_batch.model.translator import Translator
from tests.eval.test_translation import NAMES, IdentityTranslator, KnowsTheFaces
from tests.train.test_loop import TINY64


def test_interpolation_runs_between_the_label_and_the_reference_translations():
    torch.manual_seed(0)
    config = ModelConfig(**TINY64["model"])
    translator = Translator(BridgeGenerator(config).eval(), config)
    cases = make_cases(["Eyeglasses"], config.attributes, n=5)
    label, reference = translate(translator, cases, "label"), translate(translator, cases, "reference")
    assert not torch.allclose(label, reference)
    assert torch.allclose(translate(translator, cases, "interpolate", alpha=1.0), label, atol=1e-5)
    assert torch.allclose(translate(translator, cases, "interpolate", alpha=0.0), reference, atol=1e-5)
    with pytest.raises(ValueError, match="unknown kind"):
        translate(translator, cases, "morph")


class ChangesNothing(IdentityTranslator):
    def reference(self, x, src_labels, ref_x, ref_labels, target_labels=None):
        return x.clone()


def test_the_ceiling_is_the_true_counterfactuals_score_not_the_models():
    # A judge that knows every source and every truth, and a model that changes nothing: the model
    # scores no success, while the truly rendered answers score what a perfect model would.
    cases = make_cases(["Eyeglasses", "Blond_Hair"], NAMES, n=6)
    images = np.concatenate([cases.source, cases.label_truth, cases.reference_truth])
    labels = np.concatenate([cases.source_labels, cases.target_labels, cases.target_labels])
    result = evaluate(ChangesNothing(), KnowsTheFaces(images, labels), cases, variants=1)
    for kind in ("label", "reference"):
        report = result[kind]
        assert report["attributes"]["Eyeglasses"]["success"] == 0.0
        perfect = {"success": 1.0, "preservation": 1.0}
        assert report["ceiling"] == {"Eyeglasses": perfect, "Blond_Hair": perfect}
    assert "the true counterfactuals, judged alike" in markdown(result)
    assert "Eyeglasses 100.0 % / 100.0 %" in markdown(result)
