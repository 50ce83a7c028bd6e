"""Dataset statistics: sample count, per-attribute frequencies and read failures."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from bridgegan_batch.data.reader import DatasetReader

MAX_LISTED_FAILURES = 20


def inspect_dataset(patterns: str | Sequence[str], *, format: str | None = None,
                    decode: bool = True) -> dict:
    """Read every sample and summarise; `decode=False` skips image decoding (faster, checks less).

    `attributes[name]` is the fraction of 1s among the samples labelled for `name`.
    """
    reader = DatasetReader(patterns, format=format, decode=decode)
    ones: Counter[str] = Counter()
    labelled: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    samples = 0
    for sample in reader:
        samples += 1
        for name, value in sample.attributes.items():
            labelled[name] += 1
            ones[name] += value
        if sample.pixels is not None:
            h, w = sample.pixels.shape[:2]
            sizes[f"{w}x{h}"] += 1
    names = list(reader.attribute_names or ()) + sorted(set(labelled) - set(reader.attribute_names or ()))
    return {
        "samples": samples,
        "shards": len(reader.shards),
        "attributes": {n: (ones[n] / labelled[n] if labelled[n] else None) for n in names},
        "labelled": {n: labelled[n] for n in names},
        "image_sizes": dict(sizes),
        "failures": len(reader.failures),
        "failure_examples": [str(f) for f in reader.failures[:MAX_LISTED_FAILURES]],
    }


def format_report(stats: dict) -> str:
    """The stats as a short human-readable table."""
    lines = [f"samples   {stats['samples']}  (in {stats['shards']} shards)",
             f"failures  {stats['failures']}"]
    if stats["image_sizes"]:
        lines.append("sizes     " + ", ".join(f"{k} ×{v}" for k, v in stats["image_sizes"].items()))
    lines.append("")
    lines.append(f"{'attribute':<20}{'frequency':>10}{'labelled':>10}")
    for name, freq in stats["attributes"].items():
        shown = "—" if freq is None else f"{100 * freq:.1f} %"
        lines.append(f"{name:<20}{shown:>10}{stats['labelled'][name]:>10}")
    for failure in stats["failure_examples"]:
        lines.append(f"failed: {failure}")
    return "\n".join(lines)
