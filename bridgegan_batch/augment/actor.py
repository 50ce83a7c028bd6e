"""Ray model actors, and the dispatcher that feeds them whole input shards and retries failures.

An actor loads the export once (its bytes come through the object store, so a worker node needs
no copy of the file) and processes one shard per call. A call that fails, because our code raised
or because the actor process died, is retried on a fresh actor up to `max_tries` times; then the
shard is marked failed and the others go on.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import ray
import torch
from ray.exceptions import RayActorError, RayTaskError

from bridgegan_batch.augment.labels import ShardLabels, predict_labels
from bridgegan_batch.augment.layout import ShardStats
from bridgegan_batch.augment.provenance import RunInfo, sha256
from bridgegan_batch.augment.worker import OutputOptions, ShardTask, process_shard
from bridgegan_batch.data.reader import InputLayout
from bridgegan_batch.model.d_scale import DScale
from bridgegan_batch.model.translator import Translator

PROGRESS_EVERY = 16  # samples between an actor's progress messages
# How long a run waits with no actor up (all lost, replacements unplaced) before failing what is left:
# long enough for an autoscaler to bring up a node.
ACTOR_START_TIMEOUT = 600.0


@dataclass(frozen=True)
class ActorSettings:
    device: str  # auto | cpu | cuda
    d_scale: float | DScale
    edit: str  # direct | residual (model/translator.py)
    batch_size: int
    threads: int  # torch threads per actor (CPU)
    encode_threads: int


class TranslatorActor:
    """Holds one Translator; `process` runs a ShardTask, `predict` labels a shard."""

    def __init__(self, model_bytes: bytes, model_sha256: str, settings: ActorSettings, options: OutputOptions,
                 run: RunInfo, references: Mapping[str, bytes], progress=None):
        if sha256(model_bytes) != model_sha256:
            raise RuntimeError("the model bytes arrived corrupted (sha256 mismatch)")
        torch.set_num_threads(settings.threads)
        device = settings.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        # On CPU, batch-invariant kernels make the output bytes independent of batching.
        self.translator = Translator.from_bytes(model_bytes, f"model {model_sha256[:12]}", device=device,
                                                d_scale=settings.d_scale, batch_invariant=device == "cpu",
                                                edit=settings.edit)
        self.settings, self.options, self.run, self.references = settings, options, run, references
        self.reference_cache: dict = {}
        self.progress = progress  # a ProgressCounter actor, told every PROGRESS_EVERY samples

    def ready(self) -> bool:
        return True

    def process(self, task: ShardTask) -> ShardStats:
        pending = [0]

        def tell(n: int) -> None:
            pending[0] += n
            if self.progress is not None and pending[0] >= PROGRESS_EVERY:
                self.progress.add.remote(pending[0])  # fire and forget
                pending[0] = 0

        stats = process_shard(task, self.translator, self.options, self.run, self.references,
                              batch_size=self.settings.batch_size, encode_threads=self.settings.encode_threads,
                              reference_cache=self.reference_cache, node_id=ray.get_runtime_context().get_node_id(),
                              progress=tell)
        if self.progress is not None and pending[0]:
            self.progress.add.remote(pending[0])
        return stats

    def predict(self, shard: str, layout: InputLayout) -> ShardLabels:
        return predict_labels(self.translator, shard, layout, self.settings.batch_size)


class ProgressCounter:
    """Samples made so far, across actors: what the driver's progress bar shows between shards."""

    def __init__(self):
        self.count = 0

    def add(self, n: int) -> None:
        self.count += n

    def value(self) -> int:
        return self.count


