"""Faults: an actor process killed mid-shard, a node lost mid-run, a full disk, two runs at once, stale locks.
Nothing is lost, nothing is duplicated, and a run that cannot finish says why in one line."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bridgegan_batch.augment import manifest as manifest_module
from bridgegan_batch.augment.engine import run_job
from bridgegan_batch.augment.layout import LOCK, read_json, shard_id
from bridgegan_batch.augment.manifest import Manifest, OutputBusy, OutputLock
from bridgegan_batch.data.synth_dataset import write_synth_dataset
from bridgegan_batch.errors import DataError
from tests.augment.test_engine import make_job, read_output
from tests.processes import descendants

ROOT = Path(__file__).resolve().parents[2]


def _processes_titled(prefix: str) -> list[int]:
    """Pids whose command line (Ray sets it to `ray::Class.method` while a method runs) starts with prefix,
    among this process's descendants: this test's Ray, not another one running beside it (another xdist
    worker's)."""
    return [pid for pid, line in descendants(os.getpid()).items() if line.startswith(prefix)]


def _shards(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.suffix in (".tar", ".parquet")}


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds the actor's pid in /proc")
def test_an_actor_killed_mid_shard_is_retried_and_the_output_is_what_a_clean_run_makes(
        tmp_path, tiny_export, synth_dirs, ray_local):
    clean = make_job(tmp_path / "clean", tiny_export, synth_dirs["wds"], resources__actors=1)
    run_job(clean, "j", echo=lambda _: None, progress=False, run_id="pinned-run")

    job = make_job(tmp_path, tiny_export, synth_dirs["wds"], resources__actors=1)
    log: list[str] = []
    outcome: dict = {}

    def first_run():
        try:
            outcome["result"] = run_job(job, "j", echo=log.append, progress=False, run_id="pinned-run")
        except BaseException as exc:  # re-raised in the test thread below
            outcome["error"] = exc

    thread = threading.Thread(target=first_run)
    thread.start()
    try:
        deadline = time.time() + 120
        while not (busy := _processes_titled("ray::TranslatorActor.process")):
            assert thread.is_alive() and time.time() < deadline, (outcome, log)
            time.sleep(0.02)
        # The same job again while the first runs: refused, naming the lock and its holder.
        with pytest.raises(OutputBusy, match=rf"in use by run pinned-run .*{LOCK}"):
            run_job(job, "j", echo=lambda _: None, progress=False)
        os.kill(busy[0], signal.SIGKILL)  # the actor's process, in the middle of a shard
    finally:
        thread.join(timeout=240)
    assert "error" not in outcome, outcome.get("error")
    result = outcome["result"]
    assert result.shards_done == 3 and not result.shards_failed, log
    assert any(line.startswith("retrying") for line in log), log
    tries = [s["tries"] for s in read_json(str(tmp_path / "out"), "manifest.json")["inputs"]]
    assert sorted(tries) == [1, 1, 2]

    # Nothing lost, nothing duplicated: the same shards, byte for byte, as the clean run's.
    assert _shards(tmp_path / "out") == _shards(tmp_path / "clean" / "out")
    assert len(read_output(tmp_path / "out")) == len(read_output(tmp_path / "clean" / "out"))


@pytest.mark.slow
def test_the_same_job_twice_gives_identical_parquet_shards(tmp_path, tiny_export, synth_dirs, ray_local):
    shards = []
    for name in ("a", "b"):
        job = make_job(tmp_path / name, tiny_export, synth_dirs["parquet"], output__format="parquet",
                       resources__actors=1)
        run_job(job, "j", echo=lambda _: None, progress=False, run_id="pinned-run")
        shards.append(_shards(tmp_path / name / "out"))
    assert shards[0] and shards[0] == shards[1]
    listed = [json.loads((tmp_path / name / "out" / "dataset.json").read_text())["shards"] for name in "ab"]
    assert [s["sha256"] for s in listed[0]] == [s["sha256"] for s in listed[1]]


NODE_LOSS_SCRIPT = """
import json, sys, threading, time
from pathlib import Path
from ray.cluster_utils import Cluster
from bridgegan_batch.augment.engine import run_job
from bridgegan_batch.augment.spec import load_job

# Quick health checks, so that the lost node is noticed in seconds rather than half a minute.
system = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 1000, "health_check_failure_threshold": 4}
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "_system_config": system})
worker = cluster.add_node(num_cpus=1)
cluster.wait_for_nodes()
out = Path(sys.argv[2])
log, outcome = [], {}
try:
    job = load_job(sys.argv[1], (f"resources.address={cluster.address}",))
    def go():
        outcome["result"] = run_job(job, sys.argv[1], echo=log.append, progress=False)
    thread = threading.Thread(target=go)
    thread.start()
    deadline = time.time() + 120
    while len(list(out.glob("*.stats.json"))) < 2 and time.time() < deadline:  # both nodes at work
        time.sleep(0.05)
    cluster.remove_node(worker)
    removed = time.time()
    thread.join(300)
    result = outcome["result"]
    print(json.dumps({"done": result.shards_done, "failed": result.shards_failed, "log": log,
                      "after_removal_s": time.time() - removed, "worker": worker.node_id}))
finally:
    cluster.shutdown()
"""


@pytest.mark.slow
def test_a_node_lost_mid_run_leaves_the_job_to_the_other(tmp_path, tiny_export):
    from tests.augment.test_engine_processes import _write_job, run_cluster_script

    inputs = str(tmp_path / "in")
    write_synth_dataset(inputs, n=160, size=64, seed=13, shard_size=20)  # 8 shards
    out = tmp_path / "out"
    # One one-CPU actor per one-CPU node: the lost node's actor cannot be replaced anywhere.
    job = _write_job(tmp_path / "job.yaml", inputs, tiny_export, out, actors=2, cpus_per_actor=1)
    report = run_cluster_script(NODE_LOSS_SCRIPT, str(job), str(out), timeout=400)
    assert report["done"] == 8 and report["failed"] == [], report
    assert any(line.startswith("retrying") and "node" in line for line in report["log"]), report["log"]
    stats = [json.loads(p.read_text()) for p in out.glob("*.stats.json")]
    assert len(stats) == 8
    ops = [s.meta["provenance"]["kind"] for s in read_output(out).values()]  # fails on a duplicate key
    assert ops.count("original") == 160 and ops.count("label") == 320


# ------------------------------------------------------------------------------------------ full disk


# A full disk, and an output that turns read-only mid-run (simulated: the tests run as root, for
# whom chmod does not stop writes); both reach the writer as an OSError with their errno.
FULL_OR_READ_ONLY = pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS], ids=["disk-full", "read-only"])


