import hashlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bridgegan_batch.data.dataset_info import load_dataset_info
from bridgegan_batch.data.images import encode_image
from bridgegan_batch.data.reader import DatasetReader
from bridgegan_batch.data.sample import Sample
from bridgegan_batch.data.writer import DatasetWriter
from bridgegan_batch.errors import DataError

FORMATS = ["wds", "parquet"]
NAMES = ("Eyeglasses", "Male")


def _samples(n: int) -> list[Sample]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        labels = {"Eyeglasses": i % 2, "Male": (i // 2) % 2}
        if i % 5 == 0:
            del labels["Male"]  # unlabelled
        out.append(Sample(key=f"k{i:03d}", image=encode_image(pixels, "png"), attributes=labels,
                          meta={"i": i, "note": "é"}))
    return out


def _write(directory: Path, fmt: str, samples, shard_size=4, **kw):
    with DatasetWriter(str(directory), format=fmt, attributes=NAMES, shard_size=shard_size, **kw) as w:
        w.write_all(samples)
    return w.info


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_keeps_keys_labels_meta_and_bytes(tmp_path, fmt):
    samples = _samples(10)
    info = _write(tmp_path / "ds", fmt, samples)
    suffix = ".tar" if fmt == "wds" else ".parquet"
    assert [s.name for s in info.shards] == [f"shard-00000{i}{suffix}" for i in range(3)]
    assert info.samples == 10 and load_dataset_info(str(tmp_path / "ds")) == info
    reader = DatasetReader(str(tmp_path / "ds"), decode=True)
    back = list(reader)
    assert reader.failures == []
    assert reader.attribute_names == NAMES
    assert [s.key for s in back] == [s.key for s in samples]
    for a, b in zip(samples, back, strict=True):
        assert (a.attributes, a.meta, a.image) == (b.attributes, b.meta, b.image)
        assert b.pixels.shape == (8, 8, 3)


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_samples_give_identical_bytes(tmp_path, fmt):
    a = _write(tmp_path / "a", fmt, _samples(9))
    b = _write(tmp_path / "b", fmt, _samples(9))
    assert [s.sha256 for s in a.shards] == [s.sha256 for s in b.shards]
    for shard in a.shards:
        data = (tmp_path / "a" / shard.name).read_bytes()
        assert data == (tmp_path / "b" / shard.name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == shard.sha256


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_crash_never_leaves_a_partial_shard_under_a_final_name(tmp_path, fmt):
    out = tmp_path / "ds"

    def failing():
        yield from _samples(6)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError), DatasetWriter(str(out), format=fmt, attributes=NAMES,
                                                    shard_size=4) as w:
        w.write_all(failing())
    names = sorted(p.name for p in out.iterdir())
    assert names == ["shard-000000" + (".tar" if fmt == "wds" else ".parquet")]  # complete shard only
    assert len(list(DatasetReader(str(out)))) == 4


@pytest.mark.parametrize("fmt", FORMATS)
def test_writer_rejects_bad_samples(tmp_path, fmt):
    with DatasetWriter(str(tmp_path / "ds"), format=fmt, attributes=NAMES) as w:
        good = _samples(1)[0]
        for key in ["../evil", "a/b", "x.y", "", "with space"]:
            with pytest.raises(ValueError, match="unsafe key"):
                w.write(Sample(key=key, image=good.image))
        with pytest.raises(ValueError, match="not declared"):
            w.write(Sample(key="k", image=good.image, attributes={"Wings": 1}))
        with pytest.raises(ValueError, match="neither PNG nor JPEG"):
            w.write(Sample(key="k", image=b"hello"))
        w.write(good)
        with pytest.raises(ValueError, match="duplicate key"):
            w.write(good)


def test_writer_refuses_an_existing_dataset_unless_overwrite(tmp_path):
    _write(tmp_path / "ds", "wds", _samples(3))
    with pytest.raises(DataError, match="already holds a dataset"):
        DatasetWriter(str(tmp_path / "ds"), format="wds", attributes=NAMES)
    _write(tmp_path / "ds", "parquet", _samples(2), overwrite=True)
    assert sorted(p.name for p in (tmp_path / "ds").iterdir()) == ["dataset.json", "shard-000000.parquet"]
    with pytest.raises(DataError, match="shard_size"):
        DatasetWriter(str(tmp_path / "x"), format="wds", attributes=NAMES, shard_size=-1)


def test_patterns_globs_braces_and_missing_paths(tmp_path):
    _write(tmp_path / "ds", "wds", _samples(10), shard_size=2)
    d = tmp_path / "ds"
    assert len(DatasetReader(str(d / "shard-{000001..000003}.tar")).shards) == 3
    assert len(DatasetReader(str(d / "shard-00000[02].tar")).shards) == 2
    assert len(DatasetReader([str(d / "*.tar"), str(d / "shard-000000.tar")]).shards) == 5
    for bad in [str(d / "nope-*.tar"), str(tmp_path / "missing"), str(d / "shard-{000007..000009}.tar")]:
        with pytest.raises(DataError, match="pattern"):
            DatasetReader(bad)


# --------------------------------------------------------------------------- bad input is reported


def _tar(path: Path, members: list[tuple[str, bytes]]) -> None:
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_bad_wds_samples_are_reported_and_reading_goes_on(tmp_path):
    png = _samples(1)[0].image
    label = json.dumps({"attributes": {"Eyeglasses": 1}}).encode()
    _tar(tmp_path / "bad.tar", [
        ("good1.png", png), ("good1.json", label),
        ("corrupt.png", png[:30]), ("corrupt.json", label),
        ("badlabel.png", png), ("badlabel.json", json.dumps({"attributes": {"Eyeglasses": 7}}).encode()),
        ("badjson.png", png), ("badjson.json", b"{nope"),
        ("../escape.png", png), ("../escape.json", label),
        ("split.png", png), ("other.png", png), ("split.json", label),
        ("good2.png", png), ("good2.json", label),
    ])
    reader = DatasetReader(str(tmp_path / "bad.tar"), decode=True)
    keys = [s.key for s in reader]
    # Reading streams: members of "split" that come after another key are rejected; the group
    # read first (its image alone, so unlabelled) was already yielded.
    assert keys == ["good1", "split", "other", "good2"]
    reasons = {f.key: f.reason for f in reader.failures}
    assert "undecodable" in reasons["corrupt"] or "truncated" in reasons["corrupt"]
    assert "Eyeglasses" in reasons["badlabel"]
    assert "JSON" in reasons["badjson"]
    assert "unsafe key" in reasons["../escape"]
    assert "contiguous" in reasons["split"]
    assert all(f.shard.endswith("bad.tar") for f in reader.failures)


def test_truncated_tar_keeps_what_was_read_and_reports_the_rest(tmp_path):
    _write(tmp_path / "ds", "wds", _samples(10), shard_size=10)
    data = (tmp_path / "ds" / "shard-000000.tar").read_bytes()
    (tmp_path / "cut.tar").write_bytes(data[: len(data) // 2 + 100])
    reader = DatasetReader(str(tmp_path / "cut.tar"))
    got = list(reader)
    assert 0 < len(got) < 10
    assert reader.failures and reader.failures[-1].key is None and "tar" in reader.failures[-1].reason


def test_bad_parquet_data_is_reported(tmp_path):
    png = _samples(1)[0].image
    pq.write_table(pa.table({"key": ["a", "b", "c"], "image": [png, png, None],
                             "Male": pa.array([1, 3, 0], pa.int8())}), tmp_path / "labels.parquet")
    pq.write_table(pa.table({"key": ["a"], "picture": [png]}), tmp_path / "noimage.parquet")
    pq.write_table(pa.table({"key": ["a"], "image": [png], "Male": [0.5]}), tmp_path / "float.parquet")
    reader = DatasetReader(str(tmp_path / "*.parquet"))
    assert [s.key for s in reader] == ["a"]
    reasons = [str(f) for f in reader.failures]
    assert any("[b]" in r and "Male" in r for r in reasons)
    assert any("[c]" in r and "null" in r for r in reasons)
    assert any("noimage.parquet" in r and "'image'" in r for r in reasons)
    assert any("float.parquet" in r and "Male" in r for r in reasons)


def test_attributes_not_declared_in_dataset_json_are_reported(tmp_path):
    _write(tmp_path / "ds", "wds", _samples(2))
    png = _samples(1)[0].image
    _tar(tmp_path / "ds" / "shard-000009.tar",
         [("x.png", png), ("x.json", json.dumps({"attributes": {"Wings": 1}}).encode())])
    reader = DatasetReader(str(tmp_path / "ds"))
    assert [s.key for s in reader] == ["k000", "k001"]
    assert "not declared" in reader.failures[0].reason


def test_tar_layout_details(tmp_path):
    import gzip

    png = _samples(1)[0].image
    label = json.dumps({"attributes": {"Eyeglasses": 1}}).encode()
    _tar(tmp_path / "dot.tar", [("./a.png", png), ("./a.json", label),
                                ("b.png", png), ("c.png", png), ("b.json", label), ("b.cls", b"1")])
    reader = DatasetReader(str(tmp_path / "dot.tar"))
    assert [s.key for s in reader] == ["a", "b", "c"]
    assert [f.key for f in reader.failures] == ["b"]  # one failure for the split key, not one per member
    (tmp_path / "zipped").mkdir()
    (tmp_path / "zipped" / "z.tar").write_bytes(gzip.compress((tmp_path / "dot.tar").read_bytes()))
    reader = DatasetReader(str(tmp_path / "zipped" / "z.tar"))
    assert list(reader) == [] and "unreadable" in reader.failures[0].reason


def test_globs_match_only_shards(tmp_path):
    _write(tmp_path / "ds", "wds", _samples(3))
    assert [p.rsplit("/", 1)[-1] for p in DatasetReader(str(tmp_path / "ds" / "*")).shards] == ["shard-000000.tar"]
    with pytest.raises(DataError, match="no .tar or .parquet"):
        DatasetReader(str(tmp_path / "ds" / "*.json"))


@pytest.mark.parametrize("fmt", FORMATS)
def test_writer_checks_label_values(tmp_path, fmt):
    image = _samples(1)[0].image
    with DatasetWriter(str(tmp_path / "ds"), format=fmt, attributes=NAMES) as w:
        for value in (2, True, -1, 0.5):
            with pytest.raises(ValueError, match="'Male'"):
                w.write(Sample(key="k", image=image, attributes={"Male": value}))
        w.write(Sample(key="k", image=image, attributes={"Male": 1}))
    assert [s.attributes for s in DatasetReader(str(tmp_path / "ds"))] == [{"Male": 1}]
