"""`bridgegan-batch run`: plan in front, Ray actors in the middle, manifest and report behind.

The driver owns the output directory (its lock, manifest, plan, dataset.json, rejects and report);
the actors own the output shards and per-shard stats. A rerun reads what is done from the stats
files, so a driver killed at any point loses at most the shards that were in flight.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import math
import os
import secrets
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml
from tqdm import tqdm

from bridgegan_batch import __version__
from bridgegan_batch.augment.actor import ActorSettings
from bridgegan_batch.augment.inputs import (
    describe_inputs,
    input_layout,
    label_pass,
    planned_demo_input,
    read_reference_images,
    render_demo_input,
    save_label_cache,
)
from bridgegan_batch.augment.labels import ShardLabels
from bridgegan_batch.augment.layout import (
    MANIFEST,
    PLAN,
    REJECTS,
    Reject,
    ShardStats,
    local_path,
    read_json,
    read_stats,
    remove_partial,
    write_json_atomic,
    write_text_atomic,
)
from bridgegan_batch.augment.manifest import InputShard, Manifest, OutputLock, now
from bridgegan_batch.augment.plan import Plan, Source, make_plan
from bridgegan_batch.augment.provenance import RunInfo
from bridgegan_batch.augment.spec import JobSpec, check_attribute_names, fingerprint, resolve_d_scale
from bridgegan_batch.augment.worker import OutputOptions, ShardTask
from bridgegan_batch.data.dataset_info import DATASET_FILE, DatasetInfo, ShardEntry
from bridgegan_batch.data.paths import absolute_uri, filesystem, is_shard
from bridgegan_batch.errors import ConfigError, DataError
from bridgegan_batch.model.checkpoint import PICKLE_SUFFIXES, CheckpointError, parse_export
from bridgegan_batch.model.d_scale import DScale
from bridgegan_batch.model.translator import DEFAULT_MODEL, recommended_d_scale
from bridgegan_batch.ray_session import RaySession

MAX_TRIES = 3  # attempts per input shard before it is marked failed
# Errors of the output itself, not of one shard: a run meeting one stops rather than retry every shard.
OUTPUT_UNWRITABLE = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT})


@dataclass
class RunResult:
    output: str
    plan: Plan
    shards_done: int = 0
    shards_failed: list[tuple[str, str]] = field(default_factory=list)  # (input shard, error)
    # Input shards that could not be read whole (not a shard, truncated, wrong schema): what was
    # readable is used, the rest is lost, so the run exits 1 like for a failed shard.
    shards_damaged: list[tuple[str, str]] = field(default_factory=list)  # (input shard, reason)
    shards_skipped: int = 0  # finished by an earlier run
    written: Counter = field(default_factory=Counter)  # per operation, this run
    rejects: int = 0
    input_samples: int = 0
    seconds: float = 0.0  # the whole run: planning, Ray start-up, translation, finishing
    process_seconds: float = 0.0  # from the first shard handed to an actor to the last one back
    actors: int = 0
    dry_run: bool = False

    @property
    def error_rate(self) -> float:
        return self.rejects / max(1, self.input_samples)


@dataclass(frozen=True)
class ModelFile:
    path: str  # the file the job names (its stem is the model's name in provenance)
    data: bytes  # a safetensors export, read once: what is hashed is what the actors load
    sha256: str
    attributes: tuple[str, ...]
    d_scale: float | DScale  # the test-time d scale the export recommends (else the authors' 1.5)

    def translator(self, d_scale: float | DScale):
        """The model on this machine, loaded from `data` (which may not be `path`'s bytes)."""
        from bridgegan_batch.model.translator import Translator

        return Translator.from_bytes(self.data, self.path, device="cpu", d_scale=d_scale)


def _export_of_pickle(path: str) -> bytes:
    """--unsafe-load: a training resume state (.pt) as export bytes. The pickle is read with
    torch.load(weights_only=True) here in the driver; actors only ever see safetensors."""
    from bridgegan_batch.model.checkpoint import export_from_state

    with tempfile.TemporaryDirectory() as tmp:
        return export_from_state(path, Path(tmp) / "model.safetensors").read_bytes()


def load_model_file(job: JobSpec, job_path: str, *, unsafe_load: bool = False) -> ModelFile:
    """The job's model, checked: it exists, is an export (or, with unsafe_load, a resume state), and
    can label faces if the job asks it to. ConfigError names model.path otherwise."""
    path = job.model.path or str(DEFAULT_MODEL)
    if not Path(path).is_file():
        hint = " (the demo model: train it with scripts/train_demo.sh)" if job.model.path is None else ""
        raise ConfigError(f"{job_path}: model.path: {path} not found{hint}")
    if Path(path).suffix in PICKLE_SUFFIXES:
        if not unsafe_load:
            raise ConfigError(f"{job_path}: model.path: {path} is a pickle checkpoint, and loading a pickle can "
                              "run code; convert it with `bridgegan-batch export RUN_DIR --out model.safetensors`, "
                              "or pass --unsafe-load if you trust the file (a training resume state only)")
        try:
            data = _export_of_pickle(path)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:  # a pickle, but not a resume state
            raise ConfigError(f"{job_path}: model.path: {path} is not a training resume state ({exc!r})") from exc
    else:
        data = Path(path).read_bytes()
    try:
        modules, config, info = parse_export(data, path)
        d_scale = recommended_d_scale(info, path, config.attributes)
    except CheckpointError as exc:
        raise ConfigError(f"{job_path}: model.path: {exc}") from exc
    if job.input.labels == "predict" and "discriminator" not in modules:
        raise ConfigError(f"{job_path}: input.labels: predict needs a model with an attribute head; "
                          f"{path} has none")
    return ModelFile(path, data, hashlib.sha256(data).hexdigest(), tuple(config.attributes), d_scale)


def _check_output(output: str, manifest: Manifest | None, job_sha: str, model_sha: str, force: bool) -> None:
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


def _clear_output(output: str) -> None:
    """--force: drop everything an earlier run wrote (shards, stats, plan, labels, manifest, report)."""
    fs, root = filesystem(output)
    if fs.exists(root):
        for path in fs.ls(root, detail=False):
            if not path.endswith("/.lock"):
                fs.rm(path, recursive=True)


def _sources(labels: dict[str, ShardLabels], shards: list[str]) -> list[Source]:
    return [s for shard in shards for s in labels[shard].sources()]


def _make_or_extend_plan(job: JobSpec, output_exists: bool, output: str, labels: dict[str, ShardLabels],
                         shards: list[str]) -> tuple[Plan, bool]:
    """The saved plan, extended to shards it does not cover yet (the nightly case); or a new plan."""
    saved = read_json(output, PLAN) if output_exists else None
    if saved is None:
        return make_plan(job, _sources(labels, shards)), True
    plan = Plan.from_json(saved)
    new = [s for s in shards if s not in plan.shards]
    if not new:
        return plan, False
    old = [s for s in plan.shards if s in labels]
    everything = _sources(labels, old + new)
    return make_plan(job, _sources(labels, new), everything, previous=plan,
                     previous_sources=_sources(labels, old)), True


def _shard_tasks(job: JobSpec, plan: Plan, labels: dict[str, ShardLabels], todo: list[InputShard]) -> list[ShardTask]:
    by_shard = plan.items_by_shard()
    tasks = []
    for shard in todo:
        items = tuple(by_shard.get(shard.path, ()))
        known = labels[shard.path]
        originals = tuple(known.keys) if job.output.include_originals else ()
        needed = {i.key for i in items} | set(originals)
        source_labels = {k: lab for k, lab in zip(known.keys, known.labels, strict=True) if k in needed}
        tasks.append(ShardTask(shard.path, shard.shard_id, input_layout(job), items, originals, source_labels))
    return tasks


def _actor_count(job: JobSpec, pending: int) -> int:
    """How many actors to start: resources.actors, else as many as the cluster holds (locally one
    CPU is left to Ray and the driver). Refuses a request the cluster cannot place, which would
    otherwise wait forever."""
    import ray

    res, total = job.resources, ray.cluster_resources()
    cpus, gpus = total.get("CPU", 0.0), total.get("GPU", 0.0)
    fits = int(cpus // res.cpus_per_actor)
    if res.gpus_per_actor > 0:
        fits = min(fits, int(gpus // res.gpus_per_actor))
    if fits == 0:
        raise ConfigError(f"resources: the Ray cluster ({cpus:g} CPUs, {gpus:g} GPUs) cannot place one actor of "
                          f"cpus_per_actor {res.cpus_per_actor:g} and gpus_per_actor {res.gpus_per_actor:g}")
    if res.actors is not None:
        if res.actors > fits:
            raise ConfigError(f"resources.actors: {res.actors} actors do not fit the Ray cluster ({cpus:g} CPUs, "
                              f"{gpus:g} GPUs) at cpus_per_actor {res.cpus_per_actor:g}, gpus_per_actor "
                              f"{res.gpus_per_actor:g}; at most {fits}")
        return max(1, min(res.actors, pending))
    if res.gpus_per_actor == 0:
        fits = max(1, int(max(1.0, cpus - 1) // res.cpus_per_actor))
    return max(1, min(fits, pending))


def _actor_settings(job: JobSpec) -> ActorSettings:
    res = job.resources
    return ActorSettings(job.model.device, job.model.d_scale, job.model.edit, res.batch_size or job.model.batch_size,
                         threads=max(1, math.floor(res.cpus_per_actor)), encode_threads=1,
                         fault=os.environ.get("BRIDGEGAN_BATCH_FAULT", ""))


@dataclass
class _Run:
    """What every step of one invocation needs."""

    job: JobSpec
    job_path: str
    model: ModelFile
    job_sha: str
    run_id: str
    echo: Callable[[str], None]
    progress: bool

    @property
    def output(self) -> str:
        return self.job.output.uri


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)


def run_job(job: JobSpec, job_path: str, *, force: bool = False, dry_run: bool = False,
            echo: Callable[[str], None] = print, progress: bool = True, unsafe_load: bool = False,
            run_id: str | None = None) -> RunResult:
    """Run (or, with dry_run, only plan and print) a validated job. See the module docstring.

    `run_id` (default: time + random) is in every sample's provenance, so two runs of one job
    differ in their shards' bytes by it alone; pin it to reproduce a run byte for byte.
    """
    started, t0 = now(), time.perf_counter()
    model = load_model_file(job, job_path, unsafe_load=unsafe_load)
    check_attribute_names(job, model.attributes)
    job = resolve_d_scale(job, model.d_scale)
    job = job.model_copy(update={"output": job.output.model_copy(update={"uri": absolute_uri(job.output.uri)})})
    run = _Run(job, job_path, model, fingerprint(job), run_id or new_run_id(), echo, progress)
    output = job.output.uri
    # A dry run plans the demo input from its records instead of rendering it: it writes nothing.
    demo = planned_demo_input(job, model.attributes) if dry_run else None
    if demo is None:
        render_demo_input(job, echo)
    inputs, labels = demo or (describe_inputs(job.input.uri), None)
    fs, root = filesystem(output)
    manifest = _load_manifest(output) if fs.exists(root) else None
    _check_output(output, manifest, run.job_sha, model.sha256, force)
    if not force:
        _check_unchanged(manifest, inputs)

    # Labels and plan come first, so that a bad input or an impossible balance writes nothing.
    ray_session = RaySession(job.resources.address)
    reuse = manifest is not None and not force
    fresh: list[str] = []
    try:
        if labels is None:
            predictor = None
            if job.input.labels == "predict":
                predictor = _local_predictor(run) if dry_run else _ray_predictor(run, ray_session)
            labels, fresh = label_pass(job, inputs, model.attributes, output if reuse else None, predictor)
        plan, changed = _make_or_extend_plan(job, reuse, output, labels, [s.path for s in inputs])
        if dry_run:
            echo(yaml.safe_dump(job.model_dump(mode="json"), sort_keys=False).rstrip())
            echo(_plan_summary(plan, inputs, model.path))
            return RunResult(output, plan, dry_run=True)

        pending = [s for s in inputs if s.path in plan.shards and not (reuse and read_stats(output, s.shard_id))]
        if pending:  # a resources request the cluster cannot place fails now, before any write
            ray_session.ensure()
            _actor_count(job, len(pending))
        with _io_errors(output), OutputLock(output, run.run_id):  # the lock makes the directory
            if _load_manifest(output) != manifest:  # another run finished while we were planning
                raise DataError(f"output {output!r} changed while this run was planning; run it again")
            if force and manifest is not None:
                _clear_output(output)
                manifest = None
            save_label_cache(job, [s for s in inputs if s.path in fresh or not reuse], labels, model.attributes,
                             output)
            if changed:
                write_json_atomic(output, PLAN, plan.to_json())
            manifest = _update_manifest(manifest, run, inputs)
            manifest.runs.append({"run_id": run.run_id, "started": started, "status": "running"})
            manifest.save(output)
            try:
                result = _run_locked(run, plan, labels, manifest, ray_session)
            except BaseException as exc:
                manifest.runs[-1].update(ended=now(), status="failed" if isinstance(exc, Exception) else "interrupted",
                                         error=str(exc)[:500])
                with contextlib.suppress(OSError):  # a full disk must not hide the error that stopped the run
                    manifest.save(output)
                with contextlib.suppress(OSError):
                    _remove_unfinished(output, manifest)
                raise
            result.seconds = time.perf_counter() - t0
            manifest.runs[-1].update(ended=now(), seconds=round(result.seconds, 2),
                                     process_seconds=round(result.process_seconds, 2), actors=result.actors,
                                     status="failed" if result.shards_failed else "done")
            manifest.save(output)
            _write_report(output, echo)
            return result
    finally:
        ray_session.close()


def _output_unwritable(error: BaseException) -> bool:
    """A full or read-only output: every shard would fail alike, so the run stops instead of retrying."""
    return isinstance(error, OSError) and error.errno in OUTPUT_UNWRITABLE


def _remove_unfinished(output: str, manifest: Manifest) -> None:
    """A stopped run's unfinished shards: their parts go, so nothing unfinished looks like output."""
    remove_partial(output, [s.shard_id for s in manifest.inputs if read_stats(output, s.shard_id) is None])


@contextlib.contextmanager
def _io_errors(output: str):
    """A full or read-only disk, or a lost mount, as one clear line naming the file (not a traceback)."""
    try:
        yield
    except OSError as exc:
        raise DataError(f"{exc.filename or output}: {exc.strerror or exc}; the run stopped, leaving no partial "
                        f"shard under a final name in {output!r}: free space or fix the output, then rerun") from exc


def _load_manifest(output: str) -> Manifest | None:
    try:
        return Manifest.load(output)
    except (ValueError, KeyError) as exc:  # pydantic's ValidationError is a ValueError
        raise DataError(f"{output}/{MANIFEST} is not a manifest this version can read ({str(exc)[:300]}); "
                        "choose a new output.uri") from exc


def _check_unchanged(manifest: Manifest | None, inputs: list[InputShard]) -> None:
    """Refuse input shards rewritten since an earlier run planned them: their plan no longer fits."""
    if manifest is None:
        return
    current = {s.path: s for s in inputs}
    for known in manifest.inputs:
        now_ = current.get(known.path)
        if now_ is not None and (now_.size, now_.mtime) != (known.size, known.mtime):
            raise DataError(f"input shard {known.path} changed since an earlier run planned it (size/mtime); "
                            "restore it, write new data under a new shard name, or rerun with --force")


def _run_locked(run: _Run, plan: Plan, labels: dict[str, ShardLabels], manifest: Manifest,
                ray_session: RaySession) -> RunResult:
    """Process the shards the plan covers that have no stats yet, then write dataset.json and rejects."""
    output = run.output
    present = [s for s in manifest.inputs if s.path in plan.shards and s.path in labels]
    missing = [p for p in plan.shards if p not in labels]
    if missing:
        run.echo(f"warning: {len(missing)} planned input shards no longer match input.uri and are left as they are "
                 f"(e.g. {missing[0]})")
    todo = [s for s in present if read_stats(output, s.shard_id) is None]
    result = RunResult(output, plan, shards_skipped=len(present) - len(todo))
    if todo:
        ray_session.ensure()
        _process(run, plan, labels, todo, manifest, result)
    _finish(run, manifest, labels, result)
    return result


def _update_manifest(manifest: Manifest | None, run: _Run, inputs: list[InputShard]) -> Manifest:
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


def _process(run: _Run, plan: Plan, labels: dict[str, ShardLabels], todo: list[InputShard], manifest: Manifest,
             result: RunResult) -> None:
    import ray

    from bridgegan_batch.augment.actor import ActorPool, ProgressCounter, TranslatorActor, dispatch

    job, res, out = run.job, run.job.resources, run.job.output
    tasks = _shard_tasks(job, plan, labels, todo)
    wanted = {i.reference for t in tasks for i in t.items if i.reference is not None}
    references = ray.put(read_reference_images(wanted, input_layout(job)))
    options = OutputOptions(out.uri, out.format, out.image.format, out.image.quality, out.image.compress_level,
                            out.shard_size, run.model.attributes)
    info = RunInfo(job.name, run.job_sha, job.seed, Path(run.model.path).stem, run.model.sha256, run.run_id,
                   __version__)
    settings = _actor_settings(job)
    model_bytes = ray.put(run.model.data)
    remote = ray.remote(TranslatorActor).options(num_cpus=res.cpus_per_actor, num_gpus=res.gpus_per_actor,
                                                 max_restarts=0)
    size = result.actors = _actor_count(job, len(tasks))
    counter = ray.remote(ProgressCounter).options(num_cpus=0).remote()
    pool = ActorPool(lambda: remote.remote(model_bytes, run.model.sha256, settings, options, info, references,
                                           counter), size)
    total = sum(len(t.items) + len(t.originals) for t in tasks)
    gpus = f" + {res.gpus_per_actor} GPU" if res.gpus_per_actor else ""
    run.echo(f"{len(tasks)} input shards to process ({result.shards_skipped} already done), {total} output samples, "
             f"{size} actors × {res.cpus_per_actor} CPU{gpus}")
    status = {s.path: s for s in manifest.inputs}

    def on_done(task: ShardTask, stats: ShardStats) -> None:
        entry = status[task.input_shard]
        entry.status, entry.tries, entry.error = "done", task.attempt, ""
        result.shards_done += 1
        result.written.update(stats.per_operation)
        manifest.save(out.uri)
        bar.set_postfix(shards=f"{result.shards_done}/{len(tasks)}")

    def on_failed(task: ShardTask, error: str) -> None:
        entry = status[task.input_shard]
        entry.status, entry.tries, entry.error = "failed", task.attempt, error
        result.shards_failed.append((task.input_shard, error))
        manifest.save(out.uri)

    def on_retry(task: ShardTask, error: str) -> None:
        run.echo(f"retrying {task.input_shard} (attempt {task.attempt + 1} of {MAX_TRIES}): {error}")

    def on_tick() -> None:
        try:
            made = ray.get(counter.value.remote())
        except ray.exceptions.RayActorError:  # the counter's node was lost: progress stalls, the run goes on
            return
        bar.update(min(total, made) - bar.n)  # a retried shard may count twice

    bar = tqdm(total=total, unit="img", desc="translate", disable=True)  # replaced once the actors are up
    try:
        ray.get([actor.ready.remote() for actor in pool.idle])  # models loaded: start-up ends, translation begins
        bar = tqdm(total=total, unit="img", desc="translate", disable=not run.progress, dynamic_ncols=True)
        start = time.perf_counter()
        dispatch(pool, tasks, lambda actor, task: actor.process.remote(task), MAX_TRIES, on_done, on_failed,
                 on_retry, on_tick, stops_run=_output_unwritable)
        result.process_seconds = time.perf_counter() - start
        if not result.shards_failed:
            bar.update(total - bar.n)  # the last counts may still be on their way to the counter
    finally:
        bar.close()
        pool.shutdown()  # no actor may write once the lock is released
        ray.kill(counter)


def _local_predictor(run: _Run):
    """`labels: predict` without Ray (for --dry-run): the model on this machine."""

    def predict(shards: list[str]) -> list[ShardLabels]:
        from bridgegan_batch.augment.labels import predict_labels

        translator = run.model.translator(run.job.model.d_scale)
        batch = run.job.resources.batch_size or run.job.model.batch_size
        return [predict_labels(translator, s, input_layout(run.job), batch) for s in shards]

    return predict


def _ray_predictor(run: _Run, ray_session: RaySession):
    """`labels: predict` on the actors: each labels whole shards with the model's attribute head."""

    def predict(shards: list[str]) -> list[ShardLabels]:
        if not shards:
            return []
        import ray

        from bridgegan_batch.augment.actor import TranslatorActor

        ray_session.ensure()
        res = run.job.resources
        remote = ray.remote(TranslatorActor).options(num_cpus=res.cpus_per_actor, num_gpus=res.gpus_per_actor)
        model_bytes = ray.put(run.model.data)
        actors = [remote.remote(model_bytes, run.model.sha256, _actor_settings(run.job), None, None, {})
                  for _ in range(_actor_count(run.job, len(shards)))]
        layout = input_layout(run.job)
        try:
            return ray.get([actors[i % len(actors)].predict.remote(s, layout) for i, s in enumerate(shards)])
        finally:
            for actor in actors:
                ray.kill(actor)

    return predict


def _finish(run: _Run, manifest: Manifest, labels: dict[str, ShardLabels], result: RunResult) -> None:
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


def _write_report(output: str, echo: Callable[[str], None]) -> None:
    from bridgegan_batch.augment.report import write_report

    if local_path(output) is None:
        echo("report: skipped for a remote output (report.html is written for local outputs)")
        return
    write_report(output)


def _plan_summary(plan: Plan, inputs: list[InputShard], model_path: str) -> str:
    lines = [f"model: {model_path}", f"input: {len(inputs)} shards, {plan.sources} labelled samples",
             f"output: {plan.originals} originals + {len(plan.items)} translations"]
    lines += [f"  operation {name}: {n}" for name, n in plan.counts_per_operation().items()]
    for name, counts in plan.output_counts.items():
        before, after = plan.input_counts.get(name, {}), counts
        pct = [100 * c.get("1", 0) / max(1, c.get("0", 0) + c.get("1", 0)) for c in (before, after)]
        lines.append(f"  {name}: {pct[0]:.1f} % -> {pct[1]:.1f} %")
    return "\n".join(lines)


def summary_lines(result: RunResult, job_path: str) -> list[str]:
    """The end-of-run summary the CLI prints."""
    written = sum(result.written.values())
    rate = written / result.seconds if result.seconds else 0.0
    translate = sum(n for op, n in result.written.items() if op != "original")
    lines = [f"output: {result.output}",
             f"shards: {result.shards_done} done, {result.shards_skipped} already done, "
             f"{len(result.shards_failed)} failed",
             f"written this run: {written} samples ({rate:.1f} img/s over {result.seconds:.1f} s); "
             f"{translate} translations in {result.process_seconds:.1f} s on the actors"]
    lines += [f"  {name}: {n}" for name, n in sorted(result.written.items())]
    lines.append(f"rejected input samples: {result.rejects} of {result.input_samples} "
                 f"({100 * result.error_rate:.2f} %), listed in {REJECTS}")
    for shard, error in result.shards_failed:
        lines.append(f"FAILED {shard}: {error}")
    if result.shards_failed:
        lines.append(f"rerun just the failed shards with: bridgegan-batch run {job_path} (finished ones are skipped)")
    for shard, reason in result.shards_damaged:
        lines.append(f"DAMAGED {shard}: {reason}")
    if result.shards_damaged:
        lines.append("damaged input shards were used as far as they could be read; replace them under new names "
                     "to process the rest")
    return lines
