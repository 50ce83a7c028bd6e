"""Scores label-driven translations with the judge: success (the target is seen) and preservation.

For each attribute and direction (add: 0 -> 1, remove: 1 -> 0) the sources are the faces that
can make that change. *Success* is the fraction of outputs in which the judge sees the target
value. *Preservation* is the fraction in which the judge sees every other attribute as it saw it
on the source (with exclusive groups updated: a face turned blond is no longer black-haired), so
the judge's own errors on the sources do not count against the model.
"""

from __future__ import annotations

import numpy as np
import torch

from bridgegan_batch.eval.judge import Judge
from bridgegan_batch.model.d_scale import DScale
from bridgegan_batch.model.pixels import to_tensor
from bridgegan_batch.model.translator import Translator

DIRECTIONS = {"add": 1, "remove": 0}


def evaluate_label_translations(translator: Translator, judge: Judge, images: np.ndarray, labels: np.ndarray, *,
                                seed: int = 0, batch_size: int = 64) -> dict:
    """Success and preservation per attribute and direction. images: [M, H, W, 3] uint8, labels: [M, N]."""
    names = [a for a in translator.attributes if a in judge.config.attributes]
    t_index = {a: translator.attributes.index(a) for a in names}
    j_index = [judge.config.attributes.index(a) for a in names]
    x_all = to_tensor(images)  # [M, 3, H, W]
    src_all = torch.from_numpy(labels.astype(np.float32))  # [M, N] in the translator's order
    seen_src = judge.predict(x_all)[:, j_index]  # [M, K] in `names` order
    result: dict = {"attributes": {}}
    for name in names:
        k = t_index[name]
        result["attributes"][name] = {}
        for direction, value in DIRECTIONS.items():
            rows = (src_all[:, k] != value).nonzero().flatten()
            if len(rows) == 0:
                result["attributes"][name][direction] = {"success": None, "preservation": None, "n": 0}
                continue
            outs = _translate(translator, x_all, src_all, rows, {name: value}, seed, batch_size)
            seen_out = judge.predict(outs)[:, j_index]  # [R, K]
            hit = seen_out[:, names.index(name)] == value
            wrong = unexpected_changes(translator, names, seen_src[rows], seen_out, name, value)  # [R, K]
            entry = {"success": hit.float().mean().item(), "preservation": (~wrong.any(dim=1)).float().mean().item(),
                     "n": len(rows),
                     # What broke preservation: how often the judge saw each other attribute change.
                     "changed": {a: wrong[:, i].float().mean().item() for i, a in enumerate(names) if a != name}}
            if translator.discriminator is not None:
                # What the model's own attribute head (D's, which trained it) sees: far above the
                # judge's success, it means G learned to fool that head rather than make the change.
                own = torch.cat([translator.predict_labels(outs[i : i + batch_size]).cpu()
                                 for i in range(0, len(outs), batch_size)])
                entry["own_head_success"] = (own[:, k] == value).float().mean().item()
            result["attributes"][name][direction] = entry
    scored = [v for a in result["attributes"].values() for v in a.values() if v["n"]]
    result["mean_success"] = float(np.mean([v["success"] for v in scored])) if scored else None
    result["mean_preservation"] = float(np.mean([v["preservation"] for v in scored])) if scored else None
    if translator.edit == "direct":
        # Asked to change nothing (target = source), how often does any attribute change? What the
        # model cannot reproduce of a face bounds the preservation of every real change. (A residual
        # edit returns the source unchanged here by construction: nothing to measure.)
        every = torch.arange(len(x_all))
        seen_same = judge.predict(_translate(translator, x_all, src_all, every, {}, seed, batch_size))[:, j_index]
        changed = seen_same != seen_src  # [M, K]
        result["no_change"] = {"kept": (~changed.any(dim=1)).float().mean().item(),
                               "changed": {a: changed[:, i].float().mean().item() for i, a in enumerate(names)}}
    return result


def _translate(translator: Translator, x_all: torch.Tensor, src_all: torch.Tensor, rows: torch.Tensor,
               changes: dict[str, int], seed: int, batch_size: int) -> torch.Tensor:
    """Label-driven translations of the faces `rows` with `changes` applied, one noise seed per face (the
    same for every change). -> [R, 3, H, W] on the CPU"""
    outs = []
    for start in range(0, len(rows), batch_size):
        idx = rows[start : start + batch_size]
        target = translator.targets(src_all[idx], changes)
        seeds = [seed * 1_000_003 + int(i) for i in idx]
        outs.append(translator.label(x_all[idx], src_all[idx], target, seeds).cpu())
    return torch.cat(outs)


