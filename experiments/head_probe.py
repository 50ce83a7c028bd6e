"""What D's attribute head calls glasses: frames, a tint, both, or G's own attempt (issue 26).

For unseen SynthFaces, the head's P(Eyeglasses) on four renderings of the same face: no glasses, frames with
tinted lenses, frames alone (clear lenses), and the tint alone (the tinted lenses without their frames: the
frames-and-tint rendering minus the frames-alone one, added to the face without glasses). And on the model's own
translations adding Eyeglasses (label and reference path, its d scales). A head that passes the tint alone
leaves G a frameless band as the cheapest way to "glasses". Beside it, D's critic on each, less its score on the
faces without glasses: a critic that scores G's glasses as real as real ones does not object to the band.

    python experiments/head_probe.py MODEL.safetensors [MODEL ...] [--n 128] [--json OUT] [--reader JUDGE]

With --reader, a judge file (a guide: train-judge --adversarial-eps) reads P(Eyeglasses) of the same batches too.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
import torch

from bridgegan_batch.data.synthfaces import render, sample_record, with_attributes
from bridgegan_batch.model.classifier import Judge
from bridgegan_batch.model.pixels import to_tensor
from bridgegan_batch.model.translator import Translator

HELD_OUT_SEED = 919_191  # a stream no training run or eval reads
TINT = 0.45


def renderings(n: int, size: int = 64) -> tuple[dict[str, np.ndarray], list[dict[str, int]]]:
    """Four renderings of n faces wearing (or not) glasses, every tinted lens at TINT, and each face's attributes
    without glasses. -> ({name: [n, H, W, 3]}, [attributes])"""
    out = {k: [] for k in ("none", "frames_and_tint", "frames", "tint")}
    labels = []
    for i in range(n):
        face = with_attributes(sample_record(HELD_OUT_SEED, i), {"Eyeglasses": 1})
        tinted = dataclasses.replace(face, glasses=dataclasses.replace(face.glasses, tint=TINT))
        clear = dataclasses.replace(face, glasses=dataclasses.replace(face.glasses, tint=0.0))
        bare = with_attributes(face, {"Eyeglasses": 0})
        labels.append(bare.attributes)
        none = render(bare, size).astype(np.int16)
        both, frames = render(tinted, size).astype(np.int16), render(clear, size).astype(np.int16)
        for name, image in (("none", none), ("frames_and_tint", both), ("frames", frames),
                            ("tint", none + both - frames)):
            out[name].append(np.clip(image, 0, 255).astype(np.uint8))
    return {k: np.stack(v) for k, v in out.items()}, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--n", type=int, default=128)
    parser.add_argument("--json", default=None)
    parser.add_argument("--reader", default=None, help="a judge file whose P(Eyeglasses) is read beside the head's")
    args = parser.parse_args()
    reader = Judge.load(args.reader) if args.reader else None
    by_reader = {}
    images, attributes = renderings(args.n)
    results, realism = {}, {}
    for path in args.models:
        t = Translator.load(path, device="cpu")
        k = t.attributes.index("Eyeglasses")
        head = t.discriminator.eval()

        def p_glasses(x: torch.Tensor, head=head, k=k) -> float:
            with torch.inference_mode():
                return torch.sigmoid(head.classify(x)[:, k]).mean().item()

        def critic(x: torch.Tensor, head=head) -> float:
            with torch.inference_mode():
                return head.critic(x).mean().item()

        x = to_tensor(images["none"])
        labels = torch.tensor([[face[a] for a in t.attributes] for face in attributes], dtype=torch.float32)
        target = t.targets(labels, {"Eyeglasses": 1})
        ref = to_tensor(images["frames_and_tint"])
        ref_labels = target.clone()  # the references are these faces wearing glasses
        batches = {name: to_tensor(batch) for name, batch in images.items()}
        batches["translation_label"] = t.label(x, labels, target, seeds=range(args.n))
        batches["translation_reference"] = t.reference(x, labels, ref.roll(1, 0), ref_labels.roll(1, 0), target)
        row = {name: p_glasses(batch) for name, batch in batches.items()}
        # The critic's mean score less its score on the faces without glasses (the WGAN offset is free).
        scores = {name: critic(batch) for name, batch in batches.items()}
        realism[path] = {name: score - scores["none"] for name, score in scores.items() if name != "none"}
        results[path] = row
        if reader is not None:
            column = reader.config.attributes.index("Eyeglasses")
            by_reader[path] = {name: torch.sigmoid(reader.logits(batch)[:, column]).mean().item()
                               for name, batch in batches.items()}
            print(path, "reader:", json.dumps({key: round(v, 3) for key, v in by_reader[path].items()}), flush=True)
        print(path, json.dumps({key: round(v, 3) for key, v in row.items()}), flush=True)
        print(path, "critic - none:", json.dumps({key: round(v, 3) for key, v in realism[path].items()}), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"n": args.n, "tint": TINT, "seed": HELD_OUT_SEED, "p_eyeglasses": results,
                       "critic_minus_none": realism, "reader": args.reader, "p_eyeglasses_by_reader": by_reader},
                      f, indent=1)


if __name__ == "__main__":
    main()
