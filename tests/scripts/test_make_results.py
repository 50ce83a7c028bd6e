"""scripts/make_results.py --quick: the whole results page regenerates, every section from its JSON."""

import json
import shutil

import make_results
import pytest


@pytest.mark.slow
def test_quick_mode_writes_the_page_and_its_json_sources(quick_results, tmp_path):
    text = (quick_results / "RESULTS.md").read_text()
    for heading in ("## 1. The model", "## 2. The batch job", "## 3. The paper's ablation", "## 4. Downstream",
                    "## 5. Pipeline and training benchmarks"):
        assert heading in text
    results = quick_results / "results"
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
    assert len(down["seeds"]) == 2
    for name in ("glasses_aug_judge.json", "ablation.md", "downstream.md"):
        assert (results / name).stat().st_size > 0
    for figure in ("demo_grid.png", "ablation_grid.png", "downstream.png"):
        assert (quick_results / figure).stat().st_size > 0
    # The headline is computed from the downstream JSON, not written by hand.
    ba = down["conditions"]["bridgegan"]["balanced_accuracy"]["mean"]
    assert f"bridgegan {100 * ba:.1f} %" in text

    # A run that kept the ablation says so on the page (re-rendered here from a copy of the same JSON).
    assert "--keep-ablation" not in text
    shutil.copytree(results, tmp_path / "results")
    run = json.loads((results / "make_results.json").read_text())
    (tmp_path / "results" / "make_results.json").write_text(json.dumps({**run, "ablation": "kept"}))
    kept = make_results.main(["--quick", "--out", str(tmp_path), "--page-only"]).read_text()
    assert "Kept from an earlier run of this script (`--keep-ablation`)" in kept
    assert "trained three ways for 2 steps" in kept


def test_keep_ablation_needs_an_earlier_ablation(tmp_path):
    with pytest.raises(SystemExit, match="ablation.json is missing"):
        make_results.main(["--quick", "--out", str(tmp_path), "--keep-ablation"])
