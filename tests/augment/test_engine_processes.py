"""The engine as separate processes see it: a driver killed mid-run, and a two-node Ray cluster."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from bridgegan_batch.augment.engine import run_job
from bridgegan_batch.augment.spec import load_job
from bridgegan_batch.data.synth_dataset import write_synth_dataset
from tests.augment.test_engine import read_output

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "bridgegan_batch.cli"]


def _write_job(path: Path, inputs: str, model: str, output: Path, **resources) -> Path:
    job = {"name": "killed", "seed": 5, "input": {"uri": inputs}, "model": {"path": model, "batch_size": 8},
           "operations": [{"label": {"set": {"Eyeglasses": 1}, "variants": 2}},
                          {"reference": {"set": {"Smiling": 1}, "where": {"Smiling": 0}}}],
           "output": {"uri": str(output), "shard_size": 50, "include_originals": True},
           "resources": {"actors": 1, "cpus_per_actor": 0.5, **resources}}
    path.write_text(yaml.safe_dump(job))
    return path


def _run(job: Path, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([*CLI, "run", str(job), "--no-progress"], cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs)


def _finish(proc: subprocess.Popen, timeout: float = 240) -> str:
    out, _ = proc.communicate(timeout=timeout)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text
    return text


def _kill_group(proc: subprocess.Popen) -> None:
    """Whatever the process group still runs (an orphaned embedded Ray)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.slow
def test_a_driver_killed_mid_run_is_finished_by_a_rerun(tmp_path, tiny_export, ray_local):
    inputs = str(tmp_path / "in")
    write_synth_dataset(inputs, n=240, size=64, seed=11, shard_size=40)  # 6 shards
    whole = tmp_path / "whole"  # the uninterrupted run, here on the shared Ray: the bytes do not depend on it
    whole_job = _write_job(tmp_path / "whole.yaml", inputs, tiny_export, whole)
    run_job(load_job(whole_job), str(whole_job), echo=lambda _: None, progress=False)

    out = tmp_path / "out"
    job = _write_job(tmp_path / "job.yaml", inputs, tiny_export, out)
    first = _run(job)
    try:
        deadline = time.time() + 180
        while not list(out.glob("*.stats.json")):
            assert first.poll() is None, first.stdout.read().decode()
            assert time.time() < deadline, "no shard finished in time"
            time.sleep(0.01)
        os.kill(first.pid, signal.SIGKILL)  # the driver only: its actor may still be mid-shard
        first.wait()
        done_at_kill = len(list(out.glob("*.stats.json")))
        assert done_at_kill < 6, "the run finished before it could be killed"
        assert (out / ".lock").exists()  # left behind by the dead driver
        log = _finish(_run(job))
    finally:
        _kill_group(first)
    assert "already done" in log

    expected, got = read_output(whole), read_output(out)  # read_output fails on a duplicate key
    assert got.keys() == expected.keys()
    assert {k: s.image for k, s in got.items()} == {k: s.image for k, s in expected.items()}
    runs = json.loads((out / "manifest.json").read_text())["runs"]
    assert [r["status"] for r in runs] == ["died", "done"]


CLUSTER_SCRIPT = """
import json, sys
from ray.cluster_utils import Cluster
from bridgegan_batch.augment.engine import run_job
from bridgegan_batch.augment.spec import load_job

cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
cluster.add_node(num_cpus=1)
cluster.wait_for_nodes()
try:
    job = load_job(sys.argv[1], (f"resources.address={cluster.address}",))
    result = run_job(job, sys.argv[1], echo=lambda _: None, progress=False)
    nodes = [node.node_id for node in cluster.list_all_nodes()]
    print(json.dumps({"done": result.shards_done, "nodes": nodes}))
finally:
    cluster.shutdown()
"""


def run_cluster_script(script: str, *args: str, timeout: float) -> dict:
    """Run a two-node-cluster script in its own process (a cluster_utils cluster cannot share the test's Ray);
    its last stdout line is its JSON report."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, env=env, capture_output=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stdout.decode()[-3000:] + proc.stderr.decode()[-3000:]
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])


@pytest.mark.slow
def test_a_two_node_cluster_shares_the_shards(tmp_path, tiny_export):
    inputs = str(tmp_path / "in")
    write_synth_dataset(inputs, n=160, size=64, seed=12, shard_size=20)  # 8 shards
    out = tmp_path / "out"
    # Two actors of one CPU each cannot share a one-CPU node: one lands on each.
    job = _write_job(tmp_path / "job.yaml", inputs, tiny_export, out, actors=2, cpus_per_actor=1)
    report = run_cluster_script(CLUSTER_SCRIPT, str(job), timeout=300)
    assert report["done"] == 8 and len(report["nodes"]) == 2
    workers = {json.loads(p.read_text())["node_id"] for p in out.glob("*.stats.json")}
    assert workers == set(report["nodes"])  # both nodes translated shards
    ops = [s.meta["provenance"]["kind"] for s in read_output(out).values()]
    assert ops.count("original") == 160 and ops.count("label") == 320
