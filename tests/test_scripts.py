"""The experiment scripts (experiments/) that the demo model's training log cites, and bench_edit and judge_jobs."""

import json
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
import yaml

from bridgegan_batch.config import RunConfig
from bridgegan_batch.model.checkpoint import load_export, load_state
from bridgegan_batch.train.loop import EXPORT_FILE, STATE_FILE
from bridgegan_batch.train.run import train
from tests.train.test_loop import TINY64

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "experiments"))  # the experiment scripts import as they run
import fresh_discriminator as fresh_discriminator_script  # noqa: E402


def fresh_discriminator(*args: str) -> None:
    """experiments/fresh_discriminator.py ARGS, in this process (a subprocess spent seconds importing torch)."""
    with mock.patch.object(sys, "argv", ["fresh_discriminator.py", *args]):
        fresh_discriminator_script.main()


@pytest.mark.slow
def test_fresh_discriminator_keeps_g_and_continues_the_step(tmp_path):
    separate = {**TINY64, "model": {**TINY64["model"], "disc_separate_attribute_trunk": True}}
    old_run = train(RunConfig.model_validate(separate), data="synth", out=tmp_path / "old", progress=False,
                    max_steps_this_call=3)
    shared = {"model": {**TINY64["model"], "disc_separate_attribute_trunk": False},
              "train": {**TINY64["train"], "losses": {"critic_drift": 0.001}}}
    (tmp_path / "shared.yaml").write_text(yaml.safe_dump(shared))
    fresh_discriminator(str(old_run / STATE_FILE), str(tmp_path / "shared.yaml"), "--out", str(tmp_path / "new"),
                        "--d-steps", "2")
    old, new = load_state(old_run / STATE_FILE), load_state(tmp_path / "new" / "00000-synth64" / STATE_FILE)
    assert new["step"] == 3
    assert all(torch.equal(old["ema"][k], v) for k, v in new["ema"].items())
    assert new["ema_ramp"] is old["ema_ramp"] is True  # a run's state goes on as it was
    assert not any(k.startswith("attribute_trunk") for k in new["discriminator"])
    assert any(k.startswith("attribute_trunk") for k in old["discriminator"])

    another_model = {**TINY64, "model": {**TINY64["model"], "code_channels": 8}}
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(another_model))
    with pytest.raises(SystemExit, match="code_channels"):
        fresh_discriminator(str(old_run / STATE_FILE), str(tmp_path / "other.yaml"), "--out", str(tmp_path / "x"),
                            "--d-steps", "1")

    resumed = train(RunConfig.model_validate(shared), data="synth", out=tmp_path / "new", resume=True,
                    progress=False, max_steps_this_call=1)
    assert load_state(resumed / STATE_FILE)["step"] == 4


def keep_weights_with(tmp_path, model_changes: dict) -> tuple[dict, dict]:
    """Train TINY64 two steps, then fresh_discriminator --keep-weights into a config with `model_changes`.
    -> (the old state, the new state)"""
    old_run = train(RunConfig.model_validate(TINY64), data="synth", out=tmp_path / "old", progress=False,
                    max_steps_this_call=2)
    (tmp_path / "changed.yaml").write_text(yaml.safe_dump({**TINY64, "model": {**TINY64["model"], **model_changes}}))
    fresh_discriminator(str(old_run / STATE_FILE), str(tmp_path / "changed.yaml"), "--out", str(tmp_path / "new"),
                        "--d-steps", "0", "--keep-weights")
    return load_state(old_run / STATE_FILE), load_state(tmp_path / "new" / "00000-synth64" / STATE_FILE)


@pytest.mark.slow
def test_fresh_discriminator_can_keep_d_and_add_a_zero_projection(tmp_path):
    old, new = keep_weights_with(tmp_path, {"disc_projection": True})
    assert set(new["discriminator"]) - set(old["discriminator"]) == {"embed.weight"}
    assert torch.count_nonzero(new["discriminator"]["embed.weight"]) == 0
    assert all(torch.equal(old["discriminator"][k], new["discriminator"][k]) for k in old["discriminator"])


