"""The output directory of a job run: every file's name, and the per-shard stats that mark work done.

    OUT/
      {stem}-{id}-{part:04d}.tar|.parquet   output shards of one input shard (id: hash of its path)
      {stem}-{id}.stats.json                that input shard's done marker, written after its shards
      dataset.json                          the output as a dataset (attribute names, shard list)
      plan.json  manifest.json  rejects.jsonl  report.html  report/*.png
      .lock                                 held by the run that is writing OUT
      .labels/{stem}-{id}.json              the label pass's result per input shard (a cache)
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
from collections.abc import Iterable
from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict, Field

from bridgegan_batch.data.atomic import write_atomic
from bridgegan_batch.data.paths import filesystem
from bridgegan_batch.data.writer import WRITERS
from bridgegan_batch.errors import DataError

MANIFEST = "manifest.json"
PLAN = "plan.json"
REJECTS = "rejects.jsonl"
LOCK = ".lock"
LABELS_DIR = ".labels"
STATS_SUFFIX = ".stats.json"


def shard_id(input_shard: str) -> str:
    """A short name for an input shard, unique per path and readable: `faces-000003-1a2b3c4d`."""
    stem = PurePosixPath(input_shard).name.split(".")[0] or "shard"
    digest = hashlib.sha256(input_shard.encode()).hexdigest()[:8]
    return f"{stem[:80]}-{digest}"


def part_name(sid: str, part: int, fmt: str) -> str:
    return f"{sid}-{part:04d}{WRITERS[fmt].suffix}"


def stats_name(sid: str) -> str:
    return f"{sid}{STATS_SUFFIX}"


class OutputShard(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    samples: int
    sha256: str


class Reject(BaseModel):
    """An input sample (or a whole input shard, key None) that gave no output, and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    shard: str
    key: str | None
    reason: str


class ShardStats(BaseModel):
    """What one input shard produced; its file is written last, so it marks the shard done."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    input_shard: str
    shard_id: str
    outputs: tuple[OutputShard, ...]
    samples_in: int  # samples read from the input shard (good ones)
    planned: int  # output samples the plan asked of this shard (translations + originals)
    written: int  # output samples written
    per_operation: dict[str, int] = Field(default_factory=dict)  # "0:label" -> n written, "original" -> n
    rejects: tuple[Reject, ...] = ()
    seconds: float = 0.0
    node_id: str = ""
    attempt: int = 1


def write_text_atomic(directory: str, name: str, text: str) -> None:
    """Write `name` in `directory` whole or not at all, so readers see all of it or none."""
    fs, root = filesystem(directory)
    write_atomic(posixpath.join(root, name), text.encode(), fs)


def write_json_atomic(directory: str, name: str, data: dict | BaseModel) -> None:
    text = data.model_dump_json(indent=2) if isinstance(data, BaseModel) else json.dumps(data, indent=2)
    write_text_atomic(directory, name, text + "\n")


def read_json(directory: str, name: str) -> dict | None:
    """The JSON file `name` in `directory`, None if it does not exist; DataError if it is not JSON."""
    fs, root = filesystem(directory)
    path = posixpath.join(root, name)
    if not fs.exists(path):
        return None
    with fs.open(path, "rb") as f:
        try:
            return json.loads(f.read())
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: not valid JSON ({exc}); was it edited by hand?") from exc


def read_stats(directory: str, sid: str) -> ShardStats | None:
    data = read_json(directory, stats_name(sid))
    try:
        return None if data is None else ShardStats.model_validate(data)
    except ValueError as exc:
        raise DataError(f"{directory}/{stats_name(sid)}: not a shard stats file ({str(exc)[:200]})") from exc


def local_path(directory: str) -> str | None:
    """`directory` as a local path, None for remote filesystems (s3://...)."""
    return None if "://" in directory and not directory.startswith("file://") else directory.removeprefix("file://")


def remove_partial(directory: str, sids: Iterable[str]) -> None:
    """Drop what unfinished attempts at the shards `sids` left: their parts and temporary files."""
    fs, root = filesystem(directory)
    prefixes = tuple(p for sid in sids for p in (f"{sid}-", f".{sid}-"))
    if not prefixes or not fs.exists(root):
        return
    for path in fs.ls(root, detail=False):  # one listing, however many shards
        if posixpath.basename(path).startswith(prefixes):
            fs.rm(path)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