@FULL_OR_READ_ONLY
def test_a_full_disk_while_a_shard_is_written_leaves_no_partial_shard(tmp_path, tiny_export, synth_dirs,
                                                                      monkeypatch, code):
    from bridgegan_batch.augment.labels import read_given_labels
    from bridgegan_batch.augment.plan import make_plan
    from bridgegan_batch.augment.provenance import RunInfo
    from bridgegan_batch.augment.worker import OutputOptions, ShardTask, process_shard
    from bridgegan_batch.data.attributes import SYNTH_ATTRIBUTES
    from bridgegan_batch.data.writer import WdsShardWriter
    from bridgegan_batch.model.translator import Translator

    shard = sorted(str(p) for p in Path(synth_dirs["wds"]).glob("*.tar"))[0]
    job = make_job(tmp_path, tiny_export, shard, balance=None, operations=[{"label": {"set": {"Smiling": 1}}}])
    labels = read_given_labels(shard, None, {}, SYNTH_ATTRIBUTES)
    plan = make_plan(job, labels.sources())
    task = ShardTask(shard, shard_id(shard), None, tuple(plan.items), (),
                     dict(zip(labels.keys, labels.labels, strict=True)))
    out = tmp_path / "out"
    options = OutputOptions(str(out), "wds", "png", 95, 6, 20, SYNTH_ATTRIBUTES)
    info = RunInfo("j", "0" * 64, 0, "tiny", "0" * 64, "run", "test")
    calls = {"n": 0}
    original = WdsShardWriter._write

    def fills_up(self, sample):  # the disk fills during the second output shard
        calls["n"] += 1
        if calls["n"] > 25:
            raise OSError(code, os.strerror(code))
        original(self, sample)

    monkeypatch.setattr(WdsShardWriter, "_write", fills_up)
    translator = Translator.load(tiny_export, device="cpu")
    with pytest.raises(OSError) as err:
        process_shard(task, translator, options, info, {}, batch_size=16)
    assert err.value.errno == code
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"{task.shard_id}-0000.tar"]  # the first part, complete; no temporary, no stats
    assert len(list(read_output(out).values())) == 20


