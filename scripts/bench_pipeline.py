"""The batch engine against the model alone and against a naive loop, in one run, same model/batch/threads.

    python scripts/bench_pipeline.py [--model FILE] [--samples 2000] [--rss 2000,20000] [--out docs/bench_pipeline.md]
    python scripts/bench_pipeline.py --gpus-per-actor 0.25 --cpus-per-actor 2 ...     (a GPU machine)

Workload: every input face translated once, label-driven (Eyeglasses on), 64 px SynthFaces in
WebDataset shards of 500, PNG out. Three throughputs of translated images per second:
  - engine: `bridgegan-batch run` with its defaults on this machine (an embedded Ray, actors of
    0.5 CPU with 1 torch thread each), timed from the first shard handed to a ready actor to the last
    one back (the manifest's process_seconds); the whole command's wall time is reported too;
  - bare forward: the translator alone on decoded tensors already in memory: in one process with
    as many torch threads as the engine's actors have together, and in as many single-thread
    processes as there are actors, run at the same time (their rates summed); the faster of the
    two is the reference;
  - naive loop: one process, same threads: read + decode a batch, translate it, encode it, write
    it, then the next batch.
Peak RSS: the engine command's whole process tree (driver, Ray's processes, actors), sampled
every 0.1 s, at two input sizes. All runs use batch-invariant translation (the engine's CPU mode).
With --gpus-per-actor, the engine's actors share the GPU (each its fraction, as a job's resources say) and
translate in batches; the bare forward and the naive loop run on the GPU in one process (the reference).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe, emit  # noqa: E402

from bridgegan_batch.augment.provenance import sha256  # noqa: E402
from bridgegan_batch.data.images import encode_image  # noqa: E402
from bridgegan_batch.data.reader import DatasetReader  # noqa: E402
from bridgegan_batch.data.sample import Sample  # noqa: E402
from bridgegan_batch.data.synth_dataset import write_synth_dataset  # noqa: E402
from bridgegan_batch.data.writer import WRITERS  # noqa: E402
from bridgegan_batch.model.pixels import to_pixels, to_tensor
from bridgegan_batch.model.translator import DEFAULT_MODEL, Translator  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BATCH = 64
SHARD = 500
CPUS_PER_ACTOR = 0.5


def make_input(root: Path, n: int) -> str:
    out = root / f"in-{n}"
    write_synth_dataset(str(out), n=n, size=64, seed=1, shard_size=SHARD, workers=os.cpu_count() or 1)
    return str(out)


def tree_rss(pid: int) -> int:
    """Resident bytes of `pid` and every descendant (Ray's raylet, workers, ...)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo += children.get(p, [])
    return total


def run_engine(root: Path, inputs: str, model: str, n: int, cpus_per_actor: float, gpus_per_actor: float) -> dict:
    out = root / f"out-{n}"
    job = {"name": f"bench{n}", "seed": 0, "input": {"uri": inputs}, "model": {"path": model, "batch_size": BATCH},
           "operations": [{"label": {"set": {"Eyeglasses": 1}}}],
           "output": {"uri": str(out), "shard_size": 1000, "include_originals": False},
           "resources": {"cpus_per_actor": cpus_per_actor, "gpus_per_actor": gpus_per_actor}}
    job_path = root / f"job-{n}.yaml"
    job_path.write_text(yaml.safe_dump(job))
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "bridgegan_batch.cli", "run", str(job_path), "--no-progress"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(0.1)
    wall = time.perf_counter() - start
    log = proc.stdout.read().decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"engine run failed:\n{log}")
    run = json.loads((out / "manifest.json").read_text())["runs"][-1]
    return {"n": n, "wall": wall, "process": run["process_seconds"], "actors": run["actors"], "peak_rss": peak}


def bare_forward(translator: Translator, inputs: str, limit: int) -> float:
    faces = list(DatasetReader([inputs], decode=True, size=translator.config.image_size))[:limit]
    x = to_tensor(np.stack([s.pixels for s in faces]))  # [N, 3, H, W]
    src = torch.tensor([[s.attributes[a] for a in translator.attributes] for s in faces], dtype=torch.float32)
    target = translator.targets(src, {"Eyeglasses": 1})
    start = time.perf_counter()
    for i in range(0, len(x), BATCH):
        translator.label(x[i : i + BATCH], src[i : i + BATCH], target[i : i + BATCH], range(i, min(i + BATCH, len(x))))
    if translator.device.type == "cuda":
        torch.cuda.synchronize()  # the kernels queued, done
    return len(x) / (time.perf_counter() - start)


def bare_in_processes(model: str, inputs: str, limit: int, processes: int) -> float:
    """Summed rate of `processes` single-thread bare-forward processes running at the same time."""
    command = [sys.executable, __file__, "--bare-worker", "--model", model, "--input", inputs,
               "--samples", str(limit // processes)]
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})
               for _ in range(processes)]
    return sum(float(w.communicate()[0].decode().strip().splitlines()[-1]) for w in workers)


def naive_loop(translator: Translator, inputs: str, out: Path, limit: int) -> float:
    reader = DatasetReader([inputs], decode=True, size=translator.config.image_size)
    start, done = time.perf_counter(), 0
    for shard in reader.shards:
        writer = WRITERS["wds"](str(out), f"naive-{len(os.listdir(out)):04d}.tar", translator.attributes)
        batch: list[Sample] = []
        for sample in reader.read_shard(shard):
            batch.append(sample)
            if len(batch) == BATCH:
                done += _naive_batch(translator, batch, writer)
                batch = []
        if batch:
            done += _naive_batch(translator, batch, writer)
        writer.close()
        if done >= limit:
            break
    return done / (time.perf_counter() - start)


