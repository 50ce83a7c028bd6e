import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bridgegan_batch.data.attributes import CELEBA_ATTRIBUTES
from bridgegan_batch.data.images import decode_rgb
from bridgegan_batch.data.importers import import_celeba, import_celebahq, import_folder, unique_keys
from bridgegan_batch.data.reader import DatasetReader
from bridgegan_batch.data.synthfaces import render, sample_record
from bridgegan_batch.errors import DataError

FORMATS = ["wds", "parquet"]
# Annotation order interleaves the splits, so membership must come from the partition file.
CELEBA_PARTITION = [0, 0, 1, 0, 2, 0, 1, 2, 0]
SPLIT_NAMES = {0: "train", 1: "val", 2: "test"}


def face_jpeg(i: int, width: int, height: int, fmt: str = "JPEG") -> bytes:
    """A SynthFaces face resized to width x width, centred on a width x height canvas."""
    face = Image.fromarray(render(sample_record(1, i), 128)).resize((width, width), Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", (width, height), (90, 90, 90))
    canvas.paste(face, (0, (height - width) // 2))
    buf = io.BytesIO()
    canvas.save(buf, format=fmt, quality=92)
    return buf.getvalue()


def attr_lines(files: list[str], labels: np.ndarray) -> str:
    """A CelebA-style attribute file: count, names (trailing space, as in the real file), rows."""
    rows = [f"{file} " + " ".join(f"{v:2d}" for v in row) for file, row in zip(files, labels, strict=True)]
    return "\n".join([str(len(files)), " ".join(CELEBA_ATTRIBUTES) + " ", *rows]) + "\n"


def make_celeba(root: Path, partition: list[int], seed: int = 0) -> np.ndarray:
    """A tiny CelebA layout; returns the -1/1 labels written, [N, 40]."""
    labels = np.random.default_rng(seed).choice([-1, 1], size=(len(partition), 40))
    files = [f"{i + 1:06d}.jpg" for i in range(len(partition))]
    (root / "img_align_celeba").mkdir(parents=True)
    for i, file in enumerate(files):
        (root / "img_align_celeba" / file).write_bytes(face_jpeg(i, 178, 218))
    (root / "list_attr_celeba.txt").write_text(attr_lines(files, labels))
    (root / "list_eval_partition.txt").write_text(
        "".join(f"{file} {p}\n" for file, p in zip(files, partition, strict=True)))
    return labels


@pytest.fixture(scope="session")
def celeba(tmp_path_factory) -> tuple[Path, np.ndarray]:
    root = tmp_path_factory.mktemp("celeba")
    return root, make_celeba(root, CELEBA_PARTITION)


@pytest.fixture
def celeba_copy(celeba, tmp_path) -> tuple[Path, np.ndarray]:
    """A private copy of the CelebA layout, for tests that damage it."""
    root, labels = celeba
    shutil.copytree(root, tmp_path / "celeba")
    return tmp_path / "celeba", labels


def read_back(directory) -> list:
    reader = DatasetReader(str(directory), decode=True)
    samples = list(reader)
    assert reader.failures == []
    return samples


def shard_hashes(directory) -> list[str]:
    return [s["sha256"] for s in json.loads((Path(directory) / "dataset.json").read_text())["shards"]]


def expected_labels(row: np.ndarray) -> dict[str, int]:
    return {name: int(v == 1) for name, v in zip(CELEBA_ATTRIBUTES, row, strict=True)}


@pytest.mark.parametrize("fmt", FORMATS)
def test_celeba_honours_splits_labels_and_size(celeba, tmp_path, fmt):
    root, labels = celeba
    report = import_celeba(str(root), str(tmp_path / "out"), size=32, format=fmt, shard_size=2)
    assert set(report.datasets) == {"train", "val", "test"}
    assert report.failures == [] and report.total() == len(CELEBA_PARTITION)
    for split in ("train", "val", "test"):
        want = [f"{i + 1:06d}" for i, p in enumerate(CELEBA_PARTITION) if SPLIT_NAMES[p] == split]
        info = report.datasets[split]
        assert info.samples == len(want) and info.attributes == CELEBA_ATTRIBUTES
        assert info.format == fmt and info.image_size == 32 and info.image_format == "png"
        samples = read_back(tmp_path / "out" / split)
        assert [s.key for s in samples] == want  # annotation order within the split
        for s in samples:
            assert s.attributes == expected_labels(labels[int(s.key) - 1])
            assert s.pixels.shape == (32, 32, 3)
            assert s.meta == {"source": "celeba", "file": f"{s.key}.jpg", "split": split}


def test_celeba_crop_is_centred_square_then_lanczos(tmp_path):
    root = tmp_path / "celeba"
    make_celeba(root, [0])
    # Red bands where the centred 178x178 square ends: none of them may reach the output.
    image = np.full((218, 178, 3), 128, np.uint8)
    image[:20], image[-20:] = (255, 0, 0), (255, 0, 0)
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=95)
    (root / "img_align_celeba" / "000001.jpg").write_bytes(buf.getvalue())
    import_celeba(str(root), str(tmp_path / "out"), size=16)
    [sample] = read_back(tmp_path / "out" / "train")
    assert np.abs(sample.pixels.astype(int) - 128).max() < 12
    assert np.array_equal(sample.pixels, decode_rgb(buf.getvalue(), 16))


def test_celeba_bad_images_are_failures_and_the_rest_imports(celeba_copy, tmp_path):
    root, _ = celeba_copy
    (root / "img_align_celeba" / "000002.jpg").write_bytes(b"\xff\xd8\xff garbage, not a jpeg")
    (root / "img_align_celeba" / "000005.jpg").unlink()
    report = import_celeba(str(root), str(tmp_path / "out"), size=16)
    assert sorted(f.key for f in report.failures) == ["000002", "000005"]
    by_key = {f.key: f for f in report.failures}
    assert "not found" in by_key["000005"].reason and "000005.jpg" in by_key["000005"].shard
    assert "undecodable" in by_key["000002"].reason
    assert report.total() == len(CELEBA_PARTITION) - 2
    assert [s.key for s in read_back(tmp_path / "out" / "train")] == ["000001", "000004", "000006", "000009"]
    assert report.datasets["test"].samples == 1  # 000005 was the other test image


@pytest.mark.parametrize("fmt", FORMATS)
def test_workers_give_identical_bytes(celeba, tmp_path, fmt):
    root, _ = celeba
    one = import_celeba(str(root), str(tmp_path / "w1"), size=24, format=fmt, shard_size=2, workers=1)
    two = import_celeba(str(root), str(tmp_path / "w2"), size=24, format=fmt, shard_size=2, workers=2)
    for split in ("train", "val", "test"):
        assert shard_hashes(tmp_path / "w1" / split) == shard_hashes(tmp_path / "w2" / split)
        assert one.datasets[split].shards == two.datasets[split].shards


def test_limit_takes_the_first_images_in_annotation_order(celeba, tmp_path):
    root, _ = celeba
    report = import_celeba(str(root), str(tmp_path / "out"), size=16, limit=4)
    assert {k: v.samples for k, v in report.datasets.items()} == {"train": 3, "val": 1}
    assert not (tmp_path / "out" / "test").exists()


def test_existing_output_needs_overwrite(celeba, tmp_path):
    root, _ = celeba
    import_celeba(str(root), str(tmp_path / "out"), size=16, limit=2)
    with pytest.raises(DataError, match="already holds a dataset"):
        import_celeba(str(root), str(tmp_path / "out"), size=16, limit=2)
    assert import_celeba(str(root), str(tmp_path / "out"), size=16, limit=2, overwrite=True).total() == 2


@pytest.mark.parametrize("remove", ["list_attr_celeba.txt", "list_eval_partition.txt", "img_align_celeba"])
def test_celeba_missing_files_name_the_file(celeba_copy, tmp_path, remove):
    root, _ = celeba_copy
    shutil.rmtree(root / remove) if remove == "img_align_celeba" else (root / remove).unlink()
    with pytest.raises(DataError, match=remove):
        import_celeba(str(root), str(tmp_path / "out"))
    with pytest.raises(DataError, match="nowhere"):
        import_celeba(str(tmp_path / "nowhere"), str(tmp_path / "out"))


@pytest.mark.parametrize("edit, match", [
    (lambda lines: lines.__setitem__(5, lines[5].rsplit(" ", 1)[0]), r"line 6: 39 values, expected 40"),
    (lambda lines: lines.__setitem__(4, lines[4].replace("-1", "0", 1)), r"line 5: value '0'"),
    (lambda lines: lines.__setitem__(1, lines[1].replace("Bangs", "Fringe")), r"line 2: attribute names"),
    (lambda lines: lines.__setitem__(0, "202599"), r"line 1: declares '202599' images but lists 9"),
])
def test_celeba_bad_annotation_names_file_and_line(celeba_copy, tmp_path, edit, match):
    root, _ = celeba_copy
    path = root / "list_attr_celeba.txt"
    lines = path.read_text().splitlines()
    edit(lines)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=rf"list_attr_celeba\.txt, {match}"):
        import_celeba(str(root), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()  # refused before anything is written


@pytest.fixture
def celebahq(tmp_path) -> tuple[Path, np.ndarray, Path]:
    """Five HQ images made from CelebA files 000003, 000001, 000009, 000005, 000002."""
    root = tmp_path / "hq"
    (root / "CelebA-HQ-img").mkdir(parents=True)
    originals = [3, 1, 9, 5, 2]
    labels = np.random.default_rng(5).choice([-1, 1], size=(len(originals), 40))
    files = [f"{i}.jpg" for i in range(len(originals))]
    for i, file in enumerate(files):
        (root / "CelebA-HQ-img" / file).write_bytes(face_jpeg(i, 256, 256))
    (root / "CelebAMask-HQ-attribute-anno.txt").write_text(attr_lines(files, labels))
    (root / "CelebA-HQ-to-CelebA-mapping.txt").write_text("idx orig_idx orig_file\n" + "".join(
        f"{i:<5d} {o - 1:<8d} {o:06d}.jpg\n" for i, o in enumerate(originals)))
    partition = tmp_path / "list_eval_partition.txt"
    partition.write_text("".join(f"{i + 1:06d}.jpg {p}\n" for i, p in enumerate(CELEBA_PARTITION)))
    return root, labels, partition


@pytest.mark.parametrize("fmt", FORMATS)
def test_celebahq_without_partition_is_one_split(celebahq, tmp_path, fmt):
    root, labels, _ = celebahq
    report = import_celebahq(str(root), str(tmp_path / "out"), size=32, format=fmt)
    assert list(report.datasets) == ["all"] and report.failures == []
    samples = read_back(tmp_path / "out" / "all")
    assert [s.key for s in samples] == ["0", "1", "2", "3", "4"]
    for s in samples:
        assert s.attributes == expected_labels(labels[int(s.key)])
        assert s.pixels.shape == (32, 32, 3) and s.meta["source"] == "celebahq"


def test_celebahq_partition_follows_the_original_celeba_file(celebahq, tmp_path):
    root, _, partition = celebahq
    report = import_celebahq(str(root), str(tmp_path / "out"), partition=str(partition), size=16)
    # Originals 3, 1, 9, 5, 2 are in splits val, train, train, test, train.
    assert {k: [s.key for s in read_back(tmp_path / "out" / k)] for k in report.datasets} == {
        "train": ["1", "2", "4"], "val": ["0"], "test": ["3"]}
    [sample] = read_back(tmp_path / "out" / "val")
    assert sample.meta == {"source": "celebahq", "file": "0.jpg", "split": "val", "celeba_file": "000003.jpg"}


def test_celebahq_partition_needs_the_mapping_file(celebahq, tmp_path):
    root, _, partition = celebahq
    (root / "CelebA-HQ-to-CelebA-mapping.txt").unlink()
    with pytest.raises(DataError, match="CelebA-HQ-to-CelebA-mapping.txt"):
        import_celebahq(str(root), str(tmp_path / "out"), partition=str(partition))
    import_celebahq(str(root), str(tmp_path / "out"), size=16)  # not needed without a partition


def make_folder(root: Path, rows: list[str]) -> tuple[Path, Path]:
    """Images a b.png, a_b.jpg, sub/a_b.png, c.jpg, bad.jpg (garbage) and a CSV of `rows`."""
    images = root / "images"
    (images / "sub").mkdir(parents=True)
    (images / "a b.png").write_bytes(face_jpeg(0, 64, 80, "PNG"))
    (images / "a_b.jpg").write_bytes(face_jpeg(1, 64, 64))
    (images / "sub" / "a_b.png").write_bytes(face_jpeg(2, 80, 64, "PNG"))
    (images / "c.jpg").write_bytes(face_jpeg(3, 48, 48))
    (images / "bad.jpg").write_bytes(b"not an image")
    csv = root / "labels.csv"
    csv.write_text("\n".join(rows) + "\n")
    return images, csv


@pytest.mark.parametrize("fmt", FORMATS)
def test_folder_01_labels_unique_keys_and_failures(tmp_path, fmt):
    images, csv = make_folder(tmp_path, [
        "Smiling,file,Eyeglasses",
        "1,a b.png,0",
        "true,a_b.jpg,",
        "FALSE,sub/a_b.png,1",
        "maybe,c.jpg,1",
        "0,bad.jpg,1",
        "",
        "0,missing.jpg,0",
    ])
    report = import_folder(str(images), str(csv), str(tmp_path / "out"), filename_column="file",
                           size=24, format=fmt)
    info = report.datasets["all"]
    assert list(report.datasets) == ["all"] and info.attributes == ("Smiling", "Eyeglasses")
    samples = read_back(tmp_path / "out")
    assert [(s.key, s.attributes) for s in samples] == [
        ("a_b", {"Smiling": 1, "Eyeglasses": 0}),
        ("a_b_1", {"Smiling": 1}),
        ("a_b_2", {"Smiling": 0, "Eyeglasses": 1}),
    ]
    assert [s.meta["file"] for s in samples] == ["a b.png", "a_b.jpg", "sub/a_b.png"]
    assert all(s.pixels.shape == (24, 24, 3) for s in samples)
    failures = {f.key: f for f in report.failures}
    assert set(failures) == {"c", "bad", "missing"}
    assert "'Smiling'" in failures["c"].reason and "'maybe'" in failures["c"].reason
    assert failures["c"].shard.endswith("labels.csv:5")


def test_folder_pm1_labels(tmp_path):
    images, csv = make_folder(tmp_path, ["filename,Male,Young", "a b.png,1,-1", "c.jpg,0,", "a_b.jpg,-1,2"])
    report = import_folder(str(images), str(csv), str(tmp_path / "out"), labels="pm1", size=16)
    assert [(s.key, s.attributes) for s in read_back(tmp_path / "out")] == [
        ("a_b", {"Male": 1, "Young": 0}), ("c", {})]
    [failure] = report.failures
    assert failure.key == "a_b" and "'Young' has value '2'" in failure.reason


@pytest.mark.parametrize("rows, kwargs, match", [
    (["name,Male", "c.jpg,1"], {}, r"labels\.csv: no column 'filename'"),
    (["filename,Male", "c.jpg,1,1"], {}, r"labels\.csv, line 2: 3 values, expected 2"),
    (["filename,Male", "c.jpg,1", "c.jpg,0"], {}, r"labels\.csv, line 3: c\.jpg is listed twice"),
    (["filename,key", "c.jpg,1"], {}, r"labels\.csv: column name 'key'"),
    (["filename,Male", "c.jpg,1"], {"labels": "yes/no"}, r"labels must be one of"),
])
def test_folder_bad_csv_raises(tmp_path, rows, kwargs, match):
    images, csv = make_folder(tmp_path, rows)
    with pytest.raises(DataError, match=match):
        import_folder(str(images), str(csv), str(tmp_path / "out"), **kwargs)


def test_folder_missing_paths_raise(tmp_path):
    images, csv = make_folder(tmp_path, ["filename,Male", "c.jpg,1"])
    with pytest.raises(DataError, match=r"nope\.csv: file not found"):
        import_folder(str(images), str(tmp_path / "nope.csv"), str(tmp_path / "out"))
    with pytest.raises(DataError, match="no_images"):
        import_folder(str(tmp_path / "no_images"), str(csv), str(tmp_path / "out"))


def test_unique_keys_are_deterministic_and_never_collide():
    assert unique_keys(["a", "a", "a_1", "b", "a"]) == ["a", "a_1", "a_1_1", "b", "a_2"]
    long = "x" * 200
    assert unique_keys([long, long]) == [long, "x" * 198 + "_1"]
