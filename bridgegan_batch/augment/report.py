"""The run report: OUT/report.html, with a contact sheet, attribute chart and provenance samples in OUT/report/."""

from __future__ import annotations

import bisect
import html
import io
import json
import os
from collections import Counter, defaultdict
from datetime import datetime

import numpy as np
from PIL import Image, ImageDraw

from bridgegan_batch.augment.layout import PLAN, STATS_SUFFIX, ShardStats, local_path, read_json
from bridgegan_batch.augment.manifest import Manifest
from bridgegan_batch.data.atomic import write_atomic
from bridgegan_batch.data.dataset_info import load_dataset_info
from bridgegan_batch.data.images import ImageDecodeError, decode_rgb
from bridgegan_batch.data.provenance import read_provenance
from bridgegan_batch.data.reader import DatasetReader
from bridgegan_batch.errors import DataError, UserError

REPORT_HTML = "report.html"
REPORT_DIR = "report"
SCALE = 2  # contact sheet tiles are the output images upscaled (nearest), so small faces stay visible
HEADER = 16  # px of column names above the contact sheet
LISTED_REJECTS = 20
OP_ORDER = ("label", "reference", "interpolate", "original")
NO_SOURCE = (128, 128, 128)  # the source image is neither in the output nor in a readable input shard
NO_OUTPUT = (32, 32, 32)  # that source has no output in that column

CSS = """body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}th{background:#eee}
pre{background:#f6f6f6;padding:.5em;overflow:auto;font-size:12px}.sample{display:flex;gap:1em;align-items:flex-start}
.side{display:flex;gap:2em;align-items:flex-start}img{image-rendering:pixelated}"""


def write_report(output_dir: str, *, sheet_rows: int = 8, provenance_samples: int = 3) -> str:
    """Write OUT/report.html and its PNGs from the files of the output directory; return the HTML's path."""
    if local_path(output_dir) is None:
        raise DataError(f"{output_dir}: the report is written for local output directories only")
    out = os.path.abspath(local_path(output_dir))
    manifest = Manifest.load(out)
    if manifest is None:
        raise DataError(f"{output_dir}: no manifest.json; is it the output directory of a job run?")
    plan = read_json(out, PLAN) or {}
    stats = _load_stats(out)
    paths = list(dict.fromkeys(os.path.join(out, o.name) for s in stats for o in s.outputs))
    missing = [p for p in paths if not os.path.exists(p)]
    paths = [p for p in paths if p not in missing]
    scan = _scan(paths, sheet_rows, provenance_samples)
    picks = _pick(scan["picks"], provenance_samples)
    originals, cells, pick_images = _gather(_shards_for(scan["rows"], stats, out, paths, picks), scan["rows"], picks)
    _read_missing_sources(scan["rows"], originals)
    info = load_dataset_info(out)
    side = (info.image_size if info else None) or _first_side([*originals.values(), *pick_images.values(),
                                                                *(b for c in cells.values() for b in c.values())])
    os.makedirs(os.path.join(out, REPORT_DIR), exist_ok=True)
    _write_png(os.path.join(out, REPORT_DIR, "contact_sheet.png"),
               _contact_sheet(scan["rows"], originals, cells, side))
    names = list(info.attributes) if info else list(dict.fromkeys([*plan.get("input_counts", {}), *scan["counts"]]))
    _write_png(os.path.join(out, REPORT_DIR, "attributes.png"),
               _attribute_chart(names, plan.get("input_counts", {}), scan["counts"]))
    samples = []
    for i, (shard, key, prov) in enumerate(picks):
        src = None
        if pick_images.get((shard, key)) is not None and (pixels := _pixels(pick_images[(shard, key)])) is not None:
            src = f"{REPORT_DIR}/sample_{i}.png"
            _write_png(os.path.join(out, src), Image.fromarray(pixels))
        samples.append((key, prov, src))
    page = _html(manifest, plan, stats, scan, names, samples, missing)
    path = os.path.join(out, REPORT_HTML)
    write_atomic(path, page.encode())
    return path


def _load_stats(out: str) -> list[ShardStats]:
    names = sorted(n for n in os.listdir(out) if n.endswith(STATS_SUFFIX) and not n.startswith("."))
    return [ShardStats.model_validate(read_json(out, n)) for n in names]


def _provenance(sample) -> dict:
    return read_provenance(sample.meta)


