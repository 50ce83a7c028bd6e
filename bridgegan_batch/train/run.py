"""`train`: one run, on this process or data-parallel on Ray Train; the entry the CLI and scripts call."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import torch

from bridgegan_batch.config import RunConfig
from bridgegan_batch.data.arrays import check_data
from bridgegan_batch.errors import UserError
from bridgegan_batch.train.data import check_oversample
from bridgegan_batch.train.distributed import train_on_ray
from bridgegan_batch.train.loop import pick_device, prepare_run, run_loop
from bridgegan_batch.train.losses import GuideLoss
from bridgegan_batch.train.warm_start import write_initial_state


def train(config: RunConfig, *, data, out: str | Path, name: str = "run", resume: bool = False,
          device: str = "auto", progress: bool = True, max_steps_this_call: int | None = None,
          workers: int = 1, gpus_per_worker: float = 0, cpus_per_worker: float = 1,
          minutes: float | None = None, init: str | Path | None = None) -> Path:
    """Train (or continue) a run; returns its folder. `config.train.steps` is the total step count.

    `workers > 1` runs data-parallel on a Ray cluster (Ray Train); see train/distributed.py. `minutes`
    stops the run at that wall-clock time (counted from here), checkpoint and export written; with workers,
    rank 0's clock decides and every rank stops at its step.
    `init` starts a new run at step 0 from an export's weights or another run's resume state (train/warm_start.py).
    """
    if init is not None and resume:
        raise UserError("--init starts a new run and --resume continues one: pass one of them")
    deadline = None if minutes is None else time.monotonic() + 60 * minutes
    check_data(data, config.model.attributes)  # before a run folder exists
    check_oversample(data, config.train.oversample)
    if config.train.guide:  # likewise: the guide file is a judge that knows every model attribute
        GuideLoss.load(config.train.guide, config.model.attributes, torch.device("cpu"))
    run = prepare_run(config, data=data, out=out, name=name, resume=resume)
    if init is not None:
        try:
            write_initial_state(run, config, init)
        except UserError:
            shutil.rmtree(run)  # nothing half-made is left behind
            raise
        resume = True  # the loop continues the state just written
    if workers > 1:
        seconds_left = None if deadline is None else max(0.0, deadline - time.monotonic())
        train_on_ray(config, data=data, run=run, resume=resume, workers=workers, gpus_per_worker=gpus_per_worker,
                     cpus_per_worker=cpus_per_worker, max_steps_this_call=max_steps_this_call,
                     seconds_left=seconds_left)
    else:
        run_loop(config, data=data, run=run, resume=resume, device=pick_device(device), progress=progress,
                 max_steps_this_call=max_steps_this_call, deadline=deadline)
    return run
