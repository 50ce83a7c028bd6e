"""The plan: which sources each operation translates, and into what, decided before any pixel moves.

It is a pure function of (the sources' labels, the job, the seed). Without `balance`, every
operation applies to every source its `where` filter admits. With `balance`, translations are
added one at a time, each time the one that brings the output's label distribution closest to
the target, so that several operations share the work evenly; each operation walks its eligible
sources in a seeded order and comes back for further variants when it runs out.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from bridgegan_batch.augment.spec import JobSpec, Operation
from bridgegan_batch.data.attributes import apply_changes
from bridgegan_batch.errors import ConfigError

BALANCE_TOLERANCE = 0.02  # how far from each target fraction a plan may stay


@dataclass(frozen=True)
class Source:
    shard: str
    key: str
    labels: dict[str, int]


@dataclass(frozen=True)
class Item:
    """One output sample: an operation applied to a source (variant v, with a reference or alpha)."""

    op: int  # index into job.operations
    kind: str  # label | reference | interpolate
    shard: str
    key: str
    variant: int
    target: dict[str, int]
    reference: tuple[str, str] | None = None  # (shard, key) for reference and interpolate
    alpha: float | None = None  # interpolate


def stable_seed(*parts: object) -> int:
    """A 63-bit seed from any values, stable across runs and machines (unlike hash())."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def _matches(labels: dict[str, int], where: dict[str, int]) -> bool:
    return all(labels.get(name) == value for name, value in where.items())


def _reference_pool(index: int, op: Operation, references: Sequence[Source], seed: int) -> list[Source]:
    """An operation's candidate references: its fixed keys, or a seeded subset (at most pool_size)
    of the faces that already have the attributes it sets."""
    spec = op.spec
    if spec.choose == "keys":
        by_key = {r.key: r for r in references}
        missing = [k for k in spec.keys if k not in by_key]
        if missing:
            raise ConfigError(f"operations.{index}.{op.kind}.keys: not in the reference pool: {missing[:5]}")
        return [by_key[k] for k in spec.keys]
    matching = [r for r in references if _matches(r.labels, spec.set)]
    if len(matching) > spec.pool_size:
        chosen = np.random.default_rng(stable_seed(seed, "pool", index)).choice(len(matching), spec.pool_size,
                                                                                replace=False)
        matching = [matching[i] for i in sorted(chosen)]
    return matching


def _by_similarity(target: dict[str, int], pool: Sequence[Source], seed: int) -> list[Source]:
    """The pool, fewest labels differing from `target` first; ties in a seeded order."""
    order = np.random.default_rng(seed).permutation(len(pool))
    distance = [sum(pool[i].labels.get(name) != value for name, value in target.items()) for i in order]
    return [pool[order[j]] for j in np.argsort(distance, kind="stable")]


class _OpCursor:
    """Walks an operation's eligible sources in a seeded order, then again for later variants."""

    def __init__(self, index: int, op: Operation, eligible: Sequence[Source], references: Sequence[Source],
                 seed: int, max_variants: int, stratum: tuple = ()):
        self.index, self.op, self.spec, self.stratum = index, op, op.spec, stratum
        order = np.random.default_rng(stable_seed(seed, "order", index, stratum)).permutation(len(eligible))
        self.eligible = [eligible[i] for i in order]
        self.references = _reference_pool(index, op, references, seed) if op.kind != "label" else []
        if op.kind != "label" and self.eligible and not self.references:
            raise ConfigError(f"operations.{index}.{op.kind}: no face in the reference pool has "
                              f"{dict(self.spec.set)}")
        self.seed, self.max_variants, self.position = seed, max_variants, 0

    def exhausted(self) -> bool:
        return not self.eligible or self.position >= len(self.eligible) * self.max_variants

    def _next(self) -> tuple[Source, int]:
        return self.eligible[self.position % len(self.eligible)], self.position // len(self.eligible)

    def next_target(self) -> dict[str, int]:
        """The target labels of the next item: all the balancer needs to score it (no reference drawn)."""
        return apply_changes(self._next()[0].labels, self.spec.set)

    def take(self) -> Item:
        source, variant = self._next()
        target = self.next_target()
        reference = alpha = None
        if self.op.kind != "label":
            reference = self._reference(source, target, variant)
        if self.op.kind == "interpolate":
            alpha = self.spec.alphas[variant % len(self.spec.alphas)]
        self.position += 1
        return Item(self.index, self.op.kind, source.shard, source.key, variant, target, reference, alpha)

    def _reference(self, source: Source, target: dict[str, int], variant: int) -> tuple[str, str]:
        pool = [r for r in self.references if r.key != source.key] or self.references
        if self.spec.choose == "similar":
            ranked = _by_similarity(target, pool, stable_seed(self.seed, "ref", self.index, source.key))
            ref = ranked[variant % len(ranked)]  # a source's references: its nearest first, all different
        else:
            ref = pool[stable_seed(self.seed, "ref", self.index, source.key, variant) % len(pool)]
        return (ref.shard, ref.key)


