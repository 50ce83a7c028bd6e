import pytest
import torch

from bridgegan_batch.config import ModelConfig
from bridgegan_batch.eval.counterfactual import make_cases
from bridgegan_batch.eval.suite import translate
from bridgegan_batch.model.bridge import BridgeGenerator
from bridgegan_batch.model.translator import Translator
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
