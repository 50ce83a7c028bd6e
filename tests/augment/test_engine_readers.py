"""The main job's whole output, read by other people's readers: webdataset, pyarrow, pandas, Ray Data and
Hugging Face datasets, each as one table, in both formats."""

from __future__ import annotations

import glob
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import webdataset as wds

from bridgegan_batch.augment.engine import run_job
from bridgegan_batch.augment.spec import load_job
from bridgegan_batch.data.attributes import SYNTH_ATTRIBUTES
from bridgegan_batch.data.reader import DatasetReader
from tests.augment.test_engine import PROVENANCE_FIELDS
from tests.conftest import readme_blocks

MAIN_JOB = Path(__file__).parents[2] / "jobs" / "glasses_aug.yaml"


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, tiny_export, ray_local) -> dict:
    """jobs/glasses_aug.yaml as shipped (all its operations and its balance), with the tiny model and 400 of its
    demo faces (rendered on first use) for speed, in both formats; and what our own reader sees in each."""
    root = tmp_path_factory.mktemp("main-job")
    found = {}
    with pytest.MonkeyPatch.context() as patch:
        # The job's paths are relative to where it runs, and the shared Ray cluster's actors run elsewhere:
        # they must get the output as an absolute path (they once wrote to their own directory).
        patch.chdir(root)
        for fmt in ("wds", "parquet"):
            job = load_job(MAIN_JOB, (f"model.path={tiny_export}", f"output.format={fmt}", f"output.uri=out-{fmt}",
                                      "input.synth.samples=400", "output.shard_size=250"))
            run_job(job, str(MAIN_JOB), echo=lambda _: None, progress=False)
            ours = {s.key: (s.attributes, s.meta["provenance"]) for s in DatasetReader([str(root / f"out-{fmt}")])}
            found[fmt] = (str(root / f"out-{fmt}"), ours)
    for fmt, (out, _) in found.items():  # several shards, so that every reader reads more than one file
        assert len(glob.glob(f"{out}/*.{'tar' if fmt == 'wds' else 'parquet'}")) > 1, fmt
    kinds = {prov["kind"] for _, prov in found["wds"][1].values()}
    assert len(found["wds"][1]) > 600 and kinds == {"original", "label", "reference", "interpolate"}
    return found


def _check(key: str, attributes: dict, provenance: dict, ours: dict) -> None:
    assert (attributes, provenance) == ours[key]
    assert set(provenance) == PROVENANCE_FIELDS and provenance["source"]["sha256"]


def _types(value) -> object:
    """The JSON shape of a value: the same for every sample of a job, or readers cannot make one table."""
    if isinstance(value, dict):
        return {k: _types(v) for k, v in sorted(value.items())}
    return type(value).__name__


@pytest.mark.slow
def test_every_sample_has_one_json_schema(outputs):
    for fmt in ("wds", "parquet"):
        _, ours = outputs[fmt]
        shapes = {json.dumps(_types({"attributes": a, "provenance": p}), sort_keys=True) for a, p in ours.values()}
        assert len(shapes) == 1, (fmt, shapes)


@pytest.mark.slow
def test_webdataset_reads_the_output(outputs):
    out, ours = outputs["wds"]
    seen = 0
    for sample in wds.WebDataset(sorted(glob.glob(f"{out}/*.tar")), shardshuffle=False, empty_check=False):
        meta = json.loads(sample["json"])
        _check(sample["__key__"], meta["attributes"], meta["provenance"], ours)
        assert sample["png"][:4] == b"\x89PNG"
        seen += 1
    assert seen == len(ours)


@pytest.mark.slow
def test_pyarrow_and_pandas_read_the_output(outputs):
    out, ours = outputs["parquet"]
    table = pq.read_table(sorted(glob.glob(f"{out}/*.parquet")))
    assert table.num_rows == len(ours)
    for row in table.select(["key", "meta", *SYNTH_ATTRIBUTES]).to_pylist():
        _check(row["key"], {n: row[n] for n in SYNTH_ATTRIBUTES}, json.loads(row["meta"])["provenance"], ours)
    # README's "use the output": the provenance as columns, originals dropped, split by source key.
    frame = table.drop_columns(["image"]).to_pandas()
    provenance = frame["meta"].map(lambda m: json.loads(m)["provenance"])
    kind = provenance.map(lambda p: p["kind"])
    made = frame[kind != "original"]
    assert len(made) == sum(p["kind"] != "original" for _, p in ours.values()) > 0
    assert set(provenance[kind != "original"].map(lambda p: p["source"]["key"])) <= set(frame["key"])


@pytest.mark.slow
def test_ray_data_reads_the_output(outputs, ray_local):
    out, ours = outputs["wds"]
    rows = ray_local.data.read_webdataset(out, file_extensions=["tar"], decoder=None).take_all()
    assert len(rows) == len(ours)
    for row in rows:
        meta = json.loads(row["json"])
        _check(row["__key__"], meta["attributes"], meta["provenance"], ours)
    out, ours = outputs["parquet"]
    rows = ray_local.data.read_parquet(out, file_extensions=["parquet"]).take_all()
    assert len(rows) == len(ours)
    for row in rows:
        _check(row["key"], {n: row[n] for n in SYNTH_ATTRIBUTES}, json.loads(row["meta"])["provenance"], ours)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["wds", "parquet"])
def test_hugging_face_datasets_reads_the_output(outputs, fmt, tmp_path):
    datasets = pytest.importorskip("datasets")
    out, ours = outputs[fmt]
    files = sorted(glob.glob(f"{out}/*.{'tar' if fmt == 'wds' else 'parquet'}"))
    builder = "webdataset" if fmt == "wds" else "parquet"
    data = datasets.load_dataset(builder, data_files={"train": files}, split="train", cache_dir=str(tmp_path))
    assert data.num_rows == len(ours)
    for row in data.remove_columns(["png" if fmt == "wds" else "image"]):
        if fmt == "wds":
            meta = row["json"]
            _check(row["__key__"], meta["attributes"], meta["provenance"], ours)
        else:
            meta = json.loads(row["meta"])
            _check(row["key"], {n: row[n] for n in SYNTH_ATTRIBUTES}, meta["provenance"], ours)


@pytest.mark.slow
def test_the_readme_snippet_reads_the_output(outputs, tmp_path, monkeypatch):
    [snippet] = readme_blocks("Use the output", "python")
    snippet = snippet.replace("out/glasses_aug", outputs["wds"][0]).replace("out/celeba", outputs["parquet"][0])
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path))
    found: dict = {}
    exec(compile(snippet, "README.md", "exec"), found)
    made = sum(prov["kind"] != "original" for _, prov in outputs["wds"][1].values())
    assert found["data"].num_rows == len(outputs["wds"][1]) and found["made"].num_rows == made
    assert found["rows"].count() == len(outputs["wds"][1])
    train, test = found["train"], found["test"]
    assert len(train) + (found["fold"] == 0).sum() == len(outputs["parquet"][1]) and len(test) > 0
    sources = lambda frame: {json.loads(m)["provenance"]["source"]["key"] for m in frame["meta"]}  # noqa: E731
    assert not sources(train) & sources(test)  # no face on both sides
