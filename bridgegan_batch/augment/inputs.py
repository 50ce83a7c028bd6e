"""The job's inputs before planning: demo data on first use, the shard list, labels, reference images."""

from __future__ import annotations

import os
import posixpath
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

from bridgegan_batch.augment.labels import ShardLabels, load_cached, read_given_labels, save_cached
from bridgegan_batch.augment.layout import shard_id
from bridgegan_batch.augment.manifest import InputShard
from bridgegan_batch.augment.spec import JobSpec
from bridgegan_batch.augment.worker import reference_id
from bridgegan_batch.data.dataset_info import complete_dataset
from bridgegan_batch.data.parquet_samples import ParquetColumns
from bridgegan_batch.data.paths import filesystem, is_shard, resolve_shards
from bridgegan_batch.data.reader import DatasetReader, InputLayout
from bridgegan_batch.errors import DataError

LABEL_THREADS = 4  # the label pass is I/O: reading tars and Parquet files without decoding


def input_layout(job: JobSpec) -> InputLayout:
    """How the job's input shards are read: their format, Parquet columns and label encoding."""
    spec = job.input
    return InputLayout(format=None if spec.format == "auto" else spec.format,
                       columns=ParquetColumns(image=spec.image_column, key=spec.key_column),
                       label_encoding=spec.label_encoding)


def render_demo_input(job: JobSpec, echo: Callable[[str], None]) -> None:
    """Render the job's SynthFaces input (input.synth) into input.uri, unless it is there whole (its
    dataset.json written, every shard's sha256 as recorded). A render stopped part way is done again:
    it is deterministic, so the second gives the same faces."""
    synth = job.input.synth
    if synth is None:
        return
    directory = job.input.uri[0]
    if complete_dataset(directory) is not None:
        return
    from bridgegan_batch.data.parallel import default_workers
    from bridgegan_batch.data.synth_dataset import write_synth_dataset

    fs, path = filesystem(directory)
    partial = fs.isdir(path) and any(is_shard(p) for p in fs.ls(path, detail=False))
    why = "again: the last render did not finish" if partial else "(first use)"
    echo(f"rendering the demo input: {synth.samples} SynthFaces at {synth.size} px into {directory} {why}")
    write_synth_dataset(directory, n=synth.samples, size=synth.size, seed=synth.seed, shard_size=synth.shard_size,
                        format=job.input.format if job.input.format != "auto" else "wds",
                        workers=default_workers(), overwrite=True)  # whatever is there is not the whole


def planned_demo_input(job: JobSpec, attributes: Sequence[str]
                       ) -> tuple[list[InputShard], dict[str, ShardLabels]] | None:
    """The demo input's shards and labels before it is rendered (for --dry-run and validate, which
    write nothing): the labels come straight from the SynthFaces records. None if it exists already."""
    synth = job.input.synth
    if synth is None or complete_dataset(job.input.uri[0]) is not None:
        return None
    fs, path = filesystem(job.input.uri[0])
    from bridgegan_batch.data.synth_dataset import synth_key
    from bridgegan_batch.data.synthfaces import sample_record
    from bridgegan_batch.data.writer import shard_name

    fmt = job.input.format if job.input.format != "auto" else "wds"
    inputs, labels = [], {}
    for index, start in enumerate(range(0, synth.samples, synth.shard_size)):
        shard = posixpath.join(os.path.abspath(path) if "://" not in job.input.uri[0] else job.input.uri[0],
                               shard_name("shard", index, fmt))
        inputs.append(InputShard(path=shard, shard_id=shard_id(shard)))
        keys = [synth_key(synth.seed, i) for i in range(start, min(start + synth.shard_size, synth.samples))]
        records = [sample_record(synth.seed, i).attributes for i in range(start, start + len(keys))]
        labels[shard] = ShardLabels(shard, keys, [{a: r[a] for a in attributes} for r in records])
    return inputs, labels