def _source(sample, prov: dict) -> tuple[str, str]:
    """(key, input shard) of the face a sample was made from: the row it belongs to on the contact sheet."""
    src = prov.get("source") or {}
    return str(src.get("key", sample.key)), str(src.get("shard", ""))


def _column(prov: dict) -> tuple[tuple, str]:
    """A contact sheet column: (sort key, name) of the operation, alpha and variant that made an output."""
    index, kind, alpha, variant = prov.get("operation_index"), prov.get("kind"), prov.get("alpha"), prov.get("variant")
    shown = kind == "interpolate" and alpha is not None
    name = f"{index}:{kind}" + (f" a={alpha:g}" if shown else "") + (f" v{variant}" if variant else "")
    return (-1 if index is None else index, alpha if shown else -1.0, variant or 0, str(kind)), name


def _scan(paths: list[str], sheet_rows: int, per_kind: int) -> dict:
    """First pass, metadata only (outputs can be large): attribute counts, contact sheet rows, provenance picks."""
    counts: dict[str, Counter] = defaultdict(Counter)
    rows: list[tuple[str, str]] = []  # the `sheet_rows` smallest sources with a translation, so far
    picks: dict[str, list] = defaultdict(list)
    reader = DatasetReader(paths) if paths else None
    read = 0
    for sample in reader or ():
        read += 1
        for name, value in sample.attributes.items():
            counts[name][str(value)] += 1
        prov = _provenance(sample)
        if not prov:
            continue
        if len(picks[str(prov.get("kind"))]) < per_kind:
            picks[str(prov.get("kind"))].append((sample.shard, sample.key, prov))
        row = _source(sample, prov)
        if prov.get("kind") != "original" and row not in rows:
            bisect.insort(rows, row)
            del rows[sheet_rows:]
    return {"counts": counts, "rows": rows, "picks": picks, "read": read,
            "failures": reader.failures if reader else []}


def _pick(candidates: dict[str, list], n: int) -> list:
    """One sample per op kind first (translations before originals), then more of them up to `n`."""
    kinds = sorted(candidates, key=lambda k: (OP_ORDER.index(k) if k in OP_ORDER else len(OP_ORDER), k))
    firsts = [candidates[k][0] for k in kinds if candidates[k]]
    return (firsts + [c for k in kinds for c in candidates[k][1:]])[:max(0, n)]


def _shards_for(rows, stats: list[ShardStats], out: str, paths: list[str], picks: list) -> list[str]:
    """The output shards the second pass needs: a source's outputs all come from its input shard's outputs."""
    by_input = {s.input_shard: {os.path.join(out, o.name) for o in s.outputs} for s in stats}
    if any(shard not in by_input for _, shard in rows):
        return paths  # provenance names an input shard the stats do not: look everywhere
    wanted = {p for _, shard in rows for p in by_input[shard]} | {shard for shard, _, _ in picks}
    return [p for p in paths if p in wanted]


def _gather(paths: list[str], rows, picks: list) -> tuple[dict, dict, dict]:
    """Second pass: the image bytes of the contact sheet's rows and of the provenance samples, nothing else."""
    wanted, pick_ids = set(rows), {(shard, key) for shard, key, _ in picks}
    originals: dict = {}
    cells: dict = defaultdict(dict)
    pick_images: dict = {}
    for sample in DatasetReader(paths) if paths else ():
        prov = _provenance(sample)
        row = _source(sample, prov)
        if prov and row in wanted:
            if prov.get("kind") == "original":
                originals.setdefault(row, sample.image)
            else:
                cells[row].setdefault(_column(prov), sample.image)
        if (sample.shard, sample.key) in pick_ids:
            pick_images[(sample.shard, sample.key)] = sample.image
    return originals, cells, pick_images


def _read_missing_sources(rows, originals: dict) -> None:
    """Sources whose original is not in the output: read them from their input shard, if it is still there."""
    by_shard = defaultdict(set)
    for key, shard in rows:
        if (key, shard) not in originals and local_path(shard) and os.path.exists(local_path(shard)):
            by_shard[shard].add(key)
    for shard, keys in by_shard.items():
        try:
            for sample in DatasetReader([shard]).read_shard(shard):
                if sample.key in keys:
                    originals[(sample.key, shard)] = sample.image
                    keys.discard(sample.key)
                    if not keys:
                        break
        except (UserError, OSError):
            continue  # an input shard that changed or vanished: those sources get the grey tile


