"""Capacity probe (issue 26, 2a): can BridgeGAN's E, M and G draw an edit when shown the answer?

Trains E, M and G with paired supervision on SynthFaces, no discriminator: the reference path toward the
source wearing the reference's style, the label path toward the nearest of several rendered styles, and
the label path's self-reconstruction (d = 0). Every few minutes the ground-truth measure scores it on held-out
faces (eval/ground_truth.py, d scale 1: the probe learns d exactly). If these networks cannot draw
glasses even so, the architecture is the limit, not the adversarial recipe.

L1 toward several possible answers draws their average: a blur. `--adversarial W` adds a conditional
patch discriminator (pix2pix's: it sees the source beside the image), trained from scratch on the truths
against the outputs, and W times its non-saturating loss for E, M and G: the answer, drawn sharp.

    python experiments/capacity_probe.py --out runs/probe-synth64 --minutes 35
    python experiments/capacity_probe.py --out runs/probe-wide --minutes 35 \
        --model '{"generator_channels": [32, 64, 128], "code_channels": 32, "spade_hidden": 64}'
    python experiments/capacity_probe.py --out runs/probe-wide-e --minutes 20 --edit-weight 4 \
        --init bridgegan_batch/models/synth64.safetensors --fresh-encoder --model '{"encoder_channels": 64}'
    python experiments/capacity_probe.py --out runs/probe-pixels --minutes 20 --edit-weight 4 \
        --init bridgegan_batch/models/synth64.safetensors --model '{"encoder_pixel_branch": true}'
    python experiments/capacity_probe.py --out runs/probe-aligned --steps 2400 --edit-weight 4 \
        --init bridgegan_batch/models/synth64.safetensors --aligned-references
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from alignment_probe import aligned
from PIL import Image

from bridgegan_batch.config import RunConfig, load_yaml
from bridgegan_batch.data.synthfaces import render
from bridgegan_batch.eval.distances import changed_pixels, masked_l1
from bridgegan_batch.eval.ground_truth import (
    REFERENCE_SEED,
    SOURCE_SEED,
    TruthCases,
    case_records,
    evaluate_ground_truth,
    truth_case_sets,
)
from bridgegan_batch.model.bridge import BridgeGenerator
from bridgegan_batch.model.checkpoint import load_export
from bridgegan_batch.model.pixels import to_pixels, to_tensor
from bridgegan_batch.model.translator import Translator
from bridgegan_batch.train.warm_start import GROWABLE

TRAIN_SOURCE_SEED, TRAIN_REFERENCE_SEED = 0, 3_030_303  # the trainer's own stream; references apart from eval's
GOAL = ("Eyeglasses", "Smiling", "Blond_Hair", "Wearing_Hat", "Male")


def with_aligned_references(cases: TruthCases, seed: int, reference_seed: int) -> TruthCases:
    """The same cases with each reference re-rendered in its source's pose and face size (alignment_probe.py): the
    truth is the same, so only where the reference's face sits differs. The seeds are those that made the cases."""
    records = case_records(cases.name, cases.value, n=len(cases), styles=cases.style_truths.shape[1], seed=seed,
                           reference_seed=reference_seed)
    size = cases.source.shape[1]
    for i in (0, len(cases) - 1):  # other seeds would re-render other faces' references, silently
        if not np.array_equal(render(records[i][0], size), cases.source[i]):
            raise ValueError(f"seeds {seed}, {reference_seed} did not make these {cases.name} cases")
    return dataclasses.replace(cases, reference=np.stack([render(aligned(refs[0], source), size)
                                                          for source, refs in records]))


