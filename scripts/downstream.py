"""The downstream benchmark: does balanced augmentation help a glasses classifier trained on skewed data?

A benchmark, not part of the package: it runs the repository's jobs/glasses_aug.yaml through the CLI as a user
would. scripts/bench_downstream.py is its command.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bridgegan_batch.config import GLASSES_SHAPES, SynthConfig
from bridgegan_batch.data.parallel import ordered_map
from bridgegan_batch.data.provenance import read_provenance
from bridgegan_batch.data.reader import DatasetReader
from bridgegan_batch.data.synth_dataset import write_synth_dataset
from bridgegan_batch.data.synthfaces import FaceRecord, render, sample_record, with_attributes
from bridgegan_batch.errors import ConfigError, DataError
from bridgegan_batch.model.pixels import to_tensor
from bridgegan_batch.model.translator import DEFAULT_MODEL

ATTRIBUTE = "Eyeglasses"
CONDITIONS = ("imbalanced", "oversample", "bridgegan", "balanced_real")
METRICS = ("balanced_accuracy", "minority_recall")
DEFAULT_JOB = Path(__file__).resolve().parents[1] / "jobs" / "glasses_aug.yaml"
GOAL_FRACTION = 0.5  # (c) must close at least half of the gap from (a) to (d)


# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    """Sizes, the classifier recipe (one for every condition) and the random streams of one benchmark."""

    n_train: int = 2000  # faces in the imbalanced training set (also the augmentation job's input)
    glasses_fraction: float = 0.05  # Eyeglasses prior of the imbalanced set
    n_test: int = 1000  # balanced test set: exactly half wear glasses
    image_size: int = 64
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)  # classifier seeds (initialisation and batch order); data is fixed
    epochs: int = 10
    batch_size: int = 64
    lr: float = 2e-3
    width: int = 16  # the classifier's first conv width (then 2x, 4x, 4x)
    # Small convs on 2 shared cores: one torch thread ran 5-10x faster than two, and steadier (measured).
    threads: int = 1
    # SynthFaces streams, all distinct so that no face is in two sets.
    train_stream: int = 101
    test_stream: int = 202
    real_stream: int = 303
    augment_seed: int = 404  # the oversampling's flips and colour jitter
    # Frame shapes the held-out-style run keeps out of training (its test glasses use only these);
    # () skips that run.
    held_out_shapes: tuple[str, ...] = ("aviator", "cateye")
    shard_size: int = 500  # input shards of the job
    workers: int = 2  # processes rendering SynthFaces

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> ValueError:
            return ValueError(f"Settings.{name}: {why}, got {getattr(self, name)!r}")

        for name in ("n_train", "n_test", "epochs", "batch_size", "width", "threads", "shard_size", "workers"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise bad(name, "must be a positive int")
        if self.n_train < 40:
            raise bad("n_train", "must be at least 40 (the job needs faces with glasses to use as references)")
        if self.n_test < 2 or self.n_test % 2:
            raise bad("n_test", "must be even and at least 2 (exactly half wear glasses)")
        if not 0.0 < self.glasses_fraction < 0.5:
            raise bad("glasses_fraction", "must be in (0, 0.5): glasses are the minority")
        if self.image_size not in (64, 128):  # the sizes SynthFaces renders
            raise bad("image_size", "must be 64 or 128")
        if not self.lr > 0:
            raise bad("lr", "must be > 0")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or not all(type(s) is int for s in self.seeds):
            raise bad("seeds", "must be distinct ints, at least one")
        if len({self.train_stream, self.test_stream, self.real_stream}) != 3:
            raise ValueError("Settings.train_stream, test_stream and real_stream must differ: a face in two sets "
                             "would leak between training and test")
        unknown = [s for s in self.held_out_shapes if s not in GLASSES_SHAPES]
        if unknown or len(set(self.held_out_shapes)) >= len(GLASSES_SHAPES):
            raise bad("held_out_shapes", f"must be distinct shapes from {list(GLASSES_SHAPES)}, leaving at least "
                                         "one for training")

    @classmethod
    def full(cls) -> Settings:
        """The reported benchmark: about 8 minutes on 2 CPU cores."""
        return cls()

    @classmethod
    def quick(cls) -> Settings:
        """Tiny sizes, same code path (real job, both runs, two seeds for a spread): about a minute. Its numbers
        mean nothing."""
        return cls(n_train=200, n_test=100, epochs=2, shard_size=100, seeds=(0, 1))

    @property
    def train_shapes(self) -> tuple[str, ...]:
        """The frame shapes the held-out-style run trains on."""
        return tuple(s for s in GLASSES_SHAPES if s not in self.held_out_shapes)


# ----------------------------------------------------------------------------- data


@dataclass
class Faces:
    """Images and their glasses label, in memory."""

    images: np.ndarray  # [N, H, W, 3] uint8
    labels: np.ndarray  # [N] int64, 1 = Eyeglasses

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.shape[-1] != 3 or self.images.dtype != np.uint8:
            raise ValueError(f"Faces.images: expected [N, H, W, 3] uint8, got {self.images.shape} {self.images.dtype}")
        if self.labels.shape != (len(self.images),):
            raise ValueError(f"Faces.labels: expected shape ({len(self.images)},), got {self.labels.shape}")
        if not np.isin(self.labels, (0, 1)).all():
            raise ValueError("Faces.labels: every label must be 0 or 1")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def positive_fraction(self) -> float:
        return float(self.labels.mean()) if len(self) else 0.0


def concat(*parts: Faces) -> Faces:
    return Faces(np.concatenate([p.images for p in parts]), np.concatenate([p.labels for p in parts]))


def write_train_set(directory: str | Path, settings: Settings, shapes: Sequence[str] = GLASSES_SHAPES) -> str:
    """The imbalanced training set, as WebDataset shards on disk: the job's input. Glasses are drawn with
    probability `glasses_fraction` (so ~5 %, not exactly), frames from `shapes`."""
    config = SynthConfig(priors={ATTRIBUTE: settings.glasses_fraction}, glasses_shapes=tuple(shapes))
    write_synth_dataset(str(directory), n=settings.n_train, size=settings.image_size, seed=settings.train_stream,
                        config=config, shard_size=settings.shard_size, workers=settings.workers)
    return str(directory)


def read_faces(patterns: str | Sequence[str], size: int) -> tuple[Faces, Counter]:
    """Every sample of some shards, decoded at `size`, and how many of each provenance op (the job's
    output) or 'input' (plain shards). Any unreadable or unlabelled sample is an error: a benchmark
    must not quietly train on less."""
    reader = DatasetReader(patterns, decode=True, size=size)
    images, labels, ops = [], [], Counter()
    for sample in reader:
        if ATTRIBUTE not in sample.attributes:
            raise DataError(f"{sample.shard} [{sample.key}]: no {ATTRIBUTE} label")
        images.append(sample.pixels)  # [H, W, 3] uint8
        labels.append(sample.attributes[ATTRIBUTE])
        ops[read_provenance(sample.meta).get("kind", "input")] += 1
    if reader.failures:
        raise DataError(f"{len(reader.failures)} samples could not be read, e.g. {reader.failures[0]}")
    if not images:
        raise DataError(f"{patterns}: no samples")
    return Faces(np.stack(images), np.array(labels, dtype=np.int64)), ops


def balanced_record(index: int, *, stream: int, config: SynthConfig) -> FaceRecord:
    """Face `index` of `stream` with glasses exactly on odd indices: the rest of the face is as drawn."""
    return with_attributes(sample_record(stream, index, config), {ATTRIBUTE: index % 2})


def _render_balanced(index: int, *, stream: int, config: SynthConfig, size: int) -> np.ndarray:
    return render(balanced_record(index, stream=stream, config=config), size)  # [H, W, 3] uint8


def render_balanced(n: int, *, stream: int, shapes: Sequence[str], size: int, workers: int = 1) -> Faces:
    """`n` faces, half with glasses (frames from `shapes`), other attributes at CelebA's rates."""
    if n < 2:
        raise ValueError(f"render_balanced: n must be at least 2, got {n}")
    config = SynthConfig(glasses_shapes=tuple(shapes))
    make = partial(_render_balanced, stream=stream, config=config, size=size)
    images = np.stack(list(ordered_map(make, range(n), workers)))  # [n, H, W, 3]
    return Faces(images, np.arange(n, dtype=np.int64) % 2)


