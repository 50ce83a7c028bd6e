"""The sample that flows through readers and writers, its key rules, and read failures."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from bridgegan_batch.data.images import sniff_format

# Keys become file names inside tars and output directories: a strict allowlist, no dots
# (WebDataset splits the key from the extension at the first dot), no separators.
KEY_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-]{0,199}")
MISSING = -1  # an attribute with no label, in Parquet columns


@dataclass
class Sample:
    key: str
    image: bytes  # PNG or JPEG bytes
    attributes: dict[str, int] = field(default_factory=dict)  # name → 0/1; unlabelled names absent
    meta: dict = field(default_factory=dict)  # everything else: provenance, SynthFaces record, ...
    shard: str = ""  # where it was read from
    pixels: np.ndarray | None = None  # [H, W, 3] uint8, when the reader decoded it

    @property
    def image_format(self) -> str | None:
        return sniff_format(self.image)


@dataclass(frozen=True)
class ReadFailure:
    shard: str
    key: str | None  # None when the whole shard (or its tail) could not be read
    reason: str

    def __str__(self) -> str:
        where = f"{self.shard} [{self.key}]" if self.key is not None else self.shard
        return f"{where}: {self.reason}"


class BadSample(ValueError):
    """A sample that cannot be used; the message is the reason."""


class ShardError(Exception):
    """The shard (or the rest of it) cannot be read; the message is the reason."""


def check_key(key: object) -> str:
    """Return `key` if it is safe to use as a file name, else raise ValueError saying why."""
    if not isinstance(key, str):
        raise ValueError(f"key must be a string, got {type(key).__name__}")
    if not KEY_PATTERN.fullmatch(key):
        raise ValueError(
            f"unsafe key {key!r}: keys are 1-200 characters of A-Z a-z 0-9 _ - "
            "(no '/', '..', dots or spaces)"
        )
    return key


def sanitize_key(name: str) -> str:
    """A safe key made from an arbitrary name (a file stem): unsafe characters become '_'."""
    key = re.sub(r"[^A-Za-z0-9_\-]", "_", name)[:200]
    if not key or key[0] == "-":
        key = "_" + key[:199]
    return key


LABEL_ENCODINGS = ("auto", "0/1", "-1/1")


def parse_label(name: str, value: object, encoding: str = "0/1") -> int | None:
    """A label as 0/1, None for missing; raise ValueError for anything else.

    "0/1" (ours): 0 and 1, with -1, null or NaN for missing. "-1/1" (CelebA's): -1 is 0, null or NaN missing.
    Booleans and integral floats (pandas writes integer columns with gaps as floats) are read as numbers.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        if encoding == "-1/1" and value in (-1, 1):
            return (value + 1) // 2
        if encoding != "-1/1" and value in (0, 1):
            return value
        if encoding != "-1/1" and value == MISSING:
            return None
    expected = "-1 or 1 (label_encoding -1/1), or null" if encoding == "-1/1" else "0, 1, or -1/null for missing"
    raise ValueError(f"attribute {name!r} has value {value!r}; expected {expected}")


def labels_of(raw: object, encoding: str = "0/1") -> dict[str, int]:
    """A sample's labels {name: 0/1} from its raw values; missing ones left out."""
    if not isinstance(raw, dict):
        raise BadSample(f"'attributes' must be an object, got {type(raw).__name__}")
    labels = {}
    for name, value in raw.items():
        try:
            label = parse_label(name, value, encoding)
        except ValueError as exc:
            raise BadSample(str(exc)) from exc
        if label is not None:
            labels[name] = label
    return labels
