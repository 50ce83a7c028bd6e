"""`bridgegan-batch run`: plan in front, Ray actors in the middle, manifest and report behind.

The driver owns the output directory (its lock, manifest, plan, dataset.json, rejects and report);
the actors own the output shards and per-shard stats. A rerun reads what is done from the stats
files, so a driver killed at any point loses at most the shards that were in flight.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import yaml

from bridgegan_batch.augment.finish import finish_output, write_report
from bridgegan_batch.augment.inputs import (
    describe_inputs,
    input_layout,
    label_pass,
    planned_demo_input,
    render_demo_input,
    save_label_cache,
)
from bridgegan_batch.augment.labels import ShardLabels
from bridgegan_batch.augment.layout import PLAN, read_json, read_stats, write_json_atomic
from bridgegan_batch.augment.manifest import InputShard, Manifest, OutputLock, now
from bridgegan_batch.augment.model_file import load_model_file
from bridgegan_batch.augment.output_guard import (
    check_output,
    check_unchanged,
    clear_output,
    io_errors,
    load_manifest,
    remove_unfinished,
    update_manifest,
)
from bridgegan_batch.augment.plan import Plan, Source, make_plan
from bridgegan_batch.augment.ray_dispatch import actor_count, local_predictor, ray_predictor, translate_shards
from bridgegan_batch.augment.run_context import RunContext, RunResult, new_run_id
from bridgegan_batch.augment.spec import JobSpec, check_attribute_names, fingerprint, resolve_d_scale
from bridgegan_batch.augment.summary import plan_summary
from bridgegan_batch.augment.worker import ShardTask
from bridgegan_batch.data.paths import absolute_uri, filesystem
from bridgegan_batch.errors import DataError
from bridgegan_batch.ray_session import RaySession


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
    run = RunContext(job, job_path, model, fingerprint(job), run_id or new_run_id(), echo, progress)
    output = job.output.uri
    # A dry run plans the demo input from its records instead of rendering it: it writes nothing.
    demo = planned_demo_input(job, model.attributes) if dry_run else None
    if demo is None:
        render_demo_input(job, echo)
    inputs, labels = demo or (describe_inputs(job.input.uri), None)
    fs, root = filesystem(output)
    manifest = load_manifest(output) if fs.exists(root) else None
    check_output(output, manifest, run.job_sha, model.sha256, force)
    if not force:
        check_unchanged(manifest, inputs)

    # Labels and plan come first, so that a bad input or an impossible balance writes nothing.
    ray_session = RaySession(job.resources.address)
    reuse = manifest is not None and not force
    fresh: list[str] = []
    try:
        if labels is None:
            predictor = None
            if job.input.labels == "predict":
                predictor = local_predictor(run) if dry_run else ray_predictor(run, ray_session)
            labels, fresh = label_pass(job, inputs, model.attributes, output if reuse else None, predictor)
        plan, changed = _make_or_extend_plan(job, reuse, output, labels, [s.path for s in inputs])
        if dry_run:
            echo(yaml.safe_dump(job.model_dump(mode="json"), sort_keys=False).rstrip())
            echo(plan_summary(plan, inputs, model.path))
            return RunResult(output, plan, dry_run=True)

        pending = [s for s in inputs if s.path in plan.shards and not (reuse and read_stats(output, s.shard_id))]
        if pending:  # a resources request the cluster cannot place fails now, before any write
            ray_session.ensure()
            actor_count(job, len(pending))
        with io_errors(output), OutputLock(output, run.run_id):  # the lock makes the directory
            if load_manifest(output) != manifest:  # another run finished while we were planning
                raise DataError(f"output {output!r} changed while this run was planning; run it again")
            if force and manifest is not None:
                clear_output(output)
                manifest = None
            save_label_cache(job, [s for s in inputs if s.path in fresh or not reuse], labels, model.attributes,
                             output)
            if changed:
                write_json_atomic(output, PLAN, plan.to_json())
            manifest = update_manifest(manifest, run, inputs)
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
                    remove_unfinished(output, manifest)
                raise
            result.seconds = time.perf_counter() - t0
            manifest.runs[-1].update(ended=now(), seconds=round(result.seconds, 2),
                                     process_seconds=round(result.process_seconds, 2), actors=result.actors,
                                     status="failed" if result.shards_failed else "done")
            manifest.save(output)
            write_report(output, echo)
            return result
    finally:
        ray_session.close()


def _run_locked(run: RunContext, plan: Plan, labels: dict[str, ShardLabels], manifest: Manifest,
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
        translate_shards(run, _shard_tasks(run.job, plan, labels, todo), manifest, result)
    finish_output(run, manifest, labels, result)
    return result


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
