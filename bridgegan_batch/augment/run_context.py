"""One invocation of `run`: what each step needs (the context) and what it reports (the result)."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from bridgegan_batch.augment.model_file import ModelFile
from bridgegan_batch.augment.plan import Plan
from bridgegan_batch.augment.spec import JobSpec

MAX_TRIES = 3  # attempts per input shard before it is marked failed


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


@dataclass
class RunContext:
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
