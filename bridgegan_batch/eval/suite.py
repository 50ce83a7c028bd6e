"""A model's quality report per kind of translation: judged success and preservation, counterfactual error,
reference style match, diversity and realism, on SynthFaces counterfactual cases."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from bridgegan_batch.eval.counterfactual import Cases, make_cases, real_faces
from bridgegan_batch.eval.distances import (
    changed_pixels,
    frechet_distance,
    kernel_inception_distance,
    l1,
    masked_l1,
    mean_pairwise,
    psnr,
)
from bridgegan_batch.eval.features import InceptionFeatures, JudgeFeatures
from bridgegan_batch.eval.judge import Judge
from bridgegan_batch.eval.translation import judged_change
from bridgegan_batch.model.pixels import to_tensor
from bridgegan_batch.model.translator import Translator

KINDS = ("label", "reference")
DEFAULT_CHANGES = ("Eyeglasses", "Smiling", "Blond_Hair")


def evaluate_model(translator: Translator, judge: Judge, *, n: int = 100, changes: Sequence[str] = DEFAULT_CHANGES,
                   kinds: Sequence[str] = KINDS, variants: int = 4, inception: str | Path | None = None,
                   seed: int = 0) -> dict:
    """The report for a loaded model, `n` counterfactual cases per changed attribute; see `evaluate`."""
    cases = make_cases(changes, translator.attributes, n=n, size=translator.config.image_size)
    return evaluate(translator, judge, cases, kinds=kinds, variants=variants, extractors=extractors(judge, inception),
                    seed=seed)


def extractors(judge: Judge, inception: str | Path | None = None) -> list:
    """The feature networks for realism and diversity: the judge's, and Inception's when given."""
    return [JudgeFeatures(judge)] + ([InceptionFeatures(inception)] if inception else [])


def evaluate(translator: Translator, judge: Judge, cases: Cases, *, kinds: Sequence[str] = KINDS, variants: int = 4,
             extractors: Sequence = (), seed: int = 0) -> dict:
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(f"unknown kinds {unknown}; choose from {list(KINDS)}")
    x = to_tensor(cases.source)  # [M, 3, H, W]
    real = to_tensor(real_faces(len(cases), translator.config.image_size))
    real_features = {f.name: f(real).numpy() for f in extractors}
    names = [a for a in translator.attributes if a in judge.config.attributes]
    judge_index = [judge.config.attributes.index(a) for a in names]
    seen_src = judge.predict(x)[:, judge_index]  # [M, K]
    result: dict = {"cases": len(cases), "changes": sorted({cases.attributes[i] for i in cases.changed},
                                                           key=list(cases.attributes).index)}
    for kind in kinds:
        out = translate(translator, cases, kind, seed)  # [M, 3, H, W]
        truth = to_tensor(cases.label_truth if kind == "label" else cases.reference_truth)
        seen_out = judge.predict(out)[:, judge_index]
        report: dict = {"attributes": _per_attribute(translator, cases, names, seen_src, seen_out, x, out, truth)}
        # The truly rendered answers, judged alike: what a perfect model would score under this judge, so a
        # shortfall below it is the model's, not the judge's.
        seen_truth = judge.predict(truth)[:, judge_index]
        report["ceiling"] = {}
        for k, name in _changed(cases):
            success, preservation = _judged(translator, cases, names, seen_src, seen_truth, k)
            report["ceiling"][name] = {"success": success, "preservation": preservation}
        report["mean"] = {key: float(np.nanmean([a[key] for a in report["attributes"].values()]))
                          for key in ("success", "preservation", "l1", "identity_l1", "l1_reduction", "psnr", "edit_l1",
                                      "identity_edit_l1", "edit_l1_reduction", "outside_l1")}
        if kind == "reference":
            report["style_match"] = style_match(out, cases)
        if kind == "label" and variants >= 2:
            report["diversity"] = diversity(translator, cases, variants, extractors, seed)
        report["realism"] = {f.name: realism(f(out).numpy(), real_features[f.name]) for f in extractors}
        result[kind] = report
    return result


def translate(translator: Translator, cases: Cases, kind: str, seed: int = 0,
              batch_size: int = 64, alpha: float = 0.5) -> torch.Tensor:
    """Every case's translation of one kind: label, reference, or interpolate (at `alpha`). -> [M, 3, H, W]"""
    if kind not in (*KINDS, "interpolate"):
        raise ValueError(f"unknown kind {kind!r}")
    outs = []
    for start in range(0, len(cases), batch_size):
        rows = slice(start, start + batch_size)
        x, src = to_tensor(cases.source[rows]), torch.from_numpy(cases.source_labels[rows])
        target = torch.from_numpy(cases.target_labels[rows])
        seeds = [seed * 1_000_003 + i for i in range(start, start + len(x))]
        ref, ref_labels = to_tensor(cases.reference[rows]), torch.from_numpy(cases.reference_labels[rows])
        if kind == "label":
            outs.append(translator.label(x, src, target, seeds).cpu())
        elif kind == "reference":
            outs.append(translator.reference(x, src, ref, ref_labels, target).cpu())
        else:
            outs.append(translator.interpolate(x, src, ref, ref_labels, target, seeds, alpha).cpu())
    return torch.cat(outs)


