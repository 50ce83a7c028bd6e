"""Does the reference path fail because the reference's face sits elsewhere? (issue 26, eighteenth session)

S_ref = E(x_s, -d) + E(x_ref, d) adds two *spatial* codes: E writes the reference's glasses where the reference's
eyes are, and SynthFaces poses every face differently (shift, rotation, scale and face size move the eyes by a few
pixels at 64 px, where a frame is one or two pixels wide). This probe re-renders each of eval's references in its
source's pose and face size (everything else, the style included, unchanged) and runs the reference path with both,
paired: the truth is the same, so the difference is what the misplacement costs. The eyes' distance between source
and reference is reported per bin too.

    python experiments/alignment_probe.py MODEL.safetensors [--n 256] [--json OUT]
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
import torch

from bridgegan_batch.data.drawing import pose_matrix
from bridgegan_batch.data.synthfaces import FaceRecord, _layout, render, with_attributes, with_styles_from
from bridgegan_batch.eval.ground_truth import _labels, case_records, reductions
from bridgegan_batch.model.pixels import to_tensor
from bridgegan_batch.model.translator import Translator

ATTRIBUTES = ("Eyeglasses", "Smiling", "Blond_Hair", "Wearing_Hat", "Male")
SIZE = 64
GAP_BINS = (0.0, 1.0, 2.0, 3.0, np.inf)  # pixels between the two faces' eyes (mean of left and right)


def eyes(record: FaceRecord, size: int = SIZE) -> np.ndarray:
    """Both eyes' centres in output pixels. -> [2, 2]"""
    layout = _layout(record)
    pose = record.pose
    A, b = pose_matrix(size, pose.rotation, pose.scale, pose.shift, (layout.cx, layout.cy))
    points = np.array([[layout.cx - layout.eye_dx, layout.eye_y], [layout.cx + layout.eye_dx, layout.eye_y]])
    return points @ A.T + b


def aligned(reference: FaceRecord, source: FaceRecord) -> FaceRecord:
    """The reference in the source's pose and face size: its eyes where the source's are, its styles its own."""
    face = dataclasses.replace(reference.face, half_width=source.face.half_width,
                               half_height=source.face.half_height)
    return dataclasses.replace(reference, pose=source.pose, face=face)


def pairs(name: str, n: int) -> list[tuple[FaceRecord, FaceRecord]]:
    """eval's own (source, reference) pairs for adding `name`."""
    return [(source, refs[0]) for source, refs in case_records(name, 1, n=n)]


@torch.inference_mode()
def score(translator: Translator, name: str, n: int) -> dict[str, np.ndarray]:
    """Per case: the reference path's reduction with the reference as it is and aligned, and the eyes' gap."""
    rows = pairs(name, n)
    attrs = translator.attributes
    source = to_tensor(np.stack([render(s, SIZE) for s, _ in rows]))
    truth = to_tensor(np.stack([render(with_styles_from(with_attributes(s, {name: 1}), r, [name]), SIZE)
                                for s, r in rows]))
    src_labels = torch.from_numpy(np.stack([_labels(s.attributes, attrs) for s, _ in rows]))
    target = torch.from_numpy(np.stack([_labels(with_attributes(s, {name: 1}).attributes, attrs) for s, _ in rows]))
    ref_labels = torch.from_numpy(np.stack([_labels(r.attributes, attrs) for _, r in rows]))
    out = {}
    for kind, refs in (("as_is", [r for _, r in rows]), ("aligned", [aligned(r, s) for s, r in rows])):
        ref = to_tensor(np.stack([render(r, SIZE) for r in refs]))
        translated = torch.cat([translator.reference(source[i:i + 64], src_labels[i:i + 64], ref[i:i + 64],
                                                     ref_labels[i:i + 64], target[i:i + 64]).cpu()
                                for i in range(0, n, 64)])
        out[kind] = reductions(translated, source, truth).numpy()
    out["gap"] = np.array([np.linalg.norm(eyes(s) - eyes(r), axis=1).mean() for s, r in rows])
    return out


def summary(rows: dict[str, np.ndarray], boot: int = 2000) -> dict:
    """Means, the paired difference with its bootstrap error, and the as-is reduction per gap bin."""
    ok = ~(np.isnan(rows["as_is"]) | np.isnan(rows["aligned"]))
    a, b, gap = rows["as_is"][ok], rows["aligned"][ok], rows["gap"][ok]
    rng = np.random.default_rng(0)
    diffs = [np.mean((b - a)[rng.integers(0, len(a), len(a))]) for _ in range(boot)]
    bins = []
    for lo, hi in zip(GAP_BINS, GAP_BINS[1:], strict=False):
        pick = (gap >= lo) & (gap < hi)
        bins.append({"gap_px": [lo, None if np.isinf(hi) else hi], "n": int(pick.sum()),
                     "as_is": float(a[pick].mean()) if pick.any() else None,
                     "aligned": float(b[pick].mean()) if pick.any() else None})
    return {"n": int(ok.sum()), "as_is": float(a.mean()), "aligned": float(b.mean()),
            "aligned_minus_as_is": float(np.mean(b - a)), "paired_se": float(np.std(diffs)),
            "gap_px_median": float(np.median(gap)), "by_gap": bins}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--json")
    args = parser.parse_args()
    translator = Translator.load(args.model, device="cpu")
    result = {"model": args.model, "attributes": {}}
    for name in ATTRIBUTES:
        s = result["attributes"][name] = summary(score(translator, name, args.n))
        print(f"{name:12s} as is {s['as_is']:+.3f}  aligned {s['aligned']:+.3f}  "
              f"diff {s['aligned_minus_as_is']:+.3f} ± {s['paired_se']:.3f}  median gap {s['gap_px_median']:.1f} px",
              flush=True)
        for row in s["by_gap"]:
            if row["n"]:
                print(f"    gap {row['gap_px']}: n {row['n']:3d}  as is {row['as_is']:+.3f}  "
                      f"aligned {row['aligned']:+.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
