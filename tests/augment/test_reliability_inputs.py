"""Bad input through the whole engine: every broken image, shard and label becomes a reject with a reason,
the job finishes, and the counts add up. Every fixture is made here, by code."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from bridgegan_batch.augment.engine import run_job
from bridgegan_batch.cli import main
from bridgegan_batch.data.attributes import SYNTH_ATTRIBUTES
from bridgegan_batch.data.images import MAX_PIXELS, encode_image
from bridgegan_batch.data.reader import DatasetReader
from bridgegan_batch.data.sample import Sample
from bridgegan_batch.data.writer import DatasetWriter
from bridgegan_batch.errors import ConfigError
from tests.augment.test_engine import make_job, read_output
from tests.data.test_writer_reader import _tar


def _save(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _face(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(pixels, "RGB")


def _exif_rotated(pixels: np.ndarray) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways; a viewer rotates it 90° clockwise
    return _save(_face(pixels).rotate(90, expand=True), "JPEG", exif=exif, quality=95)


def bad_images(pixels: np.ndarray) -> dict[str, tuple[bytes, str, str | None]]:
    """key -> (image bytes, member extension, the reject reason expected; None: it must be translated)."""
    png, jpg = encode_image(pixels, "png"), encode_image(pixels, "jpg")
    bomb_side = int(math.isqrt(MAX_PIXELS)) + 100
    return {
        "truncated_png": (png[: len(png) // 2], "png", "undecodable"),
        "truncated_jpeg": (jpg[: len(jpg) // 2], "jpg", "undecodable"),
        "zero_bytes": (b"", "png", "0 bytes"),
        "text_as_png": (b"just some text, saved as .png\n", "png", "not a PNG or JPEG"),
        "decompression_bomb": (_save(Image.new("1", (bomb_side, bomb_side)), "PNG"), "png", "over the"),
        "cmyk_jpeg": (_save(_face(pixels).convert("CMYK"), "JPEG"), "jpg", None),
        "png_16_bit": (_save(Image.fromarray(pixels[..., 0].astype(np.uint16) * 257), "PNG"), "png", None),
        "grayscale": (_save(_face(pixels).convert("L"), "PNG"), "png", None),
        "rgba": (_save(_face(pixels).convert("RGBA"), "PNG"), "png", None),
        "palette": (_save(_face(pixels).convert("P"), "PNG"), "png", None),
        "exif_rotated": (_exif_rotated(pixels), "jpg", None),
        "size_1x1": (encode_image(pixels[:1, :1], "png"), "png", None),
        "size_4000x3000": (encode_image(np.zeros((3000, 4000, 3), np.uint8), "jpg", quality=50), "jpg", None),
    }


def _label(labels: dict, **changes) -> bytes:
    return json.dumps({"attributes": {**labels, **changes}}).encode()


@pytest.fixture(scope="module")
def bad_input(tmp_path_factory, synth_dirs) -> tuple[Path, dict[str, str | None], list[str]]:
    """A directory of tars and Parquet files with every kind of bad input, beside good faces.
    Returns (dir, {key: expected reject reason or None for a key that must be translated}, damaged shards)."""
    root = tmp_path_factory.mktemp("bad_input")
    faces = list(DatasetReader([synth_dirs["wds"]]))[:40]
    labels = faces[0].attributes
    expected: dict[str, str | None] = {}

    # Images: broken files and odd modes and sizes, each with good labels.
    images = bad_images(np.asarray(Image.open(io.BytesIO(faces[0].image)).convert("RGB")))
    members = []
    for key, (data, ext, reason) in images.items():
        members += [(f"{key}.{ext}", data), (f"{key}.json", _label(labels))]
        expected[key] = reason
    for face in faces[:10]:
        members += [(f"{face.key}.png", face.image), (f"{face.key}.json", _label(face.attributes))]
        expected[face.key] = None
    _tar(root / "images.tar", members)

    # Shard structure: keys split apart, path traversal, a key twice, bad labels.
    png = faces[10].image
    _tar(root / "structure.tar", [
        ("split_key.png", png), ("between.png", png), ("between.json", _label(labels)),
        ("split_key.json", _label(labels)),
        ("../escape.png", png), ("../escape.json", _label(labels)),
        ("/etc/passwd.png", png), ("/etc/passwd.json", _label(labels)),
        ("twice.png", png), ("twice.json", _label(labels)), ("twice.png", png),
        ("label_7.png", png), ("label_7.json", _label(labels, Eyeglasses=7)),
        ("label_nan.png", png), ("label_nan.json", _label(labels, Eyeglasses=float("nan"))),
        ("label_minus1.png", png), ("label_minus1.json", _label(labels, Eyeglasses=-1)),
        ("structure_ok.png", png), ("structure_ok.json", _label(labels)),
    ])
    expected.update({"split_key": "contiguous", "between": None, "../escape": "unsafe key",
                     "/etc/passwd": "unsafe key", "twice": "appears twice", "label_7": "has value 7",
                     "label_nan": "no label for ['Eyeglasses']", "label_minus1": "no label for ['Eyeglasses']",
                     "structure_ok": None})

    # A truncated tar: what comes before the cut is used, the shard is reported damaged.
    with DatasetWriter(str(root / "cut_src"), attributes=SYNTH_ATTRIBUTES, shard_size=100) as writer:
        for face in faces[20:30]:
            writer.write(Sample(face.key, face.image, face.attributes, {}))
    data = (root / "cut_src" / "shard-000000.tar").read_bytes()
    (root / "truncated.tar").write_bytes(data[: len(data) // 2])
    kept = [s.key for s in DatasetReader([str(root / "truncated.tar")])]
    assert 0 < len(kept) < 10
    expected.update(dict.fromkeys(kept))
    (root / "garbage.tar").write_bytes(np.random.default_rng(0).bytes(5000))

    # Parquet: wrong column type, no image column, labels out of range, a float (NaN) label column, a key twice.
    label_columns = {n: pa.array([labels[n]] * 3, pa.int8()) for n in SYNTH_ATTRIBUTES}
    pq.write_table(pa.table({"key": ["pw1", "pw2", "pw3"], "image": ["a", "b", "c"], **label_columns}),
                   root / "wrong_type.parquet")
    pq.write_table(pa.table({"key": ["pn1", "pn2", "pn3"], "picture": [png] * 3, **label_columns}),
                   root / "no_image.parquet")
    float_columns = {**label_columns, "Eyeglasses": pa.array([0.0, float("nan"), 1.0], pa.float64())}
    pq.write_table(pa.table({"key": ["pf1", "pf2", "pf3"], "image": [png] * 3, **float_columns}),
                   root / "nan_labels.parquet")
    rows = {"key": ["pq_ok", "pq_label_3", "pq_ok"], "image": [png] * 3,
            **{n: pa.array([labels[n], 3 if n == "Male" else labels[n], labels[n]], pa.int8())
               for n in SYNTH_ATTRIBUTES}}
    pq.write_table(pa.table(rows), root / "labels.parquet")
    # A float column with NaN is how pandas writes labels with gaps: NaN is unlabelled, not damage.
    expected.update({"pq_ok": None, "pq_label_3": "'Male' has value 3", "pf1": None, "pf3": None,
                     "pf2": "no label for ['Eyeglasses']"})
    damaged = ["truncated.tar", "garbage.tar", "wrong_type.parquet", "no_image.parquet"]
    return root, expected, damaged


@pytest.mark.slow
def test_bad_inputs_are_rejected_with_reasons_and_the_job_finishes(tmp_path, tiny_export, bad_input, ray_local):
    root, expected, damaged = bad_input
    job = make_job(tmp_path, tiny_export, str(root), balance=None, operations=[{"label": {"set": {"Smiling": 1}}}],
                   output__include_originals=True, resources__actors=1, output__max_error_rate=1.0)
    job_path = tmp_path / "job.yaml"
    job_path.write_text(yaml.safe_dump(job.model_dump(mode="json")))

    result = CliRunner().invoke(main, ["run", str(job_path), "--no-progress"])

    # The job finishes; damaged shards make the exit code 1 even under max_error_rate.
    assert result.exit_code == 1, result.output
    assert "0 failed" in result.output and "4 are damaged" in result.output
    for name in damaged:
        assert f"DAMAGED {root / name}" in result.output

    out = tmp_path / "out"
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    by_key = {r["key"]: r for r in rejects if r["key"] is not None}
    whole = {Path(r["shard"]).name: r["reason"] for r in rejects if r["key"] is None}
    assert sorted(whole) == sorted(damaged)
    assert "unexpected end of data" in whole["truncated.tar"] and "invalid header" in whole["garbage.tar"]
    assert "'image' has type string" in whole["wrong_type.parquet"] and "no 'image'" in whole["no_image.parquet"]
    assert {r["key"] for r in rejects if "an earlier row has it" in r["reason"]} == {"pq_ok"}  # its second row

    samples = read_output(out)  # fails on a duplicate key
    for key, reason in expected.items():
        if reason is None:
            assert key in samples and f"{key}-op0-0" in samples, key  # the original and its translation
            assert key not in by_key or key == "pq_ok"  # (its first row is taken, its second rejected)
        else:
            assert reason in by_key[key]["reason"], (key, by_key.get(key))
            assert not any(k == key or k.startswith(f"{key}-op") for k in samples)
    good = [k for k, r in expected.items() if r is None]
    assert len(samples) == 2 * len(good)  # nothing lost, nothing extra

    summary = [line for line in result.output.splitlines() if line.startswith("rejected input samples")][0]
    stats = [json.loads(p.read_text()) for p in out.glob("*.stats.json")]
    assert sum(s["written"] for s in stats) == len(samples)
    # Every input sample is counted once: taken, or rejected (a damaged shard counts as one).
    assert f"rejected input samples: {len(rejects)} of {len(good) + len(rejects)} " in summary


def test_an_upright_exif_image_is_what_the_model_sees():
    from bridgegan_batch.data.images import decode_rgb

    pixels = np.zeros((32, 48, 3), np.uint8)
    pixels[:, :24] = (0, 0, 255)  # left half blue
    out = decode_rgb(_exif_rotated(pixels))
    assert out.shape == (32, 48, 3) and out[16, 5, 2] > 200 and out[16, 40, 2] < 60


def _relabel(synth_dir: str, out: Path, **labels) -> str:
    faces = list(DatasetReader([synth_dir]))[:30]
    with DatasetWriter(str(out), attributes=SYNTH_ATTRIBUTES, shard_size=30) as writer:
        for face in faces:
            writer.write(Sample(face.key, face.image, {**face.attributes, **labels}, {}))
    return str(out)


def test_a_reference_pool_without_the_target_is_an_error_before_writing(tmp_path, tiny_export, synth_dirs):
    inputs = _relabel(synth_dirs["wds"], tmp_path / "no_hats", Wearing_Hat=0)
    ops = [{"reference": {"set": {"Wearing_Hat": 1}, "where": {"Wearing_Hat": 0}}}]
    job = make_job(tmp_path, tiny_export, inputs, balance=None, operations=ops)
    with pytest.raises(ConfigError, match=r"operations.0.reference: no face in the reference pool has "
                                          r"\{'Wearing_Hat': 1\}"):
        run_job(job, "j", echo=lambda _: None, progress=False)
    assert not (tmp_path / "out").exists()


def test_an_empty_reference_pool_is_an_error_before_writing(tmp_path, tiny_export, synth_dirs):
    # Every face with a hat has an unusable label, so the pool of hat wearers is empty.
    faces = list(DatasetReader([synth_dirs["wds"]]))[:30]
    inputs = tmp_path / "bad_hats"
    members = []
    for i, face in enumerate(faces):
        hat = i % 5 == 0
        members += [(f"{face.key}.png", face.image),
                    (f"{face.key}.json", _label(face.attributes, Wearing_Hat=2 if hat else 0))]
    inputs.mkdir()
    _tar(inputs / "shard.tar", members)
    ops = [{"interpolate": {"set": {"Wearing_Hat": 1}, "where": {"Wearing_Hat": 0}}}]
    job = make_job(tmp_path, tiny_export, str(inputs), balance=None, operations=ops)
    with pytest.raises(ConfigError, match=r"operations.0.interpolate: no face in the reference pool"):
        run_job(job, "j", echo=lambda _: None, progress=False)
    assert not (tmp_path / "out").exists()
