"""The batch engine end to end: real shards, a real (tiny, untrained) export, a real local Ray."""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections import Counter
from pathlib import Path

import pytest
import yaml

from bridgegan_batch.augment import ray_dispatch
from bridgegan_batch.augment.actor import TranslatorActor
from bridgegan_batch.augment.engine import run_job
from bridgegan_batch.augment.layout import LOCK, read_json
from bridgegan_batch.augment.manifest import OutputBusy
from bridgegan_batch.augment.plan import BALANCE_TOLERANCE, make_plan
from bridgegan_batch.augment.spec import JobSpec
from bridgegan_batch.config import validate
from bridgegan_batch.data.attributes import SYNTH_ATTRIBUTES
from bridgegan_batch.data.reader import DatasetReader
from bridgegan_batch.data.sample import Sample
from bridgegan_batch.data.synth_dataset import write_synth_dataset
from bridgegan_batch.data.writer import DatasetWriter
from bridgegan_batch.errors import ConfigError, DataError

GLASSES_OPS = [{"label": {"set": {"Eyeglasses": 1}, "where": {"Eyeglasses": 0}}},
               {"reference": {"set": {"Eyeglasses": 1}, "where": {"Eyeglasses": 0}}},
               {"interpolate": {"set": {"Eyeglasses": 1}, "where": {"Eyeglasses": 0}, "alphas": [0.25, 0.75]}}]
PROVENANCE_FIELDS = {"version", "kind", "operation_index", "variant", "source", "target", "d", "reference", "alpha",
                     "edit", "noise_seed", "model", "job", "run_id", "tool_version", "digital_source_type"}


def make_job(tmp_path, export, inputs, **changes) -> JobSpec:
    data = {"name": "glasses_test", "seed": 3, "input": {"uri": inputs},
            "model": {"path": export, "batch_size": 16}, "operations": GLASSES_OPS,
            "balance": {"fractions": {"Eyeglasses": 0.5}},
            "output": {"uri": str(tmp_path / "out"), "shard_size": 40, "include_originals": True},
            "resources": {"cpus_per_actor": 0.5}}
    for dotted, value in changes.items():
        node = data
        *head, last = dotted.split("__")
        for key in head:
            node = node.setdefault(key, {})
        node[last] = value
    return validate(JobSpec, data, "test job")


def read_output(out) -> dict[str, Sample]:
    samples = {}
    for sample in DatasetReader([str(out)]):
        assert sample.key not in samples
        samples[sample.key] = sample
    return samples


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["wds", "parquet"])
def test_balanced_job_writes_shards_with_provenance_and_a_report(tmp_path, tiny_export, tiny_export_scaled,
                                                                 synth_dirs, ray_local, fmt):
    # Both edit modes, one per format; and the d scale set by the job (1.5) or taken from the model (1.25).
    edit, model, d_scale = ("residual", tiny_export_scaled, 1.25) if fmt == "parquet" else ("direct", tiny_export, 1.5)
    job = make_job(tmp_path, model, synth_dirs[fmt], output__format=fmt, model__edit=edit,
                   model__d_scale=None if fmt == "parquet" else 1.5)
    result = run_job(job, "test job", echo=lambda _: None, progress=False)
    out = tmp_path / "out"
    samples = read_output(out)
    plan = read_json(str(out), "plan.json")
    assert result.shards_done == 3 and not result.shards_failed
    assert len(samples) == plan["originals"] + plan["translations"] == 120 + len(plan["items"])

    glasses = sum(s.attributes["Eyeglasses"] for s in samples.values()) / len(samples)
    assert abs(glasses - 0.5) <= BALANCE_TOLERANCE
    ops = Counter(s.meta["provenance"]["kind"] for s in samples.values())
    assert ops["original"] == 120 and min(ops["label"], ops["reference"], ops["interpolate"]) > 0
    assert max(ops[k] for k in ("label", "reference", "interpolate")) - min(
        ops[k] for k in ("label", "reference", "interpolate")) <= 1  # the operations share the work

    inputs = {s.key: s for s in DatasetReader([synth_dirs[fmt]])}
    for key, sample in samples.items():
        prov = sample.meta["provenance"]
        assert set(prov) == PROVENANCE_FIELDS
        assert prov["source"]["key"] in inputs and prov["job"]["name"] == "glasses_test"
        assert prov["model"]["name"] == "tiny" and len(prov["model"]["sha256"]) == 64
        assert sample.attributes == prov["target"]
        assert set(prov["d"]) == set(SYNTH_ATTRIBUTES) and all(type(v) is float for v in prov["d"].values())
        if prov["kind"] == "original":
            assert sample.image == inputs[key].image and prov["digital_source_type"] == ""
            assert (prov["edit"], prov["operation_index"], prov["noise_seed"], prov["alpha"]) == ("none", -1, -1, 0.0)
            assert prov["reference"] == {"key": "", "shard": "", "sha256": ""} and set(prov["d"].values()) == {0.0}
            continue
        assert prov["digital_source_type"] == "compositeWithTrainedAlgorithmicMedia" and prov["edit"] == edit
        assert prov["target"]["Eyeglasses"] == 1 and prov["source"]["labels"]["Eyeglasses"] == 0
        assert prov["d"]["Eyeglasses"] == pytest.approx(d_scale)
        assert (prov["reference"]["key"] == "") == (prov["kind"] == "label")
        assert (prov["noise_seed"] == -1) == (prov["kind"] == "reference")
        assert prov["alpha"] == {"label": 1.0, "reference": 0.0}.get(prov["kind"], prov["alpha"])
        assert (prov["alpha"] in (0.25, 0.75)) == (prov["kind"] == "interpolate")
        if prov["reference"]["key"]:
            assert inputs[prov["reference"]["key"]].attributes["Eyeglasses"] == 1

    manifest = read_json(str(out), "manifest.json")
    assert {s["status"] for s in manifest["inputs"]} == {"done"} and len(manifest["model_sha256"]) == 64
    assert (out / "report.html").is_file() and (out / "report" / "contact_sheet.png").is_file()
    assert json.loads((out / "dataset.json").read_text())["samples"] == len(samples)
    assert not (out / LOCK).exists()


