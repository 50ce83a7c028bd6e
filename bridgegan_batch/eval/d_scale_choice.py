"""The test-time d scale per attribute and direction, chosen by ground truth on validation faces.

For each candidate scale, both paths translate validation cases (a SynthFaces stream apart from eval's)
of every attribute and direction; each (attribute, direction) takes the scale with the best mean of the
label path's relative reduction and the reference path's reduction, among the scales whose change
outside the edit region stays within `max_outside`. No judge takes part: a judge can be pleased by a
smudge, the truth cannot.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from bridgegan_batch.eval.ground_truth import evaluate_ground_truth, truth_case_sets
from bridgegan_batch.model.d_scale import DScale
from bridgegan_batch.model.translator import Translator

VALIDATION_SEED, VALIDATION_REFERENCE_SEED = 1_212_121, 2_323_232
CANDIDATES = (1.0, 1.25, 1.5, 1.75, 2.0)
MAX_OUTSIDE_L1 = 0.04


def choose_d_scale(translator: Translator, attributes: Sequence[str], *, candidates: Sequence[float] = CANDIDATES,
                   n: int = 32, styles: int = 8, max_outside: float = MAX_OUTSIDE_L1,
                   workers: int = 1) -> tuple[DScale, dict]:
    """(the chosen DScale, {attribute: {direction: {"chosen", "by_scale": {scale: scores}}}})."""
    sets = truth_case_sets(attributes, translator.attributes, n=n, size=translator.config.image_size, styles=styles,
                           seed=VALIDATION_SEED, reference_seed=VALIDATION_REFERENCE_SEED, workers=workers)
    scored = {}
    for scale in candidates:
        at_scale = Translator(translator.model, translator.config, translator.discriminator, device=translator.device,
                              d_scale=scale, edit=translator.edit)
        scored[scale] = evaluate_ground_truth(at_scale, sets)["attributes"]
    table: dict = {}
    chosen: dict[str, dict[str, float]] = {"add": {}, "remove": {}}
    for name in attributes:
        for direction in ("add", "remove"):
            by_scale = {scale: _summary(scored[scale][name][direction]) for scale in candidates}
            within = [s for s in candidates if by_scale[s]["outside_l1"] <= max_outside]
            best = (max(within, key=lambda s: by_scale[s]["score"]) if within
                    else min(candidates, key=lambda s: by_scale[s]["outside_l1"]))
            chosen[direction][name] = best
            table.setdefault(name, {})[direction] = {"chosen": best, "within_outside_limit": bool(within),
                                                     "by_scale": by_scale}
    # The default (for attributes not chosen here) is the scale chosen most often, the smaller on a tie.
    counts = Counter(s for d in chosen.values() for s in d.values())
    default = min(counts, key=lambda s: (-counts[s], s)) if counts else DScale.of(translator.d_scale).default
    scale = DScale(default=default, add=chosen["add"], remove=chosen["remove"])
    return scale, {"n": n, "styles": styles, "seed": VALIDATION_SEED, "max_outside_l1": max_outside,
                   "candidates": list(candidates), "attributes": table}


def _summary(entry: dict) -> dict:
    label, reference = entry["label"], entry["reference"]
    return {"label_relative": label["relative"], "reference_reduction": reference["reduction"],
            "score": (label["relative"] + reference["reduction"]) / 2,
            "outside_l1": max(label["outside_l1"], reference["outside_l1"])}


def markdown(table: dict) -> str:
    """One row per attribute and direction: each candidate's score (outside L1), the chosen one in bold."""
    candidates = table["candidates"]
    lines = [f"d scale chosen by ground truth on validation faces (n={table['n']}, seed {table['seed']}); "
             f"score = mean of the label path's relative reduction and the reference path's reduction; "
             f"outside L1 at most {table['max_outside_l1']}:", "",
             "| change | " + " | ".join(f"{s:g}" for s in candidates) + " | chosen |",
             "|---|" + "---|" * (len(candidates) + 1)]
    for name, dirs in table["attributes"].items():
        for direction, row in dirs.items():
            cells = []
            for s in candidates:
                r = row["by_scale"][s]
                text = f"{r['score']:.2f} ({r['outside_l1']:.3f})"
                cells.append(f"**{text}**" if s == row["chosen"] else text)
            lines.append(f"| {direction} {name} | " + " | ".join(cells) + f" | {row['chosen']:g} |")
    return "\n".join(lines) + "\n"