@pytest.mark.slow
def test_fresh_discriminator_starts_from_an_export_when_the_state_is_gone(tmp_path):
    old_run = train(RunConfig.model_validate(TINY64), data="synth", out=tmp_path / "old", progress=False,
                    max_steps_this_call=3)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY64))
    fresh_discriminator(str(old_run / EXPORT_FILE), str(tmp_path / "tiny.yaml"), "--out", str(tmp_path / "new"),
                        "--d-steps", "1")
    exported = load_export(old_run / EXPORT_FILE)[0]["bridge"]
    new = load_state(tmp_path / "new" / "00000-synth64" / STATE_FILE)
    assert new["step"] == 3
    for part in ("generator", "ema"):  # G continues from the export's EMA weights
        assert all(torch.equal(exported[k], v) for k, v in new[part].items())
    assert not new["opt_g"]["state"]  # a new optimiser: the export holds no moments
    assert new["ema_ramp"] is False  # the export's weights are a trained average: no decay ramp from 0.1
    resumed = train(RunConfig.model_validate(TINY64), data="synth", out=tmp_path / "new", resume=True,
                    progress=False, max_steps_this_call=1)
    assert load_state(resumed / STATE_FILE)["step"] == 4


def test_bench_edit_times_both_modes_on_every_path(tmp_path):
    out = tmp_path / "bench_edit.md"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_edit.py"), "--batch", "2", "--repeats", "1",
                    "--threads", "1", "--out", str(out)], check=True, cwd=ROOT, capture_output=True)
    rows = [line for line in out.read_text().splitlines() if line.startswith("| 1 |")]
    assert [row.split(" | ")[1] for row in rows] == ["label", "reference", "interpolate"]
    for row in rows:
        direct, residual, ratio = (float(v) for v in row.strip(" |").split(" | ")[2:])
        assert direct > 0 and residual > 0 and abs(ratio - residual / direct) < 0.02 + 0.01 * ratio


def test_judge_jobs_sets_outputs_and_judges_side_by_side(synth_dirs, tmp_path):
    from bridgegan_batch.config import JudgeConfig
    from bridgegan_batch.data.reader import DatasetReader
    from bridgegan_batch.data.sample import Sample
    from bridgegan_batch.data.writer import DatasetWriter
    from bridgegan_batch.eval.judge import Judge, JudgeNet
    from bridgegan_batch.eval.output import judge_output

    names = ("Eyeglasses", "Smiling", "Male")
    faces = list(DatasetReader([synth_dirs["wds"]], decode=True))[:24]
    outputs = []
    for name, glasses in (("all-glasses", 1), ("no-glasses", 0)):
        outputs.append(str(tmp_path / name))
        with DatasetWriter(outputs[-1], attributes=names, shard_size=10) as writer:
            for i, s in enumerate(faces):
                labels = {**{a: s.attributes[a] for a in names}, "Eyeglasses": glasses}
                op = ("label", "interpolate", "reference")[i % 3]
                writer.write(Sample(s.key, s.image, labels, {"provenance": {"op": op}}))
    judges = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        config = JudgeConfig(attributes=names, channels=(8, 8, 8, 8))
        judges.append(str(Judge(JudgeNet(3, config.channels), config).save(tmp_path / f"judge-{seed}.safetensors")))
    sys.path.insert(0, str(ROOT / "scripts"))
    import judge_jobs

    out = tmp_path / "table.md"
    results = judge_jobs.main([*outputs, "--judge", judges[0], "--judge", judges[1], "--out", str(out)])
    assert set(results) == {"all-glasses", "no-glasses"} and set(results["no-glasses"]) == {"judge-0", "judge-1"}
    expected = judge_output(outputs[1], Judge.load(judges[1]))
    assert results["no-glasses"]["judge-1"] == expected
    table = out.read_text()
    assert table.count("| all-glasses |") == 2 and "| no-glasses | judge-1 |" in table
    seen = 100 * expected["overall"]["Eyeglasses"]["judged"]
    assert f"| no-glasses | judge-1 | {seen:.1f} % (" in table
    assert json.loads(out.with_suffix(".json").read_text())["no-glasses"]["judge-1"] == expected
    with pytest.raises(SystemExit, match="repeat"):  # two judges called judge-0 would overwrite each other
        judge_jobs.main([outputs[0], "--judge", judges[0], "--judge", judges[0]])


