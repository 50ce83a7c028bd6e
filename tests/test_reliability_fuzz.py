"""Property tests: random bytes and random structures never crash the loaders with anything but a clear error."""

from __future__ import annotations

import contextlib
import io
import json
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridgegan_batch.augment.spec import load_job
from bridgegan_batch.data.images import ImageDecodeError, decode_rgb, encode_image
from bridgegan_batch.data.reader import DatasetReader
from bridgegan_batch.data.sample import Sample
from bridgegan_batch.data.writer import DatasetWriter
from bridgegan_batch.errors import ConfigError, UserError

FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
GOOD_JOB = {"name": "fuzz", "input": {"uri": "data/faces"}, "operations": [{"label": {"set": {"Smiling": 1}}}],
            "output": {"uri": "out/fuzz"}}

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=20))
values = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)), max_leaves=12)
FIELDS = ["name", "seed", "input", "input.uri", "input.format", "model", "model.path", "operations",
          "operations.0", "operations.0.label", "operations.0.label.set", "balance", "balance.fractions", "output",
          "output.shard_size", "output.image", "resources", "resources.actors", "colour"]


def _write(text: str | bytes) -> Path:
    path = Path(tempfile.mkdtemp()) / "job.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_as_a_job_are_a_config_error(data):
    with contextlib.suppress(ConfigError):
        load_job(_write(data))


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(FIELDS), values), min_size=1, max_size=3))
def test_random_values_in_a_good_job_are_a_config_error_or_a_job(changes):
    data = json.loads(json.dumps(GOOD_JOB))
    for dotted, value in changes:
        node, *_ = [data]
        keys = dotted.split(".")
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) and key.isdigit() and int(key) < len(node) else \
                node.setdefault(key, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node[keys[-1]] = value
    try:
        text = yaml.safe_dump(data)
    except yaml.YAMLError:
        return
    with contextlib.suppress(ConfigError):
        load_job(_write(text))


@FUZZ
@given(st.lists(st.text(max_size=30), max_size=3))
def test_random_overrides_are_a_config_error_or_a_job(overrides):
    with contextlib.suppress(ConfigError):
        load_job(_write(yaml.safe_dump(GOOD_JOB)), tuple(overrides))


def _read_all(path: Path, fmt: str | None = None) -> tuple[list[Sample], list]:
    reader = DatasetReader([str(path)], format=fmt, decode=True, size=16)
    return list(reader), reader.failures


@FUZZ
@given(st.binary(max_size=3000), st.sampled_from(["wds", "parquet"]))
def test_random_bytes_as_a_shard_are_a_reported_failure(data, fmt):
    path = Path(tempfile.mkdtemp()) / ("x.tar" if fmt == "wds" else "x.parquet")
    path.write_bytes(data)
    samples, failures = _read_all(path)
    assert samples or failures or data[:512].strip(b"\0") == b"" or not data  # an empty tar is empty


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes_as_an_image_are_an_image_decode_error(data):
    with contextlib.suppress(ImageDecodeError):
        decode_rgb(data, 16)


PNG = encode_image(np.zeros((4, 4, 3), np.uint8), "png")


@FUZZ
@given(st.lists(st.tuples(st.text(min_size=1, max_size=20), st.sampled_from(["png", "jpg", "json", "cls", ""]),
                          st.sampled_from([PNG, b"", b"{}", b'{"attributes": {"Male": 1}}', b"\xff\xd8\xff"])),
                max_size=8),
       st.integers(0, 4000))
def test_random_tar_structures_and_cuts_are_rejects_never_crashes(members, cut):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for stem, ext, data in members:
            info = tarfile.TarInfo(f"{stem}.{ext}" if ext else stem)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    blob = buf.getvalue()
    path = Path(tempfile.mkdtemp()) / "x.tar"
    path.write_bytes(blob[:cut] if cut else blob)
    samples, failures = _read_all(path)
    keys = [s.key for s in samples]
    assert len(keys) == len(set(keys))  # never a key twice
    for failure in failures:
        assert failure.reason


@FUZZ
@given(st.dictionaries(st.text(max_size=10), st.one_of(scalars, st.lists(scalars, max_size=3)), max_size=6),
       st.sampled_from(["wds", "parquet"]))
def test_provenance_round_trips_through_both_formats(meta, fmt):
    meta = json.loads(json.dumps({"provenance": meta}, allow_nan=True))  # what JSON can hold
    out = Path(tempfile.mkdtemp()) / "ds"
    with DatasetWriter(str(out), format=fmt, attributes=("Male",)) as writer:
        writer.write(Sample("k0", PNG, {"Male": 1}, meta))
    (back,) = list(DatasetReader([str(out)]))
    assert json.dumps(back.meta, sort_keys=True) == json.dumps(meta, sort_keys=True)
    assert back.attributes == {"Male": 1} and back.image == PNG


def test_user_errors_are_the_only_errors_a_bad_pattern_gives(tmp_path):
    for pattern in ["", "{", "{a", "nope://x", str(tmp_path / "none" / "*.tar"), "s3://"]:
        with contextlib.suppress(UserError):
            DatasetReader([pattern])