def jitter(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random horizontal flip and colour jitter (brightness, contrast, saturation, each x[0.8, 1.2]) per
    image, as torchvision's ColorJitter(0.2, 0.2, 0.2) does. [N, H, W, 3] uint8 -> same"""
    x = images.astype(np.float32)
    n = len(x)
    flip = rng.random(n) < 0.5
    x[flip] = x[flip, :, ::-1]
    factors = rng.uniform(0.8, 1.2, size=(3, n, 1, 1, 1)).astype(np.float32)
    x = x * factors[0]  # brightness
    gray = x @ np.array([0.299, 0.587, 0.114], np.float32)  # [N, H, W]
    mean = gray.mean(axis=(1, 2))[:, None, None, None]  # [N, 1, 1, 1]
    x = (x - mean) * factors[1] + mean  # contrast
    gray = (x @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]  # [N, H, W, 1]
    x = (x - gray) * factors[2] + gray  # saturation
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def oversample(faces: Faces, seed: int) -> Faces:
    """The set plus jittered copies of its minority class until both classes are equal: what users do
    today. Originals come first, unchanged; copies cycle through the minority in a seeded order."""
    counts = np.bincount(faces.labels, minlength=2)
    if counts.min() == 0:
        raise ValueError(f"oversample: needs both classes, got {counts[0]} negatives and {counts[1]} positives")
    minority = int(counts.argmin())
    need = int(counts.max() - counts.min())
    if need == 0:
        return faces
    rng = np.random.default_rng(seed)
    pool = np.flatnonzero(faces.labels == minority)
    order = np.concatenate([rng.permutation(pool) for _ in range(-(-need // len(pool)))])[:need]
    copies = Faces(jitter(faces.images[order], rng), np.full(need, minority, dtype=np.int64))
    return concat(faces, copies)


# ----------------------------------------------------------------------------- classifier


class GlassesNet(nn.Module):
    """A small binary classifier. [B, 3, H, W] in [-1, 1] -> [B] logits of Eyeglasses."""

    def __init__(self, width: int = 16):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for c in (width, 2 * width, 4 * width, 4 * width):  # each halves the side: 64 -> 4
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.BatchNorm2d(c), nn.ReLU()]
            c_in = c
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3))).squeeze(1)  # [B]


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    """Run a block with `n` torch threads, restoring the count after."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_classifier(faces: Faces, settings: Settings, seed: int) -> GlassesNet:
    """The one recipe every condition gets: Adam, `epochs` passes over the set in a seeded order, BCE."""
    if len(np.unique(faces.labels)) < 2:
        raise ValueError("train_classifier: the training set must hold both classes")
    with _threads(settings.threads), torch.random.fork_rng():  # leave the caller's random state alone
        torch.manual_seed(seed)
        net = GlassesNet(settings.width)
        opt = torch.optim.Adam(net.parameters(), lr=settings.lr)
        order = torch.Generator().manual_seed(seed)
        labels = torch.from_numpy(faces.labels).float()  # [N]
        net.train()
        for _ in range(settings.epochs):
            for idx in torch.randperm(len(faces), generator=order).split(settings.batch_size):
                x = to_tensor(faces.images[idx.numpy()])  # [B, 3, H, W] in [-1, 1]
                loss = F.binary_cross_entropy_with_logits(net(x), labels[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    return net.eval()


@torch.no_grad()
def predict(net: GlassesNet, images: np.ndarray, threads: int = 1, batch: int = 256) -> np.ndarray:
    """0/1 predictions (logit > 0). [N, H, W, 3] uint8 -> [N] int64"""
    net.eval()
    with _threads(threads):
        out = [(net(to_tensor(images[i:i + batch])) > 0).long() for i in range(0, len(images), batch)]
    return torch.cat(out).numpy()


# ----------------------------------------------------------------------------- metrics


def _check_binary(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim != 1 or y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must be 1-D and the same length, got {y_true.shape} and {y_pred.shape}")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if not np.isin(y, (0, 1)).all():
            raise ValueError(f"{name}: every value must be 0 or 1")
    for cls in (0, 1):
        if not (y_true == cls).any():
            raise ValueError(f"y_true: holds no {cls}s; balanced accuracy needs both classes")
    return y_true, y_pred


def minority_recall(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Recall of class 1 (Eyeglasses, the training minority): the fraction of glasses found."""
    y_true, y_pred = _check_binary(y_true, y_pred)
    return float((y_pred[y_true == 1] == 1).mean())


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """The mean of the two classes' recalls: 0.5 for a constant guess, whatever the class balance."""
    y_true, y_pred = _check_binary(y_true, y_pred)
    return float(((y_pred[y_true == 1] == 1).mean() + (y_pred[y_true == 0] == 0).mean()) / 2)


def mean_std(values: Sequence[float]) -> dict[str, float]:
    """Mean and sample standard deviation (ddof 1; 0 for a single value)."""
    if not len(values):
        raise ValueError("mean_std: no values")
    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0}