def _distance(counts: Counter, total: int, job: JobSpec) -> float:
    """How far the output's label distribution is from the balance target (0 = on target)."""
    if total == 0:
        return float("inf")
    balance = job.balance
    if balance.fractions:
        return sum(abs(counts[(name, 1)] / total - p) for name, p in balance.fractions.items())
    cells = list(itertools.product((0, 1), repeat=len(balance.equal_cells)))
    return sum(abs(counts[("cell", cell)] / total - 1 / len(cells)) for cell in cells)


def _count(counts: Counter, labels: dict[str, int], job: JobSpec, sign: int = 1) -> None:
    balance = job.balance
    for name in balance.fractions:
        counts[(name, labels.get(name, -1))] += sign
    if balance.equal_cells:
        counts[("cell", tuple(labels.get(n, -1) for n in balance.equal_cells))] += sign


def _within_tolerance(counts: Counter, total: int, job: JobSpec) -> bool:
    balance = job.balance
    if balance.fractions:
        return all(abs(counts[(n, 1)] / total - p) <= BALANCE_TOLERANCE for n, p in balance.fractions.items())
    cells = list(itertools.product((0, 1), repeat=len(balance.equal_cells)))
    return all(abs(counts[("cell", c)] / total - 1 / len(cells)) <= BALANCE_TOLERANCE for c in cells)


@dataclass
class Plan:
    items: list[Item]
    sources: int
    originals: int  # sources copied unchanged into the output (include_originals)
    input_counts: dict[str, dict[str, int]]  # attribute -> {"0": n, "1": n} over the sources
    output_counts: dict[str, dict[str, int]]  # the same over the planned output
    shards: list[str] = field(default_factory=list)  # the input shards it covers

    def items_by_shard(self) -> dict[str, list[Item]]:
        grouped: dict[str, list[Item]] = {shard: [] for shard in self.shards}
        for item in self.items:
            grouped.setdefault(item.shard, []).append(item)
        return grouped

    @classmethod
    def from_json(cls, data: dict) -> Plan:
        items = [Item(**{**i, "reference": tuple(i["reference"]) if i["reference"] else None}) for i in data["items"]]
        return cls(items, data["sources"], data["originals"], data["input_counts"], data["output_counts"],
                   list(data.get("shards", [])))

    def counts_per_operation(self) -> dict[str, int]:
        c = Counter(f"{item.op}:{item.kind}" for item in self.items)
        return dict(sorted(c.items()))

    def to_json(self) -> dict:
        return {"sources": self.sources, "originals": self.originals, "translations": len(self.items),
                "per_operation": self.counts_per_operation(), "input_counts": self.input_counts,
                "output_counts": self.output_counts, "shards": self.shards,
                "items": [asdict(i) for i in self.items]}


def _histogram(label_sets: Sequence[dict[str, int]], names: Sequence[str]) -> dict[str, dict[str, int]]:
    return {n: {"0": sum(1 for s in label_sets if s.get(n) == 0), "1": sum(1 for s in label_sets if s.get(n) == 1)}
            for n in names}


