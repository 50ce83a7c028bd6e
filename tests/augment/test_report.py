import html
import json
import os
import re

import numpy as np
import pytest
from PIL import Image

from bridgegan_batch.augment.layout import (
    PLAN,
    OutputShard,
    Reject,
    ShardStats,
    part_name,
    shard_id,
    stats_name,
    write_json_atomic,
)
from bridgegan_batch.augment.manifest import InputShard, Manifest
from bridgegan_batch.augment.report import HEADER, SCALE, write_report
from bridgegan_batch.config import SynthConfig
from bridgegan_batch.data.images import decode_rgb
from bridgegan_batch.data.sample import Sample
from bridgegan_batch.data.synth_dataset import synth_sample
from bridgegan_batch.data.writer import WRITERS

JOB = "glasses<test>"
REASON = "undecodable image: truncated PNG"
# (source face, operation index, kind, alpha, stand-in face for the translated image)
TRANSLATIONS = [(0, 0, "label", None, 10), (0, 1, "reference", None, 11), (0, 2, "interpolate", 0.5, 12),
                (1, 0, "label", None, 13), (2, 1, "reference", None, 14)]
TILE = 64 * SCALE


def _face(i):
    return synth_sample(i, seed=0, size=64, config=SynthConfig())


def _provenance(source, shard, op, index, alpha):
    """Version 1's provenance (outputs before 0.3.0): the report reads it through the compatibility reader."""
    return {"op": op, "operation": index, "variant": 0,
            "source": {"key": source.key, "shard": shard, "sha256": "0" * 64, "labels": source.attributes},
            "target": {**source.attributes, "Eyeglasses": 1}, "d": {"Eyeglasses": 1.0},
            "reference": {"key": "r", "shard": shard, "sha256": "1" * 64} if op != "label" else None,
            "alpha": alpha, "edit": "direct", "seed": 7, "model": {"name": "g.pt", "sha256": "b" * 64},
            "job": {"name": JOB, "spec_sha256": "a" * 64}, "run_id": "run-1", "tool_version": "0.1.0",
            "digital_source_type": "compositeWithTrainedAlgorithmicMedia"}


def _make_output(tmp_path, fmt, include_originals):
    """A small output directory as a job run leaves it: shards, stats, plan and manifest."""
    attrs = tuple(_face(0).attributes)
    in_dir, out = tmp_path / "in", tmp_path / "out"
    in_dir.mkdir()
    out.mkdir()
    sources = [_face(i) for i in range(4)]
    in_name = "faces-000000" + WRITERS[fmt].suffix
    writer = WRITERS[fmt](str(in_dir), in_name, attrs)
    for face in sources:
        writer.write(face)
    writer.close()
    in_path = str(in_dir / in_name)
    sid = shard_id(in_path)
    writer = WRITERS[fmt](str(out), part_name(sid, 0, fmt), attrs)
    if include_originals:
        for face in sources[:3]:
            meta = {"provenance": _provenance(face, in_path, "original", None, None)
                    | {"digital_source_type": None, "d": {}, "target": face.attributes, "edit": None}}
            writer.write(Sample(face.key, face.image, face.attributes, meta))
    for src, index, kind, alpha, stand_in in TRANSLATIONS:
        face = sources[src]
        key = f"{face.key}-op{index}-v0"
        meta = {"provenance": _provenance(face, in_path, kind, index, alpha)}
        writer.write(Sample(key, _face(stand_in).image, {**face.attributes, "Eyeglasses": 1}, meta))
    entry = writer.close()
    per_op = {"0:label": 2, "1:reference": 2, "2:interpolate": 1} | ({"original": 3} if include_originals else {})
    written = entry.samples
    write_json_atomic(str(out), stats_name(sid), ShardStats(
        input_shard=in_path, shard_id=sid, outputs=(OutputShard(**entry.model_dump()),), samples_in=3,
        planned=written, written=written, per_operation=per_op,
        rejects=(Reject(shard=in_path, key=sources[3].key, reason=REASON),), seconds=1.5))
    counts = {a: {v: sum(str(f.attributes[a]) == v for f in sources[:3]) for v in ("0", "1")} for a in attrs}
    write_json_atomic(str(out), PLAN, {"sources": 3, "originals": 3 if include_originals else 0, "translations": 5,
                                       "per_operation": {k: v for k, v in per_op.items() if k != "original"},
                                       "input_counts": counts, "output_counts": counts, "items": []})
    Manifest(job_name=JOB, job_sha256="a" * 64, model_path="https://example.com/g.pt", model_sha256="b" * 64,
             tool_version="0.1.0", run_id="run-1",
             runs=[{"run_id": "run-1", "started": "2024-01-01T00:00:00+00:00", "ended": "2024-01-01T00:00:04+00:00",
                    "seconds": 4.0, "status": "done"}],
             inputs=[InputShard(path=in_path, shard_id=sid, status="done", tries=1),
                     InputShard(path="/gone/faces-000001.tar", shard_id="faces-000001-x", status="failed", tries=3,
                                error="tar truncated")]).save(str(out))
    return out, in_path, sources, written


