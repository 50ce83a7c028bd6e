"""The output directory's guard: whose output it is, whether its inputs changed, and what a stopped run leaves."""

from __future__ import annotations

import contextlib
import errno

from bridgegan_batch import __version__
from bridgegan_batch.augment.layout import MANIFEST, read_stats, remove_partial
from bridgegan_batch.augment.manifest import InputShard, Manifest
from bridgegan_batch.augment.run_context import RunContext
from bridgegan_batch.data.dataset_info import DATASET_FILE
from bridgegan_batch.data.paths import filesystem, is_shard
from bridgegan_batch.errors import ConfigError, DataError

# Errors of the output itself, not of one shard: a run meeting one stops rather than retry every shard.
OUTPUT_UNWRITABLE = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT})


def check_output(output: str, manifest: Manifest | None, job_sha: str, model_sha: str, force: bool) -> None:
    """Refuse an output made by another job or model (unless --force), or one we did not make."""
    fs, root = filesystem(output)
    if manifest is None:
        if fs.exists(root) and any(is_shard(p) or p.endswith("/" + DATASET_FILE) for p in fs.ls(root, detail=False)):
            raise DataError(f"output {output!r} holds shards that no bridgegan-batch run made; choose a new output")
        return
    changed = [what for what, old, new in (("job spec", manifest.job_sha256, job_sha),
                                           ("model", manifest.model_sha256, model_sha)) if old != new]
    if changed and not force:
        raise ConfigError(f"output {output!r} was made with another {' and '.join(changed)}; rerun with --force "
                          "to replace it, or choose a new output.uri")


def clear_output(output: str) -> None:
    """--force: drop everything an earlier run wrote (shards, stats, plan, labels, manifest, report)."""
    fs, root = filesystem(output)
    if fs.exists(root):
        for path in fs.ls(root, detail=False):
            name = path.rsplit("/", 1)[-1]
            if not (name.startswith(".lock") or name.startswith("..lock.tmp-")):  # the lock, its heartbeat's temps
                fs.rm(path, recursive=True)


def output_unwritable(error: BaseException) -> bool:
    """A full or read-only output: every shard would fail alike, so the run stops instead of retrying."""
    return isinstance(error, OSError) and error.errno in OUTPUT_UNWRITABLE


def remove_unfinished(output: str, manifest: Manifest) -> None:
    """A stopped run's unfinished shards: their parts go, so nothing unfinished looks like output."""
    remove_partial(output, [s.shard_id for s in manifest.inputs if read_stats(output, s.shard_id) is None])


@contextlib.contextmanager
def io_errors(output: str):
    """A full or read-only disk, or a lost mount, as one clear line naming the file (not a traceback)."""
    try:
        yield
    except OSError as exc:
        raise DataError(f"{exc.filename or output}: {exc.strerror or exc}; the run stopped, leaving no partial "
                        f"shard under a final name in {output!r}: free space or fix the output, then rerun") from exc


def load_manifest(output: str) -> Manifest | None:
    try:
        return Manifest.load(output)
    except (ValueError, KeyError) as exc:  # pydantic's ValidationError is a ValueError
        raise DataError(f"{output}/{MANIFEST} is not a manifest this version can read ({str(exc)[:300]}); "
                        "choose a new output.uri") from exc


def check_unchanged(manifest: Manifest | None, inputs: list[InputShard]) -> None:
    """Refuse input shards rewritten since an earlier run planned them: their plan no longer fits."""
    if manifest is None:
        return
    current = {s.path: s for s in inputs}
    for known in manifest.inputs:
        now_ = current.get(known.path)
        if now_ is not None and (now_.size, now_.mtime) != (known.size, known.mtime):
            raise DataError(f"input shard {known.path} changed since an earlier run planned it (size/mtime); "
                            "restore it, write new data under a new shard name, or rerun with --force")


def update_manifest(manifest: Manifest | None, run: RunContext, inputs: list[InputShard]) -> Manifest:
    if manifest is None:
        manifest = Manifest(job_name=run.job.name, job_sha256=run.job_sha, model_path=run.model.path,
                            model_sha256=run.model.sha256, tool_version=__version__, run_id=run.run_id)
    for past in manifest.runs:
        if past.get("status") == "running":  # we hold the lock: that run's driver is gone
            past["status"] = "died"
    known = {s.path for s in manifest.inputs}
    manifest.inputs += [s for s in inputs if s.path not in known]
    manifest.tool_version = __version__
    return manifest