def training_pool(attributes, n: int, size: int, workers: int, align: bool = False) -> dict[str, torch.Tensor]:
    """Every attribute both ways, `n` cases each: sources, d, references (`align`: in their sources' pose) and
    their truths."""
    sets = truth_case_sets(list(attributes), attributes, n=n, size=size, styles=2, seed=TRAIN_SOURCE_SEED,
                           reference_seed=TRAIN_REFERENCE_SEED, workers=workers)
    if align:
        sets = [with_aligned_references(c, TRAIN_SOURCE_SEED, TRAIN_REFERENCE_SEED) for c in sets]
    cat = {key: np.concatenate([getattr(c, key) for c in sets]) for key in
           ("source", "source_labels", "target_labels", "reference", "reference_truth", "rival_truth",
            "style_truths", "unseen_truth")}
    # The label path's answers: every rendered style of the change. [M, K+3, H, W, 3]
    label_truths = np.concatenate([cat["reference_truth"][:, None], cat["rival_truth"][:, None],
                                   cat["style_truths"], cat["unseen_truth"][:, None]], axis=1)
    m, k = label_truths.shape[:2]
    return {"x": to_tensor(cat["source"]), "ref": to_tensor(cat["reference"]),
            "ref_truth": to_tensor(cat["reference_truth"]),
            "label_truths": to_tensor(label_truths.reshape(m * k, size, size, 3)).view(m, k, 3, size, size),
            "d": torch.from_numpy(cat["target_labels"] - cat["source_labels"])}


def weighted_l1(out: torch.Tensor, truth: torch.Tensor, x: torch.Tensor, edit_weight: float) -> torch.Tensor:
    """Per image: L1 to the truth, plus `edit_weight` times the L1 inside the edit region (where the truth
    differs from the source), so that a small edit is not swamped by the rest of the face. -> [B]"""
    loss = (out - truth).abs().flatten(1).mean(1)
    if edit_weight:
        loss = loss + edit_weight * masked_l1(out, truth, changed_pixels(x, truth)).nan_to_num(0.0)
    return loss


class PatchDiscriminator(torch.nn.Module):
    """pix2pix's conditional patch D, small: (source, image) -> a real/fake logit per 8x8 patch.
    [B, 3, H, W] x2 -> [B, 1, H/8, W/8]"""

    def __init__(self, width: int = 32):
        super().__init__()
        layers, c = [], 6
        for out in (width, 2 * width, 4 * width):
            layers += [torch.nn.Conv2d(c, out, 4, stride=2, padding=1), torch.nn.LeakyReLU(0.2)]
            c = out
        self.net = torch.nn.Sequential(*layers, torch.nn.Conv2d(c, 1, 3, padding=1))

    def forward(self, source: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([source, image], dim=1))


class BesideSource(torch.nn.Module):
    """E's stem, reading the source beside each image: stem([x, tile(d)]) + conv(x_s), the conv from zero, so E starts
    as it was. x_s is the source of the last SourceAwareBridge.source_code call. [B, 3+N, H, W] -> [B, C, H, W]"""

    def __init__(self, stem: torch.nn.Conv2d):
        super().__init__()
        self.stem = stem
        self.source = torch.nn.Conv2d(3, stem.out_channels, stem.kernel_size, padding=stem.padding)
        torch.nn.init.zeros_(self.source.weight)
        torch.nn.init.zeros_(self.source.bias)
        self.current: torch.Tensor | None = None

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.stem(inputs) + self.source(self.current)


