import numpy as np
import pytest
import torch

from bridgegan_batch.config import JudgeConfig
from bridgegan_batch.data.reader import DatasetReader
from bridgegan_batch.data.sample import Sample
from bridgegan_batch.data.writer import DatasetWriter
from bridgegan_batch.eval.judge import Judge, JudgeNet
from bridgegan_batch.eval.output import judge_output, markdown
from bridgegan_batch.model.pixels import to_tensor


def test_the_judge_is_compared_with_each_samples_labels_per_operation(synth_dirs, tmp_path):
    faces = list(DatasetReader([synth_dirs["wds"]], decode=True))[:30]
    out = str(tmp_path / "out")
    with DatasetWriter(out, attributes=("Eyeglasses", "Smiling"), shard_size=7) as writer:
        for i, s in enumerate(faces):
            op = "original" if i < 10 else "label"
            labels = {"Eyeglasses": s.attributes["Eyeglasses"], "Smiling": i % 2}
            writer.write(Sample(s.key, s.image, labels, {"provenance": {"op": op}}))
    torch.manual_seed(0)
    judge = Judge(JudgeNet(2, (8, 8, 8, 8)), JudgeConfig(attributes=("Eyeglasses", "Smiling"), channels=(8, 8, 8, 8)))
    result = judge_output(out, judge)
    seen = judge.predict(to_tensor(np.stack([s.pixels for s in faces]))).numpy()

    assert result["samples"] == 30 and {op: r["samples"] for op, r in result["per_op"].items()} == {
        "label": 20, "original": 10}
    assert result["overall"]["Smiling"]["labelled"] == pytest.approx(0.5)
    assert result["overall"]["Smiling"]["judged"] == pytest.approx(seen[:, 1].mean())
    agree = sum(int(seen[i, 1] == i % 2) for i in range(10, 30)) / 20
    assert result["per_op"]["label"]["Smiling"]["agreement"] == pytest.approx(agree)
    assert "| Smiling | 50.0 % |" in markdown(result, ["Eyeglasses", "Smiling"])