def _pixels(data: bytes | None, size: int | None = None) -> np.ndarray | None:
    if data is None:
        return None
    try:
        return decode_rgb(data, size)
    except ImageDecodeError:
        return None


def _first_side(images: list[bytes]) -> int:
    for data in images:
        if (pixels := _pixels(data)) is not None:
            return pixels.shape[0]
    return 64


def _fit(draw: ImageDraw.ImageDraw, text: str, width: int) -> str:
    while text and draw.textlength(text) > width - 4:
        text = text[:-1]
    return text


def _contact_sheet(rows, originals: dict, cells: dict, side: int) -> Image.Image:
    columns = sorted({c for row in rows for c in cells.get(row, {})})
    tile = side * SCALE
    sheet = Image.new("RGB", (tile * (1 + len(columns)), HEADER + tile * max(1, len(rows))), NO_OUTPUT)
    draw = ImageDraw.Draw(sheet)
    draw.rectangle((0, 0, sheet.width, HEADER - 1), fill=(255, 255, 255))
    for i, name in enumerate(["source" if rows else "no translations", *(name for _, name in columns)]):
        draw.text((i * tile + 2, 2), _fit(draw, name, tile), fill=(0, 0, 0))
    for r, row in enumerate(rows):
        images = [originals.get(row), *(cells[row].get(c) for c in columns)]
        for c, data in enumerate(images):
            pixels = _pixels(data, side)
            box = (c * tile, HEADER + r * tile)
            if pixels is not None:
                sheet.paste(Image.fromarray(pixels).resize((tile, tile), Image.Resampling.NEAREST), box)
            elif c == 0:
                draw.rectangle((*box, box[0] + tile - 1, box[1] + tile - 1), fill=NO_SOURCE)
    return sheet


def _fraction(counts: dict) -> float | None:
    """The fraction of labelled samples with value 1; None when none is labelled."""
    ones, total = int(counts.get("1", 0)), int(counts.get("0", 0)) + int(counts.get("1", 0))
    return ones / total if total else None


def _percent(fraction: float | None) -> str:
    return "n/a" if fraction is None else f"{100 * fraction:.1f}%"