@dataclass
class ActorPool:
    """Creates actors on demand and replaces one whose process died.

    A replacement gets work only once it is up: after a node is lost, the cluster may have no room
    for it, and a shard handed to an actor that never starts would wait forever. The actors
    still up do the work meanwhile.
    """

    make: Callable[[], object]
    size: int

    def __post_init__(self):
        self.idle = deque(self.make() for _ in range(self.size))
        self.all = list(self.idle)
        self.starting: dict[ray.ObjectRef, object] = {}  # ready() call -> replacement actor
        self.stalled_since: float | None = None  # since when no actor is up while some start

    def replace(self, actor) -> None:
        ray.kill(actor, no_restart=True)
        fresh = self.make()
        self.all = [fresh if a is actor else a for a in self.all]
        self.starting[fresh.ready.remote()] = fresh

    def started(self, ref: ray.ObjectRef) -> None:
        """A replacement's ready() returned: it takes work, or, if it died starting, it is dropped."""
        actor = self.starting.pop(ref)
        try:
            ray.get(ref)
        except RayActorError:
            self.all = [a for a in self.all if a is not actor]
            return
        self.idle.append(actor)

    def shutdown(self) -> None:
        for actor in self.all:
            ray.kill(actor, no_restart=True)
        self.idle.clear()
        self.starting.clear()


def dispatch(pool: ActorPool, tasks: list, call: Callable[[object, object], ray.ObjectRef], max_tries: int,
             on_done: Callable[[object, object], None], on_failed: Callable[[object, str], None],
             on_retry: Callable[[object, str], None] = lambda task, error: None,
             on_tick: Callable[[], None] = lambda: None, start_timeout: float = ACTOR_START_TIMEOUT,
             stops_run: Callable[[BaseException], bool] = lambda error: False) -> None:
    """Run every task on the pool's actors; `call(actor, task)` starts one. Tasks carry `attempt`.
    `on_tick` runs about once a second while tasks run (progress). If no actor is up for
    `start_timeout` seconds (the cluster lost the room for them), the tasks left fail. An error
    for which `stops_run` is true (a full disk: every task would fail alike) is raised at once."""
    queue = deque(tasks)
    running: dict[ray.ObjectRef, tuple[object, object]] = {}
    while queue or running:
        while queue and pool.idle:
            task, actor = queue.popleft(), pool.idle.popleft()
            running[call(actor, task)] = (actor, task)
        if running or pool.idle:
            pool.stalled_since = None
        elif _stalled(pool, start_timeout):
            error = (f"no actor could be started for {start_timeout:.0f} s (the cluster has no room for one, or "
                     "each one died starting)")
            while queue:
                on_failed(queue.popleft(), error)
            break
        ready, _ = ray.wait([*running, *pool.starting], num_returns=1, timeout=1.0)
        on_tick()
        for ref in ready:
            if ref in pool.starting:
                pool.started(ref)
                continue
            actor, task = running.pop(ref)
            try:
                result = ray.get(ref)
            except (RayActorError, RayTaskError) as exc:
                cause = getattr(exc, "cause", None)
                if isinstance(exc, RayTaskError) and cause is not None and stops_run(cause):
                    raise cause from None
                error = _short(exc)
                if isinstance(exc, RayActorError):
                    pool.replace(actor)  # its process is gone
                else:
                    pool.idle.append(actor)
                if task.attempt >= max_tries:
                    on_failed(task, error)
                else:
                    on_retry(task, error)
                    queue.append(replace(task, attempt=task.attempt + 1))
                continue
            pool.idle.append(actor)
            on_done(task, result)


def _stalled(pool: ActorPool, timeout: float) -> bool:
    """True once no actor has been up (none idle, none working) for `timeout` seconds."""
    if not pool.starting:
        return True  # nothing left that could take the work
    if pool.stalled_since is None:
        pool.stalled_since = time.monotonic()
    return time.monotonic() - pool.stalled_since > timeout


def _short(exc: Exception) -> str:
    """The last line of a Ray error: the original exception, without the remote traceback."""
    cause = getattr(exc, "cause", None)
    if isinstance(exc, RayTaskError) and cause is not None:
        return f"{type(cause).__name__}: {cause}"[:500]
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:500]
