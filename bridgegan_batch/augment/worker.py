"""One input shard through the model: read + decode → translate in batches → encode → output shards.

Decoding runs ahead on a thread and encoding on a small pool, so the model is rarely idle. The
outputs are written in key order after the whole shard is translated, each output shard under a
temporary name; the stats file comes last and marks the shard done. A retry starts by removing
whatever an earlier attempt left, so an attempt is all or nothing.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from bridgegan_batch.augment.layout import (
    OutputShard,
    Reject,
    ShardStats,
    part_name,
    remove_partial,
    stats_name,
    write_json_atomic,
)
from bridgegan_batch.augment.plan import Item
from bridgegan_batch.augment.provenance import (
    ImageRef,
    RunInfo,
    noise_seed,
    original_provenance,
    output_key,
    sha256,
    translation_provenance,
)
from bridgegan_batch.data.images import ImageDecodeError, decode_rgb, encode_image
from bridgegan_batch.data.parallel import background
from bridgegan_batch.data.paths import filesystem
from bridgegan_batch.data.reader import DatasetReader, InputLayout
from bridgegan_batch.data.sample import Sample
from bridgegan_batch.data.writer import WRITERS
from bridgegan_batch.model.d_scale import DScale
from bridgegan_batch.model.pixels import to_pixels, to_tensor


@dataclass(frozen=True)
class OutputOptions:
    directory: str
    format: str  # wds | parquet
    image_format: str  # png | jpg
    quality: int
    compress_level: int
    shard_size: int
    attributes: tuple[str, ...]


@dataclass(frozen=True)
class ShardTask:
    """One unit of work: an input shard, what to make of it, and which attempt this is."""

    input_shard: str
    shard_id: str
    input_layout: InputLayout
    items: tuple[Item, ...]
    originals: tuple[str, ...]  # source keys copied into the output unchanged
    labels: Mapping[str, Mapping[str, int]]  # source key -> labels, for every source named above
    attempt: int = 1


def reference_id(shard: str, key: str) -> str:
    return f"{shard}\x1f{key}"


@dataclass
class _Pending:
    item: Item
    pixels: np.ndarray  # [H, W, 3] uint8
    source: ImageRef
    source_labels: Mapping[str, int]


class _Batches:
    """Collects work per operation kind and runs a kind's batch through the model when it is full."""

    def __init__(self, translator, batch_size: int, references: Mapping[str, bytes],
                 reference_cache: dict, run: RunInfo, emit: Callable[[_Pending, np.ndarray, ImageRef | None], None]):
        self.t, self.batch_size, self.references = translator, batch_size, references
        self.cache, self.run, self.emit = reference_cache, run, emit
        self.pending: dict[str, list[_Pending]] = defaultdict(list)

    def add(self, work: _Pending) -> str | None:
        """Queue one translation; the reason if it cannot be made (an unreadable reference image)."""
        if work.item.reference is not None:
            try:
                self._reference(work.item)
            except ImageDecodeError as exc:
                return f"reference {work.item.reference[1]} ({work.item.reference[0]}): {exc}"
        queue = self.pending[work.item.kind]
        queue.append(work)
        if len(queue) >= self.batch_size:
            self._run(work.item.kind)
        return None

    def flush(self) -> None:
        for kind in list(self.pending):
            if self.pending[kind]:
                self._run(kind)

    def _reference(self, item: Item) -> tuple[np.ndarray, ImageRef]:
        shard, key = item.reference
        rid = reference_id(shard, key)
        if rid not in self.cache:
            data = self.references[rid]
            self.cache[rid] = (decode_rgb(data, self.t.config.image_size), ImageRef(shard, key, sha256(data)))
        return self.cache[rid]

    def _run(self, kind: str) -> None:
        works, self.pending[kind] = self.pending[kind], []
        names = self.t.attributes
        x = to_tensor(np.stack([w.pixels for w in works]))  # [B, 3, H, W]
        src = torch.tensor([[w.source_labels[n] for n in names] for w in works], dtype=torch.float32)  # [B, N]
        target = torch.tensor([[w.item.target[n] for n in names] for w in works], dtype=torch.float32)  # [B, N]
        refs = [self._reference(w.item) for w in works] if kind != "label" else [None] * len(works)
        if kind == "label":
            seeds = [noise_seed(self.run.job_seed, w.item) for w in works]
            out = self.t.label(x, src, target, seeds)
        else:
            ref_x = to_tensor(np.stack([r[0] for r in refs]))  # [B, 3, H, W]
            if kind == "reference":  # the target is explicit, so the reference's own labels are not needed
                out = self.t.reference(x, src, ref_x, target, target)
            else:
                seeds = [noise_seed(self.run.job_seed, w.item) for w in works]
                alpha = torch.tensor([w.item.alpha for w in works], dtype=torch.float32)  # [B]
                out = self.t.interpolate(x, src, ref_x, target, target, seeds, alpha)
        for work, pixels, ref in zip(works, to_pixels(out), refs, strict=True):
            self.emit(work, pixels, ref[1] if ref else None)


