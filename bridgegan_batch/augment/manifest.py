"""The run manifest (what was asked, of which inputs, and how far it got) and the output lock."""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import socket
import threading
import time
import uuid
from datetime import datetime, timezone

from pydantic import BaseModel, ConfigDict, Field

from bridgegan_batch.augment.layout import LOCK, MANIFEST, pid_alive, read_json, write_json_atomic
from bridgegan_batch.data.atomic import write_atomic
from bridgegan_batch.data.paths import filesystem
from bridgegan_batch.errors import UserError


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class InputShard(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    shard_id: str
    size: int | None = None
    mtime: float | None = None
    status: str = "pending"  # pending | done | failed
    tries: int = 0
    error: str = ""


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job_name: str
    job_sha256: str  # of the fields that decide the output's bytes (see spec.fingerprint)
    model_path: str
    model_sha256: str
    tool_version: str
    run_id: str  # the run that created this output; later runs append to `runs`
    runs: list[dict] = Field(default_factory=list)  # {run_id, started, ended, status, ...} per invocation
    inputs: list[InputShard] = Field(default_factory=list)

    def save(self, directory: str) -> None:
        write_json_atomic(directory, MANIFEST, self)

    @classmethod
    def load(cls, directory: str) -> Manifest | None:
        data = read_json(directory, MANIFEST)
        return None if data is None else cls.model_validate(data)


class OutputBusy(UserError):
    """Another run is writing the same output."""


HEARTBEAT_SECONDS = 60.0  # how often a holder renews its lock's `beat`
# A lock not renewed for this long is a dead run's, on any host: a killed pod's lock does not block the
# next night. Generous, for clock skew between hosts and a driver starved of CPU.
STALE_AFTER_SECONDS = 15 * 60.0


class OutputLock:
    """`OUT/.lock`, created exclusively and renewed every minute while held.

    A lock is taken over when its holder is dead: a process gone on this host, or, on any host, a lock
    not renewed for STALE_AFTER_SECONDS (a killed pod, a lost node).
    """

    def __init__(self, directory: str, run_id: str):
        self.fs, root = filesystem(directory)
        self.directory, self.run_id = directory, run_id
        self.path = posixpath.join(root, LOCK)
        self.local = "file" in self.fs.protocol  # a str or a tuple, depending on the filesystem
        self.since = now()
        self._stop = threading.Event()
        self._heart: threading.Thread | None = None

    def _owner(self) -> dict:
        return {"run_id": self.run_id, "pid": os.getpid(), "host": socket.gethostname(), "since": self.since,
                "beat": time.time()}

    def _is_dead(self, holder: dict) -> bool:
        if holder.get("host") == socket.gethostname() and not pid_alive(int(holder.get("pid") or -1)):
            return True
        beat = holder.get("beat")  # absent in locks written before the heartbeat: never stale by time
        return isinstance(beat, int | float) and time.time() - beat > STALE_AFTER_SECONDS

    def _beat(self) -> None:
        """Renew the lock while this run holds it; stop if another run has taken it over."""
        while not self._stop.wait(HEARTBEAT_SECONDS):
            with contextlib.suppress(OSError, ValueError):  # a missed beat is retried at the next one
                holder = self._holder()
                if holder is None:  # removed by hand, or renamed aside for a moment by a taker: ours again
                    self._create()
                    continue
                if holder.get("run_id") != self.run_id:
                    return
                write_atomic(self.path, json.dumps(self._owner()).encode(), self.fs)

    def acquire(self) -> OutputLock:
        self.fs.makedirs(posixpath.dirname(self.path), exist_ok=True)
        for _ in range(3):
            if self._create():
                self._heart = threading.Thread(target=self._beat, name="output-lock-heartbeat", daemon=True)
                self._heart.start()
                return self
            holder = self._holder()
            if holder is None:  # released between our attempts
                continue
            if not self._is_dead(holder):
                raise OutputBusy(
                    f"output {self.directory!r} is in use by run {holder.get('run_id')} (pid {holder.get('pid')} "
                    f"on {holder.get('host')}, since {holder.get('since')}); a lock not renewed for "
                    f"{STALE_AFTER_SECONDS / 60:.0f} minutes is taken over; if no such run is active, delete "
                    f"{self.path}")
            self._take_over(holder)
        raise OutputBusy(f"output {self.directory!r}: could not take {self.path}")

    def _take_over(self, holder: dict) -> None:
        """Remove a dead run's lock, unless another run replaced it meanwhile."""
        if not self.local:  # no atomic rename on object stores: compare just before removing (best effort)
            if self._holder() == holder:
                self.fs.rm(self.path)
            return
        aside = f"{self.path}.stale-{uuid.uuid4().hex[:12]}"
        try:
            os.rename(self.path, aside)  # atomic: only one of several takers gets the dead lock
        except FileNotFoundError:
            return
        with open(aside, "rb") as f:
            moved = json.loads(f.read() or b"{}")
        if moved != holder:  # a live run's fresh lock: put it back
            with contextlib.suppress(FileExistsError):
                os.link(aside, self.path)
        os.unlink(aside)

    def _create(self) -> bool:
        data = json.dumps(self._owner()).encode()
        if self.local:
            # Write the content first, then link it into place: a lock is never seen empty.
            temp = f"{self.path}.new-{uuid.uuid4().hex[:12]}"
            with open(temp, "wb") as f:
                f.write(data)
            try:
                os.link(temp, self.path)
                return True
            except FileExistsError:
                return False
            finally:
                os.unlink(temp)
        # Object stores have no exclusive create: check, write, read back (best effort).
        if self.fs.exists(self.path):
            return False
        with self.fs.open(self.path, "wb") as f:
            f.write(data)
        time.sleep(0.2)
        return (self._holder() or {}).get("run_id") == self.run_id

    def _holder(self) -> dict | None:
        try:
            with self.fs.open(self.path, "rb") as f:
                return json.loads(f.read() or b"{}")
        except FileNotFoundError:
            return None
        except json.JSONDecodeError:
            return {"run_id": "unknown (unreadable lock file)"}

    def release(self) -> None:
        self._stop.set()
        if self._heart is not None:
            self._heart.join()
        if (self._holder() or {}).get("run_id") == self.run_id:
            self.fs.rm(self.path)

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
