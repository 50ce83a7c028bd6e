"""The training loop: builds the parts, then orchestrates batches, phases, EMA, logs and checkpoints."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from bridgegan_batch.config import RunConfig
from bridgegan_batch.data.attributes import EXCLUSIVE_GROUPS, group_indices
from bridgegan_batch.errors import UserError
from bridgegan_batch.model.bridge import BridgeGenerator, build_discriminator
from bridgegan_batch.model.checkpoint import load_state, save_state, write_export
from bridgegan_batch.model.pixels import to_tensor
from bridgegan_batch.train.data import batches
from bridgegan_batch.train.ema import ema_decay_at, update_ema
from bridgegan_batch.train.losses import Batch, BridgeGANLoss
from bridgegan_batch.train.sample_grid import sample_grid
from bridgegan_batch.train.schedule import autoencoding, latent_weight_scale, learning_rate
from bridgegan_batch.train.targets import sample_targets, second_references

STATE_FILE = "state.pt"
EXPORT_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


def new_run_dir(root: Path, name: str) -> Path:
    """root/00000-name, numbered one above the highest existing run."""
    root.mkdir(parents=True, exist_ok=True)
    numbers = [int(m.group(1)) for p in root.iterdir() if (m := re.match(r"(\d{5})-", p.name))]
    run = root / f"{max(numbers, default=-1) + 1:05d}-{name}"
    run.mkdir()
    return run


def latest_run_dir(root: Path) -> Path:
    runs = sorted(p for p in root.glob("[0-9][0-9][0-9][0-9][0-9]-*") if (p / STATE_FILE).exists())
    if not runs:
        raise UserError(f"--resume: no run with a {STATE_FILE} under {root}")
    return runs[-1]


def step_inputs(images: torch.Tensor, labels: torch.Tensor, *, batch_index: int, seed: int,
                noise_dim: int, single_flip_fraction: float, groups: list[list[int]],
                device: torch.device, second_reference: bool = False) -> Batch:
    """Everything random about one batch, drawn from a generator seeded by (seed, batch index); a second
    reference per row only when asked (the reference path's mode seeking)."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + batch_index)
    x = to_tensor(images.numpy())  # [B, 3, H, W]
    target, ref_index = sample_targets(labels, gen, single_flip_fraction, groups)
    b = x.shape[0]
    fields = dict(x=x, labels=labels, target=target, x_ref=x[ref_index], ref_labels=labels[ref_index],
                  r1=torch.randn(b, noise_dim, generator=gen), r2=torch.randn(b, noise_dim, generator=gen),
                  alpha=torch.rand(b, generator=gen), eps=torch.rand(3 * b, generator=gen))
    augment_seed = int(torch.randint(0, 2**62, (1,), generator=gen))
    if second_reference:  # drawn after the fields above, so that they do not depend on it
        fields["x_ref2"] = x[second_references(labels, target, ref_index, gen)]
    return Batch(**{k: v.to(device, non_blocking=True) for k, v in fields.items()}, augment_seed=augment_seed)


@dataclass
class Parts:
    generator: BridgeGenerator
    discriminator: torch.nn.Module
    ema: BridgeGenerator
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    autocast: torch.dtype | None = None  # the dtype each step's forward passes autocast to (None: float32)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """What `train.precision` means on `device`: "auto" is bf16 on CUDA and exact float32 elsewhere."""
    if precision == "bfloat16" or (precision == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


# CPU flags of native bf16 arithmetic: x86's AVX-512 and AMX extensions, Arm's BF16 ("Features" in cpuinfo).
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def cpu_emulates_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU lacks bf16 instructions, by /proc/cpuinfo's flags (False where it cannot be read)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
    flags = {word for line in cpuinfo.splitlines() for key, _, value in [line.partition(":")]
             if key.strip() in ("flags", "Features") for word in value.split()}
    return bool(flags) and not flags & NATIVE_BF16_FLAGS


def warn_if_emulated_bf16(parts: Parts, device: torch.device) -> None:
    """bf16 autocast on a CPU that emulates it is a trap, not a speed-up: say so before the first step."""
    if parts.autocast == torch.bfloat16 and device.type == "cpu" and cpu_emulates_bf16():
        # Measured on a 2-core AMD EPYC with AVX2 only: a synth64_finetune step took 91 s in bf16, 4.3 s in float32.
        warnings.warn("train.precision is bfloat16, but this CPU has no bf16 instructions (no avx512_bf16, "
                      "amx_bf16 or bf16 flag in /proc/cpuinfo): bf16 is emulated here and a step can run 20 "
                      "times slower than float32. Pass --set train.precision=float32.", stacklevel=2)


def build_parts(config: RunConfig, device: torch.device) -> Parts:
    torch.manual_seed(config.train.seed)
    g = BridgeGenerator(config.model).to(device)
    d = build_discriminator(config.model).to(device)
    ema = copy.deepcopy(g).eval().requires_grad_(False)
    if device.type == "cuda":  # tensor cores prefer NHWC
        for module in (g, d, ema):
            module.to(memory_format=torch.channels_last)
    if config.train.compile:
        for module in (g.encoder, g.mapping, g.generator, d):
            module.compile()  # in place: state-dict keys stay the same
    t = config.train
    betas = (t.beta1, t.beta2)
    return Parts(g, d, ema, torch.optim.Adam(g.parameters(), lr=t.lr, betas=betas),
                 torch.optim.Adam(d.parameters(), lr=t.lr, betas=betas), autocast_dtype(t.precision, device))


def autocast_on(parts: Parts, device: torch.device):
    """The step's autocast (`Parts.autocast`); a no-op for float32. D's heads stay float32 inside it."""
    return torch.autocast(device.type, dtype=parts.autocast or torch.bfloat16, enabled=parts.autocast is not None)


def discriminator_step(parts: Parts, loss: BridgeGANLoss, batch: Batch, device: torch.device,
                       sync: Callable[[torch.nn.Module], None] | None = None) -> tuple[torch.Tensor, dict]:
    """One D update on `batch`. Returns D's loss and its terms."""
    with autocast_on(parts, device):
        d_loss, d_stats = loss.discriminator_phase(batch)
    parts.opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    if sync is not None:
        sync(parts.discriminator)
    parts.opt_d.step()
    return d_loss, d_stats


def train_step(parts: Parts, loss: BridgeGANLoss, batches: list[Batch], ema_decay: float, device: torch.device,
               sync: Callable[[torch.nn.Module], None] | None = None,
               latent_scale: float = 1.0, autoencode: bool = False) -> dict[str, torch.Tensor]:
    """One generator step: a D step on each batch, then a G step on the last one, then EMA.
    Returns every loss term as a detached tensor (the last D step's, and G's). With `autoencode`
    (the warm start), G's step is self-reconstruction alone and D takes no step.

    `sync(module)` averages a module's gradients across data-parallel ranks before each update.
    """
    if autoencode:
        with autocast_on(parts, device):
            g_loss, g_stats = loss.reconstruction_phase(batches[-1])
        _generator_update(parts, g_loss, sync)
        update_ema(parts.ema, parts.generator, ema_decay)
        return {**g_stats, "g/loss": g_loss.detach()}
    for batch in batches:
        d_loss, d_stats = discriminator_step(parts, loss, batch, device, sync)
    parts.discriminator.requires_grad_(False)  # G's step needs no gradient for D's weights
    with autocast_on(parts, device):
        g_loss, g_stats = loss.generator_phase(batches[-1], latent_scale)
    _generator_update(parts, g_loss, sync)
    parts.discriminator.requires_grad_(True)
    update_ema(parts.ema, parts.generator, ema_decay)
    return {**d_stats, **g_stats, "d/loss": d_loss.detach(), "g/loss": g_loss.detach()}


def _generator_update(parts: Parts, g_loss: torch.Tensor, sync: Callable[[torch.nn.Module], None] | None) -> None:
    parts.opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    if sync is not None:
        sync(parts.generator)
    parts.opt_g.step()


def resume_state(parts: Parts, step: int, config: RunConfig, ema_ramp: bool = True) -> dict:
    """Everything a run continues from. `ema_ramp` False: the EMA began as a trained average (train --init), so
    the decay does not ramp up from 0 and throw it away in the first few dozen steps."""
    return {"step": step, "config": config.model_dump_json(), "ema_ramp": ema_ramp,
            "generator": parts.generator.state_dict(), "discriminator": parts.discriminator.state_dict(),
            "ema": parts.ema.state_dict(), "opt_g": parts.opt_g.state_dict(), "opt_d": parts.opt_d.state_dict(),
            "torch_rng": torch.get_rng_state()}


def restore_state(parts: Parts, state: dict) -> int:
    """Load a resume state into `parts` (weights, EMA, D, both optimisers, torch's RNG); returns its step."""
    parts.generator.load_state_dict(state["generator"])
    parts.discriminator.load_state_dict(state["discriminator"])
    parts.ema.load_state_dict(state["ema"])
    parts.opt_g.load_state_dict(state["opt_g"])
    parts.opt_d.load_state_dict(state["opt_d"])
    torch.set_rng_state(state["torch_rng"])
    return int(state["step"])


def tensorboard_writer(run: Path, purge_step: int = 0):
    """A TensorBoard writer for the run when the tensorboard package is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(run / "tensorboard"), purge_step=purge_step or None)


def _truncate_stats(path: Path, step: int) -> None:
    """Keep the records of steps up to `step`."""
    if path.exists():
        kept = [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= step]
        path.write_text("".join(line + "\n" for line in kept))


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# Train settings a resumed run may change; any other change would alter its method. The batch size may
# grow when a run moves to a GPU: the data stream is only re-positioned, and its faces are new either way.
RESUMABLE_CHANGES = {"steps", "log_every", "sample_every", "checkpoint_every", "loader_workers", "compile",
                     "decay_start", "batch_size", "d_steps_per_g_step", "precision"}


def prepare_run(config: RunConfig, *, data, out: str | Path, name: str, resume: bool) -> Path:
    """The run folder: a new numbered one, or the newest one when resuming (same model and method)."""
    root = Path(out)
    if resume:
        run = latest_run_dir(root)
        saved = RunConfig.model_validate_json(load_state(run / STATE_FILE)["config"])
        if saved.model != config.model:
            raise UserError(f"--resume: {run} was trained with another model config; "
                            "resume with the config in its config.json")
        old, new = saved.train.model_dump(), config.train.model_dump()
        changed = sorted(k for k in new if k not in RESUMABLE_CHANGES and new[k] != old[k])
        if changed:
            raise UserError(f"--resume: train settings {changed} differ from {run}'s; "
                            f"only {sorted(RESUMABLE_CHANGES)} may change on resume")
    else:
        run = new_run_dir(root, name)
    record = {"data": data, **config.model_dump(mode="json")}
    if config.train.guide:  # the path alone would not say which classifier guided the run (train() checked it)
        record["guide_sha256"] = hashlib.sha256(Path(config.train.guide).read_bytes()).hexdigest()
    (run / CONFIG_FILE).write_text(json.dumps(record, indent=2))
    (run / "samples").mkdir(exist_ok=True)
    return run


def run_loop(config: RunConfig, *, data, run: Path, resume: bool, device: torch.device, progress: bool = True,
             max_steps_this_call: int | None = None, rank: int = 0, world: int = 1,
             sync: Callable[[torch.nn.Module], None] | None = None, deadline: float | None = None,
             agree: Callable[[bool, torch.device], bool] | None = None) -> dict:
    """The loop on one process. With `world > 1`, each rank reads its own batches, `sync` averages
    gradients across ranks, and only rank 0 writes. With `deadline` (a time.monotonic() value), the step that
    ends past it is the last: its checkpoint and export are written; across ranks, `agree` gives every rank
    rank 0's verdict. Returns what this rank did."""
    t = config.train
    parts = build_parts(config, device)
    if rank == 0:
        warn_if_emulated_bf16(parts, device)
    state = load_state(run / STATE_FILE) if resume else {}
    start = restore_state(parts, state) if state else 0
    ema_ramp = state.get("ema_ramp", True)  # a new run ramps, and so did states written before the flag
    del state  # its tensors are in `parts` now
    writer = rank == 0
    groups = group_indices(config.model.attributes, EXCLUSIVE_GROUPS)
    loss = BridgeGANLoss.for_training(parts.generator, parts.discriminator, t, config.model.attributes)
    per_step = t.d_steps_per_g_step
    stream = batches(data, batch_size=t.batch_size, size=config.model.image_size,
                     attributes=config.model.attributes, seed=t.seed, synth=t.synth,
                     shuffle_buffer=t.shuffle_buffer, workers=t.loader_workers, start=start * per_step,
                     rank=rank, world=world, oversample=t.oversample)
    fixed = next(batches(data, batch_size=8, size=config.model.image_size, attributes=config.model.attributes,
                         seed=t.seed + 1, synth=t.synth, shuffle_buffer=64, workers=0))
    fixed_x, fixed_labels = to_tensor(fixed[0].numpy()).to(device), fixed[1].to(device)

    def inputs(local_index: int) -> Batch:
        images, labels = next(stream)
        return step_inputs(images, labels, batch_index=local_index * world + rank, seed=t.seed,
                           noise_dim=config.model.noise_dim, single_flip_fraction=t.single_flip_fraction,
                           groups=groups, device=device, second_reference=t.losses.needs_second_reference)

    end = t.steps if max_steps_this_call is None else min(t.steps, start + max_steps_this_call)
    if writer and resume:
        _truncate_stats(run / "stats.jsonl", start)  # a crash after the last checkpoint logged steps past it
    stats_file = (run / "stats.jsonl").open("a") if writer else None
    board = tensorboard_writer(run, purge_step=start) if writer else None
    bar = tqdm(range(start, end), initial=start, total=t.steps, unit="it", disable=not (progress and writer),
               desc="train")
    tick, images_seen, label_sum = time.perf_counter(), 0, 0.0
    for step in bar:
        lr = learning_rate(step, t)
        d_factor = (t.d_lr or t.lr) / t.lr  # the schedule's shape, at D's own scale
        for opt, rate in ((parts.opt_g, lr), (parts.opt_d, lr * d_factor)):
            for group in opt.param_groups:
                group["lr"] = rate
        step_batches = [inputs(step * per_step + k) for k in range(per_step)]
        label_sum = label_sum + sum(b.labels.sum() for b in step_batches)
        stats = train_step(parts, loss, step_batches, ema_decay_at(step, t.ema_decay, ema_ramp), device, sync,
                           latent_weight_scale(step, t), autoencoding(step, t))
        images_seen += t.batch_size * per_step * world

        done = step + 1
        past = deadline is not None and time.monotonic() >= deadline
        if deadline is not None and agree is not None:
            past = agree(past, device)
        last = done == end or past
        if not writer:
            if last:
                break
            continue
        if done % t.log_every == 0 or last:
            now = time.perf_counter()
            record = {"step": done, "lr": lr, "img_per_s": images_seen / (now - tick),
                      **{k: v.item() for k, v in stats.items()}}
            stats_file.write(json.dumps(record) + "\n")
            stats_file.flush()
            if board is not None:
                for key, value in record.items():
                    if key != "step":
                        board.add_scalar(key, value, done)
            bar.set_postfix(img_s=f"{record['img_per_s']:.1f}", g=f"{record['g/loss']:.2f}")
            tick, images_seen = now, 0
        if done % t.sample_every == 0 or last:
            sample_grid(parts.ema, fixed_x, fixed_labels, groups).save(run / "samples" / f"{done:07d}.png")
        if done % t.checkpoint_every == 0 or last:
            save_state(run / STATE_FILE, resume_state(parts, done, config, ema_ramp))
            write_export(run / EXPORT_FILE, parts.ema, parts.discriminator, config.model, {"step": done, "data": data})
        if last:
            break
    if stats_file is not None:
        stats_file.close()
    if board is not None:
        board.close()
    checksum = sum(p.double().sum().item() for p in parts.generator.parameters())
    return {"rank": rank, "steps": done - start if end > start else 0, "label_sum": float(label_sum),
            "weights_checksum": checksum}
