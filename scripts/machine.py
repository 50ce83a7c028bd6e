"""One line describing the machine a benchmark ran on (CPU model, cores, Python, key versions)."""

from __future__ import annotations

import os
import platform


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def emit(text: str, out: str | None) -> None:
    """Print a benchmark's Markdown, and write it to `out` when given."""
    print(text)
    if out:
        with open(out, "w") as f:
            f.write(text)


def describe() -> str:
    import numpy
    import PIL

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{cpu_model()}, {cores} cores available, Python {platform.python_version()}, "
            f"numpy {numpy.__version__}, Pillow {PIL.__version__}, {platform.system()} {platform.machine()}")
