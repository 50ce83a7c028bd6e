"""One reader over WebDataset tars and Parquet files; bad samples are reported, never fatal.

WebDataset layout: `{key}.png|.jpg` plus `{key}.json` = {"attributes": {name: 0/1}, ...meta}.
Parquet layout: `key` string, `image` binary, one int8 column per attribute (-1/null = missing),
`meta` JSON string; users' own shapes are read through an `InputLayout` (parquet_samples.py).
A `dataset.json` beside the shards declares the attribute names.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from bridgegan_batch.data.dataset_info import DatasetInfo, dataset_dir, load_dataset_info
from bridgegan_batch.data.images import ImageDecodeError, decode_rgb
from bridgegan_batch.data.parquet_samples import ParquetColumns, iter_parquet
from bridgegan_batch.data.paths import resolve_shards, shard_format
from bridgegan_batch.data.sample import LABEL_ENCODINGS, BadSample, ReadFailure, Sample, ShardError
from bridgegan_batch.data.tar_samples import iter_tar

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InputLayout:
    """How to read shards: their format (None: from each name), where a Parquet file keeps its parts, and
    how labels are written ("auto": ours, 0/1 with -1 for missing; refused where that is ambiguous)."""

    format: str | None = None
    columns: ParquetColumns = ParquetColumns()
    label_encoding: str = "auto"

    def __post_init__(self):
        if self.label_encoding not in LABEL_ENCODINGS:
            raise ValueError(f"label_encoding must be one of {LABEL_ENCODINGS}, got {self.label_encoding!r}")


class DatasetReader:
    """Reads samples from shard patterns; `failures` collects what could not be read.

    `decode=True` decodes every image (to `sample.pixels`, resized to `size` if given), so an
    undecodable image is caught here and reported, not later.
    """

    def __init__(self, patterns: str | Sequence[str], *, format: str | None = None,
                 layout: InputLayout | None = None, decode: bool = False, size: int | None = None):
        self.shards = resolve_shards(patterns)  # DataError now if a pattern matches nothing
        self.layout = layout or InputLayout(format=format)
        self.format = self.layout.format
        self.decode = decode
        self.size = size
        self.failures: list[ReadFailure] = []
        self._infos: dict[str, DatasetInfo | None] = {}
        for shard in self.shards:
            shard_format(shard, self.format)  # fail early on an unknown suffix

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
        encoding = self.layout.label_encoding
        if encoding == "auto" and info is not None:
            encoding = "0/1"  # a dataset.json beside it: written by us, in our encoding
        raw = iter_tar(shard, encoding) if fmt == "wds" else iter_parquet(shard, self.layout.columns, encoding)
        try:
            for key, result in raw:
                if isinstance(result, BadSample):
                    self._fail(shard, key, str(result))
                    continue
                try:
                    yield self._finish(result, declared)
                except BadSample as exc:
                    self._fail(shard, key, str(exc))
        except ShardError as exc:
            self._fail(shard, None, str(exc))

    def _finish(self, sample: Sample, declared: set[str] | None) -> Sample:
        if declared is not None:
            unknown = sorted(set(sample.attributes) - declared)
            if unknown:
                raise BadSample(f"attributes {unknown} are not declared in dataset.json")
        if self.decode:
            try:
                sample.pixels = decode_rgb(sample.image, self.size)  # [H, W, 3] uint8
            except ImageDecodeError as exc:
                raise BadSample(str(exc)) from exc
        return sample

    def _fail(self, shard: str, key: str | None, reason: str) -> None:
        failure = ReadFailure(shard, key, reason)
        self.failures.append(failure)
        log.warning("skipped %s", failure)
