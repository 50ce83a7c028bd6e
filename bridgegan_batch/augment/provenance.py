"""What every output sample says about how it was made (data/provenance.py: the fields), and its key."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from bridgegan_batch.augment.plan import Item, stable_seed
from bridgegan_batch.data.provenance import KIND_ALPHA, NO_OPERATION, NO_REFERENCE, NO_SEED, PROVENANCE_VERSION
from bridgegan_batch.data.sample import KEY_PATTERN

# IPTC Digital Source Type for media made by a trained model from existing media.
DIGITAL_SOURCE_TYPE = "compositeWithTrainedAlgorithmicMedia"
NOISE_KINDS = ("label", "interpolate")  # the operations that draw noise


@dataclass(frozen=True)
class RunInfo:
    """The same for every sample of a run."""

    job_name: str
    job_sha256: str
    job_seed: int
    model_name: str
    model_sha256: str
    run_id: str
    tool_version: str


@dataclass(frozen=True)
class ImageRef:
    shard: str
    key: str
    sha256: str

    def to_json(self) -> dict:
        return {"key": self.key, "shard": self.shard, "sha256": self.sha256}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def noise_seed(job_seed: int, item: Item) -> int | None:
    """The per-sample noise seed: from (job seed, source key, operation, variant), never the batch."""
    return stable_seed(job_seed, "noise", item.key, item.op, item.variant) if item.kind in NOISE_KINDS else None


def output_key(item: Item) -> str:
    """`{source key}-op{i}-{variant}`; shortened with a hash if it would pass the key length limit."""
    key = f"{item.key}-op{item.op}-{item.variant}"
    if not KEY_PATTERN.fullmatch(key):
        key = f"{item.key[:170]}-{sha256(key.encode())[:12]}-op{item.op}-{item.variant}"
    return key


def _common(run: RunInfo) -> dict:
    return {"model": {"name": run.model_name, "sha256": run.model_sha256},
            "job": {"name": run.job_name, "spec_sha256": run.job_sha256},
            "run_id": run.run_id, "tool_version": run.tool_version}


def translation_provenance(item: Item, source: ImageRef, source_labels: dict[str, int], d: dict[str, float],
                           reference: ImageRef | None, edit: str, run: RunInfo) -> dict:
    seed = noise_seed(run.job_seed, item)
    return {"version": PROVENANCE_VERSION, "kind": item.kind, "operation_index": item.op, "variant": item.variant,
            "source": {**source.to_json(), "labels": source_labels}, "target": item.target,
            "d": {name: float(value) for name, value in d.items()},
            "reference": reference.to_json() if reference else dict(NO_REFERENCE),
            "alpha": float(KIND_ALPHA[item.kind] if item.alpha is None else item.alpha), "edit": edit,
            "noise_seed": NO_SEED if seed is None else seed, **_common(run),
            "digital_source_type": DIGITAL_SOURCE_TYPE}


def original_provenance(source: ImageRef, source_labels: dict[str, int], run: RunInfo) -> dict:
    """An original's provenance: the same fields as a translation's, "none" written in each field's type."""
    return {"version": PROVENANCE_VERSION, "kind": "original", "operation_index": NO_OPERATION, "variant": 0,
            "source": {**source.to_json(), "labels": source_labels}, "target": source_labels,
            "d": dict.fromkeys(source_labels, 0.0), "reference": dict(NO_REFERENCE), "alpha": KIND_ALPHA["original"],
            "edit": "none", "noise_seed": NO_SEED, **_common(run), "digital_source_type": ""}