@pytest.mark.slow
def test_output_bytes_do_not_depend_on_actors_or_batch_size(tmp_path, tiny_export, synth_dirs, ray_local):
    images = []
    for i, (actors, batch) in enumerate([(1, 16), (2, 5)]):
        job = make_job(tmp_path / str(i), tiny_export, synth_dirs["wds"], resources__actors=actors,
                       resources__batch_size=batch)
        run_job(job, "test job", echo=lambda _: None, progress=False)
        images.append({k: s.image for k, s in read_output(tmp_path / str(i) / "out").items()})
    assert images[0].keys() == images[1].keys() and images[0] == images[1]


@pytest.mark.slow
def test_rerun_skips_finished_shards_and_takes_new_ones(tmp_path, tiny_export, synth_dirs, ray_local):
    inputs = tmp_path / "in"
    shutil.copytree(synth_dirs["wds"], inputs)
    job = make_job(tmp_path, tiny_export, str(inputs))
    first = run_job(job, "test job", echo=lambda _: None, progress=False)
    before = {k: s.image for k, s in read_output(tmp_path / "out").items()}
    again = run_job(job, "test job", echo=lambda _: None, progress=False)
    assert (first.shards_done, again.shards_done, again.shards_skipped) == (3, 0, 3)

    # The nightly case: a new shard lands beside the old ones.
    write_synth_dataset(str(tmp_path / "new"), n=40, size=64, seed=7, start=1000, shard_size=40)
    shutil.copy(tmp_path / "new" / "shard-000000.tar", inputs / "shard-000100.tar")
    nightly = run_job(job, "test job", echo=lambda _: None, progress=False)
    after = read_output(tmp_path / "out")
    assert nightly.shards_done == 1 and nightly.shards_skipped == 3
    assert all(after[k].image == image for k, image in before.items())  # finished work untouched
    new_sources = {s.meta["provenance"]["source"]["key"] for s in after.values()} - {
        s.meta["provenance"]["source"]["key"] for k, s in after.items() if k in before}
    assert len(new_sources) == 40  # the new originals, and translations of some of them
    glasses = sum(s.attributes["Eyeglasses"] for s in after.values()) / len(after)
    assert abs(glasses - 0.5) <= BALANCE_TOLERANCE


@pytest.mark.slow
def test_changed_job_is_refused_unless_forced(tmp_path, tiny_export, synth_dirs, ray_local):
    run_job(make_job(tmp_path, tiny_export, synth_dirs["wds"]), "j", echo=lambda _: None, progress=False)
    changed = make_job(tmp_path, tiny_export, synth_dirs["wds"], seed=4)
    with pytest.raises(ConfigError, match="another job spec"):
        run_job(changed, "j", echo=lambda _: None, progress=False)
    # Resources are not part of the job's identity.
    run_job(make_job(tmp_path, tiny_export, synth_dirs["wds"], resources__actors=1), "j", echo=lambda _: None,
            progress=False)
    forced = run_job(changed, "j", force=True, echo=lambda _: None, progress=False)
    assert forced.shards_done == 3
    assert {s.meta["provenance"]["job"]["spec_sha256"] for s in read_output(tmp_path / "out").values()} == {
        read_json(str(tmp_path / "out"), "manifest.json")["job_sha256"]}