def describe_inputs(patterns: Sequence[str]) -> list[InputShard]:
    """The input shards with their size and mtime (what tells a rerun that a shard changed)."""
    shards = []
    for path in resolve_shards(list(patterns)):
        fs, p = filesystem(path)
        info = fs.info(p)
        mtime = info.get("mtime", info.get("LastModified"))
        shards.append(InputShard(path=path, shard_id=shard_id(path), size=info.get("size"),
                                 mtime=float(mtime.timestamp()) if hasattr(mtime, "timestamp") else mtime))
    return shards


def label_fingerprint(job: JobSpec, shard: InputShard) -> dict:
    spec = job.input
    return {"size": shard.size, "mtime": shard.mtime, "mode": spec.labels,
            "attribute_map": dict(sorted(spec.attribute_map.items())),
            "layout": [spec.image_column, spec.key_column, spec.label_encoding]}


def label_pass(job: JobSpec, shards: Sequence[InputShard], attributes: Sequence[str], output: str | None,
               predict: Callable[[list[str]], list[ShardLabels]] | None = None
               ) -> tuple[dict[str, ShardLabels], list[str]]:
    """Labels of every shard: from the cache in `output` when the shard is unchanged, else read (or
    predicted by `predict`, for `labels: predict`). Also returns the shards that were not cached."""
    found: dict[str, ShardLabels] = {}
    todo = []
    for shard in shards:
        cached = load_cached(output, shard.shard_id, label_fingerprint(job, shard)) if output else None
        if cached is not None:
            found[shard.path] = cached
        else:
            todo.append(shard)
    if job.input.labels == "predict":
        if predict is None:
            raise ValueError("labels: predict needs a predictor")
        fresh = predict([s.path for s in todo])
    else:
        layout = input_layout(job)
        with ThreadPoolExecutor(LABEL_THREADS) as pool:
            fresh = list(pool.map(lambda s: read_given_labels(s.path, layout, job.input.attribute_map, attributes),
                                  todo))
    for shard, labels in zip(todo, fresh, strict=True):
        found[shard.path] = labels
    _check_unique_keys(found)
    return found, [s.path for s in todo]


def _check_unique_keys(labels: dict[str, ShardLabels]) -> None:
    """Output keys and noise seeds derive from the source key, so keys must be unique across shards."""
    seen: dict[str, str] = {}
    for shard, shard_labels in labels.items():
        for key in shard_labels.keys:
            other = seen.setdefault(key, shard)
            if other != shard:
                raise DataError(f"key {key!r} is in two input shards, {other} and {shard}; keys must be unique "
                                "across the job's input")


def save_label_cache(job: JobSpec, shards: Sequence[InputShard], labels: dict[str, ShardLabels],
                     attributes: Sequence[str], output: str) -> None:
    for shard in shards:
        save_cached(output, shard.shard_id, labels[shard.path], attributes, label_fingerprint(job, shard))


def read_reference_images(wanted: Iterable[tuple[str, str]], layout: InputLayout) -> dict[str, bytes]:
    """The image bytes of each (shard, key) wanted as a reference, read once per shard."""
    by_shard: dict[str, set[str]] = defaultdict(set)
    for shard, key in wanted:
        by_shard[shard].add(key)

    def read(shard: str) -> dict[str, bytes]:
        keys = by_shard[shard]
        reader = DatasetReader([shard], layout=layout)
        got = {reference_id(shard, s.key): s.image for s in reader.read_shard(shard) if s.key in keys}
        missing = keys - {k.split("\x1f", 1)[1] for k in got}
        if missing:
            raise DataError(f"{shard}: reference images {sorted(missing)[:5]} could not be read "
                            f"({'; '.join(str(f) for f in reader.failures[:3]) or 'not in the shard'})")
        return got

    images: dict[str, bytes] = {}
    with ThreadPoolExecutor(LABEL_THREADS) as pool:
        for part in pool.map(read, sorted(by_shard)):
            images.update(part)
    return images
