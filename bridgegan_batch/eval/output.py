"""A job's output seen by the attribute judge: does each image show the labels it carries?"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from bridgegan_batch.data.provenance import read_provenance
from bridgegan_batch.data.reader import DatasetReader
from bridgegan_batch.errors import DataError
from bridgegan_batch.eval.judge import Judge
from bridgegan_batch.model.pixels import to_tensor

CHUNK = 512  # images judged at a time, so memory stays flat on large outputs


def judge_output(patterns: str | list[str], judge: Judge) -> dict:
    """Per attribute: the fraction labelled 1 and judged 1, over the whole output and per operation
    kind; and per kind the agreement between labels and judge. {"samples", "overall", "per_op"}"""
    names = list(judge.config.attributes)
    reader = DatasetReader(patterns, decode=True, size=judge.config.image_size)
    labelled: dict[str, list] = defaultdict(list)  # op -> rows of labels (-1 where unlabelled)
    judged: dict[str, list] = defaultdict(list)
    batch, ops = [], []

    def flush() -> None:
        seen = judge.predict(to_tensor(np.stack([s.pixels for s in batch]))).numpy().astype(np.int8)  # [B, K]
        for sample, op, row in zip(batch, ops, seen, strict=True):
            labelled[op].append([sample.attributes.get(n, -1) for n in names])
            judged[op].append(row)
        batch.clear()
        ops.clear()

    for sample in reader:
        batch.append(sample)
        ops.append(read_provenance(sample.meta).get("kind", "unknown"))
        if len(batch) == CHUNK:
            flush()
    if batch:
        flush()
    if reader.failures:
        raise DataError(f"{len(reader.failures)} output samples could not be read, e.g. {reader.failures[0]}")
    per_op = {op: _scores(np.array(labelled[op]), np.array(judged[op]), names) for op in sorted(labelled)}
    every_l = np.concatenate([np.array(v) for v in labelled.values()]) if labelled else np.zeros((0, len(names)))
    every_j = np.concatenate([np.array(v) for v in judged.values()]) if judged else np.zeros((0, len(names)))
    return {"samples": int(len(every_l)), "overall": _scores(every_l, every_j, names), "per_op": per_op}


def _scores(labels: np.ndarray, seen: np.ndarray, names: list[str]) -> dict:
    out = {"samples": int(len(labels))}
    for k, name in enumerate(names):
        known = labels[:, k] >= 0 if len(labels) else np.zeros(0, bool)
        out[name] = {"labelled": float(labels[known, k].mean()) if known.any() else None,
                     "judged": float(seen[:, k].mean()) if len(seen) else None,
                     "agreement": float((labels[known, k] == seen[known, k]).mean()) if known.any() else None}
    return out


def markdown(result: dict, attributes: list[str]) -> str:
    """A table: per attribute, labelled vs judged fraction, overall and per operation kind."""
    ops = list(result["per_op"])
    head = "| attribute | labelled | judged | " + " | ".join(f"{op}: judged / agreement" for op in ops) + " |"
    lines = [head, "|" + "---|" * (3 + len(ops))]
    for name in attributes:
        o = result["overall"][name]
        cells = [f"{100 * r[name]['judged']:.1f} % / {100 * r[name]['agreement']:.1f} %"
                 if r[name]["agreement"] is not None else "—" for r in result["per_op"].values()]
        lines.append(f"| {name} | {_pct(o['labelled'])} | {_pct(o['judged'])} | " + " | ".join(cells) + " |")
    counts = ", ".join(f"{op} {r['samples']}" for op, r in result["per_op"].items())
    return "\n".join(lines) + f"\n\n{result['samples']} samples ({counts})."


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"