def test_a_second_run_on_the_same_output_is_refused(tmp_path, tiny_export, synth_dirs):
    job = make_job(tmp_path, tiny_export, synth_dirs["wds"])
    out = tmp_path / "out"
    out.mkdir()
    holder = {"run_id": "other", "pid": os.getpid(), "host": socket.gethostname(), "since": "now"}
    (out / LOCK).write_text(json.dumps(holder))
    with pytest.raises(OutputBusy, match="in use by run other"):
        run_job(job, "j", echo=lambda _: None, progress=False)
    assert sorted(p.name for p in out.iterdir()) == [LOCK]  # nothing written


def test_dry_run_plans_and_writes_nothing(tmp_path, tiny_export, synth_dirs):
    lines = []
    result = run_job(make_job(tmp_path, tiny_export, synth_dirs["parquet"]), "j", dry_run=True, echo=lines.append)
    text = "\n".join(lines)
    assert result.dry_run and "Eyeglasses:" in text and "operation 1:reference" in text
    assert not (tmp_path / "out").exists()


def test_bad_jobs_fail_before_writing(tmp_path, tiny_export, synth_dirs):
    with pytest.raises(ConfigError, match=r"operations\.0\.label\.set: unknown attributes \['Glasses'\]"):
        run_job(make_job(tmp_path, tiny_export, synth_dirs["wds"],
                         operations=[{"label": {"set": {"Glasses": 1}}}]), "j", echo=lambda _: None)
    with pytest.raises(ConfigError, match="model.path"):
        run_job(make_job(tmp_path, str(tmp_path / "none.safetensors"), synth_dirs["wds"]), "j", echo=lambda _: None)
    with pytest.raises(ConfigError, match="balance: cannot be reached"):
        run_job(make_job(tmp_path, tiny_export, synth_dirs["wds"], output__include_originals=False,
                         balance={"fractions": {"Eyeglasses": 0.3}}), "j", echo=lambda _: None)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def _dataset_with_corrupt_image(directory, out, n=30) -> str:
    good = list(DatasetReader([directory]))[:n]
    out = str(out)
    with DatasetWriter(out, attributes=SYNTH_ATTRIBUTES, shard_size=n) as writer:
        for i, s in enumerate(good):
            image = s.image[:60] + b"\0" * 40 if i == 4 else s.image  # PNG magic, broken body
            writer.write(Sample(s.key, image, s.attributes, {}))
    return out


