"""A run's first state from an inference export or another run's resume state (`train --init`): fine-tuning."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from bridgegan_batch.config import ModelConfig, RunConfig
from bridgegan_batch.errors import UserError
from bridgegan_batch.model.bridge import build_discriminator
from bridgegan_batch.model.checkpoint import CheckpointError, load_state, parse_export, save_state
from bridgegan_batch.train.loop import STATE_FILE, Parts, build_parts, restore_state, resume_state

INIT_FILE = "init.json"  # in the run folder: which export or resume state the run started from
ZIP_MAGIC = b"PK\x03\x04"  # torch.save writes a zip; an export starts with its header length (this = 67 MB)


def _differing_fields(a: ModelConfig, b: ModelConfig) -> list[str]:
    x, y = a.model_dump(), b.model_dump()
    return sorted(k for k in x if x[k] != y[k])


def write_initial_state(run: Path, config: RunConfig, source: str | Path) -> dict:
    """Write `run`'s step-0 resume state from an inference export or from another run's resume state (state.pt),
    and an EMA that keeps its full decay from the first step. From an export: E, M and G (and their EMA) from its
    EMA weights, D from its D when it has one (else a new D), new optimisers. From a resume state: everything it
    holds (raw and EMA weights, D, both optimisers' moments), so the run forks that one without a restart: on the
    demo model, 500 steps after an export's restart lost 0.03-0.06 of mean label fraction where resuming its state
    lost nothing (docs/dev/issue26.md, twelfth session). The run then continues it as it would its own state.
    Either source may lack the twin attribute head the config asks for: D grows one, new, and keeps the rest.
    Returns what it recorded in INIT_FILE. UserError names the file and any model field that differs."""
    path = Path(source)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"--init: {path}: cannot be read ({exc.strerror or exc})") from None
    parts = build_parts(config, torch.device("cpu"))
    if data[:4] == ZIP_MAGIC:
        record = _from_resume_state(parts, config, path)
    else:
        record = _from_export(parts, config, path, data)
    save_state(run / STATE_FILE, resume_state(parts, 0, config, ema_ramp=False))
    record = {"source": str(path), "sha256": hashlib.sha256(data).hexdigest(), **record}
    (run / INIT_FILE).write_text(json.dumps(record, indent=2) + "\n")
    return record


def _check_model(model: ModelConfig, config: RunConfig, path: Path, what: str) -> None:
    if model != config.model:
        raise UserError(f"--init: {path} was trained with another model config (fields "
                        f"{_differing_fields(model, config.model)} differ); train it with the {what}'s model fields")


def _grows_twin(model: ModelConfig, config: RunConfig, path: Path, what: str) -> bool:
    """Check `model` against the config, allowing one difference: D gains a fresh twin attribute head."""
    grows = not model.disc_twin_attribute_head and config.model.disc_twin_attribute_head
    if grows:
        model = model.model_copy(update={"disc_twin_attribute_head": True})
    _check_model(model, config, path, what)
    return grows


def _from_export(parts: Parts, config: RunConfig, path: Path, data: bytes) -> dict:
    try:
        modules, model, info = parse_export(data, str(path))
    except CheckpointError as exc:
        raise UserError(f"--init: {exc}") from None
    grows_twin = _grows_twin(model, config, path, "export")
    parts.generator.load_state_dict(modules["bridge"])
    parts.ema.load_state_dict(modules["bridge"])
    has_d = "discriminator" in modules
    if has_d:
        missing, unexpected = parts.discriminator.load_state_dict(modules["discriminator"], strict=not grows_twin)
        if unexpected or any(not key.startswith("twin.") for key in missing):
            raise UserError(f"--init: {path}: its discriminator does not fit the config ({missing + unexpected})")
    d_record = ("from the export, its twin attribute head new" if grows_twin else "from the export") if has_d else "new"
    return {"kind": "export", "source_step": info.get("step"), "discriminator": d_record}


def _from_resume_state(parts: Parts, config: RunConfig, path: Path) -> dict:
    try:
        state = load_state(path)
        if not isinstance(state, dict):
            raise UserError(f"--init: {path}: not a resume state (it holds a {type(state).__name__})")
        saved = RunConfig.model_validate_json(state["config"])
    except (CheckpointError, KeyError, ValueError, TypeError, IndexError) as exc:
        raise UserError(f"--init: {path}: not a resume state ({type(exc).__name__}: {exc})") from None
    grows_twin = _grows_twin(saved.model, config, path, "resume state")
    try:
        if grows_twin:
            state = _with_fresh_twin(state, saved.model, parts)
        step = restore_state(parts, state)
    except (KeyError, ValueError, TypeError, IndexError, RuntimeError) as exc:
        raise UserError(f"--init: {path}: not a complete resume state ({type(exc).__name__}: {exc})") from None
    for opt in (parts.opt_g, parts.opt_d):
        for group in opt.param_groups:  # the moments carry over; the new config's betas apply from here
            group["betas"] = (config.train.beta1, config.train.beta2)
    d_record = "from the resume state, its twin attribute head new" if grows_twin else "from the resume state"
    return {"kind": "resume state", "source_step": step, "discriminator": d_record}


def _with_fresh_twin(state: dict, saved: ModelConfig, parts: Parts) -> dict:
    """`state` with D grown by `parts`' new twin head. Adam keeps its moments by position, and the twin's
    parameters sit between others in D's list, so D's moments are moved to their parameters' new positions by
    name; the twin's start empty, as a new Adam's would."""
    old_names = [name for name, _ in build_discriminator(saved).named_parameters()]
    new_names = [name for name, _ in parts.discriminator.named_parameters()]
    opt = state["opt_d"]
    if len(opt["param_groups"]) != 1:
        raise ValueError(f"D's optimiser has {len(opt['param_groups'])} parameter groups; one expected")
    moments = {old_names[index]: value for index, value in opt["state"].items()}
    grown_opt = {"state": {i: moments[name] for i, name in enumerate(new_names) if name in moments},
                 "param_groups": [{**opt["param_groups"][0], "params": list(range(len(new_names)))}]}
    grown_d = {**parts.discriminator.state_dict(), **state["discriminator"]}  # the twin's new weights, D's own
    return {**state, "discriminator": grown_d, "opt_d": grown_opt}
