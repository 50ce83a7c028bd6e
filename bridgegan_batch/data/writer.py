"""One writer interface over WebDataset tars and Parquet files; shards appear whole or not at all.

Each shard is written under a hidden temporary name in the target directory and renamed when
complete, so a crash never leaves a partial shard under a final name. Tar members carry fixed
metadata and Parquet files fixed options, so the same samples give the same bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import posixpath
import tarfile
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import ClassVar

import pyarrow as pa
import pyarrow.parquet as pq

from bridgegan_batch import __version__
from bridgegan_batch.data.atomic import discard, temporary_name, write_atomic
from bridgegan_batch.data.dataset_info import DATASET_FILE, DatasetInfo, ShardEntry
from bridgegan_batch.data.paths import FORMATS, filesystem, is_shard
from bridgegan_batch.data.sample import MISSING, Sample, check_key
from bridgegan_batch.errors import DataError

FIXED_MTIME = 946684800  # 2000-01-01: tar members never carry the time they were written


def sample_json(sample: Sample) -> bytes:
    """The `{key}.json` member of a WebDataset sample: attributes first, then the metadata."""
    if "attributes" in sample.meta:
        raise ValueError(f"sample {sample.key}: meta must not have an 'attributes' entry")
    return json.dumps({"attributes": sample.attributes, **sample.meta}).encode()


class _HashingFile(io.RawIOBase):
    """Passes writes through to `f` while hashing them."""

    def __init__(self, f):
        self.f, self.sha = f, hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.sha.update(b)
        self.f.write(b)
        return len(b)


class ShardWriter(ABC):
    """One output shard: `write` samples, then `close` to publish it, or `abort` to drop it."""

    suffix: ClassVar[str]

    def __init__(self, directory: str, name: str, attributes: Sequence[str]):
        self.fs, self.dir_path = filesystem(directory)
        self.name = name
        self.attributes = tuple(attributes)
        self.final_path = posixpath.join(self.dir_path, name)
        self.temp_path = temporary_name(self.final_path)
        self.count = 0

    def write(self, sample: Sample) -> None:
        check_key(sample.key)
        if sample.image_format is None:
            raise ValueError(f"sample {sample.key}: image bytes are neither PNG nor JPEG")
        unknown = sorted(set(sample.attributes) - set(self.attributes))
        if unknown:
            raise ValueError(f"sample {sample.key}: attributes {unknown} are not declared {self.attributes}")
        for name, value in sample.attributes.items():
            if type(value) is not int or value not in (0, 1):  # bools too: JSON and Parquet want ints
                raise ValueError(f"sample {sample.key}: attribute {name!r} = {value!r}, expected the int 0 or 1")
        self._write(sample)
        self.count += 1

    def close(self) -> ShardEntry:
        sha = self._finish()
        self.fs.mv(self.temp_path, self.final_path)
        return ShardEntry(name=self.name, samples=self.count, sha256=sha)

    def abort(self) -> None:
        # Closing may fail again on a full disk; that second error would hide the first, which the
        # caller is raising, and the temporary file goes all the same.
        with contextlib.suppress(OSError):
            self._discard()
        discard(self.fs, self.temp_path)

    @abstractmethod
    def _write(self, sample: Sample) -> None: ...

    @abstractmethod
    def _finish(self) -> str:
        """Complete the temporary file; return its sha256."""

    def _discard(self) -> None:  # noqa: B027
        """Release what an unfinished shard holds (optional)."""


class WdsShardWriter(ShardWriter):
    suffix = ".tar"

    def __init__(self, directory: str, name: str, attributes: Sequence[str]):
        super().__init__(directory, name, attributes)
        # Stays open across write() calls; _finish or _discard closes it.
        self._file = self.fs.open(self.temp_path, "wb")  # noqa: SIM115
        self._hashing = _HashingFile(self._file)
        self._tar = tarfile.open(fileobj=self._hashing, mode="w|", format=tarfile.PAX_FORMAT)  # noqa: SIM115

    def _add(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), FIXED_MTIME, 0o644
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        self._tar.addfile(info, io.BytesIO(data))

    def _write(self, sample: Sample) -> None:
        self._add(f"{sample.key}.{sample.image_format}", sample.image)
        self._add(f"{sample.key}.json", sample_json(sample))

    def _finish(self) -> str:
        self._tar.close()
        self._file.close()
        return self._hashing.sha.hexdigest()

    def _discard(self) -> None:
        try:
            self._tar.close()
        finally:
            self._file.close()


class ParquetShardWriter(ShardWriter):
    suffix = ".parquet"

    def __init__(self, directory: str, name: str, attributes: Sequence[str]):
        super().__init__(directory, name, attributes)
        self._rows: list[Sample] = []

    def _write(self, sample: Sample) -> None:
        if "attributes" in sample.meta:
            raise ValueError(f"sample {sample.key}: meta must not have an 'attributes' entry")
        self._rows.append(sample)

    def table(self) -> pa.Table:
        rows = self._rows
        columns = {
            "key": pa.array([s.key for s in rows], pa.string()),
            "image": pa.array([s.image for s in rows], pa.binary()),
            **{name: pa.array([s.attributes.get(name, MISSING) for s in rows], pa.int8())
               for name in self.attributes},
            "meta": pa.array([json.dumps(s.meta) for s in rows], pa.string()),
        }
        return pa.table(columns)

    def _finish(self) -> str:
        buf = io.BytesIO()
        # Images are already compressed: store them as is, compress the rest.
        compression = {name: "zstd" for name in ("key", "meta", *self.attributes)} | {"image": "none"}
        pq.write_table(self.table(), buf, compression=compression, row_group_size=max(1, len(self._rows)))
        data = buf.getvalue()
        with self.fs.open(self.temp_path, "wb") as f:
            f.write(data)
        return hashlib.sha256(data).hexdigest()

    def _discard(self) -> None:
        self._rows = []


WRITERS: dict[str, type[ShardWriter]] = {"wds": WdsShardWriter, "parquet": ParquetShardWriter}


def shard_name(prefix: str, index: int, fmt: str) -> str:
    return f"{prefix}-{index:06d}{WRITERS[fmt].suffix}"


class DatasetWriter:
    """Writes samples into numbered shards of `shard_size` and a dataset.json describing them.

    Use as a context manager: leaving the block closes it (last shard, then dataset.json); on an
    exception the open shard is discarded and no dataset.json is written, while shards already
    closed stay, each complete.
    """

    def __init__(self, directory: str, *, format: str = "wds", attributes: Sequence[str],
                 shard_size: int = 1000, prefix: str = "shard", name: str = "",
                 image_size: int | None = None, extra: dict | None = None, overwrite: bool = False):
        if format not in FORMATS:
            raise DataError(f"format must be one of {FORMATS}, got {format!r}")
        if shard_size <= 0:
            raise DataError(f"shard_size must be positive, got {shard_size}")
        check_key(prefix)
        self.directory, self.format, self.attributes = directory, format, tuple(attributes)
        self.shard_size, self.prefix, self.name = shard_size, prefix, name
        self.image_size, self.extra = image_size, dict(extra or {})
        self.fs, self.dir_path = filesystem(directory)
        self._prepare(overwrite)
        self._shard: ShardWriter | None = None
        self._entries: list[ShardEntry] = []
        self._keys: set[str] = set()
        self._image_formats: set[str] = set()
        self.info: DatasetInfo | None = None  # set by close()

    def _prepare(self, overwrite: bool) -> None:
        if self.fs.exists(self.dir_path):
            if not self.fs.isdir(self.dir_path):
                raise DataError(f"output {self.directory!r} exists and is not a directory")
            existing = [p for p in self.fs.ls(self.dir_path, detail=False)
                        if is_shard(p) or p.endswith("/" + DATASET_FILE)]
            if existing and not overwrite:
                if not any(p.endswith("/" + DATASET_FILE) for p in existing):
                    raise DataError(f"output {self.directory!r} holds {len(existing)} shards but no {DATASET_FILE}: "
                                    "an unfinished write (a run stopped part way); pass --overwrite to write it again")
                raise DataError(f"output {self.directory!r} already holds a dataset "
                                f"({len(existing)} files); choose a new directory or pass --overwrite")
            for path in existing:
                self.fs.rm(path)
        self.fs.makedirs(self.dir_path, exist_ok=True)

    def write(self, sample: Sample) -> None:
        if sample.key in self._keys:
            raise ValueError(f"duplicate key {sample.key!r}")
        if self._shard is None:
            name = shard_name(self.prefix, len(self._entries), self.format)
            self._shard = WRITERS[self.format](self.directory, name, self.attributes)
        self._shard.write(sample)
        self._keys.add(sample.key)
        self._image_formats.add(sample.image_format)
        if self._shard.count >= self.shard_size:
            self._close_shard()

    def write_all(self, samples: Iterable[Sample]) -> None:
        for sample in samples:
            self.write(sample)

    def _close_shard(self) -> None:
        if self._shard is not None:
            self._entries.append(self._shard.close())
            self._shard = None

    def close(self) -> DatasetInfo:
        """Publish the last shard and dataset.json (once; later calls return the same info)."""
        if self.info is not None:
            return self.info
        self._close_shard()
        info = DatasetInfo(
            name=self.name, attributes=self.attributes, format=self.format,
            image_format=next(iter(self._image_formats)) if len(self._image_formats) == 1 else None,
            image_size=self.image_size, samples=sum(e.samples for e in self._entries),
            shards=tuple(self._entries), created_by=f"bridgegan-batch {__version__}", extra=self.extra)
        write_atomic(posixpath.join(self.dir_path, DATASET_FILE), info.to_json().encode(), self.fs)
        self.info = info
        return info

    def abort(self) -> None:
        if self._shard is not None:
            self._shard.abort()
            self._shard = None

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()
