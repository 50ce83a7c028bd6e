"""Property tests: random bytes and structures are refused with a clear error, or accepted as what they say.

Each test checks both sides: what a loader refuses raises its named error with a message, and what it
accepts is checked against the input (a job that says the same thing, an image of the asked size).
"""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridgegan_batch.augment.spec import JobSpec, load_job
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
# Values a job field may well hold, so that about half the examples are accepted and that side is checked too.
plausible = st.one_of(st.integers(0, 10**6), st.sampled_from(["wds", "parquet", "faces", "data/x", "png", "jpg"]),
                      st.booleans(), st.none())
FIELDS = ["name", "seed", "input", "input.uri", "input.format", "model", "model.path", "operations",
          "operations.0", "operations.0.label", "operations.0.label.set", "balance", "balance.fractions", "output",
          "output.shard_size", "output.image", "resources", "resources.actors", "colour"]


def _write(folder: Path, text: str | bytes) -> Path:
    path = folder / "job.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def _load_or_refuse(path: Path, overrides: tuple[str, ...] = ()) -> JobSpec | None:
    """The job, or None when refused: a refusal is a ConfigError with a message, never another error."""
    try:
        return load_job(path, overrides)
    except ConfigError as exc:
        assert str(exc).strip()
        return None


def _same_job_again(job: JobSpec, folder: Path) -> None:
    """An accepted job, written back out, loads as the same job: nothing was accepted that it cannot hold."""
    again = load_job(_write(folder, yaml.safe_dump(job.model_dump(mode="json", exclude_unset=True))))
    assert again == job


@FUZZ
@given(st.one_of(st.binary(max_size=300),
                 st.builds(lambda cut, extra: yaml.safe_dump(GOOD_JOB).encode()[:cut] + extra,
                           st.integers(0, 200), st.binary(max_size=8))))
def test_random_bytes_as_a_job_are_a_config_error_or_the_job_they_spell(tmp_path, data):
    job = _load_or_refuse(_write(tmp_path, data))
    if job is not None:  # only a mapping with the required fields can be a job
        parsed = yaml.safe_load(data)
        assert isinstance(parsed, dict) and parsed["name"] == job.name
        assert set(parsed) <= set(JobSpec.model_fields)


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(FIELDS), st.one_of(plausible, values)), min_size=1, max_size=3))
def test_random_values_in_a_good_job_are_a_config_error_or_a_job(tmp_path, changes):
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
    job = _load_or_refuse(_write(tmp_path, text))
    if job is None:
        return
    assert "colour" not in data  # an unknown field is never accepted
    seed = data.get("seed", 0)
    assert job.seed == seed and isinstance(seed, int) and not isinstance(seed, bool)  # no silent coercion
    if isinstance(data["name"], str):
        assert job.name == data["name"]
    _same_job_again(job, tmp_path)


@FUZZ
@given(st.lists(st.one_of(st.text(max_size=30),
                          st.builds(lambda key, value: f"{key}={value}", st.sampled_from(FIELDS),
                                    st.one_of(plausible.map(str), st.text(max_size=12)))), max_size=3))
def test_random_overrides_are_a_config_error_or_a_job(tmp_path, overrides):
    job = _load_or_refuse(_write(tmp_path, yaml.safe_dump(GOOD_JOB)), tuple(overrides))
    if job is not None:
        assert all("=" in item and item.partition("=")[0].strip() for item in overrides)
        _same_job_again(job, tmp_path)


@FUZZ
@given(st.from_regex(r"[A-Za-z0-9_\-]{1,100}", fullmatch=True), st.integers(-2**62, 2**62), st.integers(-5, 10**6),
       st.sampled_from(["auto", "wds", "parquet", "tar", "WDS"]), st.one_of(st.none(), st.integers(-2, 64)))
