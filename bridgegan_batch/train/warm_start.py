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
# Optional parts a run may add to what it starts from, each starting silent: config field -> (the network that holds
# them, their parameters' prefix in it, their name)
GROWABLE = {"disc_twin_attribute_head": ("discriminator", "twin.", "twin attribute head"),
            "disc_projection": ("discriminator", "embed.", "projection embedding"),
            "disc_patch_critic": ("discriminator", "patch.", "patch critic"),
            "encoder_pixel_branch": ("generator", "encoder.pixels.", "encoder's pixel branch")}
# Each network of a resume state: its optimiser's entry, and the entries holding its weights (the EMA is the
# generator's average, with the same parameter names)
_NETWORKS = {"generator": ("opt_g", ("generator", "ema")), "discriminator": ("opt_d", ("discriminator",))}
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
    Either source may lack optional parts the config asks for (GROWABLE: D's extra heads, E's pixel branch): they
    are grown new, each starting silent (so the networks compute what they did), and the rest kept. SWITCHABLE
    fields may differ. Returns what it recorded in INIT_FILE. UserError names the file and any model field that
    differs."""
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


def _grown_parts(model: ModelConfig, config: RunConfig, path: Path, what: str) -> list[str]:
    """Check `model` against the config, allowing the GROWABLE parts it lacks and SWITCHABLE fields to differ;
    returns the GROWABLE fields grown."""
    grown = [f for f in GROWABLE if not getattr(model, f) and getattr(config.model, f)]
    switched = {f: getattr(config.model, f) for f in SWITCHABLE}
    _check_model(model.model_copy(update={**dict.fromkeys(grown, True), **switched}), config, path, what)
    return grown


def _switched_record(model: ModelConfig, config: RunConfig) -> dict:
    """The SWITCHABLE fields the run sets otherwise than its start did, with the run's values (for INIT_FILE)."""
    switched = {f: getattr(config.model, f) for f in SWITCHABLE if getattr(model, f) != getattr(config.model, f)}
    return {"switched": switched} if switched else {}


def _grown_prefixes(grown: list[str], network: str) -> tuple[str, ...]:
    return tuple(GROWABLE[f][1] for f in grown if GROWABLE[f][0] == network)


def _grown_record(grown: list[str], network: str) -> str:
    names = [GROWABLE[f][2] for f in grown if GROWABLE[f][0] == network]
    if not names:
        return ""
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    return f", its {listed} new"


def _load_grown(module: torch.nn.Module, weights: dict, grown: list[str], network: str, path: Path) -> None:
    """Load `weights` into `module`, which may hold the grown parts' parameters beyond them (kept as built)."""
    missing, unexpected = module.load_state_dict(weights, strict=False)
    if unexpected or any(not key.startswith(_grown_prefixes(grown, network)) for key in missing):
        raise UserError(f"--init: {path}: its {network} does not fit the config ({missing + unexpected})")


def _from_export(parts: Parts, config: RunConfig, path: Path, data: bytes) -> dict:
    try:
        modules, model, info = parse_export(data, str(path))
    except CheckpointError as exc:
        raise UserError(f"--init: {exc}") from None
    grown = _grown_parts(model, config, path, "export")
    for module in (parts.generator, parts.ema):
        _load_grown(module, modules["bridge"], grown, "generator", path)
    has_d = "discriminator" in modules
    if has_d:
        _load_grown(parts.discriminator, modules["discriminator"], grown, "discriminator", path)
    record = {"kind": "export", "source_step": info.get("step"),
              "discriminator": "from the export" + _grown_record(grown, "discriminator") if has_d else "new"}
    return {**record, **_generator_record(grown, "export"), **_switched_record(model, config)}


def _generator_record(grown: list[str], kind: str) -> dict:
    """INIT_FILE's note of E, M and G, only when the run grew a part of them."""
    record = _grown_record(grown, "generator")
    return {"generator": f"from the {kind}{record}"} if record else {}


def _from_resume_state(parts: Parts, config: RunConfig, path: Path) -> dict:
    try:
        state = load_state(path)
        if not isinstance(state, dict):
            raise UserError(f"--init: {path}: not a resume state (it holds a {type(state).__name__})")
        saved = RunConfig.model_validate_json(state["config"])
    except (CheckpointError, KeyError, ValueError, TypeError, IndexError) as exc:
        raise UserError(f"--init: {path}: not a resume state ({type(exc).__name__}: {exc})") from None
    grown = _grown_parts(saved.model, config, path, "resume state")
    try:
        if grown:
            state = _with_grown_parts(state, grown, parts)
        step = restore_state(parts, state)
    except (KeyError, ValueError, TypeError, IndexError, RuntimeError) as exc:
        raise UserError(f"--init: {path}: not a complete resume state ({type(exc).__name__}: {exc})") from None
    for opt in (parts.opt_g, parts.opt_d):
        for group in opt.param_groups:  # the moments carry over; the new config's betas apply from here
            group["betas"] = (config.train.beta1, config.train.beta2)
    d_record = "from the resume state" + _grown_record(grown, "discriminator")
    return {"kind": "resume state", "source_step": step, "discriminator": d_record,
            **_generator_record(grown, "resume state"), **_switched_record(saved.model, config)}


def _with_grown_parts(state: dict, grown: list[str], parts: Parts) -> dict:
    """`state` with each network grown by `parts`' new parts. Adam keeps its moments by position, and a new part's
    parameters may sit between others in its network's list, so the moments are moved to their parameters' new
    positions by name; the new parts' start empty, as a new Adam's would."""
    state = dict(state)
    for network, (opt_key, weight_keys) in _NETWORKS.items():
        prefixes = _grown_prefixes(grown, network)
        if not prefixes:
            continue
        module = getattr(parts, network)
        new_names = [name for name, _ in module.named_parameters()]
        old_names = [name for name in new_names if not name.startswith(prefixes)]  # the state's own list
        opt = state[opt_key]
        if len(opt["param_groups"]) != 1:
            raise ValueError(f"the {network}'s optimiser has {len(opt['param_groups'])} parameter groups; one expected")
        moments = {old_names[index]: value for index, value in opt["state"].items()}
        state[opt_key] = {"state": {i: moments[name] for i, name in enumerate(new_names) if name in moments},
                          "param_groups": [{**opt["param_groups"][0], "params": list(range(len(new_names)))}]}
        for key in weight_keys:  # the new parts' weights as built, the rest the state's
            state[key] = {**getattr(parts, key).state_dict(), **state[key]}
    return state
