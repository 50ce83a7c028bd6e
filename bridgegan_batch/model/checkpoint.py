"""The one place checkpoints are saved and loaded: a small inference export and a full resume state.

Export: one `.safetensors` file holding named modules (for BridgeGAN, the EMA generator side
E, M, G as "bridge" and D for its attribute head) plus their config as JSON in the metadata, tagged
with the config's kind so that a judge is never loaded as a translator.

Resume state: plain state dicts and tensors written with torch.save and read with
`weights_only=True`; never pickled code.
"""

from __future__ import annotations

import json
import pickle  # for its exception type: nothing here unpickles but torch.load(weights_only=True)
from pathlib import Path
from typing import TypeVar

import torch
from pydantic import BaseModel, ValidationError
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save_file

from bridgegan_batch.config import ModelConfig, RunConfig, describe_errors
from bridgegan_batch.data.atomic import atomic_path
from bridgegan_batch.errors import UserError
from bridgegan_batch.model.bridge import BridgeGenerator, build_discriminator
from bridgegan_batch.model.d_scale import DScale, d_scale_json

EXPORT_FORMAT = "bridgegan-export/1"
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".ckpt", ".bin")


class CheckpointError(UserError):
    """A checkpoint that cannot be used; the message names it."""


C = TypeVar("C", bound=BaseModel)


def save_export(path: str | Path, modules: dict[str, torch.nn.Module], config: BaseModel,
                info: dict | None = None) -> Path:
    """Write the inference export: each module's weights under its name, + config (+ info, e.g. the step)."""
    return _write_export(path, {name: module.state_dict() for name, module in modules.items()}, config, info or {})


def export_with_info(path: str | Path, out: str | Path, update: dict) -> Path:
    """A copy of the export at `path`, written to `out`, its info updated with `update` (same weights)."""
    modules, config, info = load_export(path)
    return _write_export(out, modules, config, info | update)


def _write_export(path: str | Path, states: dict[str, dict[str, torch.Tensor]], config: BaseModel,
                  info: dict) -> Path:
    path = Path(path)
    if path.suffix != ".safetensors":
        raise CheckpointError(f"{path}: an export is a .safetensors file")
    tensors = {f"{name}.{k}": v.detach().cpu().contiguous() for name, state in states.items() for k, v in state.items()}
    metadata = {"format": EXPORT_FORMAT, "kind": type(config).__name__, "config": config.model_dump_json(),
                "info": json.dumps(info)}
    with atomic_path(str(path)) as (_, temp):
        save_file(tensors, temp, metadata=metadata)
    return path


def load_export(path: str | Path,
                config_type: type[C] = ModelConfig) -> tuple[dict[str, dict[str, torch.Tensor]], C, dict]:
    """({module name: state dict}, config, info) of an export file; CheckpointError names a bad file."""
    path = Path(path)
    if path.suffix in PICKLE_SUFFIXES:
        raise CheckpointError(f"{path}: pickle checkpoints can run code and are refused; "
                              "use a .safetensors export")
    if not path.is_file():
        raise CheckpointError(f"{path}: model file not found")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    return parse_export(data, str(path), config_type)


def parse_export(data: bytes, name: str,
                 config_type: type[C] = ModelConfig) -> tuple[dict[str, dict[str, torch.Tensor]], C, dict]:
    """`load_export` of an export's bytes (as shipped to Ray actors); errors name `name`."""
    try:
        metadata = _safetensors_metadata(data)
        state = load_safetensors(data)
    except (SafetensorError, ValueError) as exc:
        raise CheckpointError(f"{name}: not a readable safetensors file ({exc})") from exc
    if metadata.get("format") != EXPORT_FORMAT:
        raise CheckpointError(f"{name}: not a bridgegan-batch export (format {metadata.get('format')!r})")
    if metadata.get("kind", ModelConfig.__name__) != config_type.__name__:
        raise CheckpointError(f"{name}: holds a {metadata.get('kind')}, expected a {config_type.__name__}")
    try:
        config = config_type.model_validate_json(metadata["config"])
    except ValidationError as exc:
        raise CheckpointError(f"{name}: its config does not validate: {describe_errors(exc)}") from exc
    modules: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in state.items():
        module, _, rest = key.partition(".")
        modules.setdefault(module, {})[rest] = tensor
    return modules, config, json.loads(metadata.get("info", "{}"))


def _safetensors_metadata(data: bytes) -> dict:
    """The `__metadata__` of safetensors bytes: an 8-byte little-endian header length, then a JSON header."""
    if len(data) < 8:
        raise ValueError("shorter than a safetensors header")
    size = int.from_bytes(data[:8], "little")
    if size > len(data) - 8:
        raise ValueError("header longer than the file")
    try:
        header = json.loads(data[8 : 8 + size])
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"header is not JSON ({exc})") from exc
    return (header.get("__metadata__") or {}) if isinstance(header, dict) else {}


def save_state(path: str | Path, state: dict) -> Path:
    """Write a resume state (state dicts, tensors, numbers, strings) atomically."""
    path = Path(path)
    with atomic_path(str(path)) as (_, temp):
        torch.save(state, temp)
    return path


def load_state(path: str | Path) -> dict:
    """Read a resume state; `weights_only=True`, so a file cannot run code on load."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: resume state not found") from None
    except pickle.UnpicklingError as exc:  # torch's message advises weights_only=False: not ours to give
        found = [line.strip() for line in str(exc).splitlines() if "GLOBAL" in line or "global" in line]
        raise CheckpointError(f"{path}: holds objects other than tensors and plain data, and was not loaded "
                              f"({found[0] if found else 'weights-only unpickling failed'})") from None
    except Exception as exc:  # torch raises several types for a bad or hostile file
        raise CheckpointError(f"{path}: not a loadable resume state ({exc})") from exc


def export_from_state(state_path: str | Path, out: str | Path, *, d_scale: float | DScale | None = None) -> Path:
    """Write the inference export (EMA generator side + D) of a resume state; `d_scale` is recorded as the
    test-time d scale the model recommends (None: none, so translators take the authors' 1.5)."""
    state = load_state(state_path)
    config = RunConfig.model_validate_json(state["config"])
    if isinstance(d_scale, DScale):
        try:
            d_scale.check(config.model.attributes)
        except ValueError as exc:
            raise UserError(f"--d-scale: {exc}") from None
    ema, disc = BridgeGenerator(config.model), build_discriminator(config.model)
    ema.load_state_dict(state["ema"])
    disc.load_state_dict(state["discriminator"])
    info = {"step": state["step"]} | ({} if d_scale is None else {"d_scale": d_scale_json(d_scale)})
    return write_export(out, ema, disc, config.model, info)


def write_export(path: str | Path, ema: BridgeGenerator, discriminator: torch.nn.Module, model: ModelConfig,
                 info: dict) -> Path:
    """The inference export: the EMA generator side, and D for its attribute head."""
    return save_export(path, {"bridge": ema, "discriminator": discriminator}, model, info)