def goal_check(conditions: dict[str, dict]) -> dict:
    """The issue's goal on balanced accuracy: (c) beats (b) by more than twice the seeds' standard deviation
    (the larger of the two conditions'), and (c) closes at least half of the gap from (a) to (d).
    `fraction_closed` is None when (d) does not beat (a) (no gap to close)."""
    missing = [c for c in CONDITIONS if c not in conditions]
    if missing:
        raise ValueError(f"goal_check: conditions {missing} missing")
    a, b, c, d = (conditions[name]["balanced_accuracy"]["mean"] for name in CONDITIONS)
    spread = max(conditions[name]["balanced_accuracy"]["std"] for name in ("oversample", "bridgegan"))
    fraction = (c - a) / (d - a) if d > a else None
    beats = c - b > 2 * spread
    half = fraction is not None and fraction >= GOAL_FRACTION
    return {"metric": "balanced_accuracy", "lead_over_oversample": c - b, "two_std": 2 * spread,
            "bridgegan_beats_oversample": beats, "fraction_closed": fraction,
            "closes_half_the_gap": half, "holds": beats and half}


# ----------------------------------------------------------------------------- the augmentation job


def run_augmentation_job(input_dir: str, output_dir: str, *, job_path: str | Path = DEFAULT_JOB,
                         model_path: str | None = None) -> float:
    """Run the real batch job (`bridgegan-batch run JOB --set ...`) on `input_dir` into `output_dir`, in a
    subprocess as a user would; its own embedded Ray. Returns its wall seconds."""
    cmd = [sys.executable, "-m", "bridgegan_batch.cli", "run", str(job_path), "--set", f"input.uri={input_dir}",
           "--set", "input.synth=null",
           "--set", f"output.uri={output_dir}", "--no-progress"]
    if model_path is not None:
        cmd += ["--set", f"model.path={model_path}"]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-3000:]
        raise RuntimeError(f"the augmentation job failed (exit {done.returncode}): {' '.join(cmd)}\n{tail}")
    return time.perf_counter() - t0


