"""The deployment files under deploy/: valid YAML and shell, the right KubeRay kinds, and job files that exist."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
JOB_PATH = re.compile(r"\bjobs/[\w.-]+\.ya?ml\b")


def _documents() -> list[tuple[Path, dict]]:
    docs = []
    for path in sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")]):
        with path.open() as f:
            docs += [(path, doc) for doc in yaml.safe_load_all(f) if doc is not None]
    return docs


def _of_kind(kind: str) -> list[dict]:
    return [doc for _, doc in _documents() if doc.get("kind") == kind]


def test_every_yaml_parses_into_kubernetes_objects():
    docs = _documents()
    assert docs, "no YAML under deploy/"
    for path, doc in docs:
        assert isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind"), path


def _check_rayjob_spec(spec: dict) -> None:
    assert spec["entrypoint"].startswith("bridgegan-batch run ")
    assert "--set resources.address=auto" in spec["entrypoint"]
    assert spec["shutdownAfterJobFinishes"] is True
    assert isinstance(spec["ttlSecondsAfterFinished"], int)
    cluster = spec["rayClusterSpec"]
    assert cluster["rayVersion"] == "2.60.0"
    assert cluster["headGroupSpec"]["template"]["spec"]["containers"]
    gpu_workers = [
        c
        for group in cluster["workerGroupSpecs"]
        for c in group["template"]["spec"]["containers"]
        if c.get("resources", {}).get("limits", {}).get("nvidia.com/gpu") == 1
    ]
    assert gpu_workers and all(c["image"] == "bridgegan-batch:gpu" for c in gpu_workers)
    assert "--set resources.gpus_per_actor=1" in spec["entrypoint"]  # else the actors leave the GPUs idle


def test_rayjob():
    (job,) = _of_kind("RayJob")
    assert job["apiVersion"] == "ray.io/v1"
    assert job["metadata"].get("name") or job["metadata"].get("generateName")
    _check_rayjob_spec(job["spec"])


def test_raycronjob_runs_the_rayjob_nightly():
    (cron,) = _of_kind("RayCronJob")
    (job,) = _of_kind("RayJob")
    assert cron["apiVersion"] == "ray.io/v1"
    assert cron["spec"]["schedule"] == "0 2 * * *"
    # jobTemplate is a RayJob spec itself (no `spec:` wrapper), kept identical to rayjob.yaml.
    assert cron["spec"]["jobTemplate"] == job["spec"]


def test_cron_line_runs_nightly_under_flock():
    lines = [line for line in (DEPLOY / "cron.txt").read_text().splitlines() if line.strip()]
    entries = [line for line in lines if not line.lstrip().startswith("#")]
    assert len(entries) == 1
    assert entries[0].split()[:5] == ["0", "2", "*", "*", "*"]
    assert "flock -n " in entries[0] and "bridgegan-batch run " in entries[0] and ">>" in entries[0]


def test_referenced_job_files_exist():
    referenced = set()
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            referenced |= set(JOB_PATH.findall(path.read_text()))
    assert "jobs/glasses_aug.yaml" in referenced
    missing = sorted(p for p in referenced if not (ROOT / p).is_file())
    assert not missing, f"deploy/ names job files that are not in the repository: {missing}"


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_submit_script_is_valid_bash():
    script = DEPLOY / "submit_nightly.sh"
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "set -euo pipefail" in script.read_text()
