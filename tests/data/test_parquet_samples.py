"""Users' Parquet as they have it: Hugging Face datasets' image struct, other names, -1/1, bool and float labels."""

from __future__ import annotations

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bridgegan_batch.data.images import encode_image
from bridgegan_batch.data.parquet_samples import ParquetColumns
from bridgegan_batch.data.reader import DatasetReader, InputLayout


def png(value: int) -> bytes:
    return encode_image(np.full((8, 8, 3), value, np.uint8), "png")


def celeba_like(path, rows: int = 4) -> str:
    """A Parquet file as `datasets` writes CelebA: an Image struct, `image_id` strings, -1/1 int8 labels."""
    features = datasets.Features({"image": datasets.Image(), "image_id": datasets.Value("string"),
                                  "Eyeglasses": datasets.Value("int8"), "Smiling": datasets.Value("int8")})
    data = {"image": [{"bytes": png(i), "path": f"{i + 1:06d}.jpg"} for i in range(rows)],
            "image_id": [f"{i + 1:06d}.jpg" for i in range(rows)],
            "Eyeglasses": [1 if i % 2 else -1 for i in range(rows)], "Smiling": [-1] * rows}
    datasets.Dataset.from_dict(data, features=features).to_parquet(str(path))
    return str(path)


def read(path, **layout) -> DatasetReader:
    reader = DatasetReader([str(path)], layout=InputLayout(**layout), decode=True)
    reader.samples = list(reader)
    return reader


def test_hugging_face_parquet_with_minus_one_labels_and_a_key_column(tmp_path):
    file = celeba_like(tmp_path / "train-00000-of-00001.parquet")
    reader = read(file, columns=ParquetColumns(key="image_id"), label_encoding="-1/1")
    assert not reader.failures
    # '000001.jpg' is not a safe file name: made safe, stably.
    assert [s.key for s in reader.samples] == ["000001_jpg", "000002_jpg", "000003_jpg", "000004_jpg"]
    assert [s.attributes for s in reader.samples] == [{"Eyeglasses": e, "Smiling": 0} for e in (0, 1, 0, 1)]
    assert [int(s.pixels[0, 0, 0]) for s in reader.samples] == [0, 1, 2, 3]  # each row its own image


def test_without_a_key_column_keys_come_from_the_file_and_row(tmp_path):
    file = celeba_like(tmp_path / "train-00000-of-00001.parquet", rows=3)
    first = [s.key for s in read(file, label_encoding="-1/1").samples]
    assert first == [f"train-00000-of-00001-{i:06d}" for i in range(3)]
    assert [s.key for s in read(file, label_encoding="-1/1").samples] == first  # stable across reads


def test_minus_one_labels_in_auto_are_refused_by_name(tmp_path):
    file = celeba_like(tmp_path / "celeba.parquet")
    reader = read(file)
    assert reader.samples == []
    [failure] = reader.failures
    assert failure.shard == file and "hold -1 and never 0" in failure.reason
    assert "input.label_encoding" in failure.reason and "'-1/1'" in failure.reason
    # Said explicitly, either meaning is taken: -1 as 'unlabelled' leaves only the 1s.
    assert [s.attributes for s in read(file, label_encoding="0/1").samples] == [{}, {"Eyeglasses": 1}] * 2


def test_an_image_column_by_another_name_with_bool_and_float_labels(tmp_path):
    file = tmp_path / "faces.parquet"
    pq.write_table(pa.table({"id": pa.array([10, 11, 12], pa.int64()), "img": [png(5), png(6), png(7)],
                             "Eyeglasses": [True, False, None],
                             "Smiling": pa.array([1.0, float("nan"), 0.0], pa.float64()),
                             "bbox": pa.array([[1, 2], [3, 4], [5, 6]]), "caption": ["a", "b", "c"]}), file)
    reader = read(file, columns=ParquetColumns(image="img", key="id"))
    assert not reader.failures
    assert [(s.key, s.attributes) for s in reader.samples] == [
        ("10", {"Eyeglasses": 1, "Smiling": 1}), ("11", {"Eyeglasses": 0}), ("12", {"Smiling": 0})]
    # Without the column's name: the error names the column looked for and the image columns there are.
    [failure] = read(file).failures
    assert "no 'image' column" in failure.reason and "['img']" in failure.reason
    assert "input.image_column" in failure.reason


@pytest.mark.parametrize(("table", "expected"), [
    ({"image": ["not", "bytes"]}, "column 'image' has type string, expected binary image bytes"),
    ({"image": [png(1), png(2)], "key": pa.array([1.5, 2.5])}, "key column 'key' has type double"),
    ({"image": [png(1), png(2)], "Male": pa.array([0.5, 1.0])}, "'Male' has value 0.5"),
])
def test_columns_of_the_wrong_kind_are_named(tmp_path, table, expected):
    file = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"key": ["a", "b"], **table}), file)
    reader = read(file)
    assert expected in " ".join(f.reason for f in reader.failures)
    assert all(f.shard == str(file) for f in reader.failures)


def test_images_stored_by_path_and_null_keys_are_rejected_per_row(tmp_path):
    file = tmp_path / "paths.parquet"
    image = pa.array([{"bytes": png(1), "path": "a.jpg"}, {"bytes": None, "path": "/data/b.jpg"},
                      {"bytes": png(3), "path": None}], pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
    pq.write_table(pa.table({"name": ["a", "b", None], "image": image}), file)
    reader = read(file, columns=ParquetColumns(key="name"))
    assert [s.key for s in reader.samples] == ["a"]
    reasons = {f.key: f.reason for f in reader.failures}
    assert "'/data/b.jpg') is stored by path, not as bytes" in reasons["b"]
    assert "key column 'name' is null" in reasons["row 2"]  # a row's failure, not the file's


def test_keys_made_safe_that_collide_are_rejected_as_duplicates(tmp_path):
    file = tmp_path / "ids.parquet"
    pq.write_table(pa.table({"image_id": ["a.jpg", "a_jpg"], "image": [png(1), png(2)]}), file)
    reader = read(file, columns=ParquetColumns(key="image_id"))
    assert [s.key for s in reader.samples] == ["a_jpg"]
    assert [f.key for f in reader.failures] == ["a_jpg"] and "duplicate key" in reader.failures[0].reason