def style_match(out: torch.Tensor, cases: Cases) -> dict:
    """Of the cases whose two references render differently, the fraction of outputs closer to the
    truth in their own reference's style than to the rival's (chance: 0.5)."""
    rows = np.flatnonzero(cases.style_differs)
    if len(rows) == 0:
        return {"rate": None, "n": 0}
    own = l1(out[rows], to_tensor(cases.reference_truth[rows]))
    rival = l1(out[rows], to_tensor(cases.rival_truth[rows]))
    return {"rate": (own < rival).float().mean().item(), "n": len(rows)}


def diversity(translator: Translator, cases: Cases, variants: int, extractors: Sequence, seed: int = 0,
              sources: int = 64) -> dict:
    """Mean pairwise distance between `variants` label-driven outputs (other noise seeds) of each source."""
    rows = slice(0, min(sources, len(cases)))
    x, src = to_tensor(cases.source[rows]), torch.from_numpy(cases.source_labels[rows])
    target = torch.from_numpy(cases.target_labels[rows])
    outs = torch.stack([translator.label(x, src, target, [(seed + v) * 7_919 + i for i in range(len(x))]).cpu()
                        for v in range(1, variants + 1)], dim=1)  # [S, V, 3, H, W]
    s, v = outs.shape[:2]
    result = {"pixel_l1": mean_pairwise(outs.flatten(2)), "variants": v, "sources": s}
    for f in extractors:
        feats = f(outs.flatten(0, 1)).reshape(s, v, -1)  # [S, V, C]
        result[f"{f.name}_features_l1"] = mean_pairwise(feats)
    return result


def realism(fake: np.ndarray, real: np.ndarray) -> dict:
    """Fréchet distance and KID between translated and real feature sets."""
    kid, kid_std = kernel_inception_distance(fake, real)
    return {"fd": frechet_distance(fake, real), "kid": kid, "kid_std": kid_std, "n": len(fake)}


def _per_attribute(translator: Translator, cases: Cases, names: list[str], seen_src: torch.Tensor,
                   seen_out: torch.Tensor, x: torch.Tensor, out: torch.Tensor, truth: torch.Tensor) -> dict:
    report = {}
    for k, name in _changed(cases):
        rows = np.flatnonzero(cases.changed == k)
        success, preservation = _judged(translator, cases, names, seen_src, seen_out, k)
        model_l1, identity_l1 = l1(out[rows], truth[rows]).mean().item(), l1(x[rows], truth[rows]).mean().item()
        # The edit region (where the truth differs from the source) and the rest, apart: over the whole
        # image a small edit is swamped by the model's re-rendering error everywhere else.
        edit = changed_pixels(x[rows], truth[rows])  # [R, 1, H, W]
        model_edit = torch.nanmean(masked_l1(out[rows], truth[rows], edit)).item()
        identity_edit = torch.nanmean(masked_l1(x[rows], truth[rows], edit)).item()
        report[name] = {
            "n": len(rows),
            "success": success,
            "preservation": preservation,
            "l1": model_l1, "psnr": psnr(out[rows], truth[rows]).mean().item(),
            "identity_l1": identity_l1, "identity_psnr": psnr(x[rows], truth[rows]).mean().item(),
            # > 0: closer to the true counterfactual than doing nothing.
            "l1_reduction": 1.0 - model_l1 / identity_l1 if identity_l1 > 0 else float("nan"),
            "edit_l1": model_edit, "identity_edit_l1": identity_edit,
            "edit_l1_reduction": 1.0 - model_edit / identity_edit if identity_edit > 0 else float("nan"),
            "outside_l1": torch.nanmean(masked_l1(out[rows], truth[rows], ~edit)).item(),
        }
    return report