@FULL_OR_READ_ONLY
def test_a_full_disk_on_the_driver_is_one_clear_error(tmp_path, tiny_export, synth_dirs, ray_local, monkeypatch,
                                                      code):
    from click.testing import CliRunner

    from bridgegan_batch.cli import main

    saves = {"n": 0}
    original = Manifest.save

    def save(self, directory):  # the first save works; the disk is full by the time a shard is done
        saves["n"] += 1
        if saves["n"] > 1:
            raise OSError(code, os.strerror(code), f"{directory}/manifest.json")
        original(self, directory)

    monkeypatch.setattr(Manifest, "save", save)
    job = make_job(tmp_path, tiny_export, synth_dirs["wds"], resources__actors=1)
    with pytest.raises(DataError, match=rf"manifest.json: {os.strerror(code)}; the run stopped"):
        run_job(job, "j", echo=lambda _: None, progress=False)
    out = tmp_path / "out"
    assert not (out / LOCK).exists()  # released
    assert not [p.name for p in out.iterdir() if ".tmp-" in p.name]
    done = {p.name.removesuffix(".stats.json") for p in out.glob("*.stats.json")}
    assert {p.name.rsplit("-", 1)[0] for p in out.glob("*.tar")} <= done  # every shard there is finished

    # Through the CLI: exit 2 and one line, no traceback.
    path = tmp_path / "job.yaml"
    import yaml

    path.write_text(yaml.safe_dump(make_job(tmp_path / "cli", tiny_export, synth_dirs["wds"],
                                            resources__actors=1).model_dump(mode="json")))
    saves["n"] = 0
    result = CliRunner().invoke(main, ["run", str(path), "--no-progress"])
    assert result.exit_code == 2 and "error: " in result.output and os.strerror(code) in result.output
    assert "Traceback" not in result.output


@pytest.fixture
def small_disk(tmp_path):
    """A real filesystem of limited size at tmp_path/out (a tmpfs), resizable: `small_disk(size)`.
    Mounting needs root with CAP_SYS_ADMIN; elsewhere the simulated cases above stand in."""
    out = tmp_path / "out"
    out.mkdir()

    def mount(size: str, options: str = "") -> None:
        verb = "remount," if os.path.ismount(out) else ""
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"{verb}size={size}{options}", "tmpfs", str(out)],
                              capture_output=True, text=True)
        if done.returncode and not verb:
            pytest.skip(f"cannot mount a small filesystem here: {done.stderr.strip()}")
        assert done.returncode == 0, done.stderr

    yield mount
    if os.path.ismount(out):
        subprocess.run(["umount", str(out)], check=True)


