"""Training batches: SynthFaces rendered on the fly, or faces streamed from shards, in background workers.

A synth batch is a pure function of (seed, batch index), so a resumed run sees exactly the
batches an uninterrupted one would. Shard batches come through the project's reader with a
shuffle buffer, one shard subset per worker, rare attributes oversampled when the config asks.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from bridgegan_batch.config import SynthConfig
from bridgegan_batch.data.arrays import SYNTH, synth_batch
from bridgegan_batch.data.reader import DatasetReader
from bridgegan_batch.errors import ConfigError, DataError

# The base-rate estimate starts from this many pseudo-faces at the target rate (no repeats until faces are counted).
PSEUDO_FACES = 10
# At most this many copies of one face: a nearly absent attribute must not fill the shuffle buffer with one face
# (its rate is then not reached). A hat on 4.8 % of faces needs 8.5 copies to reach 30 %.
MAX_COPIES = 20


def _workers_share() -> tuple[int, int]:
    info = get_worker_info()
    return (0, 1) if info is None else (info.id, info.num_workers)


class SynthBatches(IterableDataset):
    """Batch i = faces [i*B, (i+1)*B) of stream `seed`. From local batch `start` on, a rank of
    `world` data-parallel ranks reads global batches i*world + rank."""

    def __init__(self, *, seed: int, batch_size: int, size: int, attributes: Sequence[str],
                 config: SynthConfig, start: int = 0, rank: int = 0, world: int = 1):
        self.seed, self.batch_size, self.size = seed, batch_size, size
        self.attributes, self.config, self.start = tuple(attributes), config, start
        self.rank, self.world = rank, world

    def batch(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """([B, H, W, 3] uint8, [B, N] float32 labels) for batch `index`."""
        return synth_batch(index, seed=self.seed, batch_size=self.batch_size, size=self.size,
                           attributes=self.attributes, config=self.config)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        worker, workers = _workers_share()
        index = self.start + worker  # DataLoader takes workers round-robin: batches stay in order
        while True:
            images, labels = self.batch(index * self.world + self.rank)
            yield torch.from_numpy(images), torch.from_numpy(labels)
            index += workers


class Oversampler:
    """Repeats the faces that carry a rare attribute, so that its share of the stream is at least its rate.

    With base rate p (counted as faces go by) and rate r, each face carrying the attribute is yielded
    k = r(1 - p) / (p(1 - r)) times in expectation (whole copies, plus one with the fraction's probability):
    then it is on kp / (kp + 1 - p) = r of the stream. A face with two rare attributes takes the larger k;
    an attribute already at its rate is left alone.
    """

    def __init__(self, attributes: Sequence[str], rates: Mapping[str, float], rng: random.Random):
        self.columns = [tuple(attributes).index(name) for name in rates]
        self.rates = np.array(list(rates.values()), np.float64)
        self.carried = np.zeros(len(self.rates))  # faces seen with each attribute
        self.seen = 0
        self.rng = rng

    def copies(self, labels: np.ndarray) -> int:
        """How many times to yield the face with these labels ([N] in {0, 1})."""
        carries = labels[self.columns] > 0.5
        self.seen += 1
        self.carried += carries
        if not carries.any():
            return 1
        p = (self.carried + PSEUDO_FACES * self.rates) / (self.seen + PSEUDO_FACES)
        factors = self.rates * (1 - p) / (p * (1 - self.rates))
        factor = min(MAX_COPIES, max(1.0, float(factors[carries].max())))
        whole = int(factor)
        return whole + int(self.rng.random() < factor - whole)

    def stream(self, items: Iterator[tuple[np.ndarray, np.ndarray]]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for item in items:
            for _ in range(self.copies(item[1])):
                yield item


class ShardBatches(IterableDataset):
    """Endless shuffled batches of decoded, fully labelled faces from shard patterns.

    Unlike SynthBatches, a resumed run does not see the batches an uninterrupted one would: the
    stream restarts, shuffled with a seed that includes the resume step.
    """

    def __init__(self, patterns: str | Sequence[str], *, batch_size: int, size: int,
                 attributes: Sequence[str], shuffle_buffer: int, seed: int, rank: int = 0, world: int = 1,
                 oversample: Mapping[str, float] | None = None):
        self.patterns, self.batch_size, self.size = patterns, batch_size, size
        self.attributes, self.shuffle_buffer, self.seed = tuple(attributes), shuffle_buffer, seed
        self.rank, self.world, self.oversample = rank, world, dict(oversample or {})
        shards = DatasetReader(patterns).shards  # fail now, in the main process, on a bad pattern
        if not shards:
            raise DataError(f"{patterns}: no shards")

    def _samples(self, rng: random.Random) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        reader = DatasetReader(self.patterns, decode=True, size=self.size)
        worker, workers = _workers_share()
        reader_id, readers = self.rank * workers + worker, self.world * workers
        # Whole shards per reader when there are enough; else every reader reads every shard and
        # keeps every `readers`-th sample, so no sample is read twice in an epoch.
        by_shard = len(reader.shards) >= readers
        mine = reader.shards[reader_id::readers] if by_shard else reader.shards
        while True:
            order = list(mine)
            rng.shuffle(order)
            yielded = 0
            for shard in order:
                for i, sample in enumerate(reader.read_shard(shard)):
                    if not by_shard and i % readers != reader_id:
                        continue
                    if all(a in sample.attributes for a in self.attributes):
                        yielded += 1
                        yield sample.pixels, np.array([sample.attributes[a] for a in self.attributes], np.float32)
            if yielded == 0:
                raise DataError(f"{self.patterns}: no sample is labelled for all of {list(self.attributes)}")
            reader.failures.clear()  # reported once per epoch, by the reader's log

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        worker, workers = _workers_share()
        rng = random.Random(self.seed * 1000 + self.rank * workers + worker)
        buffer: list[tuple[np.ndarray, np.ndarray]] = []
        batch: list[tuple[np.ndarray, np.ndarray]] = []
        items = self._samples(rng)
        if self.oversample:
            items = Oversampler(self.attributes, self.oversample, rng).stream(items)
        for item in items:
            if len(buffer) < self.shuffle_buffer:
                buffer.append(item)
                continue
            j = rng.randrange(len(buffer))
            buffer[j], item = item, buffer[j]
            batch.append(item)
            if len(batch) == self.batch_size:
                images, labels = zip(*batch, strict=True)
                yield torch.from_numpy(np.stack(images)), torch.from_numpy(np.stack(labels))
                batch = []


def check_oversample(data: str | Sequence[str], oversample: Mapping[str, float] | None) -> None:
    """ConfigError for train.oversample on SynthFaces data, which renders each attribute at its prior."""
    if data == SYNTH and oversample:
        raise ConfigError(f"train.oversample {dict(oversample)} repeats faces read from shards; SynthFaces "
                          "renders each attribute at its rate: set train.synth.priors instead")


def batches(data: str | Sequence[str], *, batch_size: int, size: int, attributes: Sequence[str],
            seed: int, synth: SynthConfig, shuffle_buffer: int, workers: int, start: int = 0, rank: int = 0,
            world: int = 1, oversample: Mapping[str, float] | None = None) -> Iterator:
    """An endless iterator of (uint8 images [B,H,W,3], labels [B,N]) from `data` ('synth' or patterns)."""
    check_oversample(data, oversample)
    if data == SYNTH:
        dataset: IterableDataset = SynthBatches(seed=seed, batch_size=batch_size, size=size,
                                                attributes=attributes, config=synth, start=start, rank=rank,
                                                world=world)
    else:
        dataset = ShardBatches(data, batch_size=batch_size, size=size, attributes=attributes,
                               shuffle_buffer=shuffle_buffer, seed=seed + start, rank=rank, world=world,
                               oversample=oversample)
    loader = DataLoader(dataset, batch_size=None, num_workers=workers,
                        prefetch_factor=4 if workers else None, persistent_workers=False)
    return iter(loader)
