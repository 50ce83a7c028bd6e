"""Security: no pickle runs, no YAML tag constructs, no credential is accepted, Ray listens on loopback only."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from bridgegan_batch.augment.spec import redact_uri
from bridgegan_batch.cli import main
from bridgegan_batch.config import RunConfig, read_yaml
from bridgegan_batch.errors import ConfigError
from tests.conftest import TINY

PACKAGE = Path(__file__).resolve().parents[1] / "bridgegan_batch"


def _sources() -> dict[Path, str]:
    return {p: p.read_text() for p in PACKAGE.rglob("*.py")}


def test_every_torch_load_is_weights_only_and_nothing_unpickles_or_evals():
    for path, text in _sources().items():
        for call in re.findall(r"torch\.load\([^)]*\)", text):
            assert "weights_only=True" in call, f"{path}: {call}"
        assert not re.search(r"\bpickle\.loads?\(|\bcloudpickle\.loads?\(|(?<![.\w])(eval|exec)\(", text), path
        assert not re.search(r"yaml\.(load|unsafe_load|full_load)\(", text), path  # only yaml.safe_load


def test_a_yaml_python_tag_is_refused_and_never_constructed(tmp_path):
    marker = tmp_path / "pwned"
    job = tmp_path / "job.yaml"
    job.write_text(f"name: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_yaml(job)
    assert not marker.exists()


def _job(tmp_path: Path, inputs: str, model: str) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump({
        "name": "unsafe", "input": {"uri": inputs}, "model": {"path": model},
        "operations": [{"label": {"set": {"Smiling": 1}}}], "output": {"uri": str(tmp_path / "out")}}))
    return path


def _resume_state(path: Path) -> Path:
    from bridgegan_batch.config import ModelConfig
    from bridgegan_batch.data.attributes import SYNTH_ATTRIBUTES
    from bridgegan_batch.model.bridge import BridgeGenerator, build_discriminator
    from bridgegan_batch.model.checkpoint import save_state

    config = RunConfig(model=ModelConfig(attributes=SYNTH_ATTRIBUTES, **TINY))
    save_state(path, {"config": config.model_dump_json(), "ema": BridgeGenerator(config.model).state_dict(),
                      "discriminator": build_discriminator(config.model).state_dict(), "step": 7})
    return path


def test_a_pickle_model_is_refused_unless_unsafe_load_is_given(tmp_path, synth_dirs):
    state = _resume_state(tmp_path / "state.pt")
    job = _job(tmp_path, synth_dirs["wds"], str(state))
    for command in (["validate", str(job)], ["run", str(job), "--dry-run"]):
        refused = CliRunner().invoke(main, command)
        assert refused.exit_code == 2 and "model.path" in refused.output and "--unsafe-load" in refused.output
        accepted = CliRunner().invoke(main, [*command, "--unsafe-load"])
        assert accepted.exit_code == 0, accepted.output
    assert "output: 0 originals + 120 translations" in accepted.output
    assert not (tmp_path / "out").exists()


class _Exploit:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_unsafe_load_still_never_runs_a_hostile_pickle(tmp_path, synth_dirs):
    marker = tmp_path / "pwned"
    hostile = tmp_path / "state.pt"
    torch.save({"config": _Exploit(marker)}, hostile)
    result = CliRunner().invoke(main, ["validate", str(_job(tmp_path, synth_dirs["wds"], str(hostile))),
                                       "--unsafe-load"])
    assert result.exit_code == 2 and "holds objects other than tensors" in result.output, result.output
    assert "posix.system" in result.output and "weights_only=False" not in result.output
    assert not marker.exists()


@pytest.mark.parametrize("uri, shown", [
    ("s3://AKIAX:wJalrXUtnF@bucket/faces/*.tar", "s3://***@bucket/faces/*.tar"),
    ("https://host/shard.tar?token=abc123&part=1", "https://host/shard.tar?token=***&part=1"),
    ("https://h/s.tar?X-Amz-Credential=AK&X-Amz-Signature=f00", "https://h/s.tar?X-Amz-Credential=***&X-Amz-Signature=***"),
    ("gs://bucket/faces-{000..009}.tar", "gs://bucket/faces-{000..009}.tar"),
    ("data/me@home/faces.tar", "data/me@home/faces.tar"),
])
def test_credentials_are_redacted(uri, shown):
    assert redact_uri(uri) == shown


# Run in a fresh interpreter (pytest's own may hold a Ray already): start the embedded Ray as the
# engine does, run a task and an actor, and list every TCP socket that Ray's processes listen on.
_LISTENERS = r"""
import ipaddress, json, os, socket
from pathlib import Path

