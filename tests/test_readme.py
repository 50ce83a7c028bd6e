"""The README's commands for users' own data, run as written on real files of each shape (planned, --dry-run)."""

from __future__ import annotations

import io
import json
import shlex
import tarfile
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from bridgegan_batch.cli import main
from bridgegan_batch.data.attributes import SYNTH_ATTRIBUTES
from bridgegan_batch.data.images import encode_image
from bridgegan_batch.data.reader import DatasetReader
from bridgegan_batch.data.synth_dataset import write_synth_dataset
from tests.conftest import readme_blocks


def readme_commands(section: str) -> list[list[str]]:
    """Every `bridgegan-batch run` command in a README section's bash blocks, split as a shell would."""
    commands = []
    for block in readme_blocks(section, "bash"):
        script = block.replace("\\\n", " ")
        commands += [shlex.split(line, comments=True) for line in script.splitlines()
                     if line.startswith("bridgegan-batch run ")]
    return commands


@pytest.fixture(scope="module")
def user_data(tmp_path_factory) -> Path:
    """/data as the README's examples have it: tars, img2dataset shards, HF datasets Parquet, a pandas table."""
    root = tmp_path_factory.mktemp("readme") / "data"
    faces = root / "faces"
    write_synth_dataset(str(faces), n=200, size=64, seed=21, shard_size=2)
    for i, shard in enumerate(sorted(faces.glob("*.tar"))):
        shard.rename(root / f"faces-{i:03d}.tar")  # users' tars: no dataset.json beside them
    every = list(DatasetReader(sorted(str(p) for p in root.glob("faces-*.tar")), decode=True))
    # Glasses are rare (6.5 %): every face with them first, so that each shape has references to draw on.
    samples = sorted(every, key=lambda s: -s.attributes["Eyeglasses"])[:60]

    # img2dataset: {key}.jpg/.txt/.json, _stats.json and a metadata Parquet file beside each tar.
    img2 = root / "img2dataset"
    img2.mkdir()
    with tarfile.open(img2 / "00000.tar", "w") as tar:
        for i, sample in enumerate(samples[:40]):
            key = f"{i:09d}"
            parts = {"jpg": encode_image(sample.pixels, "jpg"), "txt": b"a face",
                     "json": json.dumps({"url": f"https://example.com/{i}.jpg", "key": key, "status": "success",
                                         "caption": "a face", "width": 64, "height": 64}).encode()}
            for ext, data in parts.items():
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    (img2 / "00000_stats.json").write_text(json.dumps({"count": 40, "successes": 40}))
    pq.write_table(pa.table({"key": [f"{i:09d}" for i in range(40)], "status": ["success"] * 40}),
                   img2 / "00000.parquet")

    # Hugging Face datasets: CelebA's shape (image struct, image_id, -1/1 labels).
    hf = root / "celeba-hf"
    hf.mkdir()
    features = datasets.Features({"image": datasets.Image(), "image_id": datasets.Value("string"),
                                  **{n: datasets.Value("int8") for n in SYNTH_ATTRIBUTES}})
    rows = {"image": [{"bytes": encode_image(s.pixels, "jpg"), "path": f"{i + 1:06d}.jpg"}
                      for i, s in enumerate(samples)],
            "image_id": [f"{i + 1:06d}.jpg" for i in range(len(samples))],
            **{n: [2 * s.attributes[n] - 1 for s in samples] for n in SYNTH_ATTRIBUTES}}
    datasets.Dataset.from_dict(rows, features=features).to_parquet(str(hf / "train-00000-of-00001.parquet"))

    # A pandas-made table: image bytes under another name, two labels renamed, bools and floats.
    names = {"Eyeglasses": "glasses", "Smiling": "smile"}
    table = {"jpeg": [encode_image(s.pixels, "jpg") for s in samples],
             **{names.get(n, n): pa.array([bool(s.attributes[n]) for s in samples]) for n in SYNTH_ATTRIBUTES},
             "Young": pa.array([float(s.attributes["Young"]) for s in samples]), "caption": ["x"] * len(samples)}
    pq.write_table(pa.table(table), root / "table.parquet")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("section,count", [("Your own data", 4), ("Nightly runs on a cluster", 1)])
def test_the_readme_commands_plan_on_real_files(user_data, tmp_path, section, count):
    commands = readme_commands(section)
    assert len(commands) == count, commands
    for command in commands:
        args = [a.replace("/data/", f"{user_data}/").replace("s3://bucket/", f"{tmp_path}/") for a in command[1:]]
        result = CliRunner().invoke(main, [*args, "--dry-run"])
        assert result.exit_code == 0, (command, result.output)
        assert "rendering" not in result.output  # a user's path never triggers the demo render
        planned = [line for line in result.output.splitlines() if "translations" in line]
        assert planned and " 0 translations" not in planned[0], (command, result.output)
        assert not list(tmp_path.iterdir()), "a dry run wrote something"


def test_the_readme_input_shapes_read_whole(user_data):
    """What the commands above plan from: every face of every shape read, with its labels."""
    hf = DatasetReader([str(user_data / "celeba-hf")], layout=_layout(label_encoding="-1/1", key="image_id"))
    assert len(list(hf)) == 60 and not hf.failures
    table = DatasetReader([str(user_data / "table.parquet")], layout=_layout(image="jpeg"))
    rows = list(table)
    assert len(rows) == 60 and not table.failures and {"glasses", "smile", "Young"} <= set(rows[0].attributes)
    img2 = DatasetReader([str(user_data / "img2dataset" / "00000.tar")])
    rows = list(img2)
    assert len(rows) == 40 and not img2.failures and rows[0].attributes == {} and rows[0].meta["status"] == "success"


def _layout(label_encoding: str = "auto", **columns):
    from bridgegan_batch.data.parquet_samples import ParquetColumns
    from bridgegan_batch.data.reader import InputLayout

    return InputLayout(columns=ParquetColumns(**columns), label_encoding=label_encoding)
