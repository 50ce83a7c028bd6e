"""Files that appear whole or not at all: written under a temporary name beside them, then renamed."""

from __future__ import annotations

import contextlib
import posixpath
import uuid
from collections.abc import Iterator

import fsspec

from bridgegan_batch.data.paths import filesystem


def temporary_name(path: str) -> str:
    """A hidden name beside `path`, unique per writer, so that two processes never share one."""
    head, name = posixpath.split(path)
    return posixpath.join(head, f".{name}.tmp-{uuid.uuid4().hex[:12]}")


def discard(fs: fsspec.AbstractFileSystem, temp: str) -> None:
    """Remove a temporary file if it is there; a second error on a full disk must not hide the first."""
    with contextlib.suppress(OSError):
        if fs.exists(temp):
            fs.rm(temp)


@contextlib.contextmanager
def atomic_path(path: str, fs: fsspec.AbstractFileSystem | None = None) -> Iterator[tuple[fsspec.AbstractFileSystem,
                                                                                         str]]:
    """Yields (filesystem, temporary path) to write; renamed to `path` on success, removed on any error.

    `path` is a URI, or with `fs` a path on that filesystem.
    """
    if fs is None:
        fs, path = filesystem(path)
    fs.makedirs(posixpath.dirname(path) or ".", exist_ok=True)
    temp = temporary_name(path)
    try:
        yield fs, temp
        fs.mv(temp, path)
    except BaseException:
        discard(fs, temp)
        raise


def write_atomic(path: str, data: bytes, fs: fsspec.AbstractFileSystem | None = None) -> None:
    """Write `data` to `path` whole or not at all."""
    with atomic_path(path, fs) as (fs_, temp), fs_.open(temp, "wb") as f:
        f.write(data)
