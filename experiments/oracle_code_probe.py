"""Oracle-code probe (issue 26, 2a): can G, or E and G, draw an edit when what they read holds the answer?

The capacity probe trains E, M and G on the truth; its reference path never drew the reference's glasses. This
probe takes E and M out: a small patch encoder reads the source beside its true counterfactual and writes the
code, and G (warm, from an export) learns to draw the truth from it, by L1 with the edit region weighted up. The
answer is in the code, so there is nothing to guess and nothing to average: what G still cannot draw, G (or the
code's grid) cannot carry. `--patch` sets the code's grid: 4 is the demo model's 16 x 16 code at 64 px, 2 a
32 x 32 code (G's SPADE layers read any grid: they resize the code to each layer's size). `--read reference`
gives the encoder the reference in place of the truth: the reference path's information (the attribute on
another face), with an encoder far wider than E and the same direct supervision. `--encoder model` replaces the
patch encoder by the export's own E, warm, as the reference path uses it: E(x, -d) + E(shown, d).
`--pairs restored` trains on the pairs restoration makes without a truth: the reference stripped of the attribute
by the export's own label path is the source, and the reference itself is both what the encoder reads and the
answer (scored, as always, on true held-out pairs): how much of the true pairs' lesson survives the model's
imperfect removals; `--removals` takes the removals from another export's label path (G and E still from
--init). `--pairs bare` makes the same same-face pairs from SynthFaces' true removal instead.
`--pairs label` makes cross-face pairs from the export's label path: one noise's attribute drawn on two faces,
one the reference and the other the answer (the pixel-level bridge from the label path to the reference path).

    python experiments/oracle_code_probe.py --init bridgegan_batch/models/synth64.safetensors --out runs/oracle-p4
    python experiments/oracle_code_probe.py --init bridgegan_batch/models/synth64.safetensors --out runs/oracle-p2 \
        --patch 2
    python experiments/oracle_code_probe.py --init bridgegan_batch/models/synth64.safetensors --out runs/oracle-e4 \
        --read reference --encoder model --pool 600          # also: --pairs restored | bare | label
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from capacity_probe import GOAL, TRAIN_REFERENCE_SEED, TRAIN_SOURCE_SEED, train_timed, weighted_l1
from PIL import Image

from bridgegan_batch.eval.distances import changed_pixels
from bridgegan_batch.eval.ground_truth import outside_change, reductions, truth_case_sets
from bridgegan_batch.model.bridge import BridgeGenerator
from bridgegan_batch.model.checkpoint import load_export
from bridgegan_batch.model.pixels import to_pixels, to_tensor


class OracleEncoder(torch.nn.Module):
    """(source, truth) -> a code on a grid of `patch`-pixel cells. [B,3,H,W] x2 -> [B, C, H/patch, W/patch]"""

    def __init__(self, code_channels: int, patch: int, hidden: int = 64):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Conv2d(6, hidden, patch, stride=patch), torch.nn.LeakyReLU(0.2),
                                       torch.nn.Conv2d(hidden, code_channels, 1))

    def forward(self, source: torch.Tensor, shown: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([source, shown], dim=1))  # d is in what it is shown


class ModelEncoder(torch.nn.Module):
    """The reference path's code, E(source, -d) + E(shown, d), from a BridgeGenerator's E."""

    def __init__(self, bridge: BridgeGenerator):
        super().__init__()
        self.bridge = bridge

    def forward(self, source: torch.Tensor, shown: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        return self.bridge.source_code(source, d) + self.bridge.reference_code(shown, d)  # [B, Cs, Hs, Ws]


def pairs(case_sets, read: str = "truth") -> dict[str, torch.Tensor]:
    """The training pairs: reading the truth, every (source, truth) of the cases, in the reference's style and
    each rendered style; reading the reference, (source, reference, truth in its style) alone. "read" is what the
    encoder is shown beside the source."""
    sources, truths, shown, ds = [], [], [], []
    for cases in case_sets:
        answers = cases.reference_truth[:, None]  # [N, 1, H, W, 3]
        if read == "truth":
            answers = np.concatenate([answers, cases.style_truths], axis=1)  # [N, K+1, H, W, 3]
        k = answers.shape[1]
        sources.append(np.repeat(cases.source, k, axis=0))
        truths.append(answers.reshape(-1, *answers.shape[2:]))
        shown.append(cases.reference if read == "reference" else truths[-1])
        ds.append(np.repeat(cases.target_labels - cases.source_labels, k, axis=0))
    return {"x": to_tensor(np.concatenate(sources)), "truth": to_tensor(np.concatenate(truths)),
            "shown": to_tensor(np.concatenate(shown)), "d": torch.from_numpy(np.concatenate(ds))}


@torch.no_grad()
def restored_pairs(case_sets, model_path: str) -> dict[str, torch.Tensor]:
    """Pairs without a truth, as restoration makes them: each reference stripped of the attribute by the export's
    label path (its own d scales) is the source; the reference is what the encoder reads and the answer."""
    from bridgegan_batch.model.translator import Translator

    translator = Translator.load(model_path, device="cpu")
    sources, references, ds = [], [], []
    for cases in case_sets:
        reference = to_tensor(cases.reference)
        labels = torch.from_numpy(cases.reference_labels)
        bare_labels = labels.clone()
        bare_labels[:, cases.attributes.index(cases.name)] = 0.0
        sources.append(torch.cat([translator.label(reference[i:i + 64], labels[i:i + 64], bare_labels[i:i + 64],
                                                   seeds=list(range(i, i + len(reference[i:i + 64]))))
                                  for i in range(0, len(reference), 64)]).cpu())
        references.append(reference)
        ds.append(labels - bare_labels)
    refs = torch.cat(references)
    return {"x": torch.cat(sources), "truth": refs, "shown": refs, "d": torch.cat(ds)}


@torch.no_grad()
def label_pairs(case_sets, model_path: str) -> dict[str, torch.Tensor]:
    """Cross-face pairs without a truth, from the export's label path (its own d scales): source i drawn with the
    attribute from noise i is the reference; source i + 1 drawn from the same noise (the label code M(r, d) does not
    read the face) is the answer, and source i + 1 is the source. The attribute's style is the noise's, shared; the
    faces differ, as in true cross-face pairs."""
    from bridgegan_batch.model.translator import Translator

    translator = Translator.load(model_path, device="cpu")
    sources, references, answers, ds = [], [], [], []
    for cases in case_sets:
        x = to_tensor(cases.source)
        labels, target = torch.from_numpy(cases.source_labels), torch.from_numpy(cases.target_labels)
        seeds = list(range(len(x)))
        drawn = torch.cat([translator.label(x[i:i + 64], labels[i:i + 64], target[i:i + 64], seeds[i:i + 64])
                           for i in range(0, len(x), 64)]).cpu()  # [N, 3, H, W], face i from noise i
        nxt = torch.roll(torch.arange(len(x)), -1)  # face i + 1
        answer = torch.cat([translator.label(x[nxt[i:i + 64]], labels[nxt[i:i + 64]], target[nxt[i:i + 64]],
                                             seeds[i:i + 64]) for i in range(0, len(x), 64)]).cpu()
        sources.append(x[nxt])
        references.append(drawn)
        answers.append(answer)
        ds.append((target - labels)[nxt])
    return {"x": torch.cat(sources), "truth": torch.cat(answers), "shown": torch.cat(references),
            "d": torch.cat(ds)}


def bare_pairs(removal_sets) -> dict[str, torch.Tensor]:
    """Restoration's pairs with a perfect removal: each face wearing the attribute, rendered without it, is the
    source; the face itself is what the encoder reads and the answer. removal_sets: the "remove" cases."""
    faces = to_tensor(np.concatenate([c.source for c in removal_sets]))
    return {"x": to_tensor(np.concatenate([c.reference_truth for c in removal_sets])), "truth": faces, "shown": faces,
            "d": torch.from_numpy(np.concatenate([c.source_labels - c.target_labels for c in removal_sets]))}


def shown_of(cases, read: str) -> np.ndarray:
    """What the encoder reads beside each held-out source."""
    return cases.reference if read == "reference" else cases.reference_truth


def d_of(cases) -> torch.Tensor:
    return torch.from_numpy(cases.target_labels - cases.source_labels)  # [N, attributes]


@torch.no_grad()
def score(generator, encoder, case_sets, read: str) -> dict:
    """Per goal attribute, held out: the reduction toward the truth in the reference's style, and the change
    outside the edit region."""
    generator.eval()
    encoder.eval()
    row = {}
    for cases in case_sets:
        x, truth = to_tensor(cases.source), to_tensor(cases.reference_truth)
        out = generator(x, encoder(x, to_tensor(shown_of(cases, read)), d_of(cases)))
        row[f"{cases.name}/reduction"] = round(float(reductions(out, x, truth).nanmean()), 3)
        row[f"{cases.name}/outside"] = round(float(outside_change(out, x, changed_pixels(x, truth)).mean()), 4)
    generator.train()
    encoder.train()
    return row


@torch.no_grad()
def save_grid(generator, encoder, case_sets, path: Path, read: str, faces: int = 8) -> None:
    """Per goal attribute: rows source, what the encoder read, truth, G's drawing from the code."""
    generator.eval()
    encoder.eval()
    rows = []
    for cases in case_sets:
        x, shown = to_tensor(cases.source[:faces]), shown_of(cases, read)[:faces]
        drawn = to_pixels(generator(x, encoder(x, to_tensor(shown), d_of(cases)[:faces])))
        for images in (cases.source[:faces], shown, cases.reference_truth[:faces], drawn):
            rows.append(np.concatenate(list(images), axis=1))
    Image.fromarray(np.concatenate(rows, axis=0)).save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--init", required=True, help="export whose G is trained (its model config is used)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--patch", type=int, default=4,
                        help="pixels per code cell of the patch encoder (4: the demo model's grid)")
    parser.add_argument("--minutes", type=float, default=20)
    parser.add_argument("--eval-every", type=float, default=5, help="minutes")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--pool", type=int, default=96, help="training sources per goal attribute")
    parser.add_argument("--eval-n", type=int, default=64)
    parser.add_argument("--edit-weight", type=float, default=4.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--read", choices=("truth", "reference"), default="truth",
                        help="what the encoder reads beside the source")
    parser.add_argument("--encoder", choices=("patch", "model"), default="patch",
                        help="a new patch encoder, or the export's own E (warm)")
    parser.add_argument("--removals", help="export whose label path strips the references for --pairs restored "
                             "(default: --init)")
    parser.add_argument("--pairs", choices=("true", "restored", "bare", "label"), default="true",
                        help="true counterfactuals; or a face wearing the attribute as reference and answer, the "
                             "source that face stripped by the export (restored) or rendered without it (bare); "
                             "the last two imply --read reference; or (label) the export's label path drawing "
                             "one noise's attribute on two faces, one the reference, the other the answer")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    modules, config, _ = load_export(args.init)
    bridge = BridgeGenerator(config)
    bridge.load_state_dict(modules["bridge"])
    generator = bridge.generator  # [B,3,H,W], [B,Cs,Hs,Ws] -> [B,3,H,W]
    encoder = OracleEncoder(config.code_channels, args.patch) if args.encoder == "patch" else ModelEncoder(bridge)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    if args.pairs != "true":
        args.read = "reference"
    train_sets = truth_case_sets(GOAL, config.attributes, n=args.pool, size=config.image_size,
                                 directions=["remove" if args.pairs == "bare" else "add"],
                                 styles=16 if args.read == "truth" else 1, seed=TRAIN_SOURCE_SEED,
                                 reference_seed=TRAIN_REFERENCE_SEED)
    removals = args.removals or args.init
    pool = {"true": lambda: pairs(train_sets, args.read), "restored": lambda: restored_pairs(train_sets, removals),
            "label": lambda: label_pairs(train_sets, args.init), "bare": lambda: bare_pairs(train_sets)}[args.pairs]()
    held_out = truth_case_sets(GOAL, config.attributes, n=args.eval_n, size=config.image_size, directions=["add"])
    print(f"{len(pool['x'])} training pairs, held-out cases ready in {time.time() - started:.0f} s", flush=True)
    params = list({id(p): p for p in [*generator.parameters(), *encoder.parameters()]}.values())  # E's bridge holds G
    opt = torch.optim.Adam(params, lr=args.lr, betas=(0.9, 0.99))
    gen = torch.Generator().manual_seed(1)

    def train_step() -> dict[str, torch.Tensor]:
        idx = torch.randint(len(pool["x"]), (args.batch,), generator=gen)
        x, truth, shown = pool["x"][idx], pool["truth"][idx], pool["shown"][idx]  # [B, 3, H, W] each
        loss = weighted_l1(generator(x, encoder(x, shown, pool["d"][idx])), truth, x, args.edit_weight).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.detach()}

    def evaluate() -> dict:
        return {"patch": args.patch, "read": args.read, "encoder": args.encoder, "pairs": args.pairs,
                **score(generator, encoder, held_out, args.read)}

    train_timed(args.minutes, args.eval_every, train_step, evaluate, out / "log.jsonl", print_every=200)
    save_grid(generator, encoder, held_out, out / "grid.png", args.read)


if __name__ == "__main__":
    main()
