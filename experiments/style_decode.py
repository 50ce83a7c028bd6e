"""Where is the reference's style lost: in E's code or in G's drawing? Linear read-outs of it (issue 26).

Style match sits near chance while the reference path's edit is often right: the output takes the attribute and
not the reference's style of it. For unseen sources and references wearing the attribute, a linear classifier
(ridge, one-hot targets, its penalty chosen on a validation split) reads the reference's style class from:

  - the reference's pixels (what any encoder is given),
  - its code E(x_ref, d), which the reference path adds to E(x, -d) (what G is given),
  - the reference path's change to the source, y - x (what G drew),
  - the output's code E(y, d), which the latent cycle holds to E(x_ref, d),
  - the true change in the reference's style, truth - x (what a perfect model draws).

High on the code and low on the drawing: G does not use what E passes. Low on the code: E drops it. The style
classes are SynthFaces' own: glasses' frame colour and shape, hats' colour and shape; beside them, the
share of the commonest class (what a read-out that learned nothing scores).

    python experiments/style_decode.py MODEL.safetensors [MODEL ...] [--n 700] [--json OUT]
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from lab_cli import probe_models_main

from bridgegan_batch.data.synthfaces import render, sample_record, with_attributes, with_styles_from
from bridgegan_batch.model.pixels import to_tensor
from bridgegan_batch.model.translator import Translator

SOURCE_SEED, REFERENCE_SEED = 949_494, 959_595  # streams no training run, eval or other probe reads
STYLES = {  # attribute -> {style class name: the record's value of it}
    "Eyeglasses": {"frame colour": lambda r: r.glasses.frame_color, "shape": lambda r: r.glasses.shape},
    "Wearing_Hat": {"colour": lambda r: r.hat.color, "shape": lambda r: r.hat.shape},
}
PENALTIES = (1e-1, 1e0, 1e1, 1e2, 1e3, 1e4)


def cases(name: str, n: int, attributes: tuple[str, ...]) -> dict:
    """n sources without `name`, each with a reference wearing it and the truth in that reference's style."""
    src, ref, truth, records, labels = [], [], [], [], []
    i = j = 0
    while len(src) < n:
        record = sample_record(SOURCE_SEED, i)
        i += 1
        if record.attributes[name]:
            continue
        while not (reference := sample_record(REFERENCE_SEED, j)).attributes[name]:
            j += 1
        j += 1
        changed = with_attributes(record, {name: 1})
        src.append(render(record))
        ref.append(render(reference))
        truth.append(render(with_styles_from(changed, reference, [name])))
        records.append(reference)
        labels.append([[r.attributes[a] for a in attributes] for r in (record, changed, reference)])
    lab = np.asarray(labels, dtype=np.float32)  # [n, 3, N]: source, target, reference
    return {"source": np.stack(src), "reference": np.stack(ref), "truth": np.stack(truth), "records": records,
            "source_labels": torch.from_numpy(lab[:, 0]), "target_labels": torch.from_numpy(lab[:, 1]),
            "reference_labels": torch.from_numpy(lab[:, 2])}


def pooled(images: torch.Tensor) -> np.ndarray:
    """[n, 3, 64, 64] -> [n, 3 * 32 * 32]: halved, so that every read-out sees a few thousand features."""
    return F.avg_pool2d(images, 2).flatten(1).numpy()


@torch.inference_mode()
def features(t: Translator, c: dict, batch: int = 64) -> dict[str, np.ndarray]:
    out = {"reference pixels": [], "code E(x_ref, d)": [], "drawn change y - x": [], "output's code E(y, d)": [],
           "true change": []}
    for s in range(0, len(c["source"]), batch):
        part = slice(s, s + batch)
        x, xr, tr = (to_tensor(np.ascontiguousarray(c[k][part])) for k in ("source", "reference", "truth"))
        sl, tl, rl = c["source_labels"][part], c["target_labels"][part], c["reference_labels"][part]
        y = t.reference(x, sl, xr, rl, tl)  # [b, 3, H, W]
        d = t.scaled_d(sl, tl)
        code, back = t.model.reference_code(xr, d), t.model.reference_code(y, d)  # [b, Cs, Hs, Ws] each
        for key, value in zip(out, (pooled(xr), code.flatten(1).numpy(), pooled(y - x), back.flatten(1).numpy(),
                                    pooled(tr - x)), strict=True):
            out[key].append(value)
    return {k: np.concatenate(v) for k, v in out.items()}


def ridge_accuracy(x: np.ndarray, classes: np.ndarray, n_train: float = 0.6, n_val: float = 0.15) -> float:
    """Test accuracy of a ridge classifier on standardised features, the penalty chosen on the validation part."""
    n = len(x)
    a, b = int(n * n_train), int(n * (n_train + n_val))
    mean, std = x[:a].mean(0), x[:a].std(0) + 1e-6
    z = (x - mean) / std
    onehot = np.eye(classes.max() + 1)[classes]
    gram = z[:a] @ z[:a].T  # the dual form: a few hundred faces, thousands of features

    def fit(lam: float) -> np.ndarray:
        return z[:a].T @ np.linalg.solve(gram + lam * np.eye(a), onehot[:a])

    def accuracy(w: np.ndarray, part: slice) -> float:
        return float(((z[part] @ w).argmax(1) == classes[part]).mean())

    best = max(PENALTIES, key=lambda lam: accuracy(fit(lam), slice(a, b)))
    return accuracy(fit(best), slice(b, n))


def probe(path: str, n: int) -> dict:
    t = Translator.load(path, device="cpu")
    result = {}
    for name, styles in STYLES.items():
        c = cases(name, n, t.attributes)
        feats = features(t, c)
        for style, value in styles.items():
            kinds = sorted({str(value(r)) for r in c["records"]})
            classes = np.array([kinds.index(str(value(r))) for r in c["records"]])
            row = {"classes": len(kinds), "majority": float(np.bincount(classes).max() / len(classes))}
            row |= {key: ridge_accuracy(f, classes) for key, f in feats.items()}
            result[f"{name} {style}"] = row
            print(path, name, style, {k: round(v, 3) for k, v in row.items()}, flush=True)
    return result


if __name__ == "__main__":
    probe_models_main(__doc__, probe, default_n=700)
