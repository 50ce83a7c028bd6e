"""Does the reference path follow the reference? Its spread across references, against the truth's (issue 26).

For unseen SynthFaces sources and pairs of references that carry the attribute in two different styles, each
model translates the source with either reference (the reference path) and with two noises (the label path).
Style sensitivity = mean |out(ref a) - out(ref b)| / mean |truth(a) - truth(b)| where the two truths differ:
1 moves as much as the truth does, 0 ignores the reference. The codes' spread is reported beside it, relative
to the code's size: ||E(a, d) - E(b, d)|| / ||E(a, d)|| and ||M(r1, d) - M(r2, d)|| / ||M(r1, d)||.

    python experiments/style_probe.py MODEL.safetensors [MODEL ...] [--n 48] [--json OUT]
"""

from __future__ import annotations

import numpy as np
import torch
from lab_cli import probe_models_main

from bridgegan_batch.data.synthfaces import render, sample_record, with_attributes, with_styles_from
from bridgegan_batch.model.pixels import to_tensor
from bridgegan_batch.model.translator import Translator

SOURCE_SEED, REFERENCE_SEED = 929_292, 939_393  # streams no training run or eval reads
ATTRIBUTES = ("Eyeglasses", "Blond_Hair", "Wearing_Hat", "Male", "Smiling")


def cases(name: str, n: int, attributes: tuple[str, ...]):
    """n sources without `name`, two references with it in different styles, and the two truths."""
    sources, refs_a, refs_b, truths_a, truths_b, labels = [], [], [], [], [], []
    i = j = 0
    while len(sources) < n:
        record = sample_record(SOURCE_SEED, i)
        i += 1
        if record.attributes[name]:
            continue
        pair = []
        while len(pair) < 2:
            ref = sample_record(REFERENCE_SEED, j)
            j += 1
            if ref.attributes[name]:
                pair.append(ref)
        changed = with_attributes(record, {name: 1})
        ta, tb = (render(with_styles_from(changed, r, [name])) for r in pair)
        if np.array_equal(ta, tb):
            continue
        sources.append(render(record))
        refs_a.append(render(pair[0]))
        refs_b.append(render(pair[1]))
        truths_a.append(ta)
        truths_b.append(tb)
        labels.append(([record.attributes[a] for a in attributes],
                       [changed.attributes[a] for a in attributes],
                       [pair[0].attributes[a] for a in attributes], [pair[1].attributes[a] for a in attributes]))
    stack = [np.stack(v) for v in (sources, refs_a, refs_b, truths_a, truths_b)]
    lab = [torch.tensor(np.array([row[k] for row in labels]), dtype=torch.float32) for k in range(4)]
    return stack, lab


def images(array: np.ndarray) -> torch.Tensor:
    return to_tensor(np.ascontiguousarray(array))  # [B, 3, H, W]


def spread(a: torch.Tensor, b: torch.Tensor, truth_a: np.ndarray, truth_b: np.ndarray) -> float:
    """Output spread over truth spread, where the truths differ."""
    ta, tb = images(truth_a), images(truth_b)
    region = ((ta - tb).abs().sum(1, keepdim=True) > 0.1).float()  # [B, 1, H, W]
    out = ((a - b).abs() * region).sum() / (3 * region.sum())
    truth = ((ta - tb).abs() * region).sum() / (3 * region.sum())
    return float(out / truth)


@torch.inference_mode()
def probe(path: str, n: int) -> dict:
    t = Translator.load(path, device="cpu")
    g = t.model
    rows = {}
    for name in ATTRIBUTES:
        (src, ra, rb, ta, tb), (src_l, target_l, ra_l, rb_l) = cases(name, n, t.attributes)
        x, xa, xb = images(src), images(ra), images(rb)
        # The reference path with the source's target (only `name` changes), from either reference.
        out_a = t.reference(x, src_l, xa, ra_l, target_l)
        out_b = t.reference(x, src_l, xb, rb_l, target_l)
        seeds_a, seeds_b = list(range(n)), list(range(10_000, 10_000 + n))
        lab_a, lab_b = (t.label(x, src_l, target_l, seeds=s) for s in (seeds_a, seeds_b))
        d = t.scaled_d(src_l, target_l)
        ca, cb = g.reference_code(xa, d), g.reference_code(xb, d)
        ma, mb = (g.label_code(t._noise(s, n), d) for s in (seeds_a, seeds_b))
        rows[name] = {
            "reference_output_spread": spread(out_a, out_b, ta, tb),
            "label_output_spread": spread(lab_a, lab_b, ta, tb),
            "reference_code_spread": float((ca - cb).norm() / ca.norm()),
            "label_code_spread": float((ma - mb).norm() / ma.norm()),
        }
        print(path, name, {k: round(v, 3) for k, v in rows[name].items()}, flush=True)
    return rows


if __name__ == "__main__":
    probe_models_main(__doc__, probe, default_n=48)
