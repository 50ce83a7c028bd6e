"""A run's first state from an inference export (`train --init`): fine-tune a released model."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from bridgegan_batch.config import ModelConfig, RunConfig
from bridgegan_batch.errors import UserError
from bridgegan_batch.model.checkpoint import CheckpointError, parse_export, save_state
from bridgegan_batch.train.loop import STATE_FILE, build_parts, resume_state

INIT_FILE = "init.json"  # in the run folder: which export the run started from


def _differing_fields(a: ModelConfig, b: ModelConfig) -> list[str]:
    x, y = a.model_dump(), b.model_dump()
    return sorted(k for k in x if x[k] != y[k])


def write_initial_state(run: Path, config: RunConfig, export: str | Path) -> dict:
    """Write `run`'s step-0 resume state: E, M and G (and their EMA) from the export's EMA weights, D from its D
    when it has one (else a new D), new optimisers, and an EMA that keeps its full decay from the first step. The
    run then continues it as it would its own state. Returns what it recorded in INIT_FILE. UserError names the
    export and any model field that differs."""
    path = Path(export)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"--init: {path}: cannot be read ({exc.strerror or exc})") from None
    try:
        modules, model, info = parse_export(data, str(path))
    except CheckpointError as exc:
        raise UserError(f"--init: {exc}") from None
    if model != config.model:
        raise UserError(f"--init: {path} was trained with another model config (fields "
                        f"{_differing_fields(model, config.model)} differ); train it with the export's model fields")
    parts = build_parts(config, torch.device("cpu"))
    parts.generator.load_state_dict(modules["bridge"])
    parts.ema.load_state_dict(modules["bridge"])
    has_d = "discriminator" in modules
    if has_d:
        parts.discriminator.load_state_dict(modules["discriminator"])
    save_state(run / STATE_FILE, resume_state(parts, 0, config, ema_ramp=False))
    record = {"export": str(path), "sha256": hashlib.sha256(data).hexdigest(), "export_step": info.get("step"),
              "discriminator": "from the export" if has_d else "new"}
    (run / INIT_FILE).write_text(json.dumps(record, indent=2) + "\n")
    return record