def make_plan(job: JobSpec, sources: Sequence[Source], references: Sequence[Source] | None = None,
              max_variants: int = 16, previous: Plan | None = None,
              previous_sources: Sequence[Source] = ()) -> Plan:
    """The plan for `job` over `sources` (and a reference pool: the sources themselves by default).

    With `previous` (the plan already carried out over `previous_sources`), only `sources` are
    planned, and balancing starts from the output that plan makes: a nightly run over new shards
    keeps the whole output on target without touching finished work.
    """
    references = sources if references is None else references
    originals = len(sources) if job.output.include_originals else 0
    items: list[Item] = []
    if job.balance is None:
        for i, op in enumerate(job.operations):
            eligible = [s for s in sources if _matches(s.labels, op.spec.where)]
            cursor = _OpCursor(i, op, eligible, references, job.seed, _own_variants(op))
            while not cursor.exhausted():
                items.append(cursor.take())
    else:
        done = [s.labels for s in previous_sources][: previous.originals if previous else 0]
        done += [i.target for i in previous.items] if previous else []
        items = _balance(job, _strata_cursors(job, sources, references, max_variants),
                         [s.labels for s in sources] if originals else [], done)
    shards = list(dict.fromkeys(s.shard for s in sources))
    if previous is not None:
        items, shards = previous.items + items, previous.shards + [s for s in shards if s not in previous.shards]
        sources, originals = [*previous_sources, *sources], previous.originals + originals
    names = sorted({n for s in sources for n in s.labels})
    out_labels = [s.labels for s in sources][:originals] + [i.target for i in items]
    return Plan(items, len(sources), originals, _histogram([s.labels for s in sources], names),
                _histogram(out_labels, names), shards)


def _own_variants(op: Operation) -> int:
    """Outputs per source an operation makes without balancing: variants, references x alphas."""
    spec = op.spec
    if op.kind == "label":
        return spec.variants
    return spec.per_source * (len(spec.alphas) if op.kind == "interpolate" else 1)


def _strata_cursors(job: JobSpec, sources: Sequence[Source], references: Sequence[Source],
                    max_variants: int) -> list[_OpCursor]:
    """Per operation, one cursor per stratum of sources (their labels on the balanced attributes),
    so that a stratum whose outputs would overfill a cell never blocks another stratum's."""
    balanced = list(job.balance.fractions) or list(job.balance.equal_cells)
    cursors = []
    for i, op in enumerate(job.operations):
        strata: dict[tuple, list[Source]] = {}
        for s in sources:
            # A balancing translation must change something: skip sources already at the target.
            if _matches(s.labels, op.spec.where) and apply_changes(s.labels, op.spec.set) != s.labels:
                strata.setdefault(tuple(s.labels.get(n, -1) for n in balanced), []).append(s)
        cursors += [_OpCursor(i, op, members, references, job.seed, max_variants, stratum)
                    for stratum, members in sorted(strata.items())]
    return cursors


def _balance(job: JobSpec, cursors: list[_OpCursor], originals: Sequence[dict[str, int]],
             done: Sequence[dict[str, int]] = ()) -> list[Item]:
    """Greedy translations toward the target, starting from the output's `done` samples and `originals`."""
    counts: Counter = Counter()
    for labels in [*done, *originals]:
        _count(counts, labels, job)
    total, items = len(done) + len(originals), []
    taken = Counter()
    current = _distance(counts, total, job)
    while True:
        best = None
        for cursor in cursors:
            if cursor.exhausted():
                continue
            target = cursor.next_target()
            _count(counts, target, job)
            score = _distance(counts, total + 1, job)
            _count(counts, target, job, -1)
            # The closest to target wins; ties go to the operation with the fewest items (even split).
            key = (score, taken[cursor.index], cursor.index)
            if best is None or key < best[0]:
                best = (key, cursor)
        if best is None or best[0][0] >= current:
            break
        item = best[1].take()
        _count(counts, item.target, job)
        total += 1
        taken[item.op] += 1
        items.append(item)
        current = best[0][0]
    if total == 0 or not _within_tolerance(counts, total, job):
        got = _describe(counts, total, job)
        raise ConfigError(f"balance: cannot be reached with these operations and sources (best: {got})")
    return items


def _describe(counts: Counter, total: int, job: JobSpec) -> str:
    if total == 0:
        return "no output"
    if job.balance.fractions:
        return ", ".join(f"{n} {100 * counts[(n, 1)] / total:.1f} %" for n in job.balance.fractions)
    cells = itertools.product((0, 1), repeat=len(job.balance.equal_cells))
    return ", ".join(f"{c} {100 * counts[('cell', c)] / total:.1f} %" for c in cells)
