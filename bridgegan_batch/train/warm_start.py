"""A run's first state from an inference export or another run's resume state (`train --init`): fine-tuning."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from bridgegan_batch.config import ModelConfig, RunConfig
from bridgegan_batch.errors import UserError
from bridgegan_batch.model.checkpoint import CheckpointError, load_state, parse_export, save_state
from bridgegan_batch.train.loop import STATE_FILE, Parts, build_parts, restore_state, resume_state

INIT_FILE = "init.json"  # in the run folder: which export or resume state the run started from
ZIP_MAGIC = b"PK\x03\x04"  # torch.save writes a zip; an export starts with its header length (this = 67 MB)
# D's optional heads a run may add to what it starts from: config field -> (their parameters' prefix, name)
GROWABLE_HEADS = {"disc_twin_attribute_head": ("twin.", "twin attribute head"),
                  "disc_projection": ("embed.", "projection embedding"),
                  "disc_patch_critic": ("patch.", "patch critic")}
# Model fields that change what the networks compute and add no parameters: a run may set them either way, whatever
# the state it starts from had.
SWITCHABLE = ("reference_code_pooled",)


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
    Either source may lack D's optional heads the config asks for (GROWABLE_HEADS): D grows them, new (the
    projection's embedding at zero, so the critic starts as it was), and keeps the rest. SWITCHABLE fields may differ.
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


def _grown_heads(model: ModelConfig, config: RunConfig, path: Path, what: str) -> list[str]:
    """Check `model` against the config, allowing D to gain heads it lacks and SWITCHABLE fields to differ; returns
    the GROWABLE_HEADS fields grown."""
    grown = [f for f in GROWABLE_HEADS if not getattr(model, f) and getattr(config.model, f)]
    switched = {f: getattr(config.model, f) for f in SWITCHABLE}
    _check_model(model.model_copy(update={**dict.fromkeys(grown, True), **switched}), config, path, what)
    return grown


def _switched_record(model: ModelConfig, config: RunConfig) -> dict:
    """The SWITCHABLE fields the run sets otherwise than its start did, with the run's values (for INIT_FILE)."""
    switched = {f: getattr(config.model, f) for f in SWITCHABLE if getattr(model, f) != getattr(config.model, f)}
    return {"switched": switched} if switched else {}


def _grown_prefixes(grown: list[str]) -> tuple[str, ...]:
    return tuple(GROWABLE_HEADS[f][0] for f in grown)


def _grown_record(grown: list[str]) -> str:
    if not grown:
        return ""
    names = [GROWABLE_HEADS[f][1] for f in grown]
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    return f", its {listed} new"


def _from_export(parts: Parts, config: RunConfig, path: Path, data: bytes) -> dict:
    try:
        modules, model, info = parse_export(data, str(path))
    except CheckpointError as exc:
        raise UserError(f"--init: {exc}") from None
    grown = _grown_heads(model, config, path, "export")
    parts.generator.load_state_dict(modules["bridge"])
    parts.ema.load_state_dict(modules["bridge"])
    has_d = "discriminator" in modules
    if has_d:
        missing, unexpected = parts.discriminator.load_state_dict(modules["discriminator"], strict=not grown)
        if unexpected or any(not key.startswith(_grown_prefixes(grown)) for key in missing):
            raise UserError(f"--init: {path}: its discriminator does not fit the config ({missing + unexpected})")
    d_record = "from the export" + _grown_record(grown) if has_d else "new"
    return {"kind": "export", "source_step": info.get("step"), "discriminator": d_record,
            **_switched_record(model, config)}


def _from_resume_state(parts: Parts, config: RunConfig, path: Path) -> dict:
    try:
        state = load_state(path)
        if not isinstance(state, dict):
            raise UserError(f"--init: {path}: not a resume state (it holds a {type(state).__name__})")
        saved = RunConfig.model_validate_json(state["config"])
    except (CheckpointError, KeyError, ValueError, TypeError, IndexError) as exc:
        raise UserError(f"--init: {path}: not a resume state ({type(exc).__name__}: {exc})") from None
    grown = _grown_heads(saved.model, config, path, "resume state")
    try:
        if grown:
            state = _with_grown_heads(state, grown, parts)
        step = restore_state(parts, state)
    except (KeyError, ValueError, TypeError, IndexError, RuntimeError) as exc:
        raise UserError(f"--init: {path}: not a complete resume state ({type(exc).__name__}: {exc})") from None
    for opt in (parts.opt_g, parts.opt_d):
        for group in opt.param_groups:  # the moments carry over; the new config's betas apply from here
            group["betas"] = (config.train.beta1, config.train.beta2)
    d_record = "from the resume state" + _grown_record(grown)
    return {"kind": "resume state", "source_step": step, "discriminator": d_record,
            **_switched_record(saved.model, config)}


def _with_grown_heads(state: dict, grown: list[str], parts: Parts) -> dict:
    """`state` with D grown by `parts`' new heads. Adam keeps its moments by position, and a new head's
    parameters may sit between others in D's list, so D's moments are moved to their parameters' new positions by
    name; the new heads' start empty, as a new Adam's would."""
    new_names = [name for name, _ in parts.discriminator.named_parameters()]
    old_names = [name for name in new_names if not name.startswith(_grown_prefixes(grown))]  # the state's D
    opt = state["opt_d"]
    if len(opt["param_groups"]) != 1:
        raise ValueError(f"D's optimiser has {len(opt['param_groups'])} parameter groups; one expected")
    moments = {old_names[index]: value for index, value in opt["state"].items()}
    grown_opt = {"state": {i: moments[name] for i, name in enumerate(new_names) if name in moments},
                 "param_groups": [{**opt["param_groups"][0], "params": list(range(len(new_names)))}]}
    grown_d = {**parts.discriminator.state_dict(), **state["discriminator"]}  # the new heads' weights, D's own
    return {**state, "discriminator": grown_d, "opt_d": grown_opt}
