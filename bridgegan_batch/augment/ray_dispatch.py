"""Ray actors for a run: how many fit, what they are told, the shards handed to them, and labelling on them."""

from __future__ import annotations

import math
import time
from pathlib import Path

import ray
from tqdm import tqdm

from bridgegan_batch import __version__
from bridgegan_batch.augment.actor import ActorPool, ActorSettings, ProgressCounter, TranslatorActor, dispatch
from bridgegan_batch.augment.inputs import input_layout, read_reference_images
from bridgegan_batch.augment.labels import ShardLabels, predict_labels
from bridgegan_batch.augment.layout import ShardStats
from bridgegan_batch.augment.manifest import Manifest
from bridgegan_batch.augment.output_guard import output_unwritable
from bridgegan_batch.augment.provenance import RunInfo
from bridgegan_batch.augment.run_context import MAX_TRIES, RunContext, RunResult
from bridgegan_batch.augment.spec import JobSpec
from bridgegan_batch.augment.worker import OutputOptions, ShardTask
from bridgegan_batch.errors import ConfigError
from bridgegan_batch.ray_session import RaySession


def actor_count(job: JobSpec, pending: int) -> int:
    """How many actors to start: resources.actors, else as many as the cluster holds (locally one
    CPU is left to Ray and the driver). Refuses a request the cluster cannot place, which would
    otherwise wait forever."""
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


def actor_settings(job: JobSpec) -> ActorSettings:
    res = job.resources
    return ActorSettings(job.model.device, job.model.d_scale, job.model.edit, res.batch_size or job.model.batch_size,
                         threads=max(1, math.floor(res.cpus_per_actor)), encode_threads=1)


def translate_shards(run: RunContext, tasks: list[ShardTask], manifest: Manifest, result: RunResult) -> None:
    """Hand each task to an actor, retrying crashes; the manifest records each shard done or failed."""
    job, res, out = run.job, run.job.resources, run.job.output
    wanted = {i.reference for t in tasks for i in t.items if i.reference is not None}
    references = ray.put(read_reference_images(wanted, input_layout(job)))
    options = OutputOptions(out.uri, out.format, out.image.format, out.image.quality, out.image.compress_level,
                            out.shard_size, run.model.attributes)
    info = RunInfo(job.name, run.job_sha, job.seed, Path(run.model.path).stem, run.model.sha256, run.run_id,
                   __version__)
    settings = actor_settings(job)
    model_bytes = ray.put(run.model.data)
    remote = ray.remote(TranslatorActor).options(num_cpus=res.cpus_per_actor, num_gpus=res.gpus_per_actor,
                                                 max_restarts=0)
    size = result.actors = actor_count(job, len(tasks))
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
                 on_retry, on_tick, stops_run=output_unwritable)
        result.process_seconds = time.perf_counter() - start
        if not result.shards_failed:
            bar.update(total - bar.n)  # the last counts may still be on their way to the counter
    finally:
        bar.close()
        pool.shutdown()  # no actor may write once the lock is released
        ray.kill(counter)


def local_predictor(run: RunContext):
    """`labels: predict` without Ray (for --dry-run): the model on this machine."""

    def predict(shards: list[str]) -> list[ShardLabels]:
        translator = run.model.translator(run.job.model.d_scale)
        batch = run.job.resources.batch_size or run.job.model.batch_size
        return [predict_labels(translator, s, input_layout(run.job), batch) for s in shards]

    return predict


def ray_predictor(run: RunContext, ray_session: RaySession):
    """`labels: predict` on the actors: each labels whole shards with the model's attribute head."""

    def predict(shards: list[str]) -> list[ShardLabels]:
        if not shards:
            return []
        ray_session.ensure()
        res = run.job.resources
        remote = ray.remote(TranslatorActor).options(num_cpus=res.cpus_per_actor, num_gpus=res.gpus_per_actor)
        model_bytes = ray.put(run.model.data)
        actors = [remote.remote(model_bytes, run.model.sha256, actor_settings(run.job), None, None, {})
                  for _ in range(actor_count(run.job, len(shards)))]
        layout = input_layout(run.job)
        try:
            return ray.get([actors[i % len(actors)].predict.remote(s, layout) for i, s in enumerate(shards)])
        finally:
            for actor in actors:
                ray.kill(actor)

    return predict