def test_values_in_range_are_accepted_as_given_and_others_refused(tmp_path, name, seed, shard_size, fmt, actors):
    data = json.loads(json.dumps(GOOD_JOB))
    data.update(name=name, seed=seed, resources={"actors": actors})
    data["input"]["format"] = fmt
    data["output"]["shard_size"] = shard_size
    job = _load_or_refuse(_write(tmp_path, yaml.safe_dump(data)))
    valid = shard_size > 0 and fmt in ("auto", "wds", "parquet") and (actors is None or actors > 0)
    assert (job is not None) == valid
    if job is not None:
        assert (job.name, job.seed, job.input.format, job.output.shard_size, job.resources.actors) == \
            (name, seed, fmt, shard_size, actors)


def _read_all(path: Path, fmt: str | None = None) -> tuple[list[Sample], list]:
    reader = DatasetReader([str(path)], format=fmt, decode=True, size=16)
    return list(reader), reader.failures


@FUZZ
@given(st.binary(max_size=3000), st.sampled_from(["wds", "parquet"]))
def test_random_bytes_as_a_shard_are_a_reported_failure(tmp_path, data, fmt):
    path = tmp_path / ("x.tar" if fmt == "wds" else "x.parquet")
    path.write_bytes(data)
    samples, failures = _read_all(path)
    assert samples or failures or data[:512].strip(b"\0") == b"" or not data  # an empty tar is empty


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes_as_an_image_are_an_image_decode_error(data):
    try:
        image = decode_rgb(data, 16)
    except ImageDecodeError as exc:
        assert str(exc).strip()
        return
    assert image.shape == (16, 16, 3) and image.dtype == np.uint8  # accepted: an image of the asked size


PNG = encode_image(np.zeros((4, 4, 3), np.uint8), "png")


@FUZZ
@given(st.lists(st.tuples(st.text(min_size=1, max_size=20), st.sampled_from(["png", "jpg", "json", "cls", ""]),
                          st.sampled_from([PNG, b"", b"{}", b'{"attributes": {"Male": 1}}', b"\xff\xd8\xff"])),
                max_size=8),
       st.integers(0, 4000))
def test_random_tar_structures_and_cuts_are_rejects_never_crashes(tmp_path, members, cut):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for stem, ext, data in members:
            info = tarfile.TarInfo(f"{stem}.{ext}" if ext else stem)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    blob = buf.getvalue()
    path = tmp_path / "x.tar"
    path.write_bytes(blob[:cut] if cut else blob)
    samples, failures = _read_all(path)
    keys = [s.key for s in samples]
    assert len(keys) == len(set(keys))  # never a key twice
    stems = {stem for stem, ext, _ in members if ext}
    for sample in samples:  # accepted: a real member's stem, with an image that decoded to the asked size
        assert sample.key in stems and sample.pixels.shape == (16, 16, 3)
    for failure in failures:
        assert failure.reason


@FUZZ
@given(st.dictionaries(st.text(max_size=10), st.one_of(scalars, st.lists(scalars, max_size=3)), max_size=6),
       st.sampled_from(["wds", "parquet"]))
def test_provenance_round_trips_through_both_formats(tmp_path, meta, fmt):
    meta = json.loads(json.dumps({"provenance": meta}, allow_nan=True))  # what JSON can hold
    out = Path(tempfile.mkdtemp(dir=tmp_path)) / "ds"  # one folder per example, all under tmp_path
    with DatasetWriter(str(out), format=fmt, attributes=("Male",)) as writer:
        writer.write(Sample("k0", PNG, {"Male": 1}, meta))
    (back,) = list(DatasetReader([str(out)]))
    assert json.dumps(back.meta, sort_keys=True) == json.dumps(meta, sort_keys=True)
    assert back.attributes == {"Male": 1} and back.image == PNG


def test_user_errors_are_the_only_errors_a_bad_pattern_gives(tmp_path):
    for pattern in ["", "{", "{a", "nope://x", str(tmp_path / "none" / "*.tar"), "s3://"]:
        try:
            reader = DatasetReader([pattern])
        except UserError as exc:
            assert str(exc).strip()
            continue
        assert list(reader) == [] and reader.failures == []  # accepted: a pattern that matches nothing