@pytest.mark.slow
def test_a_disk_that_fills_mid_run_stops_it_cleanly_and_a_rerun_completes_it(tmp_path, tiny_export, synth_dirs,
                                                                              ray_local, small_disk):
    clean = make_job(tmp_path / "clean", tiny_export, synth_dirs["wds"], resources__actors=1)
    run_job(clean, "j", echo=lambda _: None, progress=False, run_id="pinned-run")

    # 1 200 KiB: the plan, the first input shard's output (~730 KiB) and one part of the second fit.
    small_disk("1200k")
    job = make_job(tmp_path, tiny_export, synth_dirs["wds"], resources__actors=1)
    log: list[str] = []
    with pytest.raises(DataError, match=r"out/shard-000001-\w+-0001\.tar: No space left on device; the run stopped"):
        run_job(job, "j", echo=log.append, progress=False, run_id="pinned-run")
    assert not any(line.startswith("retrying") for line in log), log  # a full disk is not retried shard by shard
    out = tmp_path / "out"
    assert not (out / LOCK).exists()
    assert not [p.name for p in out.iterdir() if ".tmp-" in p.name]
    # The finished shard stays; the second's complete first part went with the run, unfinished.
    assert {p.name.split("-")[1] for p in out.glob("*.tar")} == {"000000"}
    assert {p.name.split("-")[1] for p in out.glob("*.stats.json")} == {"000000"}
    manifest = read_json(str(out), "manifest.json")
    assert manifest["runs"][-1]["status"] == "failed" and "No space left" in manifest["runs"][-1]["error"]

    small_disk("16m")  # space freed: the rerun does the rest, and the output is what a clean run makes
    result = run_job(job, "j", echo=lambda _: None, progress=False, run_id="pinned-run")
    assert (result.shards_skipped, result.shards_done, result.shards_failed) == (1, 2, [])
    assert _shards(out) == _shards(tmp_path / "clean" / "out")
    assert read_output(out).keys() == read_output(tmp_path / "clean" / "out").keys()


def test_a_read_only_output_is_one_clear_error(tmp_path, tiny_export, synth_dirs, small_disk):
    small_disk("1m", ",ro")
    job = make_job(tmp_path, tiny_export, synth_dirs["wds"], resources__actors=1)
    with pytest.raises(DataError, match=r"out/\.lock\S*: Read-only file system; the run stopped"):
        run_job(job, "j", echo=lambda _: None, progress=False)
    assert not list((tmp_path / "out").iterdir())


# ------------------------------------------------------------------------------------------ locks


def test_a_stale_lock_from_a_killed_run_is_taken_over_and_a_live_one_is_not(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer runs
    holder = {"run_id": "killed-run", "pid": dead.pid, "host": socket.gethostname(), "since": "then"}
    (out / LOCK).write_text(json.dumps(holder))
    with OutputLock(str(out), "new-run"):
        assert json.loads((out / LOCK).read_text())["run_id"] == "new-run"
    assert not (out / LOCK).exists()

    live = {**holder, "pid": os.getpid(), "run_id": "live-run"}
    (out / LOCK).write_text(json.dumps(live))
    with pytest.raises(OutputBusy, match=rf"in use by run live-run .*delete {out / LOCK}"):
        OutputLock(str(out), "new-run").acquire()
    other_host = {**holder, "host": "elsewhere"}  # another host's pid cannot be checked, nor its age known
    (out / LOCK).write_text(json.dumps(other_host))
    with pytest.raises(OutputBusy, match="on elsewhere"):
        OutputLock(str(out), "new-run").acquire()


def test_another_hosts_lock_is_taken_over_once_it_stops_being_renewed(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    pod = {"run_id": "pod-run", "pid": 1, "host": "killed-pod", "since": "then"}
    (out / LOCK).write_text(json.dumps({**pod, "beat": time.time() - 60}))  # renewed a minute ago: alive
    with pytest.raises(OutputBusy, match="in use by run pod-run .*taken over"):
        OutputLock(str(out), "new-run").acquire()
    (out / LOCK).write_text(json.dumps({**pod, "beat": time.time() - manifest_module.STALE_AFTER_SECONDS - 1}))
    with OutputLock(str(out), "new-run"):  # the pod was killed: its lock is no one's
        assert json.loads((out / LOCK).read_text())["run_id"] == "new-run"

    monkeypatch.setattr(manifest_module, "HEARTBEAT_SECONDS", 0.05)
    lock = OutputLock(str(out), "beating-run").acquire()
    first = json.loads((out / LOCK).read_text())["beat"]
    time.sleep(0.5)
    assert json.loads((out / LOCK).read_text())["beat"] > first  # renewed while held
    lock.release()
    assert not (out / LOCK).exists() and not lock._heart.is_alive()
