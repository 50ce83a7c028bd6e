"""Training throughput of synth64 and celeba128 on this machine's device, and MFU on a GPU.

    python scripts/bench_train.py [--steps 5] [--batch celeba128=4] [--precisions float32,bfloat16] [--out F]

Measures full training steps (D phase + G phase + EMA, as the trainer runs them) on random
inputs, so the figure is the model's cost, not the data pipeline's. img/s counts the images a
step consumes (batch x D steps per G step). On CUDA it uses the trainer's bf16 autocast and also
reports model FLOPs utilisation: FLOPs of one step (torch.utils.flop_counter) / time / peak.
`--precisions` measures each config under each `train.precision`, one after the other in the same run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe, emit  # noqa: E402

from bridgegan_batch.config import RunConfig, load_yaml  # noqa: E402
from bridgegan_batch.train.loop import build_parts, pick_device, train_step  # noqa: E402
from bridgegan_batch.train.losses import Batch, BridgeGANLoss  # noqa: E402

# Dense bf16 peak, for MFU; unknown GPUs report no MFU.
PEAK_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12, "A10": 125e12}


def random_batch(config: RunConfig, batch: int, device: torch.device) -> Batch:
    m = config.model
    n, s = len(m.attributes), m.image_size
    labels = torch.randint(0, 2, (batch, n), device=device).float()
    return Batch(x=torch.rand(batch, 3, s, s, device=device) * 2 - 1, labels=labels, target=labels.roll(1, 0),
                 x_ref=torch.rand(batch, 3, s, s, device=device) * 2 - 1,
                 r1=torch.randn(batch, m.noise_dim, device=device), r2=torch.randn(batch, m.noise_dim, device=device),
                 alpha=torch.rand(batch, device=device), eps=torch.rand(3 * batch, device=device))


def bench(name: str, steps: int, batch: int | None, device: torch.device, precision: str = "auto") -> dict:
    config = load_yaml(Path(__file__).parents[1] / "configs" / f"{name}.yaml", RunConfig)
    config = config.model_copy(update={"train": config.train.model_copy(update={"precision": precision})})
    b = batch or config.train.batch_size
    parts = build_parts(config, device)
    loss = BridgeGANLoss.for_training(parts.generator, parts.discriminator, config.train)
    batches = [random_batch(config, b, device) for _ in range(config.train.d_steps_per_g_step)]

    def step():
        train_step(parts, loss, batches, config.train.ema_decay, device)

    step()  # warm-up
    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps
    images = b * config.train.d_steps_per_g_step
    row = {"config": name, "precision": precision, "batch": b, "d_steps": config.train.d_steps_per_g_step,
           "s_per_step": seconds,
           "img_per_s": images / seconds, "tflop_per_step": flops / 1e12}
    if device.type == "cuda":
        gpu = torch.cuda.get_device_name(device)
        peak = next((v for k, v in PEAK_FLOPS.items() if k in gpu), None)
        row["mfu"] = flops / seconds / peak if peak else None
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", default="", help="batch size overrides, e.g. celeba128=4,synth64=16")
    parser.add_argument("--configs", default="synth64,celeba128")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precisions", default="auto", help="train.precision values to measure, e.g. float32,bfloat16")
    parser.add_argument("--out", default=None, help="also write the table as Markdown here")
    args = parser.parse_args()
    device = pick_device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else describe()
    batch = {k: int(v) for k, v in (item.split("=") for item in args.batch.split(",") if item)}
    rows = [bench(name, args.steps, batch.get(name), device, precision)
            for name in args.configs.split(",") for precision in args.precisions.split(",")]
    lines = ["# Training throughput", "", f"Device: {where}; torch {torch.__version__}; "
             f"`python scripts/bench_train.py {' '.join(sys.argv[1:])}`.", "",
             "| config | precision | batch | D steps per G step | s/step | speed-up over the config's first row "
             "| img/s | TFLOP/step | MFU |",
             "|---|---|---|---|---|---|---|---|---|"]
    first = {}
    for r in rows:
        mfu = f"{100 * r['mfu']:.1f} %" if r.get("mfu") else "—"
        base = first.setdefault(r["config"], r["s_per_step"])
        lines.append(f"| {r['config']} | {r['precision']} | {r['batch']} | {r['d_steps']} | {r['s_per_step']:.3f} | "
                     f"{base / r['s_per_step']:.2f}x | {r['img_per_s']:.1f} | {r['tflop_per_step']:.3f} | {mfu} |")
    emit("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
