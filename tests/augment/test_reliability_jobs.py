"""Malformed jobs through the CLI: each gets one error naming the field, exit code 2, and nothing is written."""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from bridgegan_batch.cli import main
from tests.conftest import write_tiny_export

SECRET = "wJalrXUtnFEMIK7MDENG"


def _base(root: Path, model: str) -> dict:
    return {"name": "bad_job", "seed": 1, "input": {"uri": str(root / "in")}, "model": {"path": model},
            "operations": [{"label": {"set": {"Eyeglasses": 1}, "where": {"Eyeglasses": 0}}}],
            "output": {"uri": str(root / "out"), "shard_size": 40}}


def _set(dotted: str, value):
    def edit(job: dict, root: Path) -> None:
        *head, last = dotted.split(".")
        node = job
        for key in head:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        node[last] = value(root) if callable(value) else value
    return edit


def _drop(dotted: str):
    def edit(job: dict, root: Path) -> None:
        *head, last = dotted.split(".")
        node = job
        for key in head:
            node = node[key]
        del node[last]
    return edit


def _pickle_model(root: Path) -> str:
    path = root / "model.pt"
    path.write_bytes(b"\x80\x04\x95")  # the start of a pickle: it is never opened
    return str(path)


def _text_model(root: Path) -> str:
    path = root / "model.safetensors"
    path.write_text("I am not a safetensors file")
    return str(path)


def _model_with_bad_d_scale(root: Path) -> str:
    """A real export whose recorded test-time d scale is no number."""
    return write_tiny_export(root / "strong.safetensors", {"d_scale": "strong"})


LABEL = {"set": {"Eyeglasses": 1}, "where": {"Eyeglasses": 0}}
# (id, the job's text or an edit of the base job, what the one error line must say)
CASES = [
    ("yaml-syntax", "name: [unclosed\n", r"not valid YAML"),
    ("yaml-python-tag", "name: !!python/object/apply:os.system ['touch pwned']\n", r"not valid YAML"),
    ("not-a-mapping", "- just\n- a list\n", r"mapping of fields"),
    ("empty-file", "", r"mapping of fields"),
    ("unknown-top-key", _set("colour", "red"), r"colour: unknown key"),
    ("unknown-nested-key", _set("output.compression", "zstd"), r"output.compression: unknown key"),
    ("missing-output", _drop("output"), r"output: Field required"),
    ("seed-wrong-type", _set("seed", "three"), r"seed: "),
    ("name-path-escape", _set("name", "../escape"), r"name: "),
    ("uri-empty-list", _set("input.uri", []), r"input.uri"),
    ("uri-no-match", _set("input.uri", lambda r: str(r / "nothing-*.tar")), r"pattern .*nothing-\*\.tar"),
    ("input-format", _set("input.format", "tfrecord"), r"input.format"),
    ("no-operations", _set("operations", []), r"operations: "),
    ("unknown-operation", _set("operations", [{"paint": {}}]), r"operations.0.paint: unknown key"),
    ("two-kinds-in-one", _set("operations", [{"label": LABEL, "reference": LABEL}]), r"exactly one"),
    ("unknown-attribute-set", _set("operations.0.label.set", {"Glasses": 1}),
     r"operations.0.label.set: unknown attributes \['Glasses'\]"),
    ("unknown-attribute-where", _set("operations.0.label.where", {"Sunglasses": 0}),
     r"operations.0.label.where: unknown attributes"),
    ("label-value-2", _set("operations.0.label.set", {"Eyeglasses": 2}), r"operations.0.label.set"),
    ("two-hair-colours", _set("operations.0.label.set", {"Black_Hair": 1, "Blond_Hair": 1}), r"exclusive"),
    ("variants-zero", _set("operations.0.label.variants", 0), r"operations.0.label.variants"),
    ("alpha-above-1", _set("operations", [{"interpolate": {**LABEL, "alphas": [0.5, 1.5]}}]),
     r"operations.0.interpolate.alphas"),
    ("alpha-negative", _set("operations", [{"interpolate": {**LABEL, "alphas": [-0.1]}}]),
     r"operations.0.interpolate.alphas"),
    ("alpha-not-number", _set("operations", [{"interpolate": {**LABEL, "alphas": ["half"]}}]),
     r"operations.0.interpolate.alphas"),
    ("keys-without-list", _set("operations", [{"reference": {**LABEL, "choose": "keys"}}]), r"keys"),
    ("reference-key-absent", _set("operations", [{"reference": {**LABEL, "choose": "keys", "keys": ["nobody"]}}]),
     r"operations.0.reference.keys: not in the reference pool"),
    ("fraction-is-1", _set("balance", {"fractions": {"Eyeglasses": 1.0}}), r"balance: fractions.Eyeglasses"),
    ("fraction-and-cells", _set("balance", {"fractions": {"Eyeglasses": 0.5}, "equal_cells": ["Male"]}),
     r"balance: .*either fractions or equal_cells"),
    ("balance-unknown-attribute", _set("balance", {"fractions": {"Wings": 0.5}}),
     r"balance.fractions: unknown attributes"),
    ("balance-impossible", _set("balance", {"fractions": {"Eyeglasses": 0.02}}), r"balance: cannot be reached"),
    ("model-missing", _set("model.path", lambda r: str(r / "none.safetensors")), r"model.path: .*not found"),
    ("model-pickle", _set("model.path", _pickle_model), r"model.path: .*pickle checkpoint"),
    ("model-not-safetensors", _set("model.path", _text_model), r"model.path: .*model.safetensors"),
    ("model-bad-d-scale", _set("model.path", _model_with_bad_d_scale), r"model.path: .*strong.safetensors.*d_scale"),
    ("d-scale-zero", _set("model.d_scale", 0), r"model.d_scale"),
    ("d-scale-unknown-attribute", _set("model.d_scale", {"add": {"Wings": 1.2}}),
     r"model.d_scale: unknown attributes \['Wings'\]"),
    ("d-scale-unknown-key", _set("model.d_scale", {"add": {"Eyeglasses": 1.2}, "strength": 2}), r"model.d_scale"),
    ("model-device", _set("model.device", "tpu"), r"model.device"),
    ("cuda-without-gpus", _set("model.device", "cuda"), r"gpus_per_actor"),
    ("output-inside-input", _set("output.uri", lambda r: str(r / "in" / "aug")), r"inside the input"),
    ("input-inside-output", _set("output.uri", lambda r: str(r)), r"inside output.uri"),
    ("output-empty", _set("output.uri", ""), r"output.uri"),
    ("shard-size-negative", _set("output.shard_size", -5), r"output.shard_size"),
    ("shard-size-text", _set("output.shard_size", "many"), r"output.shard_size"),
    ("output-format", _set("output.format", "csv"), r"output.format"),
    ("jpeg-quality", _set("output.image", {"format": "jpg", "quality": 101}), r"output.image.quality"),
    ("error-rate-above-1", _set("output.max_error_rate", 2), r"output.max_error_rate"),
    ("originals-not-bool", _set("output.include_originals", "maybe"), r"output.include_originals"),
    ("cpus-zero", _set("resources.cpus_per_actor", 0), r"resources.cpus_per_actor"),
    ("actors-negative", _set("resources.actors", -1), r"resources.actors"),
    ("credentials-in-input", _set("input.uri", f"s3://AKIAEXAMPLE:{SECRET}@bucket/faces-*.tar"),
     r"input.uri: .*carries credentials"),
    ("token-in-output", _set("output.uri", f"https://host/out?token={SECRET}"), r"output.uri: .*carries credentials"),
]


