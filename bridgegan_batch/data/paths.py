"""Shard patterns to shard lists: brace expansion, globs and directories on any fsspec filesystem."""

from __future__ import annotations

import os
from collections.abc import Sequence

import fsspec
from braceexpand import UnbalancedBracesError, braceexpand
from fsspec.core import url_to_fs

from bridgegan_batch.errors import DataError

SHARD_SUFFIXES = {".tar": "wds", ".parquet": "parquet"}
FORMATS = ("wds", "parquet")


def expand_braces(pattern: str) -> list[str]:
    """Expand `{000..009}` (zero-padded ranges) and `{a,b}` (alternatives), as webdataset does."""
    try:
        return list(braceexpand(pattern, escape=False))  # backslashes are path characters
    except UnbalancedBracesError as exc:
        raise DataError(f"pattern {pattern!r}: unbalanced braces (use {{a,b}} or {{000..009}})") from exc


def filesystem(uri: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem of `uri` and the path on it; names the missing package for s3:// etc."""
    try:
        return url_to_fs(uri)
    except ImportError as exc:
        raise DataError(f"{uri}: this filesystem needs an extra package ({exc})") from exc
    except ValueError as exc:
        raise DataError(f"{uri}: {exc}") from exc


def _full(fs: fsspec.AbstractFileSystem, path: str, like: str) -> str:
    # Keep plain local paths plain; give remote paths their protocol back.
    return path if "://" not in like else fs.unstrip_protocol(path)


def absolute_uri(uri: str) -> str:
    """A local path made absolute (from the current directory); a URL (s3://...) as given. Ray actors
    run in other directories, and on other nodes: a relative path would mean another place to each."""
    if "://" in uri and not uri.startswith("file://"):
        return uri
    return os.path.abspath(uri.removeprefix("file://"))


def is_shard(path: str) -> bool:
    return any(path.endswith(s) for s in SHARD_SUFFIXES) and not path.rsplit("/", 1)[-1].startswith(".")


def resolve_shards(patterns: str | Sequence[str]) -> list[str]:
    """Every shard matched by `patterns`: in pattern order, each pattern's matches sorted, duplicates dropped.

    A pattern is a file, a directory (its *.tar and *.parquet files), a glob, or a brace pattern.
    A pattern that matches nothing is an immediate DataError naming it.
    """
    if isinstance(patterns, str):
        patterns = [patterns]
    if not patterns:
        raise DataError("no shard pattern given")
    found: list[str] = []
    for pattern in patterns:
        for expanded in expand_braces(pattern):
            fs, path = filesystem(expanded)
            if any(ch in path for ch in "*?["):
                matches = sorted(p for p in fs.glob(path) if fs.isfile(p) and is_shard(p))
                if not matches:
                    raise DataError(f"pattern {pattern!r}: the glob {expanded!r} matches no .tar or .parquet shard")
            elif fs.isdir(path):
                matches = sorted(p for p in fs.ls(path, detail=False) if is_shard(p))
                if not matches:
                    raise DataError(
                        f"pattern {pattern!r}: directory {expanded!r} holds no .tar or .parquet shard")
            elif fs.isfile(path):
                matches = [path]
            else:
                raise DataError(f"pattern {pattern!r}: {expanded!r} does not exist")
            found.extend(_full(fs, m, expanded) for m in matches)
    return list(dict.fromkeys(found))


def shard_format(shard: str, declared: str | None = None) -> str:
    """'wds' or 'parquet' for `shard`: the declared format, else from its suffix."""
    if declared is not None:
        if declared not in FORMATS:
            raise DataError(f"format must be one of {FORMATS}, got {declared!r}")
        return declared
    for suffix, fmt in SHARD_SUFFIXES.items():
        if shard.endswith(suffix):
            return fmt
    raise DataError(f"{shard}: cannot tell the format from the name; state it (wds or parquet)")