# ----------------------------------------------------------------------------- one run, then both


def run_setting(settings: Settings, workdir: Path, *, train_shapes: Sequence[str], test_shapes: Sequence[str],
                job_path: str | Path, model_path: str | None, log: Callable[[str], None] = print) -> dict:
    """The four conditions on one pair of training and test distributions, each trained with every seed.

    Data is made once: the job runs once and its output serves all seeds; the seeds vary the
    classifier's initialisation and batch order."""
    t0 = time.perf_counter()
    size = settings.image_size
    train_dir, job_dir = workdir / "train", workdir / "job"
    write_train_set(train_dir, settings, train_shapes)
    imbalanced, _ = read_faces(str(train_dir), size)
    test = render_balanced(settings.n_test, stream=settings.test_stream, shapes=test_shapes, size=size,
                           workers=settings.workers)
    log(f"  imbalanced set: {len(imbalanced)} faces, {100 * imbalanced.positive_fraction:.1f} % glasses; "
        f"running the job ...")
    job_seconds = run_augmentation_job(str(train_dir), str(job_dir), job_path=job_path, model_path=model_path)
    augmented, ops = read_faces(str(job_dir), size)
    if ops.get("original", 0) != len(imbalanced):
        raise DataError(f"{job_dir}: expected the job to keep the {len(imbalanced)} originals "
                        f"(output.include_originals), found {ops.get('original', 0)}")
    real = render_balanced(len(augmented), stream=settings.real_stream, shapes=train_shapes, size=size,
                           workers=settings.workers)
    sets = {"imbalanced": imbalanced, "oversample": oversample(imbalanced, settings.augment_seed),
            "bridgegan": augmented, "balanced_real": real}
    data_seconds = time.perf_counter() - t0

    per_seed: dict[str, dict[str, list[float]]] = {name: {m: [] for m in METRICS} for name in CONDITIONS}
    t1 = time.perf_counter()
    for name in CONDITIONS:
        for seed in settings.seeds:
            pred = predict(train_classifier(sets[name], settings, seed), test.images, settings.threads)
            per_seed[name]["balanced_accuracy"].append(balanced_accuracy(test.labels, pred))
            per_seed[name]["minority_recall"].append(minority_recall(test.labels, pred))
        scores = per_seed[name]
        log(f"  {name:14s} balanced accuracy {mean_std(scores['balanced_accuracy'])['mean']:.3f}, "
            f"minority recall {mean_std(scores['minority_recall'])['mean']:.3f} ({len(sets[name])} faces)")
    conditions = {name: {m: mean_std(per_seed[name][m]) for m in METRICS} for name in CONDITIONS}
    return {
        "conditions": conditions,
        "goal": goal_check(conditions),
        "per_seed": per_seed,
        "train_shapes": list(train_shapes),
        "test_shapes": list(test_shapes),
        "training_faces": {name: len(sets[name]) for name in CONDITIONS},
        "training_glasses_fraction": {name: round(sets[name].positive_fraction, 4) for name in CONDITIONS},
        "test_faces": len(test),
        "job": {"output_ops": dict(sorted(ops.items())), "seconds": round(job_seconds, 1)},
        "seconds": {"data_and_job": round(data_seconds, 1), "classifiers": round(time.perf_counter() - t1, 1)},
    }


