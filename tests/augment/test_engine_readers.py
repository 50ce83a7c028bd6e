"""A job's output, read by other people's readers: webdataset, pyarrow, Ray Data, Hugging Face datasets."""

from __future__ import annotations

import glob
import json

import pyarrow.parquet as pq
import pytest
import webdataset as wds

from bridgegan_batch.augment.engine import run_job
from bridgegan_batch.data.attributes import SYNTH_ATTRIBUTES
from bridgegan_batch.data.reader import DatasetReader
from tests.augment.test_engine import PROVENANCE_FIELDS, make_job


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, tiny_export, synth_dirs, ray_local) -> dict:
    """The glasses job's output in both formats, and what our own reader sees in it."""
    found = {}
    for fmt in ("wds", "parquet"):
        root = tmp_path_factory.mktemp(f"job-{fmt}")
        run_job(make_job(root, tiny_export, synth_dirs[fmt], output__format=fmt), "j", echo=lambda _: None,
                progress=False)
        ours = {s.key: (s.attributes, s.meta["provenance"]) for s in DatasetReader([str(root / "out")])}
        found[fmt] = (str(root / "out"), ours)
    assert len(found["wds"][1]) > 120
    return found


def _check(key: str, attributes: dict, provenance: dict, ours: dict) -> None:
    assert (attributes, provenance) == ours[key]
    assert set(provenance) == PROVENANCE_FIELDS and provenance["source"]["sha256"]


def test_webdataset_reads_the_output(outputs):
    out, ours = outputs["wds"]
    seen = 0
    for sample in wds.WebDataset(sorted(glob.glob(f"{out}/*.tar")), shardshuffle=False, empty_check=False):
        meta = json.loads(sample["json"])
        _check(sample["__key__"], meta["attributes"], meta["provenance"], ours)
        assert sample["png"][:4] == b"\x89PNG"
        seen += 1
    assert seen == len(ours)


def test_pyarrow_reads_the_output(outputs):
    out, ours = outputs["parquet"]
    table = pq.read_table(sorted(glob.glob(f"{out}/*.parquet")))
    assert table.num_rows == len(ours)
    for row in table.select(["key", "meta", *SYNTH_ATTRIBUTES]).to_pylist():
        _check(row["key"], {n: row[n] for n in SYNTH_ATTRIBUTES}, json.loads(row["meta"])["provenance"], ours)


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
    for row in data:
        if fmt == "wds":
            meta = row["json"]
            assert row["png"].size == (32, 32) or row["png"].size == (64, 64)  # translations | originals
            _check(row["__key__"], meta["attributes"], _without_nulls_added(meta["provenance"]), ours)
        else:
            meta = json.loads(row["meta"])
            _check(row["key"], {n: row[n] for n in SYNTH_ATTRIBUTES}, meta["provenance"], ours)


def _without_nulls_added(provenance: dict) -> dict:
    """Arrow gives every sample the union of the struct fields; drop the ones it filled with None."""
    ref = provenance.get("reference")
    if isinstance(ref, dict) and all(v is None for v in ref.values()):
        provenance = {**provenance, "reference": None}
    if provenance.get("d") and provenance["op"] == "original":
        provenance = {**provenance, "d": {k: v for k, v in provenance["d"].items() if v is not None}}
    return provenance
