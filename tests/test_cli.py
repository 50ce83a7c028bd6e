import json

from click.testing import CliRunner

from bridgegan_batch import __version__
from bridgegan_batch.cli import main


def test_help_lists_every_subcommand_on_one_line():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    commands = result.output.split("Commands:")[1].strip().splitlines()
    names = {line.split()[0] for line in commands}
    assert names == {"synth", "import", "inspect", "train", "train-judge", "export", "choose-d-scale", "eval",
                     "validate", "run", "judge"}
    assert all(not line.rstrip().endswith("...") for line in commands)
    result = CliRunner().invoke(main, ["import", "--help"])
    assert {"celeba", "celebahq", "folder"} <= set(result.output.split())


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_synth_then_inspect_json(tmp_path):
    out = str(tmp_path / "faces")
    runner = CliRunner()
    result = runner.invoke(main, ["synth", out, "--n", "60", "--format", "parquet", "--workers", "1",
                                  "--prior", "Eyeglasses=1.0", "--glasses-shapes", "round,rect",
                                  "--image", "jpg", "--shard-size", "25"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["inspect", out, "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert stats["samples"] == 60 and stats["shards"] == 3 and stats["failures"] == 0
    assert stats["attributes"]["Eyeglasses"] == 1.0
    assert 0.0 <= stats["attributes"]["Male"] <= 1.0
    table = runner.invoke(main, ["inspect", out]).output
    assert "Eyeglasses" in table and "100.0 %" in table


def test_inspect_counts_failures(tmp_path, synth_dirs):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(synth_dirs["wds"], bad)
    shard = sorted(bad.glob("*.tar"))[-1]
    shard.write_bytes(shard.read_bytes()[:5000])  # truncate the last shard
    stats = json.loads(CliRunner().invoke(main, ["inspect", str(bad), "--json"]).output)
    assert stats["failures"] == 1 and 50 <= stats["samples"] < 120


def test_user_errors_exit_2_with_one_clear_line(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["inspect", str(tmp_path / "nothing-*.tar")])
    assert result.exit_code == 2 and "nothing-*.tar" in result.output and "Traceback" not in result.output
    out = str(tmp_path / "x")
    assert runner.invoke(main, ["synth", out, "--n", "2", "--workers", "1"]).exit_code == 0
    result = runner.invoke(main, ["synth", out, "--n", "2", "--workers", "1"])
    assert result.exit_code == 2 and "already holds a dataset" in result.output
    result = runner.invoke(main, ["synth", out + "2", "--n", "2", "--prior", "Eyeglasses=lots"])
    assert result.exit_code == 2 and "--prior" in result.output
    result = runner.invoke(main, ["synth", out + "3", "--n", "2", "--glasses-shapes", "monocle"])
    assert result.exit_code == 2 and "monocle" in result.output


def test_every_shipped_synthfaces_config_validates():
    from pathlib import Path

    from bridgegan_batch.config import SynthConfig, load_yaml

    configs = sorted(Path(__file__).parents[1].glob("configs/synthfaces_*.yaml"))
    assert configs
    for path in configs:
        load_yaml(path, SynthConfig)


def test_synth_config_file_and_its_errors(tmp_path):
    runner = CliRunner()
    good = tmp_path / "good.yaml"
    good.write_text("priors: {Eyeglasses: 1.0}\nglasses_shapes: [rect]\n")
    out = str(tmp_path / "out")
    result = runner.invoke(main, ["synth", out, "--n", "5", "--workers", "1", "--config", str(good)])
    assert result.exit_code == 0, result.output
    from bridgegan_batch.data.reader import DatasetReader

    records = [s.meta["synthfaces"] for s in DatasetReader(out)]
    assert all(r["attributes"]["Eyeglasses"] == 1 and r["glasses"]["shape"] == "rect" for r in records)
    for text, field in [("priors: {Eyeglasses: 2}\n", "priors"), ("colour: red\n", "colour"),
                        ("glasses_shapes: [monocle]\n", "glasses_shapes"), ("priors: [\n", "YAML")]:
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        result = runner.invoke(main, ["synth", str(tmp_path / "o2"), "--n", "2", "--config", str(bad)])
        assert result.exit_code == 2 and field in result.output and "bad.yaml" in result.output, result.output


def test_train_judge_reports_robustness_and_saves_it(tmp_path):
    out = tmp_path / "judge.safetensors"
    result = CliRunner().invoke(main, ["train-judge", "--attributes", "Pale_Skin,Blond_Hair", "--n", "128",
                                       "--val-n", "64", "--epochs", "1", "--degraded", "0.5", "--workers", "1",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "jpeg 50" in result.output and "median 3 *" in result.output
    from bridgegan_batch.config import JudgeConfig
    from bridgegan_batch.model.checkpoint import load_export

    _, config, info = load_export(out, JudgeConfig)
    assert config.attributes == ("Pale_Skin", "Blond_Hair") and info["degraded"] == 0.5
    assert set(info["robustness"]) >= {"clean", "jpeg 50", "median 3"}
    bad = CliRunner().invoke(main, ["train-judge", "--degraded", "1.5", "--out", str(out)])
    assert bad.exit_code == 2 and "--degraded" in bad.output


def test_train_judge_can_train_a_robust_guide_and_reports_it_under_attack(tmp_path):
    out = tmp_path / "guide.safetensors"
    result = CliRunner().invoke(main, ["train-judge", "--attributes", "Pale_Skin,Blond_Hair", "--n", "64",
                                       "--val-n", "32", "--epochs", "1", "--adversarial-eps", "0.5",
                                       "--workers", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "within L2 0.5 to fool it" in result.output
    from bridgegan_batch.config import JudgeConfig
    from bridgegan_batch.model.checkpoint import load_export

    _, _, info = load_export(out, JudgeConfig)
    assert info["adversarial_eps"] == 0.5 and set(info["val_accuracy_under_attack"]) == {"Pale_Skin", "Blond_Hair"}
