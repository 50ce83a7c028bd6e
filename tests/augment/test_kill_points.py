"""SIGKILL at each moment of a job, each rerun taking up what the last left: nothing half-made passes for whole.

The moments: the first-use render of the demo input (its render workers alive), the label pass, just after the
plan is written, and the report. The kill comes from inside the command, through a test seam: a wrapper
patches one function to kill its own process at that moment, then runs the CLI. (The translation moment, a
driver killed with shards in flight, is test_engine_processes.py's.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from bridgegan_batch.data.dataset_info import complete_dataset
from tests.augment.test_engine import read_output

ROOT = Path(__file__).resolve().parents[2]

# A wrapper around the CLI: `python -c WRAPPER POINT JOB`. At POINT's n-th call of its function the process
# records its descendants and their command lines (to check they die with it) and SIGKILLs itself.
WRAPPER = """
import importlib, json, os, signal, sys
from bridgegan_batch.cli import main
from tests.processes import descendants

POINTS = {  # point: (module, attribute, kill before or after the call, at which call, which calls count)
    "render": ("bridgegan_batch.data.writer", "ShardWriter.close", "after", 2, None),
    "labels": ("bridgegan_batch.augment.inputs", "read_given_labels", "before", 2, None),
    "plan": ("bridgegan_batch.augment.engine", "write_json_atomic", "after", 1, lambda a: a[1] == "plan.json"),
    "report": ("bridgegan_batch.augment.report", "_write_png", "before", 2, None),
}

point, job = sys.argv[1], sys.argv[2]
module, attribute, when, nth, counts = POINTS[point]
owner = importlib.import_module(module)
*path, name = attribute.split(".")
for part in path:
    owner = getattr(owner, part)
original, calls = getattr(owner, name), []

def killing(*args, **kwargs):
    if counts is None or counts(args):
        calls.append(1)
    if when == "before" and len(calls) == nth:
        die()
    result = original(*args, **kwargs)
    if when == "after" and len(calls) == nth:
        die()
    return result

def die():
    open("descendants.json", "w").write(json.dumps(descendants(os.getpid())))
    os.kill(os.getpid(), signal.SIGKILL)

setattr(owner, name, killing)
sys.argv = ["bridgegan-batch", "run", job, "--no-progress"]
main()
"""


# Ray's agents outlive a killed driver by about a minute, and are not waited for here: they find their raylet
# gone, try to tell the dead GCS, and exit when that call's timeout (60 s, fixed in Ray 2.60's
# publish_error_to_driver) ends; measured 60.7 s after the kill on this machine. Every other process (GCS,
# raylet, workers, the render workers) dies with the driver.
RAY_AGENTS = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")


def _job(directory: Path, model: str) -> Path:
    job = {"name": "kill_points", "seed": 2, "input": {"uri": "demo", "synth": {"samples": 120, "shard_size": 40}},
           "model": {"path": model, "batch_size": 8},
           "operations": [{"label": {"set": {"Eyeglasses": 1}, "where": {"Eyeglasses": 0}}}],
           "balance": {"fractions": {"Eyeglasses": 0.5}},
           "output": {"uri": "out", "shard_size": 50, "include_originals": True},
           "resources": {"actors": 1, "cpus_per_actor": 0.5}}
    path = directory / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def _run(directory: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *args], cwd=directory, env=env, capture_output=True, text=True,
                          timeout=300, start_new_session=True)


def _gone(pids: list[int], timeout: float = 20) -> list[int]:
    """Those of `pids` still alive after `timeout` seconds (zombies count as gone)."""
    deadline = time.time() + timeout
    while True:
        alive = []
        for pid in pids:
            try:
                if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    alive.append(pid)
            except OSError:
                pass
        if not alive or time.time() > deadline:
            return alive
        time.sleep(0.2)


@pytest.mark.slow
def test_killed_at_every_moment_each_rerun_finishes_what_is_left(tmp_path, tiny_export):
    clean_dir, killed_dir = tmp_path / "clean", tmp_path / "killed"
    clean_dir.mkdir()
    killed_dir.mkdir()
    clean = _run(clean_dir, "-m", "bridgegan_batch.cli", "run", str(_job(clean_dir, tiny_export)), "--no-progress")
    assert clean.returncode == 0, clean.stdout + clean.stderr

    job = _job(killed_dir, tiny_export)
    for point in ("render", "labels", "plan", "report"):
        killed = _run(killed_dir, "-c", WRAPPER, point, str(job))
        assert killed.returncode == -signal.SIGKILL, (point, killed.stdout + killed.stderr)
        children = {int(pid): line for pid, line in json.loads((killed_dir / "descendants.json").read_text()).items()}
        agents = [pid for pid, line in children.items() if line.startswith(RAY_AGENTS)]
        if point in ("plan", "report"):  # the embedded Ray is up
            assert agents, f"{point}: no Ray agents among {children}"
        rest = [pid for pid in children if pid not in agents]
        assert _gone(rest) == [], f"{point}: processes outlived the killed command: {children}"
        if point == "render":
            assert children, "the render's workers were not running"
            shards = sorted(p.name for p in (killed_dir / "demo").glob("*.tar"))
            assert shards == ["shard-000000.tar", "shard-000001.tar"]  # two of three published, whole
            assert complete_dataset(str(killed_dir / "demo")) is None  # and not taken for the dataset
        if point == "report":
            assert not (killed_dir / "out" / "report.html").exists()

    rerun = _run(killed_dir, "-m", "bridgegan_batch.cli", "run", str(job), "--no-progress")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert complete_dataset(str(killed_dir / "demo")).samples == 120
    expected, got = read_output(clean_dir / "out"), read_output(killed_dir / "out")
    assert got.keys() == expected.keys() and len(got) > 120
    assert {k: s.image for k, s in got.items()} == {k: s.image for k, s in expected.items()}
    assert json.loads((killed_dir / "out" / "dataset.json").read_text())["samples"] == len(got)
    assert (killed_dir / "out" / "report.html").is_file()
    runs = json.loads((killed_dir / "out" / "manifest.json").read_text())["runs"]
    assert runs[-1]["status"] == "done"