def _sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_downstream(settings: Settings, model_path: str | None, workdir: str | Path, *,
                   job_path: str | Path = DEFAULT_JOB, log: Callable[[str], None] = print) -> dict:
    """The whole benchmark: all shapes, then (unless settings.held_out_shapes is empty) the held-out-style
    run. `model_path` None is the bundled demo model. `workdir` must be empty or absent; the data, the
    job's input and output are left there."""
    if not Path(job_path).is_file():
        raise ConfigError(f"job file {job_path}: not found")
    if model_path is not None and not Path(model_path).is_file():
        raise ConfigError(f"model {model_path}: not found")
    workdir = Path(workdir)
    if workdir.exists() and (not workdir.is_dir() or any(workdir.iterdir())):
        raise DataError(f"workdir {workdir}: must be an empty directory or not exist")
    model = Path(model_path) if model_path is not None else DEFAULT_MODEL
    t0 = time.perf_counter()

    log(f"all frame shapes {list(GLASSES_SHAPES)}:")
    main = run_setting(settings, workdir / "all_shapes", train_shapes=GLASSES_SHAPES, test_shapes=GLASSES_SHAPES,
                       job_path=job_path, model_path=model_path, log=log)
    result = {"conditions": main.pop("conditions"), "seeds": list(settings.seeds), "goal": main.pop("goal")}
    if settings.held_out_shapes:
        log(f"held-out style: train on {list(settings.train_shapes)}, test on {list(settings.held_out_shapes)}:")
        held = run_setting(settings, workdir / "held_out_style", train_shapes=settings.train_shapes,
                           test_shapes=settings.held_out_shapes, job_path=job_path, model_path=model_path, log=log)
        which = ("the bundled demo GAN was trained on all five frame shapes" if model_path is None else
                 f"the model {model_path} is assumed to have seen every frame shape unless it was trained without "
                 f"{list(settings.held_out_shapes)}")
        held["note"] = (f"The training sets and the job's input hold only the frames {list(settings.train_shapes)}; "
                        f"the test set's glasses are only {list(settings.held_out_shapes)}. But {which}, so its "
                        "label-driven glasses may draw on them: this tests the classifier's generalisation with "
                        "augmented data, not a GAN that never saw the shapes.")
        result["held_out_style"] = {"conditions": held.pop("conditions"), "goal": held.pop("goal"), **held}
    result["all_shapes"] = main
    result["settings"] = dataclasses.asdict(settings)
    result["model"] = {"path": str(model), "sha256": _sha256(model), "bundled": model_path is None}
    result["job_file"] = str(job_path)
    result["notes"] = [
        "Each condition trains the same classifier recipe (architecture, epochs, optimiser, lr, batch size) "
        f"with seeds {list(settings.seeds)}; mean ± sample std (ddof 1) over the seeds.",
        "Data is made once per run: the augmentation job runs once and its output serves all seeds; "
        "the seeds vary the classifier's initialisation and batch order.",
        "Same epochs in every condition, so the larger balanced sets get about twice the steps of (a).",
        "Test set: balanced 50/50 Eyeglasses, its own SynthFaces stream; (d) uses another stream.",
    ]
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["torch_threads"] = settings.threads
    result["cpu_count"] = os.cpu_count()
    return result