def process_shard(task: ShardTask, translator, options: OutputOptions, run: RunInfo,
                  references: Mapping[str, bytes], *, batch_size: int, encode_threads: int = 1,
                  reference_cache: dict | None = None, node_id: str = "",
                  progress: Callable[[int], None] = lambda n: None) -> ShardStats:
    """Translate one input shard and publish its output shards and stats (see module docstring)."""
    fs, root = filesystem(options.directory)
    fs.makedirs(root, exist_ok=True)
    # An earlier attempt's leftovers go. (A failed attempt's own parts stay until the driver's
    # final sweep: deleting them here could race a retry of the same shard writing the same names.)
    remove_partial(options.directory, [task.shard_id])
    reference_cache = {} if reference_cache is None else reference_cache
    start = time.perf_counter()
    by_key: dict[str, list[Item]] = defaultdict(list)
    for item in task.items:
        by_key[item.key].append(item)
    originals = set(task.originals)
    wanted = set(by_key) | originals
    outputs: dict[str, Future[Sample] | Sample] = {}
    d_scale = DScale.of(translator.d_scale)

    with ThreadPoolExecutor(max_workers=encode_threads, thread_name_prefix="encode") as pool:

        def emit(work: _Pending, pixels: np.ndarray, ref: ImageRef | None) -> None:
            item, labels = work.item, task.labels[work.item.key]
            d = {n: (item.target[n] - labels[n]) * d_scale.factor(n, item.target[n] - labels[n])
                 for n in options.attributes}
            provenance = translation_provenance(item, work.source, dict(labels), d, ref, translator.edit, run)
            meta = {"provenance": provenance}
            outputs[output_key(item)] = pool.submit(_encode, output_key(item), pixels, dict(item.target), meta,
                                                    options)
            progress(1)

        batches = _Batches(translator, batch_size, references, reference_cache, run, emit)
        reader = DatasetReader([task.input_shard], layout=task.input_layout, decode=True,
                               size=translator.config.image_size)
        seen, failed_items = 0, []
        for sample in background(reader.read_shard(task.input_shard), depth=2 * batch_size):
            seen += 1
            if sample.key not in wanted:
                continue
            wanted.discard(sample.key)
            source, labels = ImageRef(task.input_shard, sample.key, sha256(sample.image)), task.labels[sample.key]
            if sample.key in originals:
                meta = {"provenance": original_provenance(source, dict(labels), run)}
                outputs[sample.key] = Sample(sample.key, sample.image, dict(labels), meta)
                progress(1)
            for item in by_key.get(sample.key, ()):
                problem = batches.add(_Pending(item, sample.pixels, source, labels))
                if problem:
                    failed_items.append(Reject(shard=task.input_shard, key=output_key(item), reason=problem))
        batches.flush()
        samples = {key: out.result() if isinstance(out, Future) else out for key, out in outputs.items()}

    rejects = [Reject(shard=f.shard, key=f.key, reason=f.reason) for f in reader.failures] + failed_items
    wanted -= {f.key for f in reader.failures}  # already rejected, with the reader's reason
    rejects += [Reject(shard=task.input_shard, key=key, reason="planned, but no longer in the shard "
                       "(was it rewritten since the label pass?)") for key in sorted(wanted)]
    shards = _write_parts(task.shard_id, [samples[k] for k in sorted(samples)], options)
    per_operation: dict[str, int] = defaultdict(int)
    for sample in samples.values():
        prov = sample.meta["provenance"]
        kind = prov["kind"]
        per_operation["original" if kind == "original" else f"{prov['operation_index']}:{kind}"] += 1
    stats = ShardStats(
        input_shard=task.input_shard, shard_id=task.shard_id, outputs=tuple(shards), samples_in=seen,
        planned=len(task.items) + len(task.originals), written=len(samples), per_operation=dict(per_operation),
        rejects=tuple(rejects), seconds=round(time.perf_counter() - start, 3), node_id=node_id,
        attempt=task.attempt)
    write_json_atomic(options.directory, stats_name(task.shard_id), stats)
    return stats


def _encode(key: str, pixels: np.ndarray, attributes: dict[str, int], meta: dict, options: OutputOptions) -> Sample:
    image = encode_image(pixels, options.image_format, quality=options.quality, compress_level=options.compress_level)
    return Sample(key, image, attributes, meta)


def _write_parts(sid: str, samples: list[Sample], options: OutputOptions) -> list[OutputShard]:
    shards = []
    for part, begin in enumerate(range(0, len(samples), options.shard_size)):
        writer = WRITERS[options.format](options.directory, part_name(sid, part, options.format), options.attributes)
        try:
            for sample in samples[begin: begin + options.shard_size]:
                writer.write(sample)
            entry = writer.close()
        except BaseException as exc:
            writer.abort()
            if isinstance(exc, OSError) and exc.filename is None:  # a failed write names no file: name the shard
                raise OSError(exc.errno, exc.strerror, writer.final_path) from exc
            raise
        shards.append(OutputShard(name=entry.name, samples=entry.samples, sha256=entry.sha256))
    return shards
