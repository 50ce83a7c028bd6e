"""The label pass: every input sample's labels in the model's attribute names, read before planning.

Given labels are read without decoding a pixel. `labels: predict` runs the model's attribute
head instead (in the actors, see actor.py). Results are cached per input shard under
`OUT/.labels/`, keyed by the shard's size and mtime, so a nightly rerun reads only new shards.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from bridgegan_batch.augment.layout import LABELS_DIR, Reject, read_json, write_json_atomic
from bridgegan_batch.augment.plan import Source
from bridgegan_batch.data.reader import DatasetReader, InputLayout
from bridgegan_batch.model.pixels import to_tensor


@dataclass
class ShardLabels:
    shard: str
    keys: list[str] = field(default_factory=list)
    labels: list[dict[str, int]] = field(default_factory=list)  # in the model's attribute names
    rejects: list[Reject] = field(default_factory=list)

    def sources(self) -> list[Source]:
        return [Source(self.shard, k, lab) for k, lab in zip(self.keys, self.labels, strict=True)]

    def to_json(self, attributes: Sequence[str], fingerprint: dict) -> dict:
        rows = [[lab[n] for n in attributes] for lab in self.labels]
        return {"shard": self.shard, **fingerprint, "attributes": list(attributes), "keys": self.keys,
                "labels": rows, "rejects": [r.model_dump() for r in self.rejects]}

    @classmethod
    def from_json(cls, data: dict) -> ShardLabels:
        names = data["attributes"]
        labels = [dict(zip(names, row, strict=True)) for row in data["labels"]]
        return cls(data["shard"], data["keys"], labels, [Reject(**r) for r in data["rejects"]])


def map_labels(raw: Mapping[str, int], attribute_map: Mapping[str, str],
               attributes: Sequence[str]) -> tuple[dict[str, int], list[str]]:
    """The model's labels from a sample's (renamed through `attribute_map`); and the names missing."""
    renamed = {attribute_map.get(name, name): value for name, value in raw.items()}
    labels = {name: renamed[name] for name in attributes if name in renamed}
    return labels, [name for name in attributes if name not in labels]


def read_given_labels(shard: str, layout: InputLayout, attribute_map: Mapping[str, str],
                      attributes: Sequence[str]) -> ShardLabels:
    """Labels as stored in the shard; a sample lacking one of the model's attributes is rejected."""
    reader = DatasetReader([shard], layout=layout)
    result = ShardLabels(shard)
    for sample in reader.read_shard(shard):
        labels, missing = map_labels(sample.attributes, attribute_map, attributes)
        if missing:
            result.rejects.append(Reject(shard=shard, key=sample.key, reason=(
                f"no label for {missing[:4]}{'...' if len(missing) > 4 else ''}; map the data's names with "
                "input.attribute_map, or let the model label the faces with input.labels: predict")))
            continue
        result.keys.append(sample.key)
        result.labels.append(labels)
    result.rejects += [Reject(shard=f.shard, key=f.key, reason=f.reason) for f in reader.failures]
    return result


def predict_labels(translator, shard: str, layout: InputLayout, batch_size: int) -> ShardLabels:
    """Labels from the model's attribute head, for unlabelled data (runs where the model is)."""
    reader = DatasetReader([shard], layout=layout, decode=True, size=translator.config.image_size)
    result = ShardLabels(shard)
    keys: list[str] = []
    pixels: list[np.ndarray] = []

    def flush() -> None:
        predicted = translator.predict_labels(to_tensor(np.stack(pixels)))  # [B, N] in {0, 1}
        for key, row in zip(keys, predicted.to(torch.int64).tolist(), strict=True):
            result.keys.append(key)
            result.labels.append(dict(zip(translator.attributes, row, strict=True)))
        keys.clear()
        pixels.clear()

    for sample in reader.read_shard(shard):
        keys.append(sample.key)
        pixels.append(sample.pixels)
        if len(keys) == batch_size:
            flush()
    if keys:
        flush()
    result.rejects += [Reject(shard=f.shard, key=f.key, reason=f.reason) for f in reader.failures]
    return result


def cache_name(shard_id: str) -> str:
    return posixpath.join(LABELS_DIR, f"{shard_id}.json")


def load_cached(output: str, shard_id: str, fingerprint: dict) -> ShardLabels | None:
    """The cached label pass of a shard, if it was made from the same file the same way."""
    data = read_json(posixpath.join(output, LABELS_DIR), f"{shard_id}.json")
    if data is None or any(data.get(k) != v for k, v in fingerprint.items()):
        return None
    return ShardLabels.from_json(data)


def save_cached(output: str, shard_id: str, labels: ShardLabels, attributes: Sequence[str],
                fingerprint: dict) -> None:
    write_json_atomic(posixpath.join(output, LABELS_DIR), f"{shard_id}.json",
                      labels.to_json(attributes, fingerprint))
