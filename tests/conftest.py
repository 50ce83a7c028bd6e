"""Shared fixtures: small SynthFaces datasets on disk, a tiny real export, one local Ray cluster per session.

The suite runs on pytest-xdist (pyproject's addopts), one worker per core. Each worker, and every command and
Ray process a test starts (they inherit the environment), computes with one torch thread: two threads per
process on a 2-core machine shared by two workers spin against each other and ran several times slower.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from bridgegan_batch.config import ModelConfig
from bridgegan_batch.data.attributes import SYNTH_ATTRIBUTES
from bridgegan_batch.data.synth_dataset import write_synth_dataset
from bridgegan_batch.model.bridge import BridgeGenerator, build_discriminator
from bridgegan_batch.model.checkpoint import save_export

os.environ.setdefault("OMP_NUM_THREADS", "1")  # read by each command and Ray process the tests start
torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))  # and this worker


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """The slow tests first (in their order), so that no worker is left with one at the end while the others
    idle: xdist hands out tests in this order (a group of SHARED together, the larger groups first)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


# Tests that share a costly module or session fixture, by node id prefix: xdist runs each group on one worker,
# so that the fixture is made once. (xdist's own xdist_group mark does not group under pytest 9.2.)
SHARED = {
    "tests/scripts/test_downstream.py::test_quick_mode_end_to_end_writes_the_schema": "quick_results",
    "tests/scripts/test_make_results.py::test_quick_mode_writes_the_page_and_its_json_sources": "quick_results",
    "tests/augment/test_engine_readers.py::": "outputs",
    "tests/data/test_external_readers.py::": "cli_datasets",
}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """xdist's scope scheduling with SHARED's groups as scopes and every other test a scope of its own."""
    from xdist.scheduler import LoadScopeScheduling

    class SharedFixtureScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return next((group for prefix, group in SHARED.items() if nodeid.startswith(prefix)), nodeid)

    return SharedFixtureScheduling(config, log)


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
    # address="local": a new Ray, never one a concurrent test (another xdist worker's) started and
    # recorded as this machine's current cluster, which ray.init() with no address would join.
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


TINY = dict(image_size=32, code_size=8, code_channels=4, encoder_channels=8, mapping_channels=16,
            generator_channels=(8, 16, 16), spade_hidden=8, disc_channels=8, disc_max_channels=16)


def write_tiny_export(path, info: dict | None = None, image_size: int = 32) -> str:
    """The tiny export's weights (seed 0) at `path`, with `info` in its metadata."""
    torch.manual_seed(0)
    config = ModelConfig(attributes=SYNTH_ATTRIBUTES, **{**TINY, "image_size": image_size,
                                                         "code_size": image_size // 4})
    save_export(path, {"bridge": BridgeGenerator(config), "discriminator": build_discriminator(config)}, config,
                info)
    return str(path)


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory) -> str:
    """An untrained export over the SynthFaces attributes: real weights, real file, fast."""
    return write_tiny_export(tmp_path_factory.mktemp("model") / "tiny.safetensors")


@pytest.fixture(scope="session")
def tiny_export64(tmp_path_factory) -> str:
    """The tiny export at 64 px, a size SynthFaces renders: for what is scored against ground truth."""
    return write_tiny_export(tmp_path_factory.mktemp("model64") / "tiny64.safetensors", image_size=64)


@pytest.fixture(scope="session")
def tiny_export_scaled(tmp_path_factory) -> str:
    """The same weights, recording a test-time d scale (adding Eyeglasses: 1.25) that a job setting none takes."""
    return write_tiny_export(tmp_path_factory.mktemp("model_scaled") / "tiny.safetensors",
                 {"d_scale": {"add": {"Eyeglasses": 1.25}}})


def readme_blocks(section: str, language: str) -> list[str]:
    """The fenced `language` blocks of one README section (`## section`), as written."""
    text = (Path(__file__).parents[1] / "README.md").read_text()
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return [block.split("```", 1)[0] for block in body.split(f"```{language}\n")[1:]]