import ray

from bridgegan_batch.ray_session import RaySession


def descendants(root):
    parent = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parent[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found, grew = {root}, True
    while grew:
        new = {pid for pid, ppid in parent.items() if ppid in found} - found
        found, grew = found | new, bool(new)
    return found


def address(hex_addr):
    raw = bytes.fromhex(hex_addr)  # /proc/net/tcp*: 32-bit words in host (little-endian) order
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.ip_address(raw)
    return ip.ipv4_mapped or ip if ip.version == 6 else ip


session = RaySession("")
session.ensure()
node_ip = ray.get(ray.remote(lambda: ray.util.get_node_ip_address()).remote())
actor = ray.remote(type("Echo", (), {"ip": lambda self: ray.util.get_node_ip_address()})).remote()
actor_ip = ray.get(actor.ip.remote())
inodes = {}
for pid in descendants(os.getpid()):
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            link = os.readlink(fd)
            if link.startswith("socket:["):
                inodes[link[8:-1]] = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        pass
listeners = []
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    for line in Path(table).read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and fields[9] in inodes:  # LISTEN, held by one of Ray's processes
            host, port = fields[1].split(":")
            listeners.append([inodes[fields[9]], str(address(host)), int(port, 16)])
# From this machine's outward address (its default route's; no packet is sent), no port may answer.
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
    try:
        probe.connect(("192.0.2.123", 9))
        outward = probe.getsockname()[0]
    except OSError:
        outward = None
answered = []
for _, _, port in listeners if outward and outward != "127.0.0.1" else ():
    with socket.socket() as s:
        s.settimeout(2)
        if s.connect_ex((outward, port)) == 0:
            answered.append(port)
print("RESULT", json.dumps({"node_ip": node_ip, "actor_ip": actor_ip, "listeners": listeners, "outward": outward,
                            "answered": answered}))
session.close()
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads listening sockets from /proc")
def test_the_embedded_ray_listens_on_loopback_only():
    import json
    import subprocess
    import sys

    # RAY_ADDRESS set (as inside a Ray job): the embedded Ray is still a new local one, not a join.
    env = {**os.environ, "RAY_ADDRESS": "127.0.0.1:9"}
    done = subprocess.run([sys.executable, "-c", _LISTENERS], capture_output=True, text=True, timeout=300,
                          cwd=PACKAGE.parent, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout + done.stderr
    found = json.loads(lines[0][7:])
    assert found["node_ip"] == found["actor_ip"] == "127.0.0.1"
    listeners = found["listeners"]
    assert {"gcs_server", "raylet"} <= {name for name, _, _ in listeners}, listeners  # the check sees them
    assert all(host == "127.0.0.1" for _, host, _ in listeners), listeners
    assert found["answered"] == [], found  # before the fix, each of these ports answered on the outward address


def test_the_embedded_ray_has_no_dashboard_and_keeps_token_auth(monkeypatch):
    import ray
    from ray._private import ray_constants

    from bridgegan_batch.ray_session import RaySession

    calls = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: calls.append((kw, ray_constants.ENABLE_RAY_CLUSTER)))
    monkeypatch.setattr(ray, "shutdown", lambda: None)
    embedded = RaySession("")
    embedded.ensure()
    kwargs, cluster_mode = calls[0]
    assert kwargs["include_dashboard"] is False and kwargs["dashboard_host"] == "127.0.0.1"
    assert kwargs["_node_ip_address"] == "127.0.0.1" and cluster_mode is False
    assert kwargs["address"] == "local"  # never a cluster named by RAY_ADDRESS
    embedded.close()
    assert ray_constants.ENABLE_RAY_CLUSTER is True  # restored for a later ray.init(address=...)
    RaySession("ray://head:10001").ensure()  # joining a cluster: its own settings decide
    assert calls[1][0]["address"] == "ray://head:10001" and calls[1][1] is True
    # Ray's token authentication stays on: nothing in the package turns it off.
    assert not any("RAY_AUTH_MODE" in text for text in _sources().values())


def test_image_size_is_bounded_before_decoding():
    from PIL import Image

    from bridgegan_batch.data.images import MAX_PIXELS

    # Our own limit (checked on the header) is below PIL's bomb limit, so PIL's never decides.
    assert MAX_PIXELS < Image.MAX_IMAGE_PIXELS