@pytest.mark.slow
def test_corrupt_images_are_rejects_and_the_error_rate_decides(tmp_path, tiny_export, synth_dirs, ray_local):
    inputs = _dataset_with_corrupt_image(synth_dirs["wds"], tmp_path / "with_corrupt")
    job = make_job(tmp_path, tiny_export, inputs, balance=None, output__include_originals=False,
                   operations=[{"label": {"set": {"Smiling": 1}}}])
    result = run_job(job, "j", echo=lambda _: None, progress=False)
    rejects = [json.loads(line) for line in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    assert len(rejects) == 1 and rejects[0]["key"] == "synth_s7_00000004" and rejects[0]["reason"]
    assert result.error_rate == pytest.approx(1 / 30)
    assert len(read_output(tmp_path / "out")) == 29  # the job went on


def crashing_actor(shard_prefix: str, attempts: int):
    """A TranslatorActor whose first `attempts` tries at a matching shard kill its own process, as an OOM kill or
    a lost node would. Made inside a function, so that Ray ships the class by value to its workers."""

    class CrashingActor(TranslatorActor):
        def process(self, task):
            if task.shard_id.startswith(shard_prefix) and task.attempt <= attempts:
                os._exit(1)
            return super().process(task)

    return CrashingActor


@pytest.mark.slow
def test_a_crashed_actor_is_retried_and_a_shard_that_keeps_failing_is_marked(tmp_path, tiny_export, synth_dirs,
                                                                             ray_local, monkeypatch):
    job = make_job(tmp_path, tiny_export, synth_dirs["wds"], resources__actors=1)
    monkeypatch.setattr(ray_dispatch, "TranslatorActor", crashing_actor("shard-000001", 1))  # first try crashes
    result = run_job(job, "j", echo=lambda _: None, progress=False)
    manifest = read_json(str(tmp_path / "out"), "manifest.json")
    tries = {Path(s["path"]).name: s["tries"] for s in manifest["inputs"]}
    assert result.shards_done == 3 and tries == {"shard-000000.tar": 1, "shard-000001.tar": 2, "shard-000002.tar": 1}

    monkeypatch.setattr(ray_dispatch, "TranslatorActor", crashing_actor("shard-000002", 99))  # always crashes
    failing = make_job(tmp_path / "f", tiny_export, synth_dirs["wds"], resources__actors=1)
    result = run_job(failing, "j", echo=lambda _: None, progress=False)
    assert result.shards_done == 2 and [Path(p).name for p, _ in result.shards_failed] == ["shard-000002.tar"]
    status = {Path(s["path"]).name: s["status"] for s in read_json(str(tmp_path / "f" / "out"),
                                                                  "manifest.json")["inputs"]}
    assert status["shard-000002.tar"] == "failed" and status["shard-000000.tar"] == "done"
    monkeypatch.setattr(ray_dispatch, "TranslatorActor", TranslatorActor)
    rerun = run_job(failing, "j", echo=lambda _: None, progress=False)  # just the failed shard
    assert (rerun.shards_done, rerun.shards_skipped) == (1, 2)


@pytest.mark.slow
def test_actors_holding_every_cpu_still_finish(tmp_path, tiny_export, synth_dirs, ray_local):
    assert ray_local.cluster_resources()["CPU"] == 2
    job = make_job(tmp_path, tiny_export, synth_dirs["wds"], resources__actors=2, resources__cpus_per_actor=1)
    assert run_job(job, "j", echo=lambda _: None, progress=False).shards_done == 3


def _relabelled(directory, out, rename: dict[str, str] | None, n=40) -> str:
    """A copy of the first n faces with attributes renamed (None: no labels at all)."""
    faces = list(DatasetReader([directory]))[:n]
    names = [] if rename is None else [rename.get(a, a) for a in SYNTH_ATTRIBUTES]
    with DatasetWriter(str(out), attributes=names, shard_size=20) as writer:
        for s in faces:
            labels = {} if rename is None else {rename.get(k, k): v for k, v in s.attributes.items()}
            writer.write(Sample(s.key, s.image, labels, {}))
    return str(out)


@pytest.mark.slow
def test_unlabelled_faces_are_labelled_by_the_model(tmp_path, tiny_export, synth_dirs, ray_local):
    inputs = _relabelled(synth_dirs["wds"], tmp_path / "unlabelled", None)
    job = make_job(tmp_path, tiny_export, inputs, input__labels="predict", balance=None,
                   operations=[{"label": {"set": {"Smiling": 1}}}], output__include_originals=False)
    result = run_job(job, "j", echo=lambda _: None, progress=False)
    samples = read_output(tmp_path / "out")
    assert result.rejects == 0 and len(samples) == 40
    for s in samples.values():
        labels = s.meta["provenance"]["source"]["labels"]
        assert set(labels) == set(SYNTH_ATTRIBUTES) and set(labels.values()) <= {0, 1}
        assert s.attributes == {**labels, "Smiling": 1}


@pytest.mark.slow
def test_the_data_attribute_names_are_mapped_to_the_model_names(tmp_path, tiny_export, synth_dirs, ray_local):
    inputs = _relabelled(synth_dirs["wds"], tmp_path / "renamed", {"Eyeglasses": "glasses"})
    ops = [{"label": {"set": {"Eyeglasses": 1}, "where": {"Eyeglasses": 0}}}]
    job = make_job(tmp_path, tiny_export, inputs, input__attribute_map={"glasses": "Eyeglasses"}, balance=None,
                   operations=ops, output__include_originals=False)
    run_job(job, "j", echo=lambda _: None, progress=False)
    truth = {s.key: s.attributes for s in DatasetReader([synth_dirs["wds"]])}
    samples = read_output(tmp_path / "out")
    assert len(samples) == sum(1 for k in list(truth)[:40] if truth[k]["Eyeglasses"] == 0)
    assert all(s.meta["provenance"]["source"]["labels"] == truth[s.meta["provenance"]["source"]["key"]]
               for s in samples.values())

    unmapped = make_job(tmp_path / "u", tiny_export, inputs, balance=None, operations=ops)
    result = run_job(unmapped, "j", echo=lambda _: None, progress=False)
    rejects = (tmp_path / "u" / "out" / "rejects.jsonl").read_text()
    assert result.error_rate == 1.0 and "input.attribute_map" in rejects


def test_keys_must_be_unique_across_input_shards(tmp_path, tiny_export, synth_dirs):
    for name in ("a", "b"):
        shutil.copytree(synth_dirs["wds"], tmp_path / name)
    job = make_job(tmp_path, tiny_export, [str(tmp_path / "a"), str(tmp_path / "b")])
    with pytest.raises(DataError, match="is in two input shards"):
        run_job(job, "j", echo=lambda _: None, progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_resources_the_cluster_cannot_place_are_refused_before_writing(tmp_path, tiny_export, synth_dirs,
                                                                       ray_local):
    for changes, field in [({"resources__actors": 3, "resources__cpus_per_actor": 1}, "resources.actors"),
                           ({"resources__gpus_per_actor": 1}, "resources")]:
        with pytest.raises(ConfigError, match=field):
            run_job(make_job(tmp_path, tiny_export, synth_dirs["wds"], **changes), "j", echo=lambda _: None)
        assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_corrupt_reference_rejects_only_the_translations_that_use_it(tmp_path, tiny_export, synth_dirs,
                                                                       ray_local):
    faces = list(DatasetReader([synth_dirs["wds"]]))[:40]
    ref = next(s for s in faces if s.attributes["Smiling"] == 1)
    inputs = str(tmp_path / "in")
    with DatasetWriter(inputs, attributes=SYNTH_ATTRIBUTES, shard_size=20) as writer:
        for s in faces:
            writer.write(Sample(s.key, s.image[:60] + b"\0" * 40 if s is ref else s.image, s.attributes, {}))
    ops = [{"reference": {"set": {"Smiling": 1}, "where": {"Smiling": 0}, "choose": "keys", "keys": [ref.key]}},
           {"label": {"set": {"Smiling": 1}, "where": {"Smiling": 0}}}]
    job = make_job(tmp_path, tiny_export, inputs, balance=None, operations=ops, output__include_originals=False)
    result = run_job(job, "j", echo=lambda _: None, progress=False)
    plain = sum(1 for s in faces if s.attributes["Smiling"] == 0)
    rejects = [json.loads(line) for line in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    assert result.shards_done == 2 and not result.shards_failed
    assert len(read_output(tmp_path / "out")) == plain  # every label translation, no reference one
    assert sum(1 for r in rejects if ref.key in r["reason"]) == plain


def test_the_demo_input_is_planned_before_it_is_rendered_exactly_as_after(tmp_path, tiny_export):
    from bridgegan_batch.augment.inputs import describe_inputs, label_pass, render_demo_input

    job = make_job(tmp_path, tiny_export, str(tmp_path / "demo"), input__synth={"samples": 90, "shard_size": 40})
    before = run_job(job, "j", dry_run=True, echo=lambda _: None).plan
    assert not (tmp_path / "demo").exists()  # a dry run renders nothing
    render_demo_input(job, echo=lambda _: None)
    inputs = describe_inputs(job.input.uri)
    labels, _ = label_pass(job, inputs, SYNTH_ATTRIBUTES, None)
    assert [s.path for s in inputs] == before.shards
    assert make_plan(job, [s for p in before.shards for s in labels[p].sources()]).to_json() == before.to_json()


@pytest.mark.slow
def test_the_exit_code_follows_the_error_rate(tmp_path, tiny_export, synth_dirs, ray_local):
    from click.testing import CliRunner

    from bridgegan_batch.cli import main

    inputs = _dataset_with_corrupt_image(synth_dirs["wds"], tmp_path / "with_corrupt")  # 1 bad image in 30
    job = make_job(tmp_path, tiny_export, inputs, balance=None, operations=[{"label": {"set": {"Smiling": 1}}}],
                   output__max_error_rate=0.01)
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job.model_dump(mode="json")))
    failing = CliRunner().invoke(main, ["run", str(path), "--no-progress"])
    assert failing.exit_code == 1 and "3.33 % of input samples failed" in failing.output
    assert "rejected input samples: 1 of 30" in failing.output
    tolerant = CliRunner().invoke(main, ["run", str(path), "--no-progress", "--set", "output.max_error_rate=0.05"])
    assert tolerant.exit_code == 0, tolerant.output  # same output: the rate is not part of the job's identity
    assert "shards: 0 done, 1 already done" in tolerant.output
