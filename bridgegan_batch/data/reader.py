"""One reader over WebDataset tars and Parquet files; bad samples are reported, never fatal.

WebDataset layout: `{key}.png|.jpg` plus `{key}.json` = {"attributes": {name: 0/1}, ...meta}.
Parquet layout: `key` string, `image` binary, one int8 column per attribute (-1/null = missing),
`meta` JSON string. A `dataset.json` beside the shards declares the attribute names.
"""

from __future__ import annotations

import json
import logging
import tarfile
from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from bridgegan_batch.data.dataset_info import DatasetInfo, dataset_dir, load_dataset_info
from bridgegan_batch.data.images import ImageDecodeError, decode_rgb
from bridgegan_batch.data.paths import filesystem, resolve_shards, shard_format
from bridgegan_batch.data.sample import ReadFailure, Sample, check_key, parse_label

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = ("png", "jpg", "jpeg")
PARQUET_RESERVED = ("key", "image", "meta")
PARQUET_BATCH_ROWS = 256


class _BadSample(ValueError):
    """A sample that cannot be used; the message is the reason."""


class DatasetReader:
    """Reads samples from shard patterns; `failures` collects what could not be read.

    `decode=True` decodes every image (to `sample.pixels`, resized to `size` if given), so an
    undecodable image is caught here and reported, not later.
    """

    def __init__(self, patterns: str | Sequence[str], *, format: str | None = None,
                 decode: bool = False, size: int | None = None):
        self.shards = resolve_shards(patterns)  # DataError now if a pattern matches nothing
        self.format = format
        self.decode = decode
        self.size = size
        self.failures: list[ReadFailure] = []
        self._infos: dict[str, DatasetInfo | None] = {}
        for shard in self.shards:
            shard_format(shard, format)  # fail early on an unknown suffix

    @property
    def attribute_names(self) -> tuple[str, ...] | None:
        """The attribute names declared by the datasets read, None if none declares any."""
        names: dict[str, None] = {}
        declared = False
        for shard in self.shards:
            info = self._info(shard)
            if info is not None:
                declared = True
                names.update(dict.fromkeys(info.attributes))
        return tuple(names) if declared else None

    def _info(self, shard: str) -> DatasetInfo | None:
        directory = dataset_dir(shard)
        if directory not in self._infos:
            self._infos[directory] = load_dataset_info(directory)
        return self._infos[directory]

    def __iter__(self) -> Iterator[Sample]:
        for shard in self.shards:
            yield from self.read_shard(shard)

    def read_shard(self, shard: str) -> Iterator[Sample]:
        """The good samples of one shard; failures are appended to `self.failures`."""
        info = self._info(shard)
        declared = set(info.attributes) if info is not None else None
        fmt = shard_format(shard, self.format)
        raw = _iter_wds(shard) if fmt == "wds" else _iter_parquet(shard)
        try:
            for key, result in raw:
                if isinstance(result, _BadSample):
                    self._fail(shard, key, str(result))
                    continue
                try:
                    yield self._finish(result, declared)
                except _BadSample as exc:
                    self._fail(shard, key, str(exc))
        except _ShardError as exc:
            self._fail(shard, None, str(exc))

    def _finish(self, sample: Sample, declared: set[str] | None) -> Sample:
        if declared is not None:
            unknown = sorted(set(sample.attributes) - declared)
            if unknown:
                raise _BadSample(f"attributes {unknown} are not declared in dataset.json")
        if self.decode:
            try:
                sample.pixels = decode_rgb(sample.image, self.size)  # [H, W, 3] uint8
            except ImageDecodeError as exc:
                raise _BadSample(str(exc)) from exc
        return sample

    def _fail(self, shard: str, key: str | None, reason: str) -> None:
        failure = ReadFailure(shard, key, reason)
        self.failures.append(failure)
        log.warning("skipped %s", failure)


class _ShardError(Exception):
    """The shard (or the rest of it) cannot be read."""


def _labels(raw: object) -> dict[str, int]:
    if not isinstance(raw, dict):
        raise _BadSample(f"'attributes' must be an object, got {type(raw).__name__}")
    labels = {}
    for name, value in raw.items():
        try:
            label = parse_label(name, value)
        except ValueError as exc:
            raise _BadSample(str(exc)) from exc
        if label is not None:
            labels[name] = label
    return labels


def _wds_sample(shard: str, key: str, parts: dict[str, bytes]) -> Sample:
    try:
        check_key(key)
    except ValueError as exc:
        raise _BadSample(str(exc)) from exc
    images = [ext for ext in IMAGE_EXTENSIONS if ext in parts]
    if not images:
        raise _BadSample(f"no image member (.png/.jpg) among {sorted(parts)}")
    if len(images) > 1:
        raise _BadSample(f"several image members {images}")
    meta: dict = {}
    if "json" in parts:
        try:
            meta = json.loads(parts["json"])
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _BadSample(f"{key}.json is not valid JSON: {exc}") from exc
        if not isinstance(meta, dict):
            raise _BadSample(f"{key}.json must hold an object")
    attributes = _labels(meta.pop("attributes", {}))
    return Sample(key=key, image=parts[images[0]], attributes=attributes, meta=meta, shard=shard)


