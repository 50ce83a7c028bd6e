import pytest

from bridgegan_batch.augment.spec import check_attribute_names, fingerprint, load_job, resolve_d_scale
from bridgegan_batch.errors import ConfigError

GOOD = """
name: glasses_aug
seed: 3
input: {uri: data/faces}
operations:
  - label: {set: {Eyeglasses: 1}, where: {Eyeglasses: 0}, variants: 2}
  - reference: {set: {Eyeglasses: 1}, where: {Eyeglasses: 0}}
  - interpolate: {set: {Eyeglasses: 1}, alphas: [0.25, 0.75]}
balance: {fractions: {Eyeglasses: 0.5}}
output: {uri: out/glasses, format: parquet, image: {format: jpg, quality: 90}}
"""


def _write(tmp_path, text, name="job.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_good_job_resolves_defaults(tmp_path):
    job = load_job(_write(tmp_path, GOOD))
    assert job.input.uri == ("data/faces",) and job.model.d_scale is None and job.model.path is None
    assert [op.kind for op in job.operations] == ["label", "reference", "interpolate"]
    assert job.operations[2].spec.alphas == (0.25, 0.75) and job.resources.cpus_per_actor == 0.5


def test_set_overrides_fields_with_yaml_values(tmp_path):
    job = load_job(_write(tmp_path, GOOD), ("input.uri=/data/faces-{000..009}.tar", "output.shard_size=50",
                                            "resources.address=auto", "output.include_originals=true",
                                            "model.edit=residual"))
    assert job.model.edit == "residual" and load_job(_write(tmp_path, GOOD)).model.edit == "direct"
    assert job.input.uri == ("/data/faces-{000..009}.tar",)
    assert job.output.shard_size == 50 and job.output.include_originals is True and job.resources.address == "auto"
    with pytest.raises(ConfigError, match="key.path=value"):
        load_job(_write(tmp_path, GOOD), ("no-equals-sign",))


def test_a_users_uri_never_triggers_the_demo_render(tmp_path):
    demo = GOOD.replace("input: {uri: data/faces}", "input: {uri: data/demo, synth: {samples: 10}}")
    assert load_job(_write(tmp_path, demo)).input.synth.samples == 10
    for uri in ("/data/faces-{000..099}.tar", "/data/one.tar", "/data/folder"):
        job = load_job(_write(tmp_path, demo), (f"input.uri={uri}",))
        assert job.input.synth is None and job.input.uri == (uri,)
    # Asked for both, the render is kept, and a path that is not one directory is refused.
    job = load_job(_write(tmp_path, demo), ("input.uri=/tmp/d", "input.synth.samples=5"))
    assert job.input.synth.samples == 5
    for uri in ("/data/one.tar", "/data/faces-*.tar"):
        with pytest.raises(ConfigError, match="input.synth renders the demo into one directory"):
            load_job(_write(tmp_path, demo.replace("uri: data/demo", f"uri: {uri!r}")))


def test_fingerprints_of_earlier_versions_still_hold(tmp_path):
    # GOOD's fingerprint as version 0.1.0 computed it, before `model.edit` existed: a nightly output
    # made then is continued, not refused, after an upgrade, unless the job sets the new field.
    # model.d_scale unset takes the model's scale, resolved before fingerprinting: a model recording none
    # gives 0.1.0's fixed default, 1.5, and its fingerprint.
    job = resolve_d_scale(load_job(_write(tmp_path, GOOD)), 1.5)
    assert fingerprint(job) == "c02449bc84a3870de1d1c3610774cbc8e1ca14f6bfe6cc4c5bb4715816717c40"
    assert fingerprint(resolve_d_scale(load_job(_write(tmp_path, GOOD), ("model.edit=residual",)), 1.5)) \
        != fingerprint(job)
    assert fingerprint(resolve_d_scale(load_job(_write(tmp_path, GOOD)), 1.25)) != fingerprint(job)
    explicit = load_job(_write(tmp_path, GOOD), ("model.d_scale=1.75",))
    assert resolve_d_scale(explicit, 1.25).model.d_scale == 1.75  # the job's own scale wins
    with pytest.raises(ValueError, match="resolve model.d_scale"):
        fingerprint(load_job(_write(tmp_path, GOOD)))


BAD = [
    ("name: [unclosed", "not valid YAML"),
    ("- just\n- a list", "mapping of fields"),
    (GOOD + "colour: red\n", "colour: unknown key"),
    (GOOD.replace("seed: 3", "seed: three"), "seed"),
    (GOOD.replace("name: glasses_aug", "name: ../escape"), "name"),
    (GOOD.replace("input: {uri: data/faces}", "input: {uri: []}"), "input.uri"),
    (GOOD.replace("input: {uri: data/faces}", "input: {uri: data/faces, format: tfrecord}"), "input.format"),
    (GOOD.replace("variants: 2", "variants: 0"), "variants"),
    (GOOD.replace("{Eyeglasses: 1}, where: {Eyeglasses: 0}, variants", "{Eyeglasses: 2}, where: {}, variants"), "set"),
    (GOOD.replace("alphas: [0.25, 0.75]", "alphas: [0.5, 1.5]"), "alphas"),
    (GOOD.replace("alphas: [0.25, 0.75]", "alphas: []"), "alphas"),
    (GOOD.replace("balance: {fractions: {Eyeglasses: 0.5}}", "balance: {fractions: {Eyeglasses: 1.0}}"), "fractions"),
    (GOOD.replace("balance: {fractions: {Eyeglasses: 0.5}}", "balance: {}"), "balance"),
    (GOOD.replace("quality: 90", "quality: 101"), "quality"),
    (GOOD.replace("format: parquet", "format: csv"), "output.format"),
    (GOOD.replace("output: {uri: out/glasses,", "output: {uri: out/glasses, shard_size: -5,"), "shard_size"),
    (GOOD.replace("output: {uri: out/glasses,", "output: {uri: data/faces/aug,"), "inside the input"),
    (GOOD + "resources: {cpus_per_actor: 0}\n", "cpus_per_actor"),
    (GOOD + "model: {edit: blend}\n", "model.edit"),
    (GOOD.replace("  - label: {set: {Eyeglasses: 1}, where: {Eyeglasses: 0}, variants: 2}\n",
                  "  - label: {set: {Smiling: 1}}\n    reference: {set: {Smiling: 1}}\n"), "exactly one"),
    (GOOD.replace("  - label: {set: {Eyeglasses: 1}, where: {Eyeglasses: 0}, variants: 2}\n", "  - paint: {}\n"),
     "paint"),
    (GOOD.replace("reference: {set: {Eyeglasses: 1}, where: {Eyeglasses: 0}}",
                  "reference: {set: {Eyeglasses: 1}, choose: keys}"), "keys"),
    (GOOD.replace("{Eyeglasses: 1}, alphas", "{Black_Hair: 1, Blond_Hair: 1}, alphas"), "exclusive"),
]


@pytest.mark.parametrize("text, field", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_jobs_get_one_error_naming_the_field(tmp_path, text, field):
    with pytest.raises(ConfigError, match=field) as err:
        load_job(_write(tmp_path, text, "bad.yaml"))
    assert "bad.yaml" in str(err.value)


def test_attribute_names_are_checked_against_the_model(tmp_path):
    job = load_job(_write(tmp_path, GOOD.replace("where: {Eyeglasses: 0}}", "where: {Sunglasses: 0}}")))
    with pytest.raises(ConfigError, match=r"operations.1.reference.where.*Sunglasses"):
        check_attribute_names(job, ("Eyeglasses", "Male"))
    check_attribute_names(load_job(_write(tmp_path, GOOD)), ("Eyeglasses", "Male"))
    # The job file alone cannot know the model's names: load_job keeps the unknown one for this check.
    assert dict(job.operations[1].spec.where) == {"Sunglasses": 0}


def test_validate_command_checks_model_and_inputs(tmp_path, synth_dirs):
    from click.testing import CliRunner

    from bridgegan_batch.cli import main

    job = _write(tmp_path, GOOD.replace("data/faces", synth_dirs["wds"]).replace("out/glasses", str(tmp_path / "o")))
    result = CliRunner().invoke(main, ["validate", str(job), "--set", "model.path=/nowhere/m.safetensors"])
    assert result.exit_code == 2 and "model.path" in result.output


def _job(tmp_path, inputs, output) -> str:
    path = tmp_path / "job.yaml"
    path.write_text(GOOD.replace("input: {uri: data/faces}", f"input: {{uri: {inputs!r}}}")
                    .replace("output: {uri: out/glasses,", f"output: {{uri: {str(output)!r},"))
    return str(path)


def test_output_and_input_overlap_is_checked_against_the_files_themselves(tmp_path):
    data = tmp_path / "data"
    (data / "faces").mkdir(parents=True)
    (data / "faces-000.tar").write_bytes(b"")
    (data / "faces" / "shard-000000.tar").write_bytes(b"")
    # An output beside a single input file is fine, as is one beside a braced list of files.
    load_job(_job(tmp_path, str(data / "faces-000.tar"), data / "aug"))
    load_job(_job(tmp_path, str(data / "faces-{000..000}.tar"), data / "aug"))
    # A glob's '*' stays within one folder: out/aug's shards are not matched by data/*.tar.
    load_job(_job(tmp_path, str(data / "*.tar"), data / "aug"))
    cases = [
        (str(data / "faces"), data / "faces" / "aug", "lies inside the input directory"),  # read whole, rerun
        (str(data / "**" / "*.tar"), data / "aug", "would match"),
        (str(data / "faces"), data, "inside output.uri"),  # --force would delete the input
        (str(data / "faces-000.tar"), data, "inside output.uri"),
    ]
    for inputs, output, message in cases:
        with pytest.raises(ConfigError, match=message) as caught:
            load_job(_job(tmp_path, inputs, output))
        assert str(output) in str(caught.value) and repr(inputs) in str(caught.value)  # names both