def _changed(cases: Cases) -> list[tuple[int, str]]:
    """(index, name) of each attribute the cases change, in the cases' attribute order."""
    return [(k, cases.attributes[k]) for k in sorted(set(cases.changed.tolist()))]


def _judged(translator: Translator, cases: Cases, names: list[str], seen_src: torch.Tensor, seen_out: torch.Tensor,
            k: int) -> tuple[float, float]:
    """Judged success and preservation of the cases changing attribute k (nan when the judge lacks it).
    seen_*: [M, K] in `names` order"""
    name, rows = cases.attributes[k], np.flatnonzero(cases.changed == k)
    hits, kept = [], []
    for value in (0, 1):  # the judge's view is compared per direction of the change
        part = rows[cases.value[rows] == value]
        if len(part) and name in names:
            hit, keep = judged_change(translator, names, seen_src[part], seen_out[part], name, value)
            hits.append(hit)
            kept.append(keep)
    if not hits:
        return float("nan"), float("nan")
    return torch.cat(hits).float().mean().item(), torch.cat(kept).float().mean().item()


def markdown(result: dict) -> str:
    """Tables of a report: per kind, one row per changed attribute, then style match, diversity, realism."""
    lines = []
    for kind in KINDS:
        if kind not in result:
            continue
        report = result[kind]
        lines += [f"**{kind}-driven** ({result['cases']} cases)", "",
                  "| changed | success | preservation | L1 to truth | do-nothing L1 | L1 reduction | PSNR dB "
                  "| edit-region L1 | do-nothing | reduction | L1 outside the edit |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, a in {**report["attributes"], "**mean**": report["mean"]}.items():
            lines.append(f"| {name} | {_pct(a['success'])} | {_pct(a['preservation'])} | {a['l1']:.3f} | "
                         f"{a['identity_l1']:.3f} | {_pct(a['l1_reduction'])} | {a['psnr']:.1f} | {a['edit_l1']:.3f} | "
                         f"{a['identity_edit_l1']:.3f} | {_pct(a['edit_l1_reduction'])} | {a['outside_l1']:.3f} |")
        extras = []
        if "ceiling" in report:
            extras.append("the true counterfactuals, judged alike (a perfect model's score: success / preservation): "
                          + ", ".join(f"{name} {_pct(c['success'])} / {_pct(c['preservation'])}"
                                      for name, c in report["ceiling"].items()))
        if "style_match" in report and report["style_match"]["n"]:
            extras.append(f"style match {_pct(report['style_match']['rate'])} "
                          f"(n={report['style_match']['n']}, chance 50 %)")
        if "diversity" in report:
            d = report["diversity"]
            extras.append(f"diversity: pixel L1 {d['pixel_l1']:.4f}"
                          + "".join(f", {k} {v:.4f}" for k, v in d.items() if k.endswith("_features_l1")))
        for name, r in report.get("realism", {}).items():
            extras.append(f"realism ({name} features): FD {r['fd']:.3f}, KID {r['kid']:.4f} ± {r['kid_std']:.4f}")
        lines += [""] + [f"- {e}" for e in extras] + [""]
    return "\n".join(lines).rstrip() + "\n"


def markdown_ablation(rows: dict) -> str:
    """One row per (variant, kind): the means of each report."""
    lines = ["| variant | outputs | success | preservation | L1 to truth | edit-region L1 reduction | style match | "
             "diversity (px L1) | FD (judge) | KID (judge) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows.values():
        for kind in KINDS:
            if kind not in row:
                continue
            r = row[kind]
            style = _pct(r["style_match"]["rate"]) if "style_match" in r else "—"
            div = f"{r['diversity']['pixel_l1']:.4f}" if "diversity" in r else "—"
            judge = r["realism"].get("judge")
            fd, kid = (f"{judge['fd']:.3f}", f"{judge['kid']:.4f}") if judge else ("—", "—")
            lines.append(f"| {row['title']} | {kind}-driven | {_pct(r['mean']['success'])} | "
                         f"{_pct(r['mean']['preservation'])} | {r['mean']['l1']:.3f} | "
                         f"{_pct(r['mean']['edit_l1_reduction'])} | {style} | {div} | {fd} | {kid} |")
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "—" if value is None or value != value else f"{100 * value:.1f} %"
