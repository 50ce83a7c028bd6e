"""Config files: `base` overlays and `--set` overrides resolve to one validated config, and errors name the file."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from bridgegan_batch.cli import main
from bridgegan_batch.config import RunConfig, load_yaml
from bridgegan_batch.errors import ConfigError


def test_an_overlay_changes_only_what_it_names(tmp_path):
    overlay = tmp_path / "wide.yaml"
    base = tmp_path / "base.yaml"
    base.write_text(Path("configs/synth64.yaml").read_text())
    overlay.write_text("base: base.yaml\nmodel:\n  generator_channels: [32, 64, 128]\ntrain:\n  lr: 0.0001\n")
    plain, wide = load_yaml(base, RunConfig), load_yaml(overlay, RunConfig)
    assert wide.model.generator_channels == (32, 64, 128) and wide.train.lr == 1e-4
    assert wide.model.attributes == plain.model.attributes and wide.train.batch_size == plain.train.batch_size
    assert wide.model_copy(update={"model": plain.model, "train": plain.train}) == plain
    # --set applies after the overlay, the value read as YAML.
    both = load_yaml(overlay, RunConfig, ("train.lr=3e-4", "model.generator_skips=true"))
    assert both.train.lr == 3e-4 and both.model.generator_skips and both.model.generator_channels == (32, 64, 128)


def test_overlay_and_override_errors_name_their_source(tmp_path):
    loop_a, loop_b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    loop_a.write_text("base: b.yaml\n")
    loop_b.write_text("base: a.yaml\n")
    with pytest.raises(ConfigError, match="base files loop"):
        load_yaml(loop_a, RunConfig)
    missing = tmp_path / "m.yaml"
    missing.write_text("base: nowhere.yaml\n")
    with pytest.raises(ConfigError, match="nowhere.yaml: file not found"):
        load_yaml(missing, RunConfig)
    odd = tmp_path / "odd.yaml"
    odd.write_text("base: [1, 2]\n")
    with pytest.raises(ConfigError, match="base: a path"):
        load_yaml(odd, RunConfig)
    with pytest.raises(ConfigError, match="train.lrr: unknown key"):
        load_yaml("configs/synth64.yaml", RunConfig, ("train.lrr=1",))
    with pytest.raises(ConfigError, match="expected key.path=value"):
        load_yaml("configs/synth64.yaml", RunConfig, ("train.lr",))


def test_train_set_reaches_the_run_and_bad_keys_exit_2(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["train", "configs/synth64.yaml", "--set", "train.nope=1", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "train.nope: unknown key" in result.output
    assert not any(tmp_path.iterdir())  # refused before a run folder is made


def test_yaml_booleans_are_refused_wherever_numbers_are_expected(tmp_path):
    # YAML reads yes/no/on/off as booleans: inside a list or mapping of numbers too, they are named, not read as 0/1.
    config = tmp_path / "run.yaml"
    config.write_text("base: " + str(Path("configs/synth64.yaml").resolve()) + "\n"
                      "train: {synth: {priors: {Eyeglasses: yes}}}\n")
    with pytest.raises(ConfigError, match=r"train.synth.priors: expected a number at Eyeglasses, got true"):
        load_yaml(config, RunConfig)
    from bridgegan_batch.augment.spec import JobSpec  # a job's lists of numbers

    job = tmp_path / "job.yaml"
    job.write_text(Path("jobs/glasses_aug.yaml").read_text().replace("alphas: [0.25, 0.5, 0.75]", "alphas: [0.25, on]"))
    with pytest.raises(ConfigError, match=r"alphas: expected a number at 1, got true"):
        load_yaml(job, JobSpec)
    # Attribute values are 0/1 labels, where true and false say the same: still accepted.
    job.write_text(Path("jobs/glasses_aug.yaml").read_text().replace("set: {Eyeglasses: 1}", "set: {Eyeglasses: true}"))
    assert load_yaml(job, JobSpec).operations[0].label.set == {"Eyeglasses": 1}


def test_the_real_faces_config_carries_the_demo_models_recipe():
    """configs/celeba128.yaml differs from configs/synth64.yaml only in sizes, attributes and cadence."""
    demo, celeba = load_yaml("configs/synth64.yaml", RunConfig), load_yaml("configs/celeba128.yaml", RunConfig)
    sizes = {"batch_size", "steps", "loader_workers", "sample_every", "checkpoint_every"}
    assert celeba.train.model_copy(update={k: getattr(demo.train, k) for k in sizes}) == demo.train
    recipe = {"generator_skips", "generator_keep_mask", "disc_separate_attribute_trunk", "noise_dim"}
    assert all(getattr(celeba.model, k) == getattr(demo.model, k) for k in recipe)
    assert {"Eyeglasses", "Wearing_Hat"} <= set(celeba.model.attributes) and celeba.model.image_size == 128


def test_the_fine_tune_config_changes_only_the_schedule_of_the_demo_recipe():
    """configs/synth64_finetune.yaml (how the bundled model's last stage ran) keeps synth64's networks and losses."""
    demo, tune = load_yaml("configs/synth64.yaml", RunConfig), load_yaml("configs/synth64_finetune.yaml", RunConfig)
    schedule = {"d_steps_per_g_step", "latent_warmup_steps", "precision"}
    assert tune.model == demo.model and tune.train.losses == demo.train.losses
    assert tune.train.model_copy(update={k: getattr(demo.train, k) for k in schedule}) == demo.train
    assert (tune.train.d_steps_per_g_step, tune.train.latent_warmup_steps) == (1, 0)
