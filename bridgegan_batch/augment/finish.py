"""The end of a run: dataset.json over every finished shard, rejects.jsonl, the error rate and the report."""

from __future__ import annotations

from collections.abc import Callable

from bridgegan_batch import __version__
from bridgegan_batch.augment import report
from bridgegan_batch.augment.labels import ShardLabels
from bridgegan_batch.augment.layout import (
    MANIFEST,
    REJECTS,
    Reject,
    local_path,
    read_stats,
    remove_partial,
    write_json_atomic,
    write_text_atomic,
)
from bridgegan_batch.augment.manifest import Manifest
from bridgegan_batch.augment.run_context import MAX_TRIES, RunContext, RunResult
from bridgegan_batch.data.dataset_info import DATASET_FILE, DatasetInfo, ShardEntry


def finish_output(run: RunContext, manifest: Manifest, labels: dict[str, ShardLabels], result: RunResult) -> None:
    """dataset.json over every finished shard, rejects.jsonl, and the error rate."""
    output, job = run.output, run.job
    entries: list[ShardEntry] = []
    rejects: dict[tuple, Reject] = {}
    for shard_labels in labels.values():
        for r in shard_labels.rejects:
            rejects[(r.shard, r.key)] = r
    unfinished = []
    for shard in manifest.inputs:
        stats = read_stats(output, shard.shard_id)
        if stats is None:  # unfinished or failed: no part of it may look like output
            unfinished.append(shard.shard_id)
            continue
        entries += [ShardEntry(name=o.name, samples=o.samples, sha256=o.sha256) for o in stats.outputs]
        for r in stats.rejects:
            rejects[(r.shard, r.key)] = r
    remove_partial(output, unfinished)
    # A reject without a key is a shard that could not be read whole: how many samples it lost is
    # unknown, so it is reported on its own and makes the run exit 1 whatever the error rate.
    result.shards_damaged = sorted((shard, r.reason) for (shard, key), r in rejects.items()
                                   if key is None and shard in labels)
    lost = 0  # a failed shard loses all its samples, though rejects.jsonl has one line for it
    for path, error in result.shards_failed:
        rejects[(path, None)] = Reject(shard=path, key=None, reason=f"shard failed {MAX_TRIES} times: {error}")
        lost += max(0, len(labels[path].keys) - 1)
    # A key rejected twice (an image-only first group of a split key, then the split) is one sample.
    result.input_samples = sum(len(labels[p].keys) + len({r.key for r in labels[p].rejects}) for p in labels)
    result.rejects = len(rejects) + lost
    info = DatasetInfo(name=job.name, attributes=run.model.attributes, format=job.output.format,
                       image_format=job.output.image.format if not job.output.include_originals else None,
                       samples=sum(e.samples for e in entries), shards=tuple(sorted(entries, key=lambda e: e.name)),
                       created_by=f"bridgegan-batch {__version__}", extra={"job": job.name, "manifest": MANIFEST})
    write_json_atomic(output, DATASET_FILE, info.model_dump(mode="json"))
    lines = "".join(r.model_dump_json() + "\n" for _, r in sorted(rejects.items(), key=lambda kv: str(kv[0])))
    write_text_atomic(output, REJECTS, lines)


def write_report(output: str, echo: Callable[[str], None]) -> None:
    """report.html and its figures, for a local output."""
    if local_path(output) is None:
        echo("report: skipped for a remote output (report.html is written for local outputs)")
        return
    report.write_report(output)