@pytest.fixture(scope="module")
def inputs(synth_dirs) -> Path:
    return Path(synth_dirs["wds"])


def _tree(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("case, edit, message", CASES, ids=[c[0] for c in CASES])
def test_a_bad_job_gets_one_error_naming_the_field_and_writes_nothing(tmp_path, tiny_export, inputs, command,
                                                                      case, edit, message):
    shutil.copytree(inputs, tmp_path / "in")
    job_path = tmp_path / "job.yaml"
    if isinstance(edit, str):
        job_path.write_text(edit)
    else:
        job = copy.deepcopy(_base(tmp_path, tiny_export))
        edit(job, tmp_path)
        job_path.write_text(yaml.safe_dump(job))
    before = _tree(tmp_path)

    result = CliRunner().invoke(main, [command, str(job_path), "--no-progress"] if command == "run"
                                else [command, str(job_path)])

    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    assert re.search(message, errors[0]), result.output
    assert SECRET not in result.output
    assert not (tmp_path / "out").exists() and not (tmp_path / "in" / "aug").exists()
    assert _tree(tmp_path) == before  # nothing written anywhere


def test_the_table_has_at_least_25_cases():
    assert len(CASES) >= 25


def test_overrides_that_do_not_fit_the_job_are_errors(tmp_path, tiny_export, inputs):
    job_path = tmp_path / "job.yaml"
    job_path.write_text(yaml.safe_dump(_base(tmp_path, tiny_export)))
    for override, message in [("operations.9.label.variants=2", "--set operations.9.label.variants"),
                              ("seed.x=1", "seed: Input should be a valid integer"), ("noequals", "key.path=value")]:
        result = CliRunner().invoke(main, ["run", str(job_path), "--set", override])
        assert result.exit_code == 2 and message in result.output, result.output
    result = CliRunner().invoke(main, ["run", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2 and "file not found" in result.output
    assert not (tmp_path / "out").exists()


def test_validate_plans_the_job_unless_told_not_to(tmp_path, tiny_export, inputs):
    shutil.copytree(inputs, tmp_path / "in")
    job_path = tmp_path / "job.yaml"
    job = _base(tmp_path, tiny_export)
    job_path.write_text(yaml.safe_dump(job))
    result = CliRunner().invoke(main, ["validate", str(job_path)])
    assert result.exit_code == 0 and re.search(r"valid — 3 input shards.*plan: 0 originals \+ \d+ translations",
                                               result.output), result.output
    # --no-plan checks the spec alone: an impossible balance passes it, and is caught by the plan.
    job["balance"] = {"fractions": {"Eyeglasses": 0.02}}
    job_path.write_text(yaml.safe_dump(job))
    quick = CliRunner().invoke(main, ["validate", str(job_path), "--no-plan"])
    assert quick.exit_code == 0 and "plan:" not in quick.output, quick.output
    assert CliRunner().invoke(main, ["validate", str(job_path)]).exit_code == 2
    assert not (tmp_path / "out").exists()