def _split_member(name: str) -> tuple[str, str] | None:
    """(key, extension) of a tar member name; the key ends at the first dot of the basename."""
    name = name.removeprefix("./")  # `tar -cf x.tar -C dir .` writes ./key.png
    slash = name.rfind("/")
    dot = name.find(".", slash + 1)
    if dot <= slash + 1:
        return None
    return name[:dot], name[dot + 1 :].lower()


def _iter_wds(shard: str) -> Iterator[tuple[str | None, Sample | _BadSample]]:
    """Group a tar's members into samples, in one streaming pass.

    Members of one sample must be contiguous: members of a key that reappear after another key
    are rejected with a failure (the key's first group has already been yielded by then).
    """
    fs, path = filesystem(shard)
    seen: set[str] = set()
    rejected: set[str] = set()
    key: str | None = None
    parts: dict[str, bytes] = {}

    def flush():
        if key is None:
            return None
        try:
            return key, _wds_sample(shard, key, parts)
        except _BadSample as exc:
            return key, exc

    try:
        # "r|": plain tars only. A compressed tar fails here with a clear error, instead of its
        # decompressed offsets being checked against the compressed file below.
        with fs.open(path, "rb") as f, tarfile.open(fileobj=f, mode="r|") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                split = _split_member(member.name)
                if split is None:
                    yield member.name, _BadSample(f"member {member.name!r} has no key.extension name")
                    continue
                member_key, ext = split
                if member_key in rejected:
                    continue  # later members of a key already reported
                if member_key != key:
                    done = flush()
                    if done is not None:
                        yield done
                    if member_key in seen:
                        key, parts = None, {}
                        rejected.add(member_key)
                        yield member_key, _BadSample(
                            "duplicate key, or its members are not contiguous in the tar; "
                            "its later members were dropped")
                        continue
                    seen.add(member_key)
                    key, parts = member_key, {}
                if key is None:
                    continue  # the rest of a rejected duplicate
                if ext in parts:  # e.g. a.png twice in a row: which one is the sample?
                    key, parts = None, {}
                    rejected.add(member_key)
                    yield member_key, _BadSample(f"member {member.name!r} appears twice; the key was dropped")
                    continue
                extracted = tar.extractfile(member)
                parts[ext] = extracted.read() if extracted is not None else b""
            end = tar.offset
        # tarfile stops quietly at a truncated or garbled header: a whole tar has its
        # end-of-archive marker (1024 zero bytes) right after the last member.
        with fs.open(path, "rb") as f:
            f.seek(end)
            complete = f.read(1024) == bytes(1024)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise _ShardError(f"tar unreadable after {len(seen)} keys: {exc}") from exc
    if not complete:
        raise _ShardError(f"tar truncated or corrupt at byte {end}, after {len(seen)} keys")
    done = flush()
    if done is not None:
        yield done


def _iter_parquet(shard: str) -> Iterator[tuple[str | None, Sample | _BadSample]]:
    fs, path = filesystem(shard)
    try:
        with fs.open(path, "rb") as f:
            pf = pq.ParquetFile(f)
            schema = pf.schema_arrow
            _check_parquet_schema(schema)
            names = [n for n in schema.names if n not in PARQUET_RESERVED]
            seen: set[str] = set()
            for batch in pf.iter_batches(batch_size=PARQUET_BATCH_ROWS):
                columns = {name: batch.column(name).to_pylist() for name in batch.schema.names}
                for i, key in enumerate(columns["key"]):
                    if key in seen:  # keys name output files and seed the noise: each one once
                        yield key, _BadSample("duplicate key: an earlier row has it; this row was dropped")
                        continue
                    seen.add(key)
                    yield key, _parquet_sample(shard, key, columns, names, i)
    except (pa.ArrowException, OSError) as exc:
        raise _ShardError(f"parquet unreadable: {exc}") from exc


def _check_parquet_schema(schema: pa.Schema) -> None:
    for name, ok, want in (("key", pa.types.is_string, "string"),
                           ("image", pa.types.is_binary, "binary")):
        if name not in schema.names:
            raise _ShardError(f"no {name!r} column (columns: {schema.names})")
        typ = schema.field(name).type
        if not (ok(typ) or (name == "key" and pa.types.is_large_string(typ))
                or (name == "image" and pa.types.is_large_binary(typ))):
            raise _ShardError(f"column {name!r} has type {typ}, expected {want}")
    if "meta" in schema.names and not pa.types.is_string(schema.field("meta").type):
        raise _ShardError(f"column 'meta' has type {schema.field('meta').type}, expected string")
    for name in schema.names:
        if name not in PARQUET_RESERVED and not pa.types.is_integer(schema.field(name).type):
            raise _ShardError(f"attribute column {name!r} has type {schema.field(name).type}, "
                              "expected an integer type")


def _parquet_sample(shard: str, key: object, columns: dict[str, list], names: list[str],
                    i: int) -> Sample | _BadSample:
    try:
        check_key(key)
        image = columns["image"][i]
        if image is None:
            raise _BadSample("image is null")
        meta = {}
        if "meta" in columns and columns["meta"][i]:
            meta = json.loads(columns["meta"][i])
            if not isinstance(meta, dict):
                raise _BadSample("meta must hold a JSON object")
        attributes = _labels({name: columns[name][i] for name in names})
        return Sample(key=key, image=image, attributes=attributes, meta=meta, shard=shard)
    except _BadSample as exc:
        return exc
    except (ValueError, json.JSONDecodeError) as exc:
        return _BadSample(str(exc))

