"""Labelled faces as arrays: SynthFaces batches by (seed, index), or faces read from shards into memory."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np

from bridgegan_batch.config import SynthConfig
from bridgegan_batch.data.attributes import SYNTH_ATTRIBUTES
from bridgegan_batch.data.parallel import ordered_map
from bridgegan_batch.data.reader import DatasetReader
from bridgegan_batch.data.synthfaces import render, sample_record
from bridgegan_batch.errors import DataError

SYNTH = "synth"  # the `data` that renders SynthFaces instead of reading shards


def check_data(data: str | Sequence[str], attributes: Sequence[str]) -> None:
    """DataError now, before any work, if `data` cannot give faces labelled for `attributes`."""
    if data == SYNTH:
        missing = [a for a in attributes if a not in SYNTH_ATTRIBUTES]
        if missing:
            raise DataError(f"--data synth renders {list(SYNTH_ATTRIBUTES)}; {missing} are not among them: "
                            "give shard patterns labelled with them")
    else:
        DatasetReader(data)  # resolves the patterns: a DataError names one that matches nothing


def synth_batch(index: int, *, seed: int, batch_size: int, size: int, attributes: Sequence[str],
                config: SynthConfig) -> tuple[np.ndarray, np.ndarray]:
    """Faces [index*B, (index+1)*B) of stream `seed`: ([B, H, W, 3] uint8, [B, N] float32 labels)."""
    records = [sample_record(seed, index * batch_size + i, config) for i in range(batch_size)]
    images = np.stack([render(r, size) for r in records])
    labels = np.array([[r.attributes[a] for a in attributes] for r in records], np.float32)
    return images, labels


def load_arrays(data: str | Sequence[str], *, n: int, size: int, attributes: Sequence[str], seed: int = 0,
                synth: SynthConfig | None = None, workers: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Up to `n` fully labelled faces in memory: (uint8 [M, H, W, 3], float32 labels [M, N])."""
    attributes = tuple(attributes)
    check_data(data, attributes)
    if data == SYNTH:
        chunk = 250
        make = partial(synth_batch, seed=seed, batch_size=chunk, size=size, attributes=attributes,
                       config=synth or SynthConfig())
        parts = list(ordered_map(make, range(-(-n // chunk)), workers, chunksize=1))
        return np.concatenate([p[0] for p in parts])[:n], np.concatenate([p[1] for p in parts])[:n]
    images, labels = [], []
    for sample in DatasetReader(data, decode=True, size=size):
        if all(a in sample.attributes for a in attributes):
            images.append(sample.pixels)
            labels.append([sample.attributes[a] for a in attributes])
            if len(images) == n:
                break
    if not images:
        raise DataError(f"{data}: no sample is labelled for all of {list(attributes)}")
    return np.stack(images), np.array(labels, np.float32)
