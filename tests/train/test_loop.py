import json

import pytest
import torch
from click.testing import CliRunner

from bridgegan_batch.cli import main
from bridgegan_batch.config import RunConfig
from bridgegan_batch.errors import UserError
from bridgegan_batch.model.translator import Translator
from bridgegan_batch.train.loop import EXPORT_FILE, STATE_FILE, step_inputs
from bridgegan_batch.train.run import train

TINY64 = {
    "model": {"attributes": ["Eyeglasses", "Black_Hair", "Blond_Hair", "Smiling"], "image_size": 64,
              "code_size": 16, "code_channels": 4, "encoder_channels": 8, "mapping_channels": 16,
              "generator_channels": [8, 16], "spade_hidden": 8, "spade_at_code_resolution": True,
              "disc_channels": 8, "disc_max_channels": 16},
    "train": {"batch_size": 4, "steps": 6, "d_steps_per_g_step": 2, "log_every": 1, "sample_every": 3,
              "checkpoint_every": 3, "loader_workers": 0, "ema_decay": 0.9},
}


def _losses(run) -> list[dict]:
    return [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_resume_gives_the_same_losses_as_an_uninterrupted_run(tmp_path):
    config = RunConfig.model_validate(TINY64)
    straight = train(config, data="synth", out=tmp_path / "a", progress=False)
    train(config, data="synth", out=tmp_path / "b", progress=False, max_steps_this_call=3)
    resumed = train(config, data="synth", out=tmp_path / "b", resume=True, progress=False)
    a, b = _losses(straight), _losses(resumed)
    assert [r["step"] for r in b] == [1, 2, 3, 4, 5, 6]
    drop = {"img_per_s"}
    for x, y in zip(a, b, strict=True):
        assert {k: v for k, v in x.items() if k not in drop} == {k: v for k, v in y.items() if k not in drop}
    for name in ("config.json", STATE_FILE, EXPORT_FILE, "samples/0000003.png", "samples/0000006.png"):
        assert (resumed / name).exists(), name


def test_export_loads_into_a_translator(tmp_path):
    run = train(RunConfig.model_validate(TINY64), data="synth", out=tmp_path, progress=False,
                max_steps_this_call=3)
    translator = Translator.load(run / EXPORT_FILE, device="cpu")
    assert translator.attributes == tuple(TINY64["model"]["attributes"])
    assert translator.discriminator is not None


def test_resume_refuses_another_model(tmp_path):
    train(RunConfig.model_validate(TINY64), data="synth", out=tmp_path, progress=False, max_steps_this_call=1)
    other = RunConfig.model_validate({**TINY64, "model": {**TINY64["model"], "code_channels": 8}})
    with pytest.raises(Exception, match="another model config"):
        train(other, data="synth", out=tmp_path, resume=True, progress=False)


@pytest.mark.slow
def test_a_second_reference_is_drawn_only_when_asked_and_leaves_the_other_draws_alone(tmp_path):
    images = torch.randint(0, 256, (6, 8, 8, 3), dtype=torch.uint8)
    labels = torch.tensor([[1.0, 0], [0, 1], [1, 1], [0, 0], [1, 0], [0, 1]])
    common = dict(batch_index=3, seed=7, noise_dim=4, single_flip_fraction=0.5, groups=[], device=torch.device("cpu"))
    plain = step_inputs(images, labels, **common)
    with_second = step_inputs(images, labels, **common, second_reference=True)
    assert plain.x_ref2 is None and with_second.x_ref2 is not None
    for ref, ref_labels in zip(plain.x_ref, plain.ref_labels, strict=True):  # each reference with its own labels
        same_face = [torch.equal(ref, face) for face in plain.x]
        assert torch.equal(ref_labels, labels[same_face.index(True)])
    for name in ("x", "target", "x_ref", "r1", "r2", "alpha", "eps", "augment_seed"):
        assert torch.equal(torch.as_tensor(getattr(plain, name)), torch.as_tensor(getattr(with_second, name))), name
    # The run asks for it when the term is weighted, and logs the term each step.
    config = RunConfig.model_validate({**TINY64, "train": {**TINY64["train"], "steps": 2,
                                                           "losses": {"reference_mode_seeking": 0.005}}})
    stats = _losses(train(config, data="synth", out=tmp_path, progress=False))
    assert [s["g/ref_ms"] > 0 for s in stats] == [True, True]


@pytest.mark.slow
def test_cli_trains_synth64_for_3_steps(tmp_path):
    result = CliRunner().invoke(main, ["train", "configs/synth64.yaml", "--data", "synth", "--steps", "3",
                                       "--set", "train.log_every=1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    run = next(tmp_path.iterdir())
    stats = _losses(run)
    assert [s["step"] for s in stats] == [1, 2, 3] and all(v == v for v in stats[-1].values())  # no NaN
    assert (run / EXPORT_FILE).stat().st_size < 20_000_000


def test_cli_bad_config_names_the_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {attributes: [A], image_size: 60}\ntrain: {batch_size: 0, lr_typo: 1}\n")
    result = CliRunner().invoke(main, ["train", str(bad), "--out", str(tmp_path / "runs")])
    assert result.exit_code == 2
    for field in ("model", "image_size", "train.batch_size", "train.lr_typo"):
        assert field in result.output, result.output
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_ray_train_two_cpu_workers_both_step_and_only_rank_0_writes(tmp_path, ray_local):
    from bridgegan_batch.train.distributed import RANKS_FILE

    config = RunConfig.model_validate({**TINY64, "train": {**TINY64["train"], "steps": 3, "sample_every": 3}})
    run = train(config, data="synth", out=tmp_path, progress=False, workers=2, cpus_per_worker=0.5)
    ranks = json.loads((run / RANKS_FILE).read_text())
    assert [r["rank"] for r in ranks] == [0, 1]
    assert all(r["steps"] == 3 for r in ranks)
    assert ranks[0]["label_sum"] != ranks[1]["label_sum"]  # each rank read its own batches
    assert ranks[0]["weights_checksum"] == ranks[1]["weights_checksum"]  # gradients were averaged
    assert [r["step"] for r in _losses(run)] == [1, 2, 3]  # one writer: each step logged once
    written = sorted(p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file() and "ray" not in p.parts)
    assert written == sorted(["config.json", "stats.jsonl", STATE_FILE, EXPORT_FILE, RANKS_FILE,
                              "samples/0000003.png"])
    # A time limit: rank 0's clock decides, and both ranks stop at the same step (a rank left stepping alone
    # would wait on an all-reduce for ever).
    timed = train(config, data="synth", out=tmp_path / "timed", progress=False, workers=2, cpus_per_worker=0.5,
                  minutes=1e-6)
    assert [r["steps"] for r in json.loads((timed / RANKS_FILE).read_text())] == [1, 1]
    assert [r["step"] for r in _losses(timed)] == [1]


def test_data_is_checked_before_a_run_folder_exists(tmp_path):
    config = RunConfig.model_validate({**TINY64, "model": {**TINY64["model"], "attributes": ["Mustache"]}})
    with pytest.raises(Exception, match="Mustache"):
        train(config, data="synth", out=tmp_path / "runs", progress=False)
    with pytest.raises(Exception, match="nothing-here"):
        train(RunConfig.model_validate(TINY64), data=[str(tmp_path / "nothing-here-*.tar")], out=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_resume_refuses_other_train_settings_and_drops_stats_past_the_checkpoint(tmp_path):
    config = RunConfig.model_validate(TINY64)
    run = train(config, data="synth", out=tmp_path, progress=False, max_steps_this_call=3)
    with (run / "stats.jsonl").open("a") as f:  # as if the run crashed after logging step 4
        f.write(json.dumps({"step": 4}) + "\n")
    other = RunConfig.model_validate({**TINY64, "train": {**TINY64["train"], "paths": "label"}})
    with pytest.raises(Exception, match="paths"):
        train(other, data="synth", out=tmp_path, resume=True, progress=False)
    # A larger batch (a run moving to a GPU) and another D:G step ratio are allowed.
    bigger = RunConfig.model_validate({**TINY64, "train": {**TINY64["train"], "batch_size": 6,
                                                           "d_steps_per_g_step": 1}})
    train(bigger, data="synth", out=tmp_path, resume=True, progress=False, max_steps_this_call=1)
    assert [r["step"] for r in _losses(run)] == [1, 2, 3, 4]
    assert "g/loss" in _losses(run)[-1]


def test_trains_from_shards_with_background_decoding(tmp_path, synth_dirs):
    config = RunConfig.model_validate({**TINY64, "train": {**TINY64["train"], "steps": 2, "loader_workers": 1,
                                                           "shuffle_buffer": 16}})
    run = train(config, data=[synth_dirs["parquet"]], out=tmp_path, progress=False)
    assert [r["step"] for r in _losses(run)] == [1, 2]
    assert json.loads((run / "config.json").read_text())["data"] == [synth_dirs["parquet"]]


@pytest.mark.slow
def test_export_and_eval_commands_end_to_end(tmp_path):
    from bridgegan_batch.config import JudgeConfig
    from bridgegan_batch.eval.judge import Judge, JudgeNet

    run = train(RunConfig.model_validate(TINY64), data="synth", out=tmp_path / "runs", progress=False,
                max_steps_this_call=1)
    runner = CliRunner()
    model = tmp_path / "m.safetensors"
    scales = tmp_path / "scales.yaml"  # a scale per attribute and direction, as chosen on validation faces
    scales.write_text("add: {Wings: 1.25}\n")
    result = runner.invoke(main, ["export", str(run), "--out", str(model), "--d-scale", str(scales)])
    assert result.exit_code == 2 and "--d-scale: unknown attributes ['Wings']" in result.output
    assert not model.exists()
    scales.write_text("add: {Eyeglasses: 1.25}\n")
    result = runner.invoke(main, ["export", str(run), "--out", str(model), "--d-scale", str(scales)])
    assert result.exit_code == 0, result.output
    judge = tmp_path / "judge.safetensors"
    names = tuple(TINY64["model"]["attributes"])
    Judge(JudgeNet(len(names), (8, 8, 8, 8)), JudgeConfig(attributes=names, channels=(8, 8, 8, 8))).save(judge)
    out = tmp_path / "eval.json"
    result = runner.invoke(main, ["eval", "--model", str(model), "--judge", str(judge), "--judge-n", "24",
                                  "--n", "2", "--styles", "2", "--attributes", "Smiling",
                                  "--changes", "Eyeglasses,Blond_Hair", "--suite-n", "6", "--json", str(out)])
    assert result.exit_code == 0, result.output
    whole = json.loads(out.read_text())
    # Ground truth leads, with the judge's verdicts on the same outputs beside it.
    assert list(whole["ground_truth"]["attributes"]) == ["Smiling"]
    assert "agreement" in whole["ground_truth"]["attributes"]["Smiling"]["add"]["label"]["judge"]
    assert result.output.index("Ground truth") < result.output.index("Judged")
    report = whole["judged"]
    assert set(report["attributes"]) == set(names)
    # The scales the export recorded: eval was given none.
    assert whole["d_scale"] == report["d_scale"] == {"default": 1.5, "add": {"Eyeglasses": 1.25}, "remove": {}}
    for directions in report["attributes"].values():
        assert set(directions) == {"add", "remove"}
        for v in directions.values():
            assert v["n"] == 0 or 0.0 <= v["success"] <= 1.0
    assert 0.0 <= report["mean_success"] <= 1.0 and 0.0 <= report["mean_preservation"] <= 1.0
    suite = report["suite"]
    assert suite["cases"] == 12 and suite["changes"] == ["Eyeglasses", "Blond_Hair"]
    assert set(suite["reference"]["attributes"]) == {"Eyeglasses", "Blond_Hair"}
    assert suite["label"]["diversity"]["variants"] == 4 and "fd" in suite["reference"]["realism"]["judge"]
    assert "Counterfactual suite" in result.output and "edit direct" in result.output
    assert report["edit"] == "direct" and 0.0 <= report["no_change"]["kept"] <= 1.0
    result = runner.invoke(main, ["eval", "--model", str(model), "--judge", str(judge), "--judge-n", "12",
                                  "--changes", "", "--attributes", "", "--edit", "residual", "--json", str(out)])
    assert result.exit_code == 0 and "edit residual" in result.output, result.output
    whole = json.loads(out.read_text())
    assert whole["edit"] == "residual" and "no_change" not in whole["judged"] and "ground_truth" not in whole
    result = runner.invoke(main, ["eval", "--model", str(model), "--judge", str(judge), "--edit", "blend"])
    assert result.exit_code == 2 and "blend" in result.output
    result = runner.invoke(main, ["eval", "--model", str(model), "--judge", str(judge), "--changes", "Male"])
    assert result.exit_code == 2 and "--changes" in result.output and "Male" in result.output  # not the model's
    result = runner.invoke(main, ["eval", "--model", str(model), "--attributes", "Male"])
    assert result.exit_code == 2 and "Male" in result.output
    result = runner.invoke(main, ["eval", "--model", str(model), "--judge", str(tmp_path / "nojudge.safetensors")])
    assert result.exit_code == 2 and "nojudge.safetensors" in result.output
    result = runner.invoke(main, ["eval", "--model", str(tmp_path / "none.safetensors"), "--judge", str(judge)])
    assert result.exit_code == 2 and "none.safetensors" in result.output


def test_eval_of_the_bundled_model_needs_no_judge(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no runs/judge-synth64.safetensors here, as on a fresh clone
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(main, ["eval", "--n", "2", "--styles", "2", "--attributes", "Eyeglasses",
                                       "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["judge"] is None and "judged" not in report
    scores = report["ground_truth"]["attributes"]["Eyeglasses"]["add"]
    assert scores["label"]["n"] == 2 and -1 <= scores["reference"]["reduction"] <= 1
    assert "No judge" in result.output and "train-judge" in result.output


def test_autoencoder_warm_start_trains_g_alone_then_the_gan(tmp_path):
    config = RunConfig.model_validate({**TINY64, "train": {**TINY64["train"], "steps": 3, "autoencoder_steps": 2}})
    run = train(config, data="synth", out=tmp_path, progress=False)
    rows = _losses(run)
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert all("d/loss" not in r and r["g/rec"] > 0 for r in rows[:2])
    assert "d/loss" in rows[2] and "g/adv" in rows[2]


def test_a_time_limit_ends_the_run_with_its_checkpoint_and_export(tmp_path):
    from bridgegan_batch.model.checkpoint import load_export, load_state

    run = train(RunConfig.model_validate(TINY64), data="synth", out=tmp_path, progress=False, minutes=1e-6)
    assert [r["step"] for r in _losses(run)] == [1]  # the first step ends past the limit: the last one
    assert load_state(run / "state.pt")["step"] == 1 and load_export(run / "model.safetensors")[2]["step"] == 1


def test_bfloat16_on_the_cpu_trains_under_autocast_and_keeps_float32_weights(tmp_path):
    from bridgegan_batch.model.checkpoint import load_export

    def run(precision, out):
        config = RunConfig.model_validate({**TINY64, "train": {**TINY64["train"], "steps": 2, "precision": precision}})
        return train(config, data="synth", out=out, progress=False)

    exact, bf16 = run("auto", tmp_path / "a"), run("bfloat16", tmp_path / "b")
    a, b = _losses(exact), _losses(bf16)
    assert all(abs(v) < 1e6 for row in b for k, v in row.items() if "/" in k)  # finite and sane
    # Same inputs and initial weights: only the rounding differs, so the first step's terms are close, not equal.
    assert a[0]["g/rec"] != b[0]["g/rec"] and b[0]["g/rec"] == pytest.approx(a[0]["g/rec"], rel=0.05)
    modules, _, _ = load_export(bf16 / EXPORT_FILE)
    assert {t.dtype for state in modules.values() for t in state.values() if t.is_floating_point()} == {torch.float32}
    # precision may change on resume: the state holds float32 weights either way
    resumed = RunConfig.model_validate({**TINY64, "train": {**TINY64["train"], "steps": 3, "precision": "float32"}})
    train(resumed, data="synth", out=tmp_path / "b", resume=True, progress=False)
    assert [r["step"] for r in _losses(bf16)] == [1, 2, 3]


def test_init_from_a_resume_state_forks_the_run_with_its_optimisers(tmp_path):
    from bridgegan_batch.model.checkpoint import load_state
    from bridgegan_batch.train.warm_start import write_initial_state

    first = train(RunConfig.model_validate(TINY64), data="synth", out=tmp_path / "a", progress=False,
                  max_steps_this_call=2)
    parent = load_state(first / STATE_FILE)
    # A new loss weight and new betas: a fork may change any train setting (a --resume may not).
    changed = {**TINY64["train"], "steps": 1, "beta2": 0.99, "losses": {"reference_style_contrast": 1.0}}
    config = RunConfig.model_validate({**TINY64, "train": changed})
    run = train(config, data="synth", out=tmp_path / "b", progress=False, init=first / STATE_FILE)
    record = json.loads((run / "init.json").read_text())
    assert record["kind"] == "resume state" and record["source_step"] == 2
    state = load_state(run / STATE_FILE)
    assert state["step"] == 1 and state["ema_ramp"] is False
    # Adam's moments carried over: its step count goes on from the parent's 2 (a new Adam would be at 1), under
    # the fork's betas.
    steps = {float(v["step"]) for v in state["opt_g"]["state"].values()}
    assert steps == {3.0}
    assert state["opt_g"]["param_groups"][0]["betas"] == (0.5, 0.99)
    # The fork's step-0 state is the parent's, tensor for tensor: raw G (not its EMA), EMA, D, Adam's moments.
    (tmp_path / "fork").mkdir()
    write_initial_state(tmp_path / "fork", config, first / STATE_FILE)
    forked = load_state(tmp_path / "fork" / STATE_FILE)
    for part in ("generator", "ema", "discriminator"):
        for k, v in parent[part].items():
            assert torch.equal(forked[part][k], v), (part, k)
    for opt in ("opt_g", "opt_d"):
        for k, v in parent[opt]["state"][0].items():
            assert torch.equal(torch.as_tensor(forked[opt]["state"][0][k]), torch.as_tensor(v)), (opt, k)

    other = RunConfig.model_validate({**TINY64, "model": {**TINY64["model"], "code_channels": 8}})
    with pytest.raises(UserError, match=r"state.pt was trained with another model config.*code_channels"):
        train(other, data="synth", out=tmp_path / "c", progress=False, init=first / STATE_FILE)
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"PK\x03\x04" + b"\0" * 64)
    with pytest.raises(UserError, match="--init: .*broken.pt: not a resume state"):
        train(config, data="synth", out=tmp_path / "d", progress=False, init=broken)
    tensor = tmp_path / "tensor.pt"  # a loadable file that is not a state
    torch.save(torch.zeros(3), tensor)
    with pytest.raises(UserError, match="--init: .*tensor.pt: not a resume state"):
        train(config, data="synth", out=tmp_path / "d", progress=False, init=tensor)
    partial = tmp_path / "partial.pt"  # a state missing its optimisers
    torch.save({k: v for k, v in parent.items() if k != "opt_d"}, partial)
    with pytest.raises(UserError, match="--init: .*partial.pt: not a complete resume state.*opt_d"):
        train(config, data="synth", out=tmp_path / "d", progress=False, init=partial)
    assert not list((tmp_path / "c").glob("*")) and not list((tmp_path / "d").glob("*"))


def test_init_may_switch_the_reference_code_pooling_either_way(tmp_path):
    from bridgegan_batch.model.checkpoint import load_export, load_state
    from bridgegan_batch.train.warm_start import write_initial_state

    first = train(RunConfig.model_validate(TINY64), data="synth", out=tmp_path / "a", progress=False,
                  max_steps_this_call=1)
    pooled = {**TINY64, "model": {**TINY64["model"], "reference_code_pooled": True},
              "train": {**TINY64["train"], "steps": 1}}
    for start, fork in ((first / EXPORT_FILE, tmp_path / "b"), (first / STATE_FILE, tmp_path / "c")):
        fork.mkdir()
        record = write_initial_state(fork, RunConfig.model_validate(pooled), start)
        assert record["switched"] == {"reference_code_pooled": True}
    exported, _, _ = load_export(first / EXPORT_FILE)
    forked = load_state(tmp_path / "c" / STATE_FILE)["generator"]  # the resume state's raw G, unchanged
    assert set(forked) == set(exported["bridge"])
    run = train(RunConfig.model_validate(pooled), data="synth", out=tmp_path / "d", progress=False,
                init=first / EXPORT_FILE)
    assert Translator.load(run / EXPORT_FILE, device="cpu").model.reference_code_pooled
    back = train(RunConfig.model_validate({**TINY64, "train": {**TINY64["train"], "steps": 1}}), data="synth",
                 out=tmp_path / "e", progress=False, init=run / EXPORT_FILE)
    assert json.loads((back / "init.json").read_text())["switched"] == {"reference_code_pooled": False}


def test_init_from_an_export_grows_a_fresh_twin_attribute_head(tmp_path):
    from bridgegan_batch.model.checkpoint import load_export, load_state

    first = train(RunConfig.model_validate(TINY64), data="synth", out=tmp_path / "a", progress=False,
                  max_steps_this_call=1)
    twin = {**TINY64, "model": {**TINY64["model"], "disc_twin_attribute_head": True},
            "train": {**TINY64["train"], "steps": 1}}
    run = train(RunConfig.model_validate(twin), data="synth", out=tmp_path / "b", progress=False,
                init=first / EXPORT_FILE)
    assert json.loads((run / "init.json").read_text())["discriminator"] == \
        "from the export, its twin attribute head new"
    exported, _, _ = load_export(first / EXPORT_FILE)
    state = load_state(run / STATE_FILE)["discriminator"]
    assert {k for k in state if k not in exported["discriminator"]} == {"twin.weight", "twin.bias"}
    # The other way, a twin head the config does not have, is another model.
    twin_export = run / EXPORT_FILE
    with pytest.raises(UserError, match=r"another model config.*disc_twin_attribute_head"):
        train(RunConfig.model_validate({**TINY64, "train": {**TINY64["train"], "steps": 1}}), data="synth",
              out=tmp_path / "c", progress=False, init=twin_export)


def _assert_moments_follow_names(parent_opt: dict, forked_opt: dict, old: list[str], new: list[str], grown: str):
    """Each parameter's Adam moments in the fork are the parent's for the same name, at its new position; the grown
    parameters (names starting with `grown`) have none."""
    for i, name in enumerate(new):
        if name.startswith(grown):
            assert i not in forked_opt["state"]
            continue
        for k, v in parent_opt["state"][old.index(name)].items():
            assert torch.equal(torch.as_tensor(forked_opt["state"][i][k]), torch.as_tensor(v)), (name, k)


def test_init_from_a_resume_state_grows_a_twin_head_and_moves_d_moments_by_name(tmp_path):
    from bridgegan_batch.model.bridge import build_discriminator
    from bridgegan_batch.model.checkpoint import load_state
    from bridgegan_batch.train.warm_start import write_initial_state

    projected = {**TINY64, "model": {**TINY64["model"], "disc_projection": True}}
    first = train(RunConfig.model_validate(projected), data="synth", out=tmp_path / "a", progress=False,
                  max_steps_this_call=2)
    parent = load_state(first / STATE_FILE)
    twin = RunConfig.model_validate({**projected, "model": {**projected["model"], "disc_twin_attribute_head": True},
                                     "train": {**TINY64["train"], "steps": 1}})
    (tmp_path / "fork").mkdir()
    record = write_initial_state(tmp_path / "fork", twin, first / STATE_FILE)
    assert record["discriminator"] == "from the resume state, its twin attribute head new"
    forked = load_state(tmp_path / "fork" / STATE_FILE)
    assert {k for k in forked["discriminator"] if k not in parent["discriminator"]} == {"twin.weight", "twin.bias"}
    for k, v in parent["discriminator"].items():
        assert torch.equal(forked["discriminator"][k], v), k
    # The projection's embedding comes after the twin head in D's parameters, so a moment kept by position would
    # land on the wrong tensor: each must follow its parameter's name, and the twin's start empty.
    old = [n for n, _ in build_discriminator(RunConfig.model_validate(projected).model).named_parameters()]
    new = [n for n, _ in build_discriminator(twin.model).named_parameters()]
    assert new.index("embed.weight") > new.index("twin.weight")
    _assert_moments_follow_names(parent["opt_d"], forked["opt_d"], old, new, grown="twin.")
    run = train(twin, data="synth", out=tmp_path / "b", progress=False, init=first / STATE_FILE)
    assert [r["step"] for r in _losses(run)] == [1] and "d/attr_twin" in _losses(run)[0]


def test_init_grows_a_projection_and_a_patch_critic_that_start_as_the_critic_they_grew_from(tmp_path):
    from bridgegan_batch.model.bridge import build_discriminator
    from bridgegan_batch.model.checkpoint import load_state
    from bridgegan_batch.train.warm_start import write_initial_state

    first = train(RunConfig.model_validate(TINY64), data="synth", out=tmp_path / "a", progress=False,
                  max_steps_this_call=2)
    both = RunConfig.model_validate({**TINY64, "model": {**TINY64["model"], "disc_projection": True,
                                                         "disc_twin_attribute_head": True, "disc_patch_critic": True},
                                     "train": {**TINY64["train"], "steps": 1}})
    for source in (first / STATE_FILE, first / EXPORT_FILE):
        run = tmp_path / source.name
        run.mkdir()
        record = write_initial_state(run, both, source)
        assert record["discriminator"].endswith(", its twin attribute head, projection embedding and patch critic new")
        grown, plain = build_discriminator(both.model), build_discriminator(RunConfig.model_validate(TINY64).model)
        grown.load_state_dict(load_state(run / STATE_FILE)["discriminator"])
        plain.load_state_dict(load_state(first / STATE_FILE)["discriminator"])
        faces, labels = torch.rand(3, 3, 64, 64) * 2 - 1, torch.tensor([[1.0, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 1]])
        with torch.no_grad():  # the embedding and the patch map start at zero: the critic scores as before
            torch.testing.assert_close(grown.critic(faces, labels), plain.critic(faces))


def test_init_grows_the_encoders_pixel_branch_silent_and_moves_g_moments_by_name(tmp_path):
    from bridgegan_batch.model.bridge import BridgeGenerator
    from bridgegan_batch.model.checkpoint import load_state
    from bridgegan_batch.train.warm_start import write_initial_state

    first = train(RunConfig.model_validate(TINY64), data="synth", out=tmp_path / "a", progress=False,
                  max_steps_this_call=2)
    parent = load_state(first / STATE_FILE)
    branched = RunConfig.model_validate({**TINY64, "model": {**TINY64["model"], "encoder_pixel_branch": True},
                                         "train": {**TINY64["train"], "steps": 1}})
    old = [n for n, _ in BridgeGenerator(RunConfig.model_validate(TINY64).model).named_parameters()]
    new = [n for n, _ in BridgeGenerator(branched.model).named_parameters()]
    assert new.index("encoder.pixels.patch.weight") < new.index("encoder.stem.weight")  # positions move
    faces, diff = torch.rand(2, 3, 64, 64) * 2 - 1, torch.tensor([[1.0, 0, 0, -1], [0, 1, -1, 0]])
    for source in (first / STATE_FILE, first / EXPORT_FILE):
        run = tmp_path / source.name
        run.mkdir()
        record = write_initial_state(run, branched, source)
        kind = "resume state" if source.name == STATE_FILE else "export"
        assert record["generator"] == f"from the {kind}, its encoder's pixel branch new"
        forked = load_state(run / STATE_FILE)
        for key in ("generator", "ema"):  # the branch starts silent: E writes the codes it wrote
            grown, plain = BridgeGenerator(branched.model), BridgeGenerator(RunConfig.model_validate(TINY64).model)
            grown.load_state_dict(forked[key])
            plain.load_state_dict(parent[key] if kind == "resume state" else forked[key], strict=False)
            with torch.no_grad():
                torch.testing.assert_close(grown.reference_code(faces, diff), plain.reference_code(faces, diff))
    forked = load_state(tmp_path / STATE_FILE / STATE_FILE)
    _assert_moments_follow_names(parent["opt_g"], forked["opt_g"], old, new, grown="encoder.pixels.")
    run = train(branched, data="synth", out=tmp_path / "b", progress=False, init=first / STATE_FILE)
    assert Translator.load(run / EXPORT_FILE, device="cpu").model.encoder.pixels is not None


def test_init_starts_a_new_run_from_an_export_and_refuses_another_model(tmp_path):
    from bridgegan_batch.model.checkpoint import load_export, load_state

    first = train(RunConfig.model_validate(TINY64), data="synth", out=tmp_path / "a", progress=False,
                  max_steps_this_call=2)
    config = RunConfig.model_validate({**TINY64, "train": {**TINY64["train"], "steps": 1, "seed": 5}})
    run = train(config, data="synth", out=tmp_path / "b", progress=False, init=first / EXPORT_FILE)
    modules, _, _ = load_export(first / EXPORT_FILE)
    record = json.loads((run / "init.json").read_text())
    assert record["kind"] == "export" and record["source_step"] == 2
    assert record["discriminator"] == "from the export"
    assert [r["step"] for r in _losses(run)] == [1]  # a new schedule, from step 0
    # The EMA starts as the export's trained average, so it keeps the full decay (0.9) from the first step instead
    # of ramping up from 0.1 and keeping mostly the new raw weights: ema - export == (1 - 0.9) (raw - export).
    state = load_state(run / STATE_FILE)
    assert state["ema_ramp"] is False
    ema, raw = state["ema"], state["generator"]
    weights = [k for k, v in modules["bridge"].items() if k.endswith("weight") and v.dim() == 4]  # the convolutions
    for k in weights:
        torch.testing.assert_close(ema[k] - modules["bridge"][k], 0.1 * (raw[k] - modules["bridge"][k]))
    # ... and a resumed --init run goes on without the ramp
    longer = RunConfig.model_validate({**config.model_dump(), "train": {**config.train.model_dump(), "steps": 2}})
    train(longer, data="synth", out=tmp_path / "b", progress=False, resume=True)
    assert load_state(run / STATE_FILE)["ema_ramp"] is False
    # One step at a small EMA decay moves the average only a little from the export it started at, while a new
    # model (seed 5) starts far from it.
    fresh = train(config, data="synth", out=tmp_path / "c", progress=False)
    assert load_state(fresh / STATE_FILE)["ema_ramp"] is True  # a run from random weights ramps
    far = load_state(fresh / STATE_FILE)["ema"]
    near_gap = max((ema[k] - modules["bridge"][k]).abs().max() for k in weights)
    far_gap = max((far[k] - modules["bridge"][k]).abs().max() for k in weights)
    assert near_gap < 0.5 * far_gap

    other = RunConfig.model_validate({**TINY64, "model": {**TINY64["model"], "code_channels": 8}})
    with pytest.raises(UserError, match=r"another model config.*code_channels"):
        train(other, data="synth", out=tmp_path / "d", progress=False, init=first / EXPORT_FILE)
    assert not list((tmp_path / "d").glob("*")), "a refused --init leaves no run folder"
    with pytest.raises(UserError, match="--init starts a new run"):
        train(config, data="synth", out=tmp_path / "b", progress=False, init=first / EXPORT_FILE, resume=True)
    with pytest.raises(UserError, match="--init: .*missing.safetensors"):
        train(config, data="synth", out=tmp_path / "e", progress=False, init=tmp_path / "missing.safetensors")


def test_a_guided_run_logs_its_term_and_records_which_guide(tmp_path):
    import hashlib

    from bridgegan_batch.config import JudgeConfig
    from bridgegan_batch.eval.judge import Judge, JudgeNet

    names = ("Wearing_Hat", *TINY64["model"]["attributes"])  # a superset, in another order
    config = JudgeConfig(attributes=names, channels=(4, 8))
    path = Judge(JudgeNet(len(names), config.channels), config).save(tmp_path / "guide.safetensors")
    train_settings = {**TINY64["train"], "steps": 2, "guide": str(path), "losses": {"attribute_guide": 3.0}}
    run = train(RunConfig.model_validate({**TINY64, "train": train_settings}), data="synth", out=tmp_path / "run",
                progress=False)
    assert all(r["g/attr_guide"] > 0 for r in _losses(run))
    recorded = json.loads((run / "config.json").read_text())
    assert recorded["guide_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    missing = RunConfig.model_validate({**TINY64, "train": {**train_settings, "guide": str(tmp_path / "gone")}})
    with pytest.raises(UserError, match="gone"):
        train(missing, data="synth", out=tmp_path / "run2", progress=False)
    narrow = JudgeConfig(attributes=names[:2], channels=(4, 8))
    short = Judge(JudgeNet(2, narrow.channels), narrow).save(tmp_path / "short.safetensors")
    lacking = RunConfig.model_validate({**TINY64, "train": {**train_settings, "guide": str(short)}})
    with pytest.raises(UserError, match=r"short.safetensors.*\['Black_Hair', 'Blond_Hair', 'Smiling'\]"):
        train(lacking, data="synth", out=tmp_path / "run2", progress=False)
    assert not (tmp_path / "run2").exists()  # both refused before a run folder was made


X86_AVX2 = ("processor\t: 0\nflags\t\t: fpu sse sse2 avx avx2 fma\n\n"
            "processor\t: 1\nflags\t\t: fpu sse sse2 avx avx2 fma\n")


@pytest.mark.parametrize(("cpuinfo", "emulates"), [
    (X86_AVX2, True),
    (X86_AVX2.replace("avx2 fma", "avx2 fma avx512f avx512_bf16"), False),
    (X86_AVX2.replace("avx2 fma", "avx2 amx_tile amx_bf16"), False),
    ("processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n", False),  # Arm
    ("processor\t: 0\nFeatures\t: fp asimd\n", True),
    ("", False),  # unknown: no warning
])
def test_cpu_emulates_bf16_reads_the_flags(cpuinfo, emulates):
    from bridgegan_batch.train.loop import cpu_emulates_bf16

    assert cpu_emulates_bf16(cpuinfo) is emulates


def test_bfloat16_on_a_cpu_without_bf16_instructions_warns_before_training(tmp_path, monkeypatch):
    import warnings

    from bridgegan_batch.train import loop

    monkeypatch.setattr(loop, "cpu_emulates_bf16", lambda: True)

    def run(precision):
        config = RunConfig.model_validate({**TINY64, "train": {**TINY64["train"], "steps": 1, "precision": precision}})
        return train(config, data="synth", out=tmp_path / precision, progress=False)

    with pytest.warns(UserWarning, match=r"--set train\.precision=float32"):
        run("bfloat16")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run("float32")
