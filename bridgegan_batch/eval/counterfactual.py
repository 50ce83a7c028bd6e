"""Counterfactual test cases from SynthFaces: each source face, a one-attribute change, and the truly rendered answer.

SynthFaces can render the same face with one attribute changed and every other parameter kept, so a
translation has a ground truth. For a label-driven change the truth keeps the source's own latent
style of the attribute (its glasses, had it worn any), which no model can know: the error there
includes a style mismatch. For a reference-driven change the truth is the source wearing exactly the
reference's style, and a second reference of the same attribute but another style gives a rival
truth: an output that took the reference's style lies closer to its own truth than to the rival.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bridgegan_batch.config import SynthConfig
from bridgegan_batch.data.attributes import SYNTH_ATTRIBUTES
from bridgegan_batch.data.synthfaces import FaceRecord, render, sample_record, with_attributes, with_styles_from
from bridgegan_batch.errors import UserError

# Held-out streams: training uses seed 0, the judge 1000/2000, `eval`'s label table 777 777.
SOURCE_SEED, REFERENCE_SEED, REAL_SEED = 424_242, 535_353, 646_464


@dataclass(frozen=True)
class Cases:
    """M counterfactual cases (images uint8 [M, H, W, 3], labels float32 [M, N] in `attributes` order)."""

    attributes: tuple[str, ...]
    changed: np.ndarray  # [M] index into `attributes` of the attribute each case changes
    value: np.ndarray  # [M] its target value, 0 or 1
    source: np.ndarray
    source_labels: np.ndarray
    target_labels: np.ndarray
    label_truth: np.ndarray  # the source with the change, its own latent style
    reference: np.ndarray  # a face that has the target value
    reference_labels: np.ndarray
    reference_truth: np.ndarray  # the source with the change, in the reference's style
    rival_truth: np.ndarray  # the same, in a second reference's style
    style_differs: np.ndarray  # [M] bool: the two references' styles render differently

    def __len__(self) -> int:
        return len(self.changed)

    def subset(self, keep: np.ndarray) -> Cases:
        """The cases where `keep` ([M] bool) is true."""
        fields = {key: getattr(self, key)[keep] for key in self.__dataclass_fields__ if key != "attributes"}
        return Cases(attributes=self.attributes, **fields)


def make_cases(changes: Sequence[str], attributes: Sequence[str], *, n: int, size: int = 64,
               config: SynthConfig | None = None, seed: int = SOURCE_SEED) -> Cases:
    """`n` sources per changed attribute, each flipped (added where absent, removed where present)."""
    attributes = tuple(attributes)
    unknown = [a for a in (*attributes, *changes) if a not in SYNTH_ATTRIBUTES]
    if unknown:
        raise UserError(f"counterfactuals need SynthFaces attributes; unknown: {unknown}")
    missing = [a for a in changes if a not in attributes]
    if missing:
        raise UserError(f"attributes to change {missing} are not among the model's {list(attributes)}")
    config = config or SynthConfig()
    pool = _ReferencePool(config)
    rows: dict[str, list] = {key: [] for key in Cases.__dataclass_fields__ if key != "attributes"}
    for k, name in enumerate(changes):
        for i in range(n):
            record = sample_record(seed, k * n + i, config)
            value = 1 - record.attributes[name]
            changed = with_attributes(record, {name: value})
            ref, rival = pool.two_with(name, value)
            truth, rival_truth = (with_styles_from(changed, r, [name]) for r in (ref, rival))
            rendered = {"reference_truth": render(truth, size), "rival_truth": render(rival_truth, size)}
            row = {"changed": attributes.index(name), "value": value, "source": render(record, size),
                   "source_labels": _labels(record, attributes), "target_labels": _labels(changed, attributes),
                   "label_truth": render(changed, size), "reference": render(ref, size),
                   "reference_labels": _labels(ref, attributes), **rendered,
                   "style_differs": not np.array_equal(rendered["reference_truth"], rendered["rival_truth"])}
            for key, value_ in row.items():
                rows[key].append(value_)
    return Cases(attributes=attributes, **{key: np.stack(values) if key not in ("changed", "value", "style_differs")
                                           else np.array(values) for key, values in rows.items()})


def real_faces(n: int, size: int = 64, config: SynthConfig | None = None) -> np.ndarray:
    """Held-out real renders, the reference distribution for realism. -> uint8 [n, H, W, 3]"""
    config = config or SynthConfig()
    return np.stack([render(sample_record(REAL_SEED, i, config), size) for i in range(n)])


class _ReferencePool:
    """Faces of a held-out stream, searched in order for ones with a given attribute value."""

    def __init__(self, config: SynthConfig, limit: int = 100_000):
        self.config, self.limit, self.next_index = config, limit, {}

    def two_with(self, name: str, value: int) -> tuple[FaceRecord, FaceRecord]:
        return self._next(name, value), self._next(name, value)

    def _next(self, name: str, value: int) -> FaceRecord:
        start = self.next_index.get((name, value), 0)
        for index in range(start, start + self.limit):
            record = sample_record(REFERENCE_SEED, index, self.config)
            if record.attributes[name] == value:
                self.next_index[(name, value)] = index + 1
                return record
        raise UserError(f"no SynthFaces reference with {name}={value} in {self.limit} faces; check the priors")


def _labels(record: FaceRecord, attributes: tuple[str, ...]) -> np.ndarray:
    return np.array([record.attributes[a] for a in attributes], np.float32)