@pytest.mark.slow
@pytest.mark.parametrize(("field", "prefix"), [("generator_skips", "generator.skips."),
                                              ("generator_keep_mask", "generator.keep.")])
def test_fresh_discriminator_can_give_g_a_new_part(tmp_path, field, prefix):
    old, new = keep_weights_with(tmp_path, {field: True})
    for part in ("generator", "ema"):
        gained = set(new[part]) - set(old[part])
        assert gained and all(k.startswith(prefix) for k in gained)
        assert all(torch.count_nonzero(new[part][k]) == 0 for k in gained if k.endswith("weight"))
        assert all(torch.equal(old[part][k], new[part][k]) for k in old[part])
    if field == "generator_keep_mask":  # nearly shut: G's own image, a fiftieth of the source blended in
        assert torch.allclose(10 * new["generator"]["generator.keep.conv.bias"], torch.tensor(-4.0))
    else:  # zero skips: exactly the old G
        assert all(torch.count_nonzero(new["generator"][k]) == 0 for k in new["generator"] if k.startswith(prefix))
    assert not new["opt_g"]["state"]  # the old moments do not fit the new parameter list
    gained_config = {**TINY64, "model": {**TINY64["model"], field: True}}
    resumed = train(RunConfig.model_validate(gained_config), data="synth", out=tmp_path / "new", resume=True,
                    progress=False, max_steps_this_call=1)
    after = load_state(resumed / STATE_FILE)["generator"]
    assert any(not torch.equal(after[k], new["generator"][k]) for k in after if k.startswith(prefix))  # it trains
    # Switching it off again would drop trained parts: refused.
    (tmp_path / "plain.yaml").write_text(yaml.safe_dump(TINY64))
    with pytest.raises(SystemExit, match=field):
        fresh_discriminator(str(resumed / STATE_FILE), str(tmp_path / "plain.yaml"), "--out", str(tmp_path / "x"),
                            "--d-steps", "0")


