"""Data-parallel training on a Ray cluster (Ray Train's TorchTrainer): one worker per GPU, or CPU workers.

Gradients are averaged with one all-reduce per network per update rather than by wrapping the
networks in DistributedDataParallel: the losses call E, M and G through several methods
(source_code, label_code, ...), which DDP's forward hooks would not see. Every rank starts from
the same seed, so the weights stay identical; only rank 0 writes to the run folder.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

from bridgegan_batch.config import RunConfig
from bridgegan_batch.ray_session import RaySession

RANKS_FILE = "ranks.json"


def average_gradients(module: torch.nn.Module) -> None:
    """All-reduce and average the gradients of `module` across the process group, in one buffer."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    for grad, synced in zip(grads, _unflatten_dense_tensors(flat, grads), strict=True):
        grad.copy_(synced)


def rank_0_decides(flag: bool, device: torch.device) -> bool:
    """Rank 0's `flag` on every rank: a time limit read from one clock, so that all ranks stop at one step."""
    value = torch.tensor([float(flag)], device=device)
    dist.broadcast(value, src=0)
    return bool(value.item())


def _worker(cfg: dict) -> None:
    import ray.train
    import ray.train.torch

    from bridgegan_batch.train.loop import run_loop

    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    torch.set_num_threads(max(1, int(cfg["threads"])))
    run = Path(cfg["run"])
    # The time limit counts from when this worker starts; only rank 0's clock is read (rank_0_decides).
    deadline = None if cfg["seconds_left"] is None else time.monotonic() + cfg["seconds_left"]
    result = run_loop(RunConfig.model_validate_json(cfg["config"]), data=cfg["data"], run=run, resume=cfg["resume"],
                      device=ray.train.torch.get_device(), progress=False,
                      max_steps_this_call=cfg["max_steps"], rank=rank, world=world, sync=average_gradients,
                      deadline=deadline, agree=rank_0_decides)
    # Every rank reports what it did; rank 0 writes the list (the test checks both ranks stepped).
    gathered: list = [None] * world
    dist.all_gather_object(gathered, result)
    if rank == 0:
        (run / RANKS_FILE).write_text(json.dumps(gathered, indent=2))


def train_on_ray(config: RunConfig, *, data, run: Path, resume: bool, workers: int, gpus_per_worker: float,
                 cpus_per_worker: float, max_steps_this_call: int | None, seconds_left: float | None = None) -> None:
    """Run the training loop on `workers` Ray Train workers (gloo on CPU, nccl on GPU).

    Joins the Ray cluster of RAY_ADDRESS, or starts a local one. The run folder must be on storage
    every worker can reach (a shared filesystem on a multi-node cluster).
    """
    from ray.train import RunConfig as RayRunConfig
    from ray.train import ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    session = RaySession(os.environ.get("RAY_ADDRESS", ""))
    session.ensure()
    try:
        use_gpu = gpus_per_worker > 0
        resources = {"CPU": cpus_per_worker, **({"GPU": gpus_per_worker} if use_gpu else {})}
        trainer = TorchTrainer(
            _worker,
            train_loop_config={"config": config.model_dump_json(), "data": data, "run": str(run.resolve()),
                               "resume": resume, "max_steps": max_steps_this_call, "threads": max(1, cpus_per_worker),
                               "seconds_left": seconds_left},
            scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu, resources_per_worker=resources),
            torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
            run_config=RayRunConfig(storage_path=str((run / "ray").resolve()), name="train"),
        )
        trainer.fit()
    finally:
        session.close()
