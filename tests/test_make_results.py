"""scripts/make_results.py --quick: the whole results page regenerates, every section from its JSON."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_script():
    spec = importlib.util.spec_from_file_location("make_results", ROOT / "scripts" / "make_results.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_quick_mode_writes_the_page_and_its_json_sources(tmp_path):
    page = _load_script().main(["--quick", "--out", str(tmp_path)])
    text = page.read_text()
    for heading in ("## 1. The model", "## 2. The batch job", "## 3. The paper's ablation", "## 4. Downstream",
                    "## 5. Pipeline and training benchmarks"):
        assert heading in text
    results = tmp_path / "results"
    evaluation = json.loads((results / "eval_synth64.json").read_text())
    assert {"label", "reference"} <= set(evaluation["judged"]["suite"])
    assert "style_match" in evaluation["judged"]["suite"]["reference"]
    assert "Eyeglasses" in evaluation["ground_truth"]["attributes"]
    assert text.index("Ground truth, adding each of") < text.index("(judged)")
    ablation = json.loads((results / "ablation.json").read_text())["variants"]
    assert set(ablation) == {"label", "reference", "both"}
    assert "reference" not in ablation["label"] and "label" not in ablation["reference"]
    assert {row["steps"] for row in ablation.values()} == {2}  # quick mode's ablation length, recorded
    down = json.loads((results / "downstream.json").read_text())
    assert set(down["conditions"]) == {"imbalanced", "oversample", "bridgegan", "balanced_real"}
    assert len(down["seeds"]) == 3
    for name in ("glasses_aug_judge.json", "ablation.md", "downstream.md"):
        assert (results / name).stat().st_size > 0
    for figure in ("demo_grid.png", "ablation_grid.png", "downstream.png"):
        assert (tmp_path / figure).stat().st_size > 0
    # The headline is computed from the downstream JSON, not written by hand.
    ba = down["conditions"]["bridgegan"]["balanced_accuracy"]["mean"]
    assert f"bridgegan {100 * ba:.1f} %" in text

    # A run that kept the ablation says so on the page (re-rendered here from the same JSON).
    assert "--keep-ablation" not in text
    run = json.loads((results / "make_results.json").read_text())
    (results / "make_results.json").write_text(json.dumps({**run, "ablation": "kept"}))
    kept = _load_script().main(["--quick", "--out", str(tmp_path), "--page-only"]).read_text()
    assert "Kept from an earlier run of this script (`--keep-ablation`)" in kept
    assert "trained three ways for 2 steps" in kept


def test_keep_ablation_needs_an_earlier_ablation(tmp_path):
    with pytest.raises(SystemExit, match="ablation.json is missing"):
        _load_script().main(["--quick", "--out", str(tmp_path), "--keep-ablation"])
