"""Ground truth as the measure: translations scored against SynthFaces' truly rendered counterfactuals.

For each attribute and direction (add: 0 -> 1, remove: 1 -> 0), n source faces that can make the change.
SynthFaces renders each one's true answer, so no classifier is needed:

- **edit region**: the pixels where the truth differs from the source; **reduction** there:
  1 - L1(output, truth) / L1(source, truth) (1: the truth drawn exactly, 0: nothing done, < 0: worse).
- **label path**: the style of what is added (which glasses) is the model's free choice, so the output
  is scored against the nearest of `styles` renders of the change, each in another reference's style
  (the best reduction among them). A perfect model drawing a style outside that set is scored the same
  way; the label score is the model's mean best reduction as a fraction of that perfect model's.
- **reference path**: the reduction against the source wearing exactly the reference's style.
- **style match**: of the cases where a second reference's style renders differently, the fraction of
  reference-path outputs closer to the truth in their own reference's style than to the rival's (chance 0.5).
- **outside change**: mean |output - source| outside the edit region (for the label path, outside
  every style's region), on the [-1, 1] scale: what the model changed that it should have left alone.
- **detail**: inside the edit region, the output's gradient energy over the truth's (for the label path,
  the nearest style's), summed over the cases before dividing. About 1 for an edit drawn as sharp as the
  truth, far under 1 for a blur. The
  reduction alone passes a blur of the right colour in the right place (docs/dev/issue26.md); this says so.

The streams (sources and references) are ones no training run, judge or earlier eval reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from bridgegan_batch.config import SynthConfig
from bridgegan_batch.data.attributes import SYNTH_ATTRIBUTES
from bridgegan_batch.data.parallel import ordered_map
from bridgegan_batch.data.synthfaces import SIZES, FaceRecord, render, sample_record, with_attributes, with_styles_from
from bridgegan_batch.errors import UserError
from bridgegan_batch.eval.distances import changed_pixels, l1, masked_l1
from bridgegan_batch.model.pixels import to_tensor

SOURCE_SEED, REFERENCE_SEED = 1_010_101, 2_020_202
DIRECTIONS = {"add": 1, "remove": 0}
STYLES = 16
# A case counts as made when its reduction reaches this fraction of the perfect model's (the line).
MADE_AT = 0.5


@dataclass(frozen=True)
class TruthCases:
    """n cases of one change (images uint8 [n, H, W, 3]; labels float32 [n, N] in `attributes` order)."""

    attributes: tuple[str, ...]
    name: str  # the attribute changed
    value: int  # its target value
    source: np.ndarray
    source_labels: np.ndarray
    target_labels: np.ndarray
    reference: np.ndarray  # a face with the target value
    reference_labels: np.ndarray
    reference_truth: np.ndarray  # the source with the change, in the reference's style
    rival_truth: np.ndarray  # the same, in a second reference's style
    style_truths: np.ndarray  # [n, K, H, W, 3]: the change in K other references' styles
    unseen_truth: np.ndarray  # the change in one more style, outside those K: a perfect model's output

    def __len__(self) -> int:
        return len(self.source)


def make_truth_cases(name: str, value: int, attributes: Sequence[str], *, n: int, size: int = 64,
                     styles: int = STYLES, config: SynthConfig | None = None, seed: int = SOURCE_SEED,
                     reference_seed: int = REFERENCE_SEED, workers: int = 1) -> TruthCases:
    """`n` sources from the stream `seed` that can take `name` to `value`, with every truth rendered."""
    attributes = tuple(attributes)
    check_changeable([name], attributes)
    jobs = case_records(name, value, n=n, styles=styles, config=config, seed=seed, reference_seed=reference_seed)
    rows = list(ordered_map(partial(_render_case, name=name, value=value, size=size), jobs, workers, chunksize=4))
    column = {key: np.stack([row[key] for row in rows]) for key in rows[0]}
    return TruthCases(attributes=attributes, name=name, value=value,
                      source_labels=np.stack([_labels(s.attributes, attributes) for s, _ in jobs]),
                      target_labels=np.stack([_labels(with_attributes(s, {name: value}).attributes, attributes)
                                              for s, _ in jobs]),
                      reference_labels=np.stack([_labels(refs[0].attributes, attributes) for _, refs in jobs]),
                      **column)


def case_records(name: str, value: int, *, n: int, styles: int = STYLES, config: SynthConfig | None = None,
                 seed: int = SOURCE_SEED, reference_seed: int = REFERENCE_SEED,
                 ) -> list[tuple[FaceRecord, list[FaceRecord]]]:
    """The records of `n` cases taking `name` to `value`: each source with its references (the reference path's,
    a rival's, then K + 1 styles), each case its own slice of the reference stream."""
    config = config or SynthConfig()
    sources = _first_with(seed, config, n, lambda r: r.attributes[name] != value, f"{name}!={value}")
    per_case = styles + 3
    references = _first_with(reference_seed + 7_919 * (2 * SYNTH_ATTRIBUTES.index(name) + value), config,
                             n * per_case, lambda r: r.attributes[name] == value, f"{name}={value}")
    return [(sources[i], references[i * per_case : (i + 1) * per_case]) for i in range(n)]


def check_changeable(names: Sequence[str], attributes: Sequence[str]) -> None:
    """Ground truth needs SynthFaces attributes the model knows; say which are not."""
    unknown = [a for a in names if a not in SYNTH_ATTRIBUTES]
    if unknown:
        raise UserError(f"ground truth needs SynthFaces attributes; unknown: {unknown} "
                        f"(SynthFaces has {list(SYNTH_ATTRIBUTES)})")
    missing = [a for a in names if a not in attributes]
    if missing:
        raise UserError(f"attributes to change {missing} are not among the model's {list(attributes)}")


def _first_with(seed: int, config: SynthConfig, n: int, keep, what: str, limit: int = 200_000) -> list[FaceRecord]:
    found = []
    for index in range(limit):
        record = sample_record(seed, index, config)
        if keep(record):
            found.append(record)
            if len(found) == n:
                return found
    raise UserError(f"only {len(found)} SynthFaces with {what} in {limit} faces (need {n}); check the priors")


def _render_case(job: tuple[FaceRecord, list[FaceRecord]], *, name: str, value: int, size: int) -> dict:
    source, (reference, rival, *style_refs) = job
    changed = with_attributes(source, {name: value})
    truth = [render(with_styles_from(changed, r, [name]), size) for r in style_refs]  # K + 1 styles
    return {"source": render(source, size), "reference": render(reference, size),
            "reference_truth": render(with_styles_from(changed, reference, [name]), size),
            "rival_truth": render(with_styles_from(changed, rival, [name]), size),
            "style_truths": np.stack(truth[:-1]), "unseen_truth": truth[-1]}


def _labels(values: dict[str, int], attributes: tuple[str, ...]) -> np.ndarray:
    return np.array([values[a] for a in attributes], np.float32)


# ----------------------------------------------------------------------------- scores


def reductions(out: torch.Tensor, source: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """1 - L1(out, truth) / L1(source, truth) inside the region where truth differs from source (NaN where
    it does not differ at all). [B, 3, H, W] x3 -> [B]"""
    edit = changed_pixels(source, truth)  # [B, 1, H, W]
    return 1 - masked_l1(out, truth, edit) / masked_l1(source, truth, edit)


def _per_style(out: torch.Tensor, source: torch.Tensor, style_truths: torch.Tensor) -> torch.Tensor:
    """Each output's reduction against each of K rendered styles, NaN as -inf. -> [B, K]"""
    k = style_truths.shape[1]
    per_style = reductions(out.repeat_interleave(k, 0), source.repeat_interleave(k, 0), style_truths.flatten(0, 1))
    return per_style.view(-1, k).nan_to_num(nan=-torch.inf)


def best_style_reduction(out: torch.Tensor, source: torch.Tensor, style_truths: torch.Tensor) -> torch.Tensor:
    """The best reduction of each output against any of K rendered styles. [B,3,H,W], [B,3,H,W], [B,K,3,H,W] -> [B]"""
    return _best(_per_style(out, source, style_truths))


def _best(per_style: torch.Tensor) -> torch.Tensor:
    """[B, K] reductions (-inf: no edit region) -> [B] best, NaN where no style differs from the source"""
    best = per_style.amax(dim=1)
    return torch.where(best == -torch.inf, torch.nan, best)


def _gradient(images: torch.Tensor) -> torch.Tensor:
    """|d/dx| + |d/dy|, channel mean. [B, 3, H, W] -> [B, 1, H-1, W-1]"""
    dy = images[..., 1:, :-1] - images[..., :-1, :-1]
    dx = images[..., :-1, 1:] - images[..., :-1, :-1]
    return (dx.abs() + dy.abs()).mean(dim=1, keepdim=True)


def _edit_energy(out: torch.Tensor, source: torch.Tensor, truth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient energy inside the region where truth differs from source: (the output's, the truth's). -> [B], [B]"""
    edit = changed_pixels(source, truth)[..., :-1, :-1].float()  # [B, 1, H-1, W-1]
    return (_gradient(out) * edit).flatten(1).sum(1), (_gradient(truth) * edit).flatten(1).sum(1)


def detail_ratio(out: torch.Tensor, source: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Inside the region where truth differs from source, the output's gradient energy over the truth's
    (NaN without a region). [B, 3, H, W] x3 -> [B]"""
    drawn, wanted = _edit_energy(out, source, truth)
    return torch.where(wanted > 0, drawn / wanted.clamp_min(1e-12), torch.nan)


def pooled_detail(out: torch.Tensor, source: torch.Tensor, truth: torch.Tensor) -> float:
    """The cases' summed gradient energy over the truths' (NaN without a region): each case weighs by the
    detail its truth asks for, so a case whose region is a few pixels cannot swing the figure as its own
    unbounded ratio would in a mean. [B, 3, H, W] x3 -> float"""
    drawn, wanted = _edit_energy(out, source, truth)
    total = wanted.sum().item()
    return drawn.sum().item() / total if total > 0 else float("nan")


def outside_change(out: torch.Tensor, source: torch.Tensor, edit: torch.Tensor) -> torch.Tensor:
    """Mean |out - source| outside the edit region. [B,3,H,W] x2, [B,1,H,W] bool -> [B]"""
    return masked_l1(out, source, ~edit)


def score_label(out: torch.Tensor, cases: TruthCases) -> dict:
    """The label path's ground-truth scores for outputs [n, 3, H, W] of `cases`."""
    x, styles = to_tensor(cases.source), _to_tensor5(cases.style_truths)  # [n,3,H,W], [n,K,3,H,W]
    per_style = _per_style(out, x, styles)  # [n, K]
    model = _best(per_style)  # [n]
    nearest = styles[torch.arange(len(out)), per_style.argmax(dim=1)]  # [n, 3, H, W]: the style it drew
    perfect = best_style_reduction(to_tensor(cases.unseen_truth), x, styles)
    every = torch.cat([styles, to_tensor(cases.unseen_truth)[:, None]], dim=1)  # [n, K+1, 3, H, W]
    edit = changed_pixels(x[:, None].expand_as(every).flatten(0, 1), every.flatten(0, 1))
    edit = edit.view(len(x), -1, 1, *x.shape[-2:]).any(dim=1)  # [n, 1, H, W]: every style's region
    model_mean, perfect_mean = _nanmean(model), _nanmean(perfect)
    return {"n": len(cases), "reduction": model_mean, "perfect_reduction": perfect_mean,
            "relative": model_mean / perfect_mean if perfect_mean > 0 else float("nan"),
            "outside_l1": _nanmean(outside_change(out, x, edit)),
            "detail": pooled_detail(out, x, nearest),
            # The line the headline draws, per case: a perfect model's own case may fall short of it (its unseen
            # style far from all K), never a model that returned the source.
            "made": (model >= MADE_AT * perfect_mean).numpy()}


def score_reference(out: torch.Tensor, cases: TruthCases) -> dict:
    """The reference path's ground-truth scores for outputs [n, 3, H, W] of `cases`."""
    x, truth, rival = (to_tensor(a) for a in (cases.source, cases.reference_truth, cases.rival_truth))
    reduction = reductions(out, x, truth)
    differs = (truth != rival).flatten(1).any(dim=1)  # [n]
    # Whole-image L1: outside where the two truths differ they are equal, so only those pixels decide.
    own, other = l1(out, truth), l1(out, rival)
    return {"n": len(cases), "reduction": _nanmean(reduction),
            "style_match": (own[differs] < other[differs]).float().mean().item() if differs.any() else None,
            "style_n": int(differs.sum()),
            "outside_l1": _nanmean(outside_change(out, x, changed_pixels(x, truth))),
            "detail": pooled_detail(out, x, truth),
            "made": (reduction >= MADE_AT).numpy()}


def _to_tensor5(images: np.ndarray) -> torch.Tensor:
    """uint8 [n, K, H, W, 3] -> [n, K, 3, H, W] in [-1, 1]"""
    n, k = images.shape[:2]
    return to_tensor(images.reshape(n * k, *images.shape[2:])).view(n, k, 3, *images.shape[2:4])


def _nanmean(values: torch.Tensor) -> float:
    return float(torch.nanmean(values.float()).item()) if len(values) else float("nan")


# ----------------------------------------------------------------------------- the report


def truth_case_sets(changes: Sequence[str], attributes: Sequence[str], *, n: int = 64, size: int = 64,
                    styles: int = STYLES, directions: Sequence[str] = tuple(DIRECTIONS), seed: int = SOURCE_SEED,
                    reference_seed: int = REFERENCE_SEED, workers: int = 1) -> list[TruthCases]:
    """The cases of every change and direction, in that order (rendered once, scored as often as wanted)."""
    check_changeable(changes, attributes)
    if size not in SIZES:
        raise UserError(f"ground truth renders SynthFaces at {' or '.join(map(str, SIZES))} px; "
                        f"this model translates {size} px images")
    unknown = [d for d in directions if d not in DIRECTIONS]
    if unknown:
        raise UserError(f"unknown directions {unknown}; choose from {list(DIRECTIONS)}")
    return [make_truth_cases(name, DIRECTIONS[direction], attributes, n=n, size=size, styles=styles, seed=seed,
                             reference_seed=reference_seed, workers=workers)
            for name in changes for direction in directions]


def evaluate_ground_truth(translator, case_sets: Sequence[TruthCases], *, judge=None, seed: int = 0,
                          kinds: Sequence[str] = ("label", "reference")) -> dict:
    """Ground-truth scores of both paths (or `kinds`) per attribute and direction; with a judge, its verdicts
    beside them and its agreement with the truth (a judge passing edits the truth calls unmade shows here)."""
    from bridgegan_batch.eval.suite import translate  # the one place both paths are run over cases

    scorers = {"label": score_label, "reference": score_reference}
    unknown = [k for k in kinds if k not in scorers]
    if unknown:
        raise ValueError(f"unknown kinds {unknown}; choose from {list(scorers)}")

    first = case_sets[0]
    result: dict = {"n": len(first), "styles": first.style_truths.shape[1], "made_at": MADE_AT, "attributes": {}}
    for cases in case_sets:
        direction = "add" if cases.value == 1 else "remove"
        entry = {}
        for kind in kinds:
            out = translate(translator, cases, kind, seed)  # [n, 3, H, W]
            entry[kind] = scorers[kind](out, cases)
            made = entry[kind].pop("made")
            entry[kind]["made_rate"] = float(made.mean())
            if judge is not None and cases.name in judge.config.attributes:
                column = judge.config.attributes.index(cases.name)
                seen = judge.predict(out)[:, column].numpy() == cases.value  # [n]
                entry[kind]["judge"] = {"success": float(seen.mean()), "agreement": float((seen == made).mean()),
                                        "passes_unmade": float((seen & ~made).mean())}
        result["attributes"].setdefault(cases.name, {})[direction] = entry
    return result


def markdown(result: dict) -> str:
    """One row per attribute and direction: both paths' ground-truth scores, then the judge's beside them."""
    lines = [f"Ground truth (SynthFaces, n={result['n']} per row, label path against the nearest of "
             f"{result['styles']} styles):", "",
             "| change | label: reduction / perfect's (fraction) | reference: reduction | style match | "
             "outside L1 (label / ref) | detail (label / ref) | judge success (label / ref) | "
             "judge agrees with truth |",
             "|---|---|---|---|---|---|---|---|"]
    for name, dirs in result["attributes"].items():
        for direction, e in dirs.items():
            lab, ref = e["label"], e["reference"]
            judge = [e[k].get("judge") for k in ("label", "reference")]
            judged = " / ".join(_pct(j["success"]) if j else "—" for j in judge)
            agree = " / ".join(_pct(j["agreement"]) if j else "—" for j in judge)
            lines.append(f"| {direction} {name} | {lab['reduction']:.2f} / {lab['perfect_reduction']:.2f} "
                         f"(**{lab['relative']:.2f}**) | **{ref['reduction']:.2f}** | {_pct(ref['style_match'])} | "
                         f"{lab['outside_l1']:.3f} / {ref['outside_l1']:.3f} | "
                         f"{lab.get('detail', float('nan')):.2f} / {ref.get('detail', float('nan')):.2f} | "
                         f"{judged} | {agree} |")
    return "\n".join(lines) + "\n"


def _pct(value: float | None) -> str:
    return "—" if value is None or value != value else f"{100 * value:.1f} %"