@pytest.mark.slow
def test_probe_reference_style_compares_outputs_with_truths(tmp_path):
    run = train(RunConfig.model_validate(TINY64), data="synth", out=tmp_path, progress=False, max_steps_this_call=1)
    done = subprocess.run([sys.executable, "experiments/probe_reference_style.py", "--model", str(run / EXPORT_FILE),
                           "--n", "8"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["cases"] >= 2 and result["truths_differ"] > 0  # the cases' references wear other styles
    assert result["outputs_differ"] > 0 and result["reference_codes_differ"] > 0  # an untrained E sees its input
    refused = subprocess.run([sys.executable, "experiments/probe_reference_style.py", "--model", str(run / EXPORT_FILE),
                              "--n", "1", "--change", "Smiling"], cwd=ROOT, capture_output=True, text=True)
    assert refused.returncode != 0 and "raise --n" in refused.stderr


@pytest.mark.slow
def test_eval_noise_reproduces_evals_headline_and_pairs_its_resamples(tmp_path):
    from eval_noise import noise

    from bridgegan_batch.eval.ground_truth import evaluate_ground_truth, truth_case_sets
    from bridgegan_batch.model.translator import Translator

    model = str(train(RunConfig.model_validate(TINY64), data="synth", out=tmp_path, progress=False,
                      max_steps_this_call=1) / EXPORT_FILE)
    copy = str(tmp_path / "copy.safetensors")
    Path(copy).write_bytes(Path(model).read_bytes())
    names = ("Eyeglasses", "Blond_Hair")
    result = noise([model, copy], names, n=6, boot=20)
    translator = Translator.load(model, device="cpu")
    evaluated = evaluate_ground_truth(translator, truth_case_sets(names, translator.attributes, n=6,
                                                                  directions=["add"]))
    base, again = result["models"][model], result["models"][copy]
    for name in names:
        add = evaluated["attributes"][name]["add"]
        label, reference, style = base["per_attribute"][name]["value"]
        assert label == pytest.approx(add["label"]["relative"], rel=1e-5)
        assert reference == pytest.approx(add["reference"]["reduction"], rel=1e-5)
        assert style == pytest.approx(add["reference"]["style_match"], rel=1e-5)
    assert all(se > 0 for se in base["mean"]["se"][:2])  # resampling six faces moves the means
    assert again["mean_minus_base"] == {"value": [0, 0, 0], "se": [0, 0, 0]}  # a model against itself, paired


@pytest.mark.slow
def test_term_directions_shares_add_up_to_the_whole_loss_step(tmp_path):
    """experiments/term_directions.py: each term's share of Adam's step, summed, is the whole loss's step: every
    term is read alone, at its own weight (a share that kept the other terms would count them again)."""
    import term_directions as probe

    from bridgegan_batch.eval.ground_truth import make_truth_cases
    from bridgegan_batch.train.loop import build_parts, restore_state
    from bridgegan_batch.train.losses import BridgeGANLoss

    weights = {"closeness": 5.0, "minimal_change": 2.0, "image_cycle": 10.0, "reference_restoration": 5.0}
    config = RunConfig.model_validate({**TINY64, "train": {**TINY64["train"], "losses": weights}})
    run = train(config, data="synth", out=tmp_path, progress=False, max_steps_this_call=2)
    parts = build_parts(config, torch.device("cpu"))
    restore_state(parts, load_state(run / STATE_FILE))
    cases = make_truth_cases("Eyeglasses", 1, config.model.attributes, n=3)
    batch = probe.batch_of(cases, config.model.noise_dim, seed=0)
    terms = [t for t in probe.G_TERMS if getattr(config.train.losses, t) > 0]
    assert {"closeness", "image_cycle", "reference_restoration", "adversarial"} <= set(terms)
    shares = probe.term_changes(parts, config.train, batch, terms, cases.reference)

    whole_loss = BridgeGANLoss.for_training(parts.generator, parts.discriminator, config.train)
    params = [p for p in parts.generator.parameters() if p.requires_grad]
    grads = torch.autograd.grad(whole_loss.generator_phase(batch)[0], params, allow_unused=True)
    whole = probe.directional_change(whole_loss, batch, params, probe.adam_direction(grads, params, parts.opt_g))
    summed = sum(shares.values())
    assert whole.abs().max() > 0
    assert torch.allclose(summed, whole, atol=1e-4 * whole.abs().max().item(), rtol=1e-3)

    # The forward-mode change against reverse mode, which pairs no names with tensors: <v, J(-u)> = -<J^T v, u>
    # (a parameter paired with another of its shape would move the change and keep the sum above).
    direction = [torch.randn_like(p) for p in params]
    change = probe.directional_change(whole_loss, batch, params, direction)
    v = torch.randn_like(change)
    with torch.enable_grad():
        pulled = torch.autograd.grad((whole_loss.fakes(batch) * v).sum(), params, allow_unused=True)
    expected = -sum((g * u).sum() for g, u in zip(pulled, direction, strict=True) if g is not None)
    assert torch.allclose((v * change).sum(), expected, rtol=1e-3)

    # A change toward the truth reads as closing the gap (a tenth of the way: 200 per mille), away as opening it.
    y, x, truth = whole_loss.fakes(batch)[3:6].detach(), batch.x, probe.to_tensor(cases.reference_truth)
    assert probe.readings(truth - y, y, x, truth, None, 0.1)["toward_truth_permille"] == pytest.approx(200, rel=1e-4)
    assert probe.readings(y - truth, y, x, truth, None, 0.1)["toward_truth_permille"] < 0


def test_oracle_code_probe_trains_g_from_codes_of_the_answer(tmp_path):
    """experiments/oracle_code_probe.py: every training pair is a source and a truth that differs from it, of the
    goal additions only, the encoder shown the truth or the reference; a short run logs each addition's held-out
    reduction and draws the grid."""
    import oracle_code_probe as probe
    from PIL import Image

    from bridgegan_batch.eval.ground_truth import truth_case_sets
    from bridgegan_batch.model.pixels import to_tensor
    from bridgegan_batch.model.translator import DEFAULT_MODEL as model

    attributes = load_export(model)[1].attributes
    sets = truth_case_sets(probe.GOAL, attributes, n=2, directions=["add"])
    pool = probe.pairs(sets)
    per_case = 1 + sets[0].style_truths.shape[1]
    assert len(pool["x"]) == len(probe.GOAL) * 2 * per_case
    goal_columns = sorted(attributes.index(name) for name in probe.GOAL)
    assert sorted(set((pool["d"] == 1).nonzero()[:, 1].tolist())) == goal_columns  # the goal additions alone
    assert ((pool["x"] - pool["truth"]).abs().flatten(1).amax(1) > 0).all()  # every pair holds an edit
    assert torch.equal(pool["shown"], pool["truth"])
    by_reference = probe.pairs(sets, read="reference")
    assert len(by_reference["x"]) == len(probe.GOAL) * 2
    assert torch.equal(by_reference["shown"], to_tensor(np.concatenate([c.reference for c in sets])))
    assert torch.equal(by_reference["truth"], to_tensor(np.concatenate([c.reference_truth for c in sets])))

    restored = probe.restored_pairs(sets, str(model))  # the references, stripped by the bundled model
    assert torch.equal(restored["truth"], restored["shown"]) and torch.equal(restored["shown"], by_reference["shown"])
    assert restored["x"].shape == restored["truth"].shape and not torch.equal(restored["x"], restored["truth"])
    columns = [attributes.index(name) for name in probe.GOAL for _ in range(2)]
    assert torch.equal(restored["d"].nonzero()[:, 1], torch.tensor(columns))  # +1 on the stripped attribute alone
    assert (restored["d"].sum(1) == 1).all()

    removals = truth_case_sets(probe.GOAL, attributes, n=2, directions=["remove"], styles=1)
    bare = probe.bare_pairs(removals)  # faces wearing each attribute, and SynthFaces' own removal of it
    assert torch.equal(bare["shown"], bare["truth"])
    assert torch.equal(bare["truth"], to_tensor(np.concatenate([c.source for c in removals])))
    assert torch.equal(bare["x"], to_tensor(np.concatenate([c.reference_truth for c in removals])))
    assert torch.equal(bare["d"].nonzero()[:, 1], torch.tensor(columns)) and (bare["d"].sum(1) == 1).all()

    x = pool["x"][:2]
    assert probe.OracleEncoder(16, patch=2)(x, x, pool["d"][:2]).shape == (2, 16, 32, 32)  # the finer grid

    out = tmp_path / "probe"
    with mock.patch.object(sys, "argv", ["oracle_code_probe.py", "--init", str(model), "--out", str(out),
                                         "--minutes", "0.02", "--pool", "1", "--eval-n", "2",
                                         "--read", "reference", "--encoder", "model"]):
        probe.main()
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] > 0 and rows[-1]["read"] == "reference" and rows[-1]["encoder"] == "model"
    assert all(-10 < rows[-1][f"{name}/reduction"] <= 1 for name in probe.GOAL)
    assert Image.open(out / "grid.png").size == (2 * 64, 4 * len(probe.GOAL) * 64)


def test_capacity_probe_aligns_each_reference_to_its_source_and_keeps_the_truths():
    """experiments/capacity_probe.py --aligned-references: each reference is re-rendered with its source's eyes,
    its own styles; every truth, and so the score, is as it was."""
    import capacity_probe as probe
    from alignment_probe import eyes

    from bridgegan_batch.data.synthfaces import render
    from bridgegan_batch.eval.ground_truth import case_records, make_truth_cases

    attributes = ("Eyeglasses", "Smiling", "Male")
    cases = make_truth_cases("Eyeglasses", 1, attributes, n=3, styles=2, seed=5, reference_seed=7)
    moved = probe.with_aligned_references(cases, 5, 7)
    for key in ("source", "reference_truth", "rival_truth", "style_truths", "unseen_truth", "target_labels"):
        assert np.array_equal(getattr(moved, key), getattr(cases, key))
    records = case_records("Eyeglasses", 1, n=3, styles=2, seed=5, reference_seed=7)
    for i, (source, refs) in enumerate(records):
        assert np.array_equal(moved.reference[i], render(probe.aligned(refs[0], source), 64))
        assert not np.array_equal(moved.reference[i], cases.reference[i])
        assert np.abs(eyes(probe.aligned(refs[0], source)) - eyes(source)).max() < 1e-6  # the source's eyes
        assert np.abs(eyes(refs[0]) - eyes(source)).max() > 0.5  # not where they were
    with pytest.raises(ValueError, match="did not make these Eyeglasses cases"):
        probe.with_aligned_references(cases, 6, 7)