def _sheet_tile(path, row, column):
    sheet = np.asarray(Image.open(path).convert("RGB"))
    return sheet[HEADER + row * TILE:HEADER + (row + 1) * TILE, column * TILE:(column + 1) * TILE]


def _tile_of(face):
    return np.repeat(np.repeat(decode_rgb(face.image, 64), SCALE, 0), SCALE, 1)


@pytest.mark.parametrize("fmt", ["wds", "parquet"])
def test_report_with_originals(tmp_path, fmt):
    out, _, sources, written = _make_output(tmp_path, fmt, include_originals=True)
    path = write_report(str(out), sheet_rows=2)
    assert path == str(out / "report.html")
    page = (out / "report.html").read_text()
    assert "glasses&lt;test&gt;" in page and JOB not in page  # escaped
    assert REASON in page and sources[3].key in page and "tar truncated" in page
    assert f"<th>output samples</th><td>{written}</td>" in page
    assert "<td>0:label</td><td>2</td><td>2</td>" in page and "<td>original</td><td>3</td><td>3</td>" in page
    assert f"{written / 4:.2f} images/s" in page
    assert "b" * 12 in page and "b" * 13 not in page.split("<pre>")[0]
    srcs = re.findall(r'src="([^"]*)"', page)
    assert {"report/contact_sheet.png", "report/attributes.png", "report/sample_0.png"} <= set(srcs)
    assert all(os.path.isfile(out / s) for s in srcs) and len(srcs) == 2 + 3
    assert not re.search(r'(src|href)="\w+:', page)
    assert not [n for n in os.listdir(out / "report") if n.startswith(".")]  # no temporary files left

    sheet = Image.open(out / "report" / "contact_sheet.png")
    columns = 1 + 3  # source, 0:label, 1:reference, 2:interpolate a=0.5 (rows are faces 0 and 1)
    assert sheet.size == (TILE * columns, HEADER + TILE * 2)
    assert np.array_equal(_sheet_tile(out / "report" / "contact_sheet.png", 0, 0), _tile_of(sources[0]))
    assert np.array_equal(_sheet_tile(out / "report" / "contact_sheet.png", 0, 1), _tile_of(_face(10)))
    assert np.array_equal(_sheet_tile(out / "report" / "contact_sheet.png", 1, 0), _tile_of(sources[1]))
    chart = Image.open(out / "report" / "attributes.png")
    assert chart.width > 300 and chart.height > 20 * len(sources[0].attributes)
    # one provenance sample per kind: label, reference, interpolate
    assert [json.loads(html.unescape(p))["kind"] for p in re.findall(r"<pre>(.*?)</pre>", page, re.S)] == \
        ["label", "reference", "interpolate"]


@pytest.mark.parametrize("fmt", ["wds", "parquet"])
def test_report_reads_sources_from_input_shard(tmp_path, fmt):
    out, in_path, sources, _ = _make_output(tmp_path, fmt, include_originals=False)
    write_report(str(out), provenance_samples=5)
    sheet = out / "report" / "contact_sheet.png"
    assert Image.open(sheet).size == (TILE * 4, HEADER + TILE * 3)
    for row in range(3):
        assert np.array_equal(_sheet_tile(sheet, row, 0), _tile_of(sources[row]))
    assert len(re.findall(r"<pre>", (out / "report.html").read_text())) == 5

    os.remove(in_path)  # neither in the output nor readable: a grey tile
    write_report(str(out))
    assert (_sheet_tile(sheet, 0, 0) == 128).all()


def test_report_before_any_shard_is_done(tmp_path):
    Manifest(job_name="empty", job_sha256="a" * 64, model_path="g.pt", model_sha256="b" * 64, tool_version="0.1.0",
             run_id="run-1", inputs=[InputShard(path="in.tar", shard_id="in-1")]).save(str(tmp_path))
    write_report(str(tmp_path))
    page = (tmp_path / "report.html").read_text()
    assert "1 done" not in page and "0 done, 0 failed, 1 pending" in page
    assert Image.open(tmp_path / "report" / "contact_sheet.png").size == (TILE, HEADER + TILE)
