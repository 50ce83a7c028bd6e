"""Our shards, read back by other people's readers: webdataset, pyarrow, Ray Data."""

import glob
import json

import pyarrow.parquet as pq
import pytest
import webdataset as wds
from click.testing import CliRunner

from bridgegan_batch.cli import main
from bridgegan_batch.data.attributes import SYNTH_ATTRIBUTES
from bridgegan_batch.data.reader import DatasetReader

N = 2000


@pytest.fixture(scope="module")
def cli_datasets(tmp_path_factory):
    """`bridgegan-batch synth OUT --n 2000 --size 64 --format wds|parquet`, as a user runs it."""
    root = tmp_path_factory.mktemp("cli")
    out = {}
    for fmt in ("wds", "parquet"):
        out[fmt] = str(root / fmt)
        result = CliRunner().invoke(main, ["synth", out[fmt], "--n", str(N), "--size", "64",
                                           "--format", fmt, "--workers", "2", "--shard-size", "500"])
        assert result.exit_code == 0, result.output
    ours = {fmt: {s.key: s.attributes for s in DatasetReader(d)} for fmt, d in out.items()}
    assert len(ours["wds"]) == N and ours["wds"] == ours["parquet"]
    return out, ours["wds"]


def test_webdataset_reads_the_same_keys_and_labels(cli_datasets):
    dirs, expected = cli_datasets
    shards = sorted(glob.glob(f"{dirs['wds']}/*.tar"))
    got = {}
    for sample in wds.WebDataset(shards, shardshuffle=False, empty_check=False):
        assert sample["png"][:4] == b"\x89PNG"
        got[sample["__key__"]] = json.loads(sample["json"])["attributes"]
    assert got == expected


def test_pyarrow_reads_the_same_keys_and_labels(cli_datasets):
    dirs, expected = cli_datasets
    table = pq.read_table(sorted(glob.glob(f"{dirs['parquet']}/*.parquet")))
    assert table.num_rows == N
    assert table.schema.field("image").type == "binary"
    rows = table.select(["key", *SYNTH_ATTRIBUTES]).to_pylist()
    assert {r.pop("key"): r for r in rows} == expected
    assert all("synthfaces" in json.loads(m) for m in table.column("meta").to_pylist()[:10])


@pytest.mark.slow
def test_ray_data_reads_the_same_keys_and_labels(cli_datasets, ray_local):
    dirs, expected = cli_datasets
    rows = ray_local.data.read_webdataset(dirs["wds"], file_extensions=["tar"], decoder=None).take_all()
    assert {r["__key__"]: json.loads(r["json"])["attributes"] for r in rows} == expected
    table = ray_local.data.read_parquet(dirs["parquet"], file_extensions=["parquet"]).to_arrow_refs()
    rows = [row for ref in table for row in ray_local.get(ref).select(["key", *SYNTH_ATTRIBUTES]).to_pylist()]
    assert {r.pop("key"): r for r in rows} == expected
