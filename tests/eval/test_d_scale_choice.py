"""Choosing d scales by ground truth: the rule as stated, and the command that records them in an export."""

import json

import pytest
from click.testing import CliRunner

from bridgegan_batch.cli import main
from bridgegan_batch.eval.d_scale_choice import choose_d_scale
from bridgegan_batch.model.checkpoint import load_export
from bridgegan_batch.model.translator import Translator


@pytest.fixture(scope="module")
def translator(tiny_export64):
    return Translator.load(tiny_export64)


def test_each_change_takes_the_best_scale_within_the_outside_limit(translator):
    scale, table = choose_d_scale(translator, ["Eyeglasses", "Smiling"], candidates=(0.5, 1.0, 2.0), n=2, styles=1,
                                  max_outside=10.0)
    for name, dirs in table["attributes"].items():
        for direction, row in dirs.items():
            scores = {s: r["score"] for s, r in row["by_scale"].items()}
            assert row["chosen"] == max(scores, key=scores.get) and row["within_outside_limit"]
            assert scale.factor(name, 1 if direction == "add" else -1) == row["chosen"]
            # The score is the two paths' ground truth, nothing else.
            r = row["by_scale"][row["chosen"]]
            assert r["score"] == pytest.approx((r["label_relative"] + r["reference_reduction"]) / 2)
    # No scale within the limit: the one that changes least outside the edit.
    _, strict = choose_d_scale(translator, ["Eyeglasses"], candidates=(0.5, 2.0), n=2, styles=1, max_outside=0.0)
    row = strict["attributes"]["Eyeglasses"]["add"]
    outside = {s: r["outside_l1"] for s, r in row["by_scale"].items()}
    assert not row["within_outside_limit"] and row["chosen"] == min(outside, key=outside.get)


def test_the_command_writes_an_export_recording_the_scales(tiny_export64, tmp_path):
    out, table = tmp_path / "chosen.safetensors", tmp_path / "choice.json"
    result = CliRunner().invoke(main, ["choose-d-scale", tiny_export64, "--out", str(out), "--attributes", "Smiling",
                                       "--candidates", "1,2", "--n", "2", "--styles", "1", "--json", str(table)])
    assert result.exit_code == 0, result.output
    modules, _, info = load_export(out)
    chosen = json.loads(table.read_text())["attributes"]["Smiling"]
    assert info["d_scale"]["add"] == {"Smiling": chosen["add"]["chosen"]}
    assert info["d_scale"]["remove"] == {"Smiling": chosen["remove"]["chosen"]}
    before, _, _ = load_export(tiny_export64)
    assert all((modules["bridge"][k] == v).all() for k, v in before["bridge"].items())  # the same weights
    assert Translator.load(out).d_scale.add["Smiling"] in (1.0, 2.0)
    result = CliRunner().invoke(main, ["choose-d-scale", tiny_export64, "--out", str(out), "--candidates", "1,x"])
    assert result.exit_code == 2 and "--candidates" in result.output