def judged_change(translator: Translator, names: list[str], seen_src: torch.Tensor, seen_out: torch.Tensor,
                  name: str, value: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per output: does the judge see the target value (success), and every other attribute as it saw
    it on the source with the change applied (preservation)? seen_*: [R, K] in `names` order -> [R] bool x2"""
    return seen_out[:, names.index(name)] == value, ~unexpected_changes(translator, names, seen_src, seen_out,
                                                                         name, value).any(dim=1)


def unexpected_changes(translator: Translator, names: list[str], seen_src: torch.Tensor, seen_out: torch.Tensor,
                       name: str, value: int) -> torch.Tensor:
    """Which attributes other than `name` the judge sees otherwise than on the source with the change
    applied (exclusive groups updated). seen_*: [R, K] in `names` order -> [R, K] bool, column `name` False"""
    changed = translator.targets(_in_translator_order(seen_src, names, translator), {name: value})
    expected = changed[:, [translator.attributes.index(a) for a in names]]  # [R, K]
    wrong = seen_out != expected
    wrong[:, names.index(name)] = False
    return wrong


def _in_translator_order(values: torch.Tensor, names: list[str], translator: Translator) -> torch.Tensor:
    """[R, K] columns in `names` order -> [R, N] in the translator's order (absent attributes 0)."""
    out = torch.zeros(values.shape[0], len(translator.attributes))
    for i, name in enumerate(names):
        out[:, translator.attributes.index(name)] = values[:, i]
    return out


def markdown_table(result: dict) -> str:
    lines = ["| attribute | add: success | add: preservation | remove: success | remove: preservation |",
             "|---|---|---|---|---|"]
    if "edit" in result:
        scale = DScale.of(result["d_scale"]).describe()
        lines = [f"Label-driven, edit {result['edit']}, d scale {scale}:", ""] + lines

    def pct(v: dict, key: str) -> str:
        return "—" if v[key] is None else f"{100 * v[key]:.1f} % (n={v['n']})"

    for name, dirs in result["attributes"].items():
        lines.append(f"| {name} | {pct(dirs['add'], 'success')} | {pct(dirs['add'], 'preservation')} | "
                     f"{pct(dirs['remove'], 'success')} | {pct(dirs['remove'], 'preservation')} |")
    if result["mean_success"] is not None:
        success, preservation = 100 * result["mean_success"], 100 * result["mean_preservation"]
        lines.append(f"| **mean** | {success:.1f} % | {preservation:.1f} % | | |")
    if "no_change" in result:
        most = sorted(result["no_change"]["changed"].items(), key=lambda kv: -kv[1])[:3]
        lines += ["", f"Asked to change nothing (a no-change translation), the judge sees every attribute kept on "
                      f"{100 * result['no_change']['kept']:.1f} % of the faces (changed most: "
                      + ", ".join(f"{a} {100 * v:.1f} %" for a, v in most) + ")."]
    leaks = [(name, direction, d["changed"]) for name, dirs in result["attributes"].items()
             for direction, d in dirs.items() if d.get("changed")]
    if leaks:
        lines += ["", "What broke preservation: the other attributes the judge saw change most often:", "",
                  "| attribute | direction | changed most |", "|---|---|---|"]
        for name, direction, changed in leaks:
            most = sorted(changed.items(), key=lambda kv: -kv[1])[:3]
            lines.append(f"| {name} | {direction} | " + ", ".join(f"{a} {100 * v:.1f} %" for a, v in most) + " |")
    own = [(name, d) for name, d in result["attributes"].items() if "own_head_success" in d["add"]]
    if own:
        lines += ["", "Success as the judge sees it, and as the model's own attribute head (D's) sees it:", "",
                  "| attribute | add: judge | add: own head | remove: judge | remove: own head |",
                  "|---|---|---|---|---|"]
        for name, d in own:
            cells = [f"{100 * d[k][key]:.1f} %" if d[k].get(key) is not None else "—"
                     for k in ("add", "remove") for key in ("success", "own_head_success")]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
