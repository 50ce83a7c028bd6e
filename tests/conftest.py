"""Shared fixtures: small SynthFaces datasets on disk, and one local Ray cluster per session."""

from __future__ import annotations

import pytest

from bridgegan_batch.data.synth_dataset import write_synth_dataset


@pytest.fixture(scope="session")
def synth_dirs(tmp_path_factory) -> dict[str, str]:
    """64 px SynthFaces, 120 faces in shards of 50, in both formats: {"wds": dir, "parquet": dir}."""
    root = tmp_path_factory.mktemp("synth")
    dirs = {fmt: str(root / fmt) for fmt in ("wds", "parquet")}
    for fmt, out in dirs.items():
        write_synth_dataset(out, n=120, size=64, format=fmt, seed=7, shard_size=50)
    return dirs


@pytest.fixture(scope="session")
def ray_local():
    """A local Ray cluster on this machine's cores, shared by the tests that need one."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()
