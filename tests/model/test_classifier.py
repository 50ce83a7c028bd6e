import pytest
import torch

from bridgegan_batch.config import JudgeConfig
from bridgegan_batch.model.checkpoint import CheckpointError, save_export
from bridgegan_batch.model.classifier import Judge, JudgeNet

CONFIG = JudgeConfig(attributes=("Eyeglasses", "Smiling"), channels=(4, 8))


def test_a_judge_file_round_trips_its_logits(tmp_path):
    torch.manual_seed(0)
    judge = Judge(JudgeNet(2, CONFIG.channels), CONFIG)
    path = judge.save(tmp_path / "judge.safetensors", {"note": "test"})
    again = Judge.load(path)
    x = torch.rand(3, 3, 64, 64) * 2 - 1
    assert again.config == CONFIG
    assert torch.equal(again.logits(x), judge.logits(x)) and again.logits(x).shape == (3, 2)
    assert set(again.predict(x).unique().tolist()) <= {0.0, 1.0}


def test_weights_that_do_not_fit_the_config_are_refused_naming_the_file(tmp_path):
    path = save_export(tmp_path / "odd.safetensors", {"judge": JudgeNet(2, (4, 16))}, CONFIG, None)
    with pytest.raises(CheckpointError, match="odd.safetensors"):
        Judge.load(path)
