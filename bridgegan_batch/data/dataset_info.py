"""dataset.json: what a directory of shards declares about itself (attribute names, format, counts)."""

from __future__ import annotations

import hashlib
import json
import os
import posixpath

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bridgegan_batch.data.paths import filesystem
from bridgegan_batch.errors import DataError

DATASET_FILE = "dataset.json"


class ShardEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str  # file name inside the dataset directory
    samples: int
    sha256: str


class DatasetInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    format_version: int = 1
    name: str = ""
    attributes: tuple[str, ...]  # the label names every sample may carry
    format: str  # wds | parquet
    image_format: str | None = None  # png | jpg, when all images share one
    image_size: int | None = None  # side in pixels, when all images share one
    samples: int = 0
    shards: tuple[ShardEntry, ...] = ()
    created_by: str = ""
    extra: dict = Field(default_factory=dict)  # importer / generator details (seed, priors, split)

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=False) + "\n"


def dataset_dir(shard: str) -> str:
    """The directory holding `shard` (where its dataset.json lives)."""
    return posixpath.dirname(shard) if "://" in shard else os.path.dirname(os.path.abspath(shard))


def load_dataset_info(directory: str) -> DatasetInfo | None:
    """The DatasetInfo in `directory`, None if it has no dataset.json; DataError if it is broken."""
    fs, path = filesystem(directory)
    file = posixpath.join(path, DATASET_FILE)
    if not fs.exists(file):
        return None
    try:
        with fs.open(file, "rb") as f:
            return DatasetInfo.model_validate_json(f.read())
    except ValidationError as exc:
        raise DataError(f"{directory}/{DATASET_FILE} is invalid: {exc}") from exc


def complete_dataset(directory: str) -> DatasetInfo | None:
    """The dataset in `directory` if it is whole: its dataset.json (written last) is there, and every shard it
    lists is there with the sha256 it records. None if not: a write stopped part way (a killed render or
    import) leaves shards without a dataset.json, which must never pass for the whole."""
    try:
        info = load_dataset_info(directory)
    except DataError:
        return None
    if info is None or len(info.shards) == 0:
        return None
    fs, path = filesystem(directory)
    for entry in info.shards:
        shard = posixpath.join(path, entry.name)
        if not fs.exists(shard):
            return None
        digest = hashlib.sha256()
        with fs.open(shard, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):  # noqa: B023 - f is this iteration's
                digest.update(block)
        if digest.hexdigest() != entry.sha256:
            return None
    return info