def _attribute_chart(names: list[str], input_counts: dict, output_counts: dict) -> Image.Image:
    """Horizontal grouped bars, one group per attribute: fraction of 1s in the input and in the written output."""
    label_w, bar_w, row_h, top = 130, 300, 30, 22
    colors = ((70, 120, 200), (230, 130, 40))
    image = Image.new("RGB", (label_w + bar_w + 60, top + row_h * max(1, len(names))), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for i, (text, color) in enumerate(zip(("input", "written output"), colors, strict=True)):
        draw.rectangle((label_w + i * 120, 6, label_w + i * 120 + 10, 16), fill=color)
        draw.text((label_w + i * 120 + 14, 5), text, fill=(0, 0, 0))
    for i, name in enumerate(names):
        y = top + i * row_h
        draw.text((4, y + 8), _fit(draw, name, label_w), fill=(0, 0, 0))
        fractions = (_fraction(input_counts.get(name, {})), _fraction(output_counts.get(name, {})))
        for j, (fraction, color) in enumerate(zip(fractions, colors, strict=True)):
            y0 = y + 3 + j * 12
            width = round(bar_w * (fraction or 0.0))
            if width:
                draw.rectangle((label_w, y0, label_w + width - 1, y0 + 10), fill=color)
            draw.text((label_w + width + 4, y0), _percent(fraction), fill=(0, 0, 0))
    return image


def _seconds(run: dict) -> float:
    if run.get("seconds") is not None:
        return float(run["seconds"])
    try:
        return (datetime.fromisoformat(run["ended"]) - datetime.fromisoformat(run["started"])).total_seconds()
    except (KeyError, TypeError, ValueError):
        return 0.0  # a run that never ended (crashed) has no duration to count


def _table(header: list[str] | None, rows: list[list]) -> str:
    """A table of escaped cells; without a header, the first column names each row."""
    e = html.escape
    head = "<tr>" + "".join(f"<th>{e(str(h))}</th>" for h in header) + "</tr>" if header else ""
    cell = "td" if header else "th"
    body = "".join(f"<tr><{cell}>{e(str(row[0]))}</{cell}>" + "".join(f"<td>{e(str(v))}</td>" for v in row[1:])
                   + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _html(manifest: Manifest, plan: dict, stats: list[ShardStats], scan: dict, names: list[str],
          samples: list, missing: list[str]) -> str:
    e = html.escape
    latest = manifest.runs[-1] if manifest.runs else {}
    run_ids = list(dict.fromkeys([manifest.run_id, *(r.get("run_id") for r in manifest.runs if r.get("run_id"))]))
    status = Counter(s.status for s in manifest.inputs)
    written = sum(s.written for s in stats)
    seconds = sum(_seconds(r) for r in manifest.runs)
    per_op = Counter()
    for s in stats:
        per_op.update(s.per_operation)
    planned_ops = dict(plan.get("per_operation", {}))
    if plan.get("originals"):  # the plan counts originals apart from its operations; stats call them "original"
        planned_ops["original"] = plan["originals"]
    rejects = [r for s in stats for r in s.rejects]
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(manifest.job_name)} report</title>",
             f"<style>{CSS}</style></head><body><h1>{e(manifest.job_name)}</h1>",
             _table(None, [["run id(s)", ", ".join(run_ids)], ["tool version", manifest.tool_version],
                               ["model", f"{manifest.model_path} (sha256 {manifest.model_sha256[:12]})"],
                               ["job spec sha256", manifest.job_sha256[:12]],
                               ["latest run", f"{latest.get('started', '?')} to {latest.get('ended', '?')} "
                                              f"({latest.get('status', '?')})"]]),
             "<h2>Counts</h2>",
             _table(None, [
                 ["input shards", f"{len(manifest.inputs)}: {status['done']} done, {status['failed']} failed, "
                                  f"{status['pending']} pending"],
                 ["input samples", sum(s.samples_in for s in stats)],
                 ["planned output samples", plan.get("translations", 0) + plan.get("originals", 0) if plan else "?"],
                 ["output samples", written],
                 ["rejects", len(rejects)],
                 ["throughput", f"{written / seconds:.2f} images/s over {seconds:.1f} s" if seconds else "n/a"]]),
             _table(["operation", "planned", "written"],
                    [[op, planned_ops.get(op, 0), per_op.get(op, 0)] for op in sorted({*planned_ops, *per_op})])]
    failed = [s for s in manifest.inputs if s.status == "failed"]
    if failed:
        parts += ["<h3>Failed input shards</h3>", _table(["shard", "tries", "error"],
                                                          [[s.path, s.tries, s.error] for s in failed])]
    if rejects:
        parts += [f"<h3>Rejects (first {min(len(rejects), LISTED_REJECTS)} of {len(rejects)})</h3>",
                  _table(["shard", "key", "reason"], [[r.shard, r.key or "(whole shard)", r.reason]
                                                      for r in rejects[:LISTED_REJECTS]])]
    if missing or scan["failures"]:
        parts.append(f"<p>Unreadable output: {len(missing)} shard(s) missing, "
                     f"{len(scan['failures'])} sample(s) or shard(s) failed to read.</p>")
    input_counts, output_counts = plan.get("input_counts", {}), plan.get("output_counts", {})
    parts += ["<h2>Contact sheet</h2><p>Each row: a source face, then its outputs per operation.</p>",
              f'<img src="{REPORT_DIR}/contact_sheet.png" alt="contact sheet">',
              "<h2>Attributes</h2><p>Fraction of labelled samples with value 1.</p><div class='side'>",
              f'<img src="{REPORT_DIR}/attributes.png" alt="attribute fractions">',
              _table(["attribute", "input", "planned output", "written output"],
                     [[n, _percent(_fraction(input_counts.get(n, {}))), _percent(_fraction(output_counts.get(n, {}))),
                       _percent(_fraction(scan["counts"].get(n, {})))] for n in names]),
              "</div><h2>Provenance samples</h2>"]
    for key, prov, src in samples:
        img = f'<img src="{e(src)}" alt="{e(key)}" width="128">' if src else "<p>(image unreadable)</p>"
        parts.append(f"<h3>{e(key)}</h3><div class='sample'>{img}<pre>{e(json.dumps(prov, indent=2))}</pre></div>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _write_png(path: str, image: Image.Image) -> None:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    write_atomic(path, buf.getvalue())
