"""The job's model file: found, checked to be an export (or, trusted, a resume state), and hashed once."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bridgegan_batch.augment.spec import JobSpec
from bridgegan_batch.errors import ConfigError
from bridgegan_batch.model.checkpoint import PICKLE_SUFFIXES, CheckpointError, parse_export
from bridgegan_batch.model.d_scale import DScale
from bridgegan_batch.model.translator import DEFAULT_MODEL, Translator, recommended_d_scale


@dataclass(frozen=True)
class ModelFile:
    path: str  # the file the job names (its stem is the model's name in provenance)
    data: bytes  # a safetensors export, read once: what is hashed is what the actors load
    sha256: str
    attributes: tuple[str, ...]
    d_scale: float | DScale  # the test-time d scale the export recommends (else the authors' 1.5)

    def translator(self, d_scale: float | DScale):
        """The model on this machine, loaded from `data` (which may not be `path`'s bytes)."""
        return Translator.from_bytes(self.data, self.path, device="cpu", d_scale=d_scale)


def _export_of_pickle(path: str) -> bytes:
    """--unsafe-load: a training resume state (.pt) as export bytes. The pickle is read with
    torch.load(weights_only=True) here in the driver; actors only ever see safetensors."""
    from bridgegan_batch.model.checkpoint import export_from_state

    with tempfile.TemporaryDirectory() as tmp:
        return export_from_state(path, Path(tmp) / "model.safetensors").read_bytes()


def load_model_file(job: JobSpec, job_path: str, *, unsafe_load: bool = False) -> ModelFile:
    """The job's model, checked: it exists, is an export (or, with unsafe_load, a resume state), and
    can label faces if the job asks it to. ConfigError names model.path otherwise."""
    path = job.model.path or str(DEFAULT_MODEL)
    if not Path(path).is_file():
        hint = " (the demo model: train it with scripts/train_demo.sh)" if job.model.path is None else ""
        raise ConfigError(f"{job_path}: model.path: {path} not found{hint}")
    if Path(path).suffix in PICKLE_SUFFIXES:
        if not unsafe_load:
            raise ConfigError(f"{job_path}: model.path: {path} is a pickle checkpoint, and loading a pickle can "
                              "run code; convert it with `bridgegan-batch export RUN_DIR --out model.safetensors`, "
                              "or pass --unsafe-load if you trust the file (a training resume state only)")
        try:
            data = _export_of_pickle(path)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:  # a pickle, but not a resume state
            raise ConfigError(f"{job_path}: model.path: {path} is not a training resume state ({exc!r})") from exc
    else:
        data = Path(path).read_bytes()
    try:
        modules, config, info = parse_export(data, path)
        d_scale = recommended_d_scale(info, path, config.attributes)
    except CheckpointError as exc:
        raise ConfigError(f"{job_path}: model.path: {exc}") from exc
    if job.input.labels == "predict" and "discriminator" not in modules:
        raise ConfigError(f"{job_path}: input.labels: predict needs a model with an attribute head; "
                          f"{path} has none")
    return ModelFile(path, data, hashlib.sha256(data).hexdigest(), tuple(config.attributes), d_scale)