def _naive_batch(translator: Translator, batch: list[Sample], writer) -> int:
    x = to_tensor(np.stack([s.pixels for s in batch]))
    src = torch.tensor([[s.attributes[a] for a in translator.attributes] for s in batch], dtype=torch.float32)
    target = translator.targets(src, {"Eyeglasses": 1})
    pixels = to_pixels(translator.label(x, src, target, [int(sha256(s.key.encode())[:12], 16) for s in batch]))
    for s, p in zip(batch, pixels, strict=True):
        writer.write(Sample(f"{s.key}-naive", encode_image(p), {}, {}))
    return len(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--samples", type=int, default=2000, help="faces for the throughput comparison")
    parser.add_argument("--rss", default="2000,20000", help="input sizes for the peak-RSS comparison")
    parser.add_argument("--out", default=None, help="write the Markdown table here")
    parser.add_argument("--cpus-per-actor", type=float, default=CPUS_PER_ACTOR, help="the engine's resources")
    parser.add_argument("--gpus-per-actor", type=float, default=0.0,
                        help="the engine's resources; above 0, the references run on the GPU too")
    parser.add_argument("--bare-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_worker:  # one of bare_in_processes' processes: print its images/s
        torch.set_num_threads(1)
        translator = Translator.load(args.model, device="cpu", batch_invariant=True)
        print(f"{bare_forward(translator, args.input, args.samples):.3f}")
        return
    sizes = sorted({args.samples, *(int(v) for v in args.rss.split(","))})
    gpu = args.gpus_per_actor > 0

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        inputs = {n: make_input(root, n) for n in sizes}
        engine = {n: run_engine(root, inputs[n], args.model, n, args.cpus_per_actor, args.gpus_per_actor)
                  for n in sizes}
        actors = engine[args.samples]["actors"]
        threads = actors * max(1, int(args.cpus_per_actor))  # what the engine's actors use together
        torch.set_num_threads(threads)
        if gpu:
            translator = Translator.load(args.model, device="cuda")
            bare_forward(translator, inputs[args.samples], BATCH)  # CUDA's start-up and kernel choice, untimed
            bare_parallel = float("nan")
        else:
            translator = Translator.load(args.model, device="cpu", batch_invariant=True)
            bare_parallel = bare_in_processes(args.model, inputs[args.samples], args.samples, actors)
        bare_shared = bare_forward(translator, inputs[args.samples], args.samples)
        # The stricter reference: one process with all the threads, or one single-thread process
        # per actor running at the same time (as the actors do), whichever is faster.
        bare = bare_shared if gpu else max(bare_shared, bare_parallel)
        naive_out = root / "naive"
        naive_out.mkdir()
        naive = naive_loop(translator, inputs[args.samples], naive_out, args.samples)

    e = engine[args.samples]
    e2e = args.samples / e["process"]
    lo, hi = sizes[0], sizes[-1]
    rss_ratio = engine[hi]["peak_rss"] / engine[lo]["peak_rss"]
    mib = 1 << 20
    if gpu:
        setup = (f"translation on {torch.cuda.get_device_name()}. Engine: embedded Ray, {actors} actors × "
                 f"{args.cpus_per_actor:g} CPU + {args.gpus_per_actor:g} GPU; bare forward and naive loop: one process "
                 f"on the GPU")
        bare_rows = [f"| bare model forward, one process on the GPU | {bare_shared:.1f} | 1.00 | |"]
    else:
        setup = (f"batch-invariant CPU translation. Engine: embedded Ray, {actors} actors × {args.cpus_per_actor:g} "
                 f"CPU, {max(1, int(args.cpus_per_actor))} torch thread(s) each; bare forward and naive loop: one "
                 f"process, {threads} torch threads")
        bare_rows = [f"| bare model forward, one process × {threads} threads | {bare_shared:.1f} | "
                     f"{bare_shared / bare:.2f} | |",
                     f"| bare model forward, {actors} single-thread processes at once (summed) | {bare_parallel:.1f} | "
                     f"{bare_parallel / bare:.2f} | |"]
    text = "\n".join([
        "# Pipeline throughput and memory",
        "",
        f"Machine: {describe()}. Model: `{Path(args.model).name}` ({translator.config.image_size} px), batch {BATCH}, "
        f"{setup}. Workload: {args.samples} faces, each translated once (label-driven, +Eyeglasses), PNG out.",
        "",
        "| measure | images/s | ratio | goal |",
        "|---|---|---|---|",
        *bare_rows,
        f"| naive loop (decode → model → encode → write, one batch at a time) | {naive:.1f} | "
        f"{naive / bare:.2f} | |",
        f"| **engine end to end** (translation phase) | **{e2e:.1f}** | **{e2e / bare:.2f}** of the faster bare, "
        f"**{e2e / naive:.2f}** of naive | ≥ 0.8 of bare, ≥ 1.0 of naive |",
        f"| engine, whole command (Ray start-up, label pass, plan, report included) | "
        f"{args.samples / e['wall']:.1f} | {args.samples / e['wall'] / bare:.2f} | |",
        "",
        "| input samples | peak RSS, whole process tree | engine wall time |",
        "|---|---|---|",
        *[f"| {n} | {engine[n]['peak_rss'] / mib:.0f} MiB | {engine[n]['wall']:.1f} s |" for n in sizes],
        "",
        f"Peak RSS at {hi} / at {lo}: **{rss_ratio:.2f}** (goal ≤ 1.2).",
        "",
        f"Reproduce: `python scripts/bench_pipeline.py {' '.join(sys.argv[1:])}` on an idle machine.",
        "",
    ])
    emit(text, args.out)


if __name__ == "__main__":
    main()
