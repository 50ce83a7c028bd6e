"""Warm-start a run with a new discriminator: keep a state's generator side, build D afresh, and train D alone first.

    python experiments/fresh_discriminator.py STATE|EXPORT CONFIG --out RUNS [--d-steps 1000] [--batch-size 32]

An experiment tool for the demo model. A trained G may have learned to fool its own D's attribute head
(docs/dev/training_log.md); a new D, perhaps of another shape (`disc_separate_attribute_trunk`), has never seen
those fakes. The new D first trains alone (G frozen) for `--d-steps` steps, so that G's first steps
against it follow a critic and an attribute head that already mean something. The result is a new run
folder in RUNS whose state continues at the old step (schedules go on), ready for `--resume` or
experiments/train_budget.py. The model config may differ from the state's in D's fields, and in
`generator_skips` or `generator_keep_mask` switched on (G's skips start at zero, so G computes what it did;
its keep mask starts nearly shut; its optimiser is then new). With `--keep-weights` D starts from the
state's D instead (for an option that adds a part, like `disc_projection`, whose embedding starts at zero).

STATE may also be an inference export (`.safetensors`, e.g. the bundled demo model): a resume state is 25 MB
and is not committed, so a session that lost `runs/` can still continue the shipped model. G then starts
from the export's EMA weights (the only ones it holds) with a new optimiser, at the export's step.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bridgegan_batch.config import ModelConfig, RunConfig, load_yaml
from bridgegan_batch.data.attributes import EXCLUSIVE_GROUPS, group_indices
from bridgegan_batch.model.checkpoint import load_export, load_state, save_state, write_export
from bridgegan_batch.train.data import batches
from bridgegan_batch.train.loop import (
    EXPORT_FILE,
    STATE_FILE,
    build_parts,
    discriminator_step,
    pick_device,
    prepare_run,
    resume_state,
    step_inputs,
)
from bridgegan_batch.train.losses import BridgeGANLoss

DISCRIMINATOR_FIELDS = {"disc_channels", "disc_max_channels", "disc_separate_attribute_trunk", "disc_projection"}
# What a loaded part may lack: parts a new option adds, which start (nearly) neutral (D's zero projection,
# `disc_projection`; G's zero skips, `generator_skips`; G's nearly shut keep mask, `generator_keep_mask`).
# Key prefixes.
NEW_DISCRIMINATOR_PARTS = ("embed.weight",)
NEW_GENERATOR_PARTS = ("generator.skips.", "generator.keep.")
# G's options that a state may gain (never lose): each adds one of NEW_GENERATOR_PARTS.
GAINABLE_GENERATOR_FIELDS = {"generator_skips", "generator_keep_mask"}


def start_from(path: str) -> tuple[dict, ModelConfig]:
    """(the parts of a resume state this script uses, its model config), from a state or an export."""
    if Path(path).suffix != ".safetensors":
        state = load_state(path)
        return state, RunConfig.model_validate_json(state["config"]).model
    modules, model, info = load_export(path, ModelConfig)
    # An export holds only the EMA generator side: G continues from it, with a new optimiser, and the EMA
    # keeps its full decay (it is a trained average, as after `train --init` of an export).
    return {"generator": modules["bridge"], "ema": modules["bridge"], "opt_g": None, "ema_ramp": False,
            "discriminator": modules["discriminator"], "step": info.get("step", 0)}, model


def check_same_generator(old: ModelConfig, new: RunConfig) -> None:
    a, b = old.model_dump(), new.model.model_dump()
    changed = sorted(k for k in a if a[k] != b[k] and k not in DISCRIMINATOR_FIELDS
                     and not (k in GAINABLE_GENERATOR_FIELDS and b[k]))
    if changed:
        raise SystemExit(f"model fields {changed} differ from the state's; only {sorted(DISCRIMINATOR_FIELDS)} "
                         f"may, and {sorted(GAINABLE_GENERATOR_FIELDS)} may be switched on")


def load_with_new_parts(module, weights: dict, new_parts: tuple[str, ...], what: str) -> bool:
    """Load `weights`; the module may have only `new_parts` (key prefixes) beyond them. -> whether it had any"""
    missing, unexpected = module.load_state_dict(weights, strict=False)
    if unexpected or any(not k.startswith(new_parts) for k in missing):
        raise SystemExit(f"{what}: the shape changed beyond new parts {list(new_parts)} (missing {missing}, "
                         f"unexpected {unexpected})")
    return bool(missing)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("state")
    parser.add_argument("config")
    parser.add_argument("--out", required=True)
    parser.add_argument("--data", default="synth")
    parser.add_argument("--d-steps", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--keep-weights", action="store_true",
                        help="Start D from the state's D (new parts start at zero); its optimiser is new.")
    args = parser.parse_args()

    state, old = start_from(args.state)
    config = load_yaml(args.config, RunConfig)
    check_same_generator(old, config)
    t = config.train
    batch_size = args.batch_size or t.batch_size
    device = pick_device(args.device)
    parts = build_parts(config, device)  # D and its optimiser are new
    gained = load_with_new_parts(parts.generator, state["generator"], NEW_GENERATOR_PARTS, "generator")
    load_with_new_parts(parts.ema, state["ema"], NEW_GENERATOR_PARTS, "EMA")
    if state["opt_g"] is not None and not gained:  # an optimiser state fits only the parameters it was made for
        parts.opt_g.load_state_dict(state["opt_g"])
    if args.keep_weights:
        load_with_new_parts(parts.discriminator, state["discriminator"], NEW_DISCRIMINATOR_PARTS, "--keep-weights: D")
    step = int(state["step"])
    run = prepare_run(config, data=args.data, out=args.out, name="synth64", resume=False)

    loss = BridgeGANLoss.for_training(parts.generator, parts.discriminator, t)
    groups = group_indices(config.model.attributes, EXCLUSIVE_GROUPS)
    # Another seed than the run's own stream, so these D-only batches are not the faces G meets next.
    stream = batches(args.data, batch_size=batch_size, size=config.model.image_size,
                     attributes=config.model.attributes, seed=t.seed + 7, synth=t.synth,
                     shuffle_buffer=t.shuffle_buffer, workers=t.loader_workers)
    for group in parts.opt_d.param_groups:
        group["lr"] = t.d_lr or t.lr
    began = time.perf_counter()
    for k in range(args.d_steps):  # G is not stepped: its fakes are made without gradients
        images, labels = next(stream)
        batch = step_inputs(images, labels, batch_index=k, seed=t.seed + 7, noise_dim=config.model.noise_dim,
                            single_flip_fraction=t.single_flip_fraction, groups=groups, device=device)
        _, stats = discriminator_step(parts, loss, batch, device)
        if (k + 1) % 100 == 0 or k + 1 == args.d_steps:
            print(json.dumps({"d_step": k + 1, "seconds": round(time.perf_counter() - began, 1),
                              **{key: round(v.item(), 4) for key, v in stats.items()}}), flush=True)
    # The EMA goes on as the source state's did (a state forked by `train --init` keeps its full decay).
    save_state(run / STATE_FILE, resume_state(parts, step, config, state.get("ema_ramp", True)))
    write_export(run / EXPORT_FILE, parts.ema, parts.discriminator, config.model,
                 {"step": step, "data": args.data, "fresh_discriminator_steps": args.d_steps})
    print(f"wrote {run / STATE_FILE} at step {step}")


if __name__ == "__main__":
    main()