class SourceAwareBridge(BridgeGenerator):
    """`--beside-source`: E reads every image, the reference's included, beside the source it will be drawn on (a
    departure from the authors' E, probed before it is built). Both the probe and the Translator encode the source
    before its reference, so source_code holds the source for the reference_code call after it."""

    def beside_source(self) -> None:
        self.encoder.stem = BesideSource(self.encoder.stem)

    def source_code(self, x: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        self.encoder.stem.current = x
        return super().source_code(x, d)


def probe_step(model: BridgeGenerator, batch: dict[str, torch.Tensor], r: torch.Tensor,
               edit_weight: float = 0.0) -> tuple[dict[str, torch.Tensor], tuple[torch.Tensor, ...]]:
    """The losses, and (sources, outputs, their truths) of both paths for a discriminator."""
    x, d = batch["x"], batch["d"]  # [B, 3, H, W], [B, N]
    src = model.source_code(x, d)
    ref_out = model(x, src + model.reference_code(batch["ref"], d))
    label_out = model(x, src + model.label_code(r, d))
    # The nearest rendered style: the label path may choose which glasses, not whether.
    truths = batch["label_truths"]  # [B, K, 3, H, W]
    k = truths.shape[1]
    label_l1, nearest = weighted_l1(label_out.repeat_interleave(k, 0), truths.flatten(0, 1),
                                    x.repeat_interleave(k, 0), edit_weight).view(-1, k).min(1)  # [B], [B]
    zero = torch.zeros_like(d)  # one path's self-reconstruction: each G pass costs ~0.5 s of a step here
    recon = (model(x, model.source_code(x, zero) + model.label_code(r, zero)) - x).abs().mean()
    losses = {"reference": weighted_l1(ref_out, batch["ref_truth"], x, edit_weight).mean(), "label": label_l1.mean(),
              "recon": recon}
    real = torch.cat([batch["ref_truth"], truths[torch.arange(len(x), device=x.device), nearest]])  # [2B, 3, H, W]
    return losses, (torch.cat([x, x]), torch.cat([ref_out, label_out]), real)


def train_timed(minutes: float, eval_every: float, train_step, evaluate, log_path: Path, print_every: int = 100,
                max_steps: int | None = None) -> int:
    """Calls train_step() until `minutes` of its own time have passed (evaluation's time not counted), or
    `max_steps` steps when given (the same budget on a slower machine), and evaluate() at the start, every
    `eval_every` of those minutes and at the end: each row, after the step and the training seconds, appended to
    log_path as JSON and printed. train_step returns its losses, printed every `print_every` steps. Returns the
    steps taken."""
    step, train_seconds, next_eval = 0, 0.0, 0.0
    with Path(log_path).open("a") as log:
        while True:
            done = step >= max_steps if max_steps else train_seconds >= 60 * minutes
            if train_seconds >= next_eval or done:
                row = {"step": step, "train_seconds": round(train_seconds), **evaluate()}
                log.write(json.dumps(row) + "\n")
                log.flush()
                print(json.dumps(row), flush=True)
                next_eval += 60 * eval_every
                if done:
                    return step
            tick = time.time()
            losses = train_step()
            step += 1
            train_seconds += time.time() - tick
            if step % print_every == 0:
                print(f"step {step} {train_seconds:.0f}s " + " ".join(f"{k} {float(v):.4f}" for k, v in losses.items()),
                      flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="docs/dev/configs/synth64_lineage.yaml")
    parser.add_argument("--model", default="{}", help="JSON of model fields to override")
    parser.add_argument("--out", required=True)
    parser.add_argument("--minutes", type=float, default=35)
    parser.add_argument("--steps", type=int, default=None, help="train this many steps instead of --minutes")
    parser.add_argument("--eval-every", type=float, default=5, help="minutes")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--pool", type=int, default=200, help="training cases per attribute and direction")
    parser.add_argument("--eval-n", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (float32)")
    parser.add_argument("--workers", type=int, default=1, help="processes rendering the training pool")
    parser.add_argument("--init", default=None, help="start E, M and G from this export (its model config is used)")
    parser.add_argument("--fresh-encoder", action="store_true",
                        help="with --init, E starts new (so --model may change its width); M and G from the export")
    parser.add_argument("--beside-source", action="store_true",
                        help="E reads each image beside the source (its stem gains the source's channels, from zero)")
    parser.add_argument("--aligned-references", action="store_true",
                        help="train on references re-rendered in their sources' pose; eval reads the reference path "
                             "both as is and aligned (ref_aligned, style_aligned)")
    parser.add_argument("--edit-weight", type=float, default=0.0,
                        help="extra weight of the L1 inside the edit region (0: plain L1 over the image)")
    parser.add_argument("--adversarial", type=float, default=0.0,
                        help="weight of a conditional patch discriminator's loss (0: none, L1 alone)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.init:
        modules, base, _ = load_export(args.init)
    else:
        base = load_yaml(args.config, RunConfig).model
    config = base.model_copy(update=json.loads(args.model))
    config = type(base).model_validate(config.model_dump())  # validated, as a config file would be
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "model_config.json").write_text(config.model_dump_json(indent=1))
    started = time.time()
    device = torch.device(args.device)
    pool = training_pool(config.attributes, args.pool, config.image_size, workers=args.workers,
                         align=args.aligned_references)
    pool = {k: v.to(device) for k, v in pool.items()}
    eval_sets = truth_case_sets(GOAL, config.attributes, n=args.eval_n, size=config.image_size, directions=["add"])
    aligned_sets = [with_aligned_references(c, SOURCE_SEED, REFERENCE_SEED) for c in eval_sets] \
        if args.aligned_references else []
    print(f"pool {len(pool['x'])} cases, eval cases ready in {time.time() - started:.0f} s", flush=True)
    model = SourceAwareBridge(config) if args.beside_source else BridgeGenerator(config)
    if args.init:  # a G that already re-draws faces: only the edits are new
        keep = {k: v for k, v in modules["bridge"].items() if not (args.fresh_encoder and k.startswith("encoder."))}
        missing, unexpected = model.load_state_dict(keep, strict=False)
        new = ("encoder.",) if args.fresh_encoder else (GROWABLE["encoder_pixel_branch"][1],)  # what --model adds
        if unexpected or any(not k.startswith(new) for k in missing):
            raise SystemExit(f"--init {args.init} does not fit --model: {missing + unexpected}")
    if args.beside_source:
        model.beside_source()
    model.to(device)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.99))
    disc = PatchDiscriminator().to(device) if args.adversarial else None
    disc_opt = torch.optim.Adam(disc.parameters(), lr=2e-4, betas=(0.5, 0.99)) if disc else None
    gen = torch.Generator().manual_seed(1)

    def evaluate() -> dict:
        model.eval()
        translator = Translator(model, config, device=device, d_scale=1.0)
        result = evaluate_ground_truth(translator, eval_sets)
        row = {"params": params,
               **{f"{name}/{k}": round(e["add"][path][key], 3) for name, e in result["attributes"].items()
                  for k, path, key in (("label", "label", "relative"), ("ref", "reference", "reduction"),
                                       ("style", "reference", "style_match"), ("outside", "label", "outside_l1"),
                                       ("detail", "label", "detail"), ("ref_detail", "reference", "detail"))}}
        if aligned_sets:
            result = evaluate_ground_truth(translator, aligned_sets, kinds=("reference",))
            row.update({f"{name}/{k}": round(e["add"]["reference"][key], 3) for name, e in result["attributes"].items()
                        for k, key in (("ref_aligned", "reduction"), ("style_aligned", "style_match"))})
        model.train().requires_grad_(True)  # the translator froze it
        return row

    def train_step() -> dict[str, torch.Tensor]:
        idx = torch.randint(len(pool["x"]), (args.batch,), generator=gen).to(device)
        batch = {k: v[idx] for k, v in pool.items()}
        r = torch.randn(args.batch, config.noise_dim, generator=gen).to(device)
        losses, (sources, fakes, reals) = probe_step(model, batch, r, args.edit_weight)
        if disc is not None:
            disc_loss = (F.softplus(-disc(sources, reals)).mean() + F.softplus(disc(sources, fakes.detach())).mean())
            disc_opt.zero_grad(set_to_none=True)
            disc_loss.backward()
            disc_opt.step()
            losses["adversarial"] = args.adversarial * F.softplus(-disc(sources, fakes)).mean()
            losses["d"] = disc_loss.detach()  # logged only: not part of G's loss
        opt.zero_grad(set_to_none=True)
        sum(v for k, v in losses.items() if k != "d").backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()  # the timed loop counts the GPU's work, not the launches
        return losses

    train_timed(args.minutes, args.eval_every, train_step, evaluate, out / "log.jsonl", max_steps=args.steps)
    torch.save(model.state_dict(), out / "probe.pt")
    save_grid(model, config, eval_sets, out / "grid.png", device)


@torch.no_grad()
def save_grid(model: BridgeGenerator, config, eval_sets, path: Path, device: torch.device, faces: int = 8) -> None:
    """Per goal attribute: rows source, reference, truth in its style, reference-path output, label-path output."""
    translator = Translator(model.eval(), config, device=device, d_scale=1.0)
    rows = []
    for cases in eval_sets:
        sl = slice(0, faces)
        x, src, tgt = to_tensor(cases.source[sl]), torch.from_numpy(cases.source_labels[sl]), \
            torch.from_numpy(cases.target_labels[sl])
        ref, ref_labels = to_tensor(cases.reference[sl]), torch.from_numpy(cases.reference_labels[sl])
        ref_out = translator.reference(x, src, ref, ref_labels, tgt)
        label_out = translator.label(x, src, tgt, list(range(len(x))))
        for images in (cases.source[sl], cases.reference[sl], cases.reference_truth[sl],
                       to_pixels(ref_out), to_pixels(label_out)):
            rows.append(np.concatenate(list(images), axis=1))
    Image.fromarray(np.concatenate(rows, axis=0)).save(path)


if __name__ == "__main__":
    main()