# ----------------------------------------------------------------------------- report


def _cell(stat: dict) -> str:
    return f"{stat['mean']:.3f} ± {stat['std']:.3f}"


LABELS = {"imbalanced": "(a) imbalanced", "oversample": "(b) oversample (flip + colour jitter)",
          "bridgegan": "(c) + BridgeGAN job", "balanced_real": "(d) balanced real (upper bound)"}


def _table(run: dict, faces: dict | None) -> list[str]:
    lines = ["| condition | balanced accuracy | minority recall | training faces |", "|---|---|---|---|"]
    for name in CONDITIONS:
        c = run["conditions"][name]
        n = faces[name] if faces else ""
        lines.append(f"| {LABELS[name]} | {_cell(c['balanced_accuracy'])} | {_cell(c['minority_recall'])} | {n} |")
    goal = run["goal"]
    frac = goal["fraction_closed"]
    a, b, c, d = (run["conditions"][k]["balanced_accuracy"]["mean"] for k in CONDITIONS)
    lines += ["",
              f"- (c) beats (b) by more than twice the seeds' std: "
              f"**{'yes' if goal['bridgegan_beats_oversample'] else 'no'}** "
              f"({c:.3f} vs {b:.3f} balanced accuracy, a lead of {c - b:.3f} against {goal['two_std']:.3f})",
              f"- gap closed, (c − a) / (d − a): **{'n/a (d does not beat a)' if frac is None else f'{frac:.2f}'}** "
              f"(({c:.3f} − {a:.3f}) / ({d:.3f} − {a:.3f}); goal ≥ {GOAL_FRACTION})",
              f"- goal: **{'met' if goal['holds'] else 'not met'}**"]
    return lines


def markdown(result: dict, machine: str | None = None) -> str:
    """The benchmark's tables, goal checks and settings as Markdown."""
    s = result["settings"]
    main = result["all_shapes"]
    lines = ["# Downstream benchmark: does balanced augmentation help a glasses classifier?", ""]
    if machine:
        lines += [f"Machine: {machine}.", ""]
    lines += [f"Training: {s['n_train']} SynthFaces at {s['image_size']} px with Eyeglasses drawn at "
              f"{100 * s['glasses_fraction']:g} % ({100 * main['training_glasses_fraction']['imbalanced']:.1f} % "
              f"drawn). Test: {main['test_faces']} faces, exactly 50/50 Eyeglasses. Classifier: "
              f"4 stride-2 conv blocks (width {s['width']}), Adam lr {s['lr']:g}, batch {s['batch_size']}, "
              f"{s['epochs']} epochs, seeds {result['seeds']}; mean ± std over the seeds. "
              f"Model: `{Path(result['model']['path']).name}` (sha256 {result['model']['sha256'][:12]}…).", "",
              "## All frame shapes", ""]
    lines += _table(result, main["training_faces"])
    lines += ["", f"Job output: {main['job']['output_ops']} ({main['job']['seconds']} s, Ray start-up included)."]
    if "held_out_style" in result:
        held = result["held_out_style"]
        lines += ["", f"## Held-out frame style: train on {held['train_shapes']}, test on {held['test_shapes']}", ""]
        lines += _table(held, held["training_faces"])
        lines += ["", f"Job output: {held['job']['output_ops']} ({held['job']['seconds']} s).", "",
                  f"Note: {held['note']}"]
    lines += ["", "## Notes", ""] + [f"- {n}" for n in result["notes"]]
    lines += [f"- Whole run: {result['seconds']} s."]
    if result["model"]["bundled"]:
        lines += ["- The bundled demo model does not yet draw real glasses (see the README's results): its glasses are "
                  "a coloured band with two lens rings across the eyes rather than frames (docs/dev/issue26.md), "
                  "which bounds what (c) can gain."]
    quick = " --quick" if result.get("mode") == "quick" else ""
    lines += ["", f"Reproduce: `python scripts/bench_downstream.py{quick}`"
              + (" (add `--model FILE` for another export)." if quick else " on an idle machine."), ""]
    return "\n".join(lines)
