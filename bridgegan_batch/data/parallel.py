"""Parallel helpers for CPU-bound per-item work: an ordered process-pool map, a read-ahead thread."""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int, chunksize: int = 32) -> Iterator[R]:
    """`map(fn, items)` over `workers` processes, results in input order (1 worker: in-process)."""
    if workers <= 1:
        yield from map(fn, items)
        return
    with ProcessPoolExecutor(max_workers=workers, initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
        yield from pool.map(fn, items, chunksize=chunksize)


def die_with_parent(parent: int) -> None:
    """In a child process: be killed when `parent` dies, even by SIGKILL (Linux; elsewhere a no-op). Without
    it a killed command's workers live on, rendering into files nobody will finish."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the line above took effect
        os._exit(1)


def background(items: Iterable[T], depth: int = 64) -> Iterator[T]:
    """Iterate `items` on a thread, `depth` ahead of the consumer (decoding overlaps the model);
    an exception in the thread is raised here, at the point it happened in the sequence."""
    done = object()
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                buffer.put((item, None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            buffer.put((done, exc))
            return
        buffer.put((done, None))

    thread = threading.Thread(target=produce, daemon=True, name="background-iter")
    thread.start()
    try:
        while True:
            item, error = buffer.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full buffer
            with contextlib.suppress(queue.Empty):
                buffer.get(timeout=0.05)
